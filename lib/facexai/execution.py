"""Executing one chapter notebook, and what the build knows of notebooks before running them.

- :func:`toc_notebooks`, :func:`front_matter`, :func:`execute_after`, :func:`declared_inputs` and
  :func:`execution_order`: the notebooks of ``_toc.yml`` and what their front matter declares;
- :func:`execute_notebook`: one text notebook through jupytext and papermill (kernel ``python3``)
  into an executed ``.ipynb``, written atomically, with its run record; a failing cell is named
  the way a reader counts it, and the notebook up to the error is kept;
- :func:`library_fingerprint`: the code part of every notebook's key (the book's and the sweeps');
  :func:`data_fingerprint` and :func:`data_folder_fingerprint`: their data part (a kernel that
  dies fails its notebook like a cell that raises: :mod:`facexai.kernels`).

The book (:mod:`facexai.book`) and the sweeps (:mod:`facexai.sweep`) both execute through here, so
neither imports the other for it.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import nbformat
import yaml

from . import cache, paths

FINISH_CELL = "import facexai.run\nfacexai.run.finish();"
#: The library a notebook's key covers, as globs of :func:`facexai.cache.code_fingerprint`: every
#: source file and the package data (the papers' published numbers that notebooks compare with).
LIBRARY_FILES = ("**/*.py", "data/*")

class BuildError(RuntimeError):
    """A notebook failed, or Jupyter Book reported an error or a warning."""


def toc_notebooks(root: Path | None = None) -> list[str]:
    """Names of the chapter notebooks listed in ``_toc.yml``, in book order."""
    root = root or paths.root()
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    names = [f.split("/", 1)[1] for f in files if f.startswith("notebooks/")]
    on_disk = sorted(p.stem for p in (root / "notebooks").glob("*.md"))
    missing = [n for n in names if n not in on_disk]
    if missing:
        raise BuildError(f"_toc.yml lists notebooks with no file in notebooks/: {', '.join(missing)}")
    orphans = [n for n in on_disk if n not in names]
    if orphans:
        raise BuildError(f"notebooks not in _toc.yml (they would be silently left out of the book): "
                         f"{', '.join(orphans)}")
    return names


def front_matter(name: str) -> dict[str, Any]:
    """The ``facexai`` mapping of a notebook's front matter (empty when it has none)."""
    source = paths.notebooks_dir() / f"{name}.md"
    st = source.stat()
    return _front_matter(str(source), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=256)
def _front_matter(source: str, mtime_ns: int, size: int) -> dict[str, Any]:
    import jupytext

    meta = jupytext.read(source).metadata.get("facexai", {})
    if not isinstance(meta, dict):
        raise BuildError(f"notebook {Path(source).stem!r}: its front matter's facexai entry must "
                         f"be a mapping, got {meta!r}")
    return meta


def _names_list(name: str, meta: Mapping[str, Any], field: str) -> list[str]:
    value = meta.get(field, [])
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise BuildError(f"notebook {name!r}: facexai.{field} must be a list of "
                         f"{'notebook names' if field == 'execute_after' else 'globs'}, "
                         f"got {value!r}")
    return value


def execute_after(name: str) -> list[str]:
    """The notebooks ``name`` must run after: ``facexai: execute_after: [...]`` in its front matter.

    A summary page (a chapter's "Claims" table, say) can stand first in the book yet read the
    results of the notebooks after it (:func:`facexai.run.results_of`).
    """
    return _names_list(name, front_matter(name), "execute_after")


def declared_inputs(name: str) -> list[str]:
    """Files a notebook reads besides its parameters, the library and the data its parameters
    name: ``facexai: inputs: [glob, ...]`` in its front matter, relative to the repository."""
    return _names_list(name, front_matter(name), "inputs")


