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

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


def figures_dir(notebook: str) -> Path:
    """``<build>/figures/<notebook>/``: PNG copies of every figure a notebook makes."""
    return build_dir() / "figures" / notebook


@contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only if the block succeeds.

    A crash or an exception leaves ``target`` as it was (no half-written file), because the final
    step is one ``os.replace`` on the same file system.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp",
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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
