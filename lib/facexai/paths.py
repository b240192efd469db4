"""Every path the project uses, from one place.

The project root is found from this file (the library is installed editable from the repository);
each location can be moved with an environment variable, which is also how the build tells a
notebook kernel where to write.

========================  ======================  ==========================================
name                      environment variable    default
========================  ======================  ==========================================
:func:`root`              ``FACEXAI_ROOT``        the repository holding ``_config.yml``
:func:`build_dir`         ``FACEXAI_BUILD``       ``<root>/_build``
:func:`data_dir`          ``FACEXAI_DATA``        ``<root>/data`` (real datasets go anywhere)
:func:`cache_dir`         ``FACEXAI_CACHE``       ``<data>/cache`` (preprocessed arrays)
:func:`profiles_dir`      --                      ``<root>/params``
:func:`notebooks_dir`     --                      ``<root>/notebooks``
:func:`executed_dir`      --                      ``<build>/executed/<profile>``
:func:`sweeps_dir`        --                      ``<build>/sweeps/<name>``
:func:`sweep_files_dir`   --                      ``<root>/sweeps``
:func:`stage_dir`         --                      ``<build>/stage/<profile>``
:func:`html_dir`          --                      ``<build>/html``
:func:`synth_dir`         --                      ``<data>/synthface``
:func:`twins_dir`         --                      ``<data>/twins``
:func:`datasets_cache`    --                      ``<cache>/datasets``
:func:`models_cache`      --                      ``<cache>/models``
========================  ======================  ==========================================
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else None


def root() -> Path:
    """Repository root: ``$FACEXAI_ROOT`` or the nearest parent of this file with ``_config.yml``."""
    env = _env_path("FACEXAI_ROOT")
    if env is not None:
        return env
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "_config.yml").is_file() and (parent / "_toc.yml").is_file():
            return parent
    raise FileNotFoundError(
        "cannot find the facexai repository root (a folder with _config.yml and _toc.yml) above "
        f"{here}; set FACEXAI_ROOT to the repository folder"
    )


def build_dir() -> Path:
    """Where executed notebooks, figures, the staged book and the HTML go."""
    return _env_path("FACEXAI_BUILD") or root() / "_build"


def data_dir() -> Path:
    """Where datasets live: synthetic ones are generated here, real ones are pointed at."""
    return _env_path("FACEXAI_DATA") or root() / "data"


def cache_dir() -> Path:
    """Where preprocessed arrays of the datasets are cached (never inside a dataset's own tree)."""
    return _env_path("FACEXAI_CACHE") or data_dir() / "cache"


def profiles_dir() -> Path:
    return root() / "params"


def notebooks_dir() -> Path:
    return root() / "notebooks"


def executed_dir(profile: str) -> Path:
    """``<build>/executed/<profile>``: executed notebooks (``notebooks/``), run records, build.json."""
    return build_dir() / "executed" / profile


def executed_notebooks_dir(profile: str) -> Path:
    """``<build>/executed/<profile>/notebooks``: each executed notebook and its ``.run.json``."""
    return executed_dir(profile) / "notebooks"


def sweep_files_dir() -> Path:
    """``<root>/sweeps``: the sweep files (``<name>.yml``)."""
    return root() / "sweeps"


def sweeps_dir(name: str | None = None) -> Path:
    """``<build>/sweeps[/<name>]``: a sweep's executed points, records and result tables."""
    base = build_dir() / "sweeps"
    return base / name if name else base


def stage_dir(profile: str) -> Path:
    """``<build>/stage/<profile>``: the book staged for jupyter-book (sources + executed notebooks)."""
    return build_dir() / "stage" / profile


def html_dir() -> Path:
    """``<build>/html``: the rendered book."""
    return build_dir() / "html"


def synth_dir() -> Path:
    """``<data>/synthface``: generated SynthFace populations."""
    return data_dir() / "synthface"


def twins_dir() -> Path:
    """``<data>/twins``: synthetic twins of the real datasets, in their exact layouts."""
    return data_dir() / "twins"


def datasets_cache() -> Path:
    """``<cache>/datasets``: preprocessed arrays of loaded datasets."""
    return cache_dir() / "datasets"


def models_cache() -> Path:
    """``<cache>/models``: trained model checkpoints, keyed by settings + data + code."""
    return cache_dir() / "models"


def benchmark_cache() -> Path:
    """``<cache>/benchmark``: the explanation benchmark's per-face scores, keyed by subject, seed,
    settings and code (shared by the sweep's points and the chapter that reads them)."""
    return cache_dir() / "benchmark"


def figures_dir(notebook: str) -> Path:
    """``<build>/figures/<notebook>/``: PNG copies of every figure a notebook makes."""
    return build_dir() / "figures" / notebook


#: A temporary file or folder of a write (atomic_path, atomic_dir) whose writer died is removed by
#: the next write to the same folder: at once when its process is gone (same host), else after this.
STALE_AFTER_S = 6 * 3600
_TMP_MARK = "facexai-tmp"
_TMP_NAME = re.compile(rf"\.{_TMP_MARK}-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[a-z0-9_]{{8}}")


class NotWritableError(PermissionError):
    """A folder where data or outputs must be written cannot be written; the message names it and
    the environment variable that moves it."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32]


def _temp_prefix(target: Path) -> str:
    """``.<name>.facexai-tmp-<host>-<pid>-``: who wrote a temporary entry, for :func:`clean_stale`."""
    return f".{target.name[:120]}.{_TMP_MARK}-{_host()}-{os.getpid()}-"  # names stay < 255 bytes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def clean_stale(folder: Path | str, target: str | None = None, now: float | None = None
                ) -> list[Path]:
    """Remove the temporary files and folders of killed writes in ``folder``; return them.

    An entry is stale when it is marked with this host and a process that no longer exists, or
    when it is older than :data:`STALE_AFTER_S` (another host's; or, for the file name ``target``,
    an unmarked ``.<target>.xxxxxxxx`` of an older version). Entries of live writers are kept.
    """
    folder, now = Path(folder), time.time() if now is None else now
    old = re.compile(rf"^\.{re.escape(target)}\.[a-z0-9_]{{8}}(\.[A-Za-z0-9]+)?$") if target else None
    try:
        names = [n for n in os.listdir(folder) if n.startswith(".")]
    except OSError:
        return []
    removed = []
    for name in names:
        path, m = folder / name, _TMP_NAME.search(name)
        if m is None and not (old and old.match(name)):
            continue  # not a temporary entry of ours
        try:
            age = now - path.lstat().st_mtime
        except OSError:
            continue
        dead = m is not None and m["host"] == _host() and not _pid_alive(int(m["pid"]))
        if dead or age > STALE_AFTER_S:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _governing_variable(folder: Path) -> str:
    """"; it is under $FACEXAI_DATA (...)" for a folder under a location an env variable moves."""
    for name, where in (("FACEXAI_CACHE", cache_dir), ("FACEXAI_DATA", data_dir),
                        ("FACEXAI_BUILD", build_dir)):
        try:
            base = where()
        except FileNotFoundError:
            continue
        if folder == base or base in folder.parents:
            return f"; it is under ${name} ({base}): set {name} to a writable folder"
    return ""


def not_writable(folder: Path | str, err: OSError) -> NotWritableError:
    """The one-line error for a folder that cannot be created or written."""
    folder = Path(folder).expanduser().resolve()
    reason = "read-only file system" if err.errno == errno.EROFS else "permission denied"
    return NotWritableError(f"cannot write in {folder}: {reason}{_governing_variable(folder)}")


def _writable_parent(parent: Path, target: str) -> None:
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise not_writable(parent, err) from None
        raise
    clean_stale(parent, target)


@contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    A crash or an exception leaves ``target`` as it was (no half-written file), because the final
    step is one ``os.replace`` on the same file system. The file gets the mode a new file would
    (``0o666`` less the umask), and temporary files of killed writes in the folder are removed
    (:func:`clean_stale`).
    """
    target = Path(target)
    _writable_parent(target.parent, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target),
                                   suffix=suffix or target.suffix or ".tmp", dir=target.parent)
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise not_writable(target.parent, err) from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, (0o777 if tmp_path.is_dir() else 0o666) & ~_umask())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.is_dir() and not tmp_path.is_symlink():
            shutil.rmtree(tmp_path, ignore_errors=True)
        elif tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_dir(target: Path | str, complete: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a new temporary folder beside ``target``; it becomes ``target`` in one rename when the
    block succeeds, and is removed when it fails.

    If ``target`` appeared meanwhile (another process made the same folder and won the race) the
    temporary folder is dropped and ``target`` kept, provided ``complete(target)`` holds (default:
    it is a folder; a folder made by this function is complete). A parent that cannot be written
    raises :class:`NotWritableError`; stale temporary folders of killed writes are removed first.
    """
    target = Path(target)
    _writable_parent(target.parent, target.name)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), dir=target.parent))
    except OSError as err:
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise not_writable(target.parent, err) from None
        raise
    os.chmod(tmp, 0o777 & ~_umask())
    done = False
    try:
        yield tmp
        try:
            os.rename(tmp, target)
            done = True
        except OSError:
            if not (complete or Path.is_dir)(target):
                raise
    finally:
        if not done:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def environment(values: dict[str, str | None], *, clear: bool = False) -> Iterator[None]:
    """Set environment variables for the duration of a block (``None`` unsets one), then restore
    the environment exactly. With ``clear=True`` the block sees only ``values``."""
    saved = dict(os.environ)
    if clear:
        os.environ.clear()
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = str(value)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def write_text_atomic(target: Path | str, text: str) -> Path:
    """Write ``text`` to ``target`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