def execution_order(names: list[str]) -> list[str]:
    """``names`` in book order, except that a notebook runs after those it names in
    ``execute_after``; an unknown name or a cycle is an error naming the notebooks."""
    deps = {n: execute_after(n) for n in names}
    for n, after in deps.items():
        unknown = [a for a in after if a not in deps]
        if unknown:
            raise BuildError(f"notebook {n!r} executes after {', '.join(unknown)}, which "
                             "_toc.yml does not list")
    order: list[str] = []
    visiting: list[str] = []

    def visit(n: str) -> None:
        if n in order:
            return
        if n in visiting:
            cycle = visiting[visiting.index(n):] + [n]
            raise BuildError(f"notebooks wait for each other: {' -> '.join(cycle)}")
        visiting.append(n)
        for a in deps[n]:
            visit(a)
        visiting.pop()
        order.append(n)

    for n in names:
        visit(n)
    return order


def library_fingerprint() -> str:
    """:func:`facexai.cache.code_fingerprint` of the whole library (:data:`LIBRARY_FILES`)."""
    return cache.code_fingerprint(*LIBRARY_FILES)


def generated_data() -> tuple[Path, ...]:
    """The folders of the data that runs write (:func:`~facexai.paths.cache_dir`) or generate
    (:func:`~facexai.paths.synth_dir`, :func:`~facexai.paths.twins_dir`): never a run's input
    data (the synthetic data are stored under a hash of the settings and code that made them)."""
    return paths.cache_dir(), paths.synth_dir(), paths.twins_dir()


def _stat_fingerprint(path: Path) -> str:
    st = path.stat()
    return cache.digest([path.name, st.st_size, st.st_mtime_ns])


def data_tree_fingerprint(root: Path | str, exclude: tuple[Path, ...] = ()) -> str:
    """:func:`facexai.cache.tree_fingerprint` of ``root``, leaving out the folders ``exclude``
    (wherever they lie under ``root``); ``"missing"`` when there is nothing at ``root``."""
    root = Path(root).expanduser().resolve()
    skip = {Path(e).expanduser().resolve() for e in exclude}
    if root in skip:
        return "excluded"
    if not root.exists():
        return "missing"
    if root.is_file():
        return _stat_fingerprint(root)
    if not any(root in e.parents for e in skip):
        return cache.tree_fingerprint(root)
    parts = {child.name: data_tree_fingerprint(child, tuple(skip))
             for child in sorted(root.iterdir()) if child.resolve() not in skip}
    return cache.digest([str(root), parts], size=20)


def data_fingerprint(name: str, params: Mapping[str, Any]) -> dict[str, str]:
    """Fingerprints of the data from outside the project that a notebook's parameters point at:
    each ``path`` parameter that is set (relative: under ``$FACEXAI_DATA``), without the cache
    folder notebooks write into while they run and without the generated synthetic data."""
    from .params import schema

    out = {}
    exclude = generated_data()
    for key, param in schema(name).params.items():
        value = params.get(key)
        if param.kind == "path" and isinstance(value, str) and value:
            base = Path(value).expanduser()
            base = base if base.is_absolute() else paths.data_dir() / base
            out[key] = data_tree_fingerprint(base, exclude)
    return out


def data_folder_fingerprint(root: Path | str | None = None) -> str:
    """The data folder a sweep point reads (``$FACEXAI_DATA`` by default): its resolved path and
    :func:`data_tree_fingerprint` of each entry but :func:`generated_data`, the same whether those
    exist yet or not (a point that makes the synthetic data does not change it); ``"no input
    data"`` wherever the folder holds nothing else (the synthetic data are the same everywhere)."""
    root = Path(root or paths.data_dir()).expanduser().resolve()
    skip = tuple(Path(p).expanduser().resolve() for p in generated_data())
    entries = sorted(root.iterdir()) if root.is_dir() else []
    parts = {c.name: data_tree_fingerprint(c, skip) for c in entries if c.resolve() not in skip}
    return cache.digest([str(root), parts], size=20) if parts else "no input data"


def _kernel_env(profile: str, notebook: str, record_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    # An Agg backend in the kernel makes plt.show() draw nothing: the book would lose its figures.
    env.pop("MPLBACKEND", None)
    env.update(FACEXAI_PROFILE=profile, FACEXAI_NOTEBOOK=notebook,
               FACEXAI_RUN_RECORD=str(record_path), FACEXAI_BUILD=str(paths.build_dir()),
               FACEXAI_ROOT=str(paths.root()), FACEXAI_DATA=str(paths.data_dir()),
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def _code_cell_number(nb: nbformat.NotebookNode, index: int) -> str:
    """Name a cell as a reader of the text notebook counts it: "code cell N" (papermill's own
    injected-parameters cell and the build's hidden finish cell are not the author's)."""
    # papermill prepends an error banner to a failed notebook after recording the cell index
    cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
    cell = cells[index]
    if cell.source == FINISH_CELL:
        return "the build's closing cell (facexai.run.finish: was facexai.run.start called?)"
    n = sum(1 for c in cells[:index + 1] if c.cell_type == "code"
            and "injected-parameters" not in c.metadata.get("tags", []))
    return f"code cell {n}"


def _failed(name: str, source: Path, nb: nbformat.NotebookNode, index: int | None, error: str,
            failed: Path) -> BuildError:
    """The error of a notebook that failed in cell ``index`` of ``nb`` (kept in ``failed``)."""
    if index is None:
        where, first = "its kernel's start", ""
    else:
        where = _code_cell_number(nb, index)
        text = [c for c in nb.cells if "papermill-error-cell-tag" not in
                c.metadata.get("tags", [])][index].source.strip()
        first = text.splitlines()[0] if text else ""
    return BuildError(f"notebook {name!r} ({source}) failed in {where} (starting {first!r}): "
                      f"{error}\nthe executed notebook up to the error is in {failed}")


#: What jupyter_client says when a kernel process dies while starting, before any cell ran (seen
#: when two kernels start at once and one loses the race for a port: "Address already in use").
KERNEL_START_FAILED = "Kernel died before replying to kernel_info"


def _with_kernel_retry(execute: Callable[[], Any], attempts: int = 3) -> Any:
    """``execute()``, started again (up to ``attempts`` times) when its kernel died while
    starting: nothing of the notebook ran, so a new kernel gives the same result."""
    for attempt in range(attempts):
        try:
            return execute()
        except RuntimeError as err:
            if KERNEL_START_FAILED not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def execute_notebook(source: Path, out: Path, parameters: dict[str, Any], profile: str, *,
                     key: str | None = None) -> dict:
    """Execute one text notebook with papermill; write the executed copy atomically to ``out``.

    Returns the run's provenance record (also stored in the notebook's ``facexai`` metadata, with
    the build's ``key`` of the run when one is given).
    """
    import jupytext
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .kernels import ENGINE, KernelDied

    name = source.stem
    nb = jupytext.read(source)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(nbformat.v4.new_code_cell(FINISH_CELL, metadata={"tags": ["remove-cell"]}))
    out.parent.mkdir(parents=True, exist_ok=True)
    record_path = out.with_suffix(".run.json")
    record_path.unlink(missing_ok=True)
    failed = out.parent.parent / "failed" / out.name
    # papermill starts the kernel with this process's environment
    with paths.environment(_kernel_env(profile, name, record_path), clear=True):
        with paths.atomic_path(out, suffix=".ipynb") as tmp:
            try:
                _with_kernel_retry(lambda: pm.execute_notebook(
                    nb, str(tmp), parameters=parameters, kernel_name="python3",
                    cwd=str(source.parent), progress_bar=False, log_output=False,
                    request_save_on_cell_execute=False, engine_name=ENGINE))
            except PapermillExecutionError as err:
                failed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp, failed)
                executed = nbformat.read(failed, as_version=4)
                raise _failed(name, source, executed, err.cell_index, f"{err.ename}: {err.evalue}",
                              failed) from None
            except KernelDied as err:  # like a cell that raises: the notebook up to it is kept
                paths.write_text_atomic(failed, nbformat.writes(err.nb))
                raise _failed(name, source, err.nb, err.cell_index, str(err), failed) from None
            executed = nbformat.read(tmp, as_version=4)
            if not record_path.is_file():
                raise BuildError(f"notebook {name!r} ran but wrote no run record: it must call "
                                 f"facexai.run.start({name!r}, globals()) at its top")
            rec = json.loads(record_path.read_text(encoding="utf-8"))
            rec["papermill_duration_s"] = round(executed.metadata.get("papermill", {})
                                                .get("duration") or 0.0, 3)
            if key is not None:
                rec["key"] = key
            executed.metadata["facexai"] = rec
            nbformat.write(executed, tmp)
    return rec
