"""Executing one chapter notebook, and what the build knows of notebooks before running them.

- :func:`toc_notebooks`, :func:`front_matter`, :func:`execute_after`, :func:`declared_inputs` and
  :func:`execution_order`: the notebooks of ``_toc.yml`` and what their front matter declares;
- :func:`execute_notebook`: one text notebook through jupytext and papermill (kernel ``python3``)
  into an executed ``.ipynb``, written atomically, with its run record; a failing cell is named
  the way a reader counts it, and the notebook up to the error is kept;
- :func:`library_fingerprint`: the code part of every notebook's key (the book's and the sweeps').

The book (:mod:`facexai.book`) and the sweeps (:mod:`facexai.sweep`) both execute through here, so
neither imports the other for it.
"""
from __future__ import annotations

import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

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


def execute_notebook(source: Path, out: Path, parameters: dict[str, Any], profile: str, *,
                     key: str | None = None) -> dict:
    """Execute one text notebook with papermill; write the executed copy atomically to ``out``.

    Returns the run's provenance record (also stored in the notebook's ``facexai`` metadata, with
    the build's ``key`` of the run when one is given).
    """
    import jupytext
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

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
                pm.execute_notebook(nb, str(tmp), parameters=parameters, kernel_name="python3",
                                    cwd=str(source.parent), progress_bar=False, log_output=False,
                                    request_save_on_cell_execute=False)
            except PapermillExecutionError as err:
                failed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tmp, failed)
                first = err.source.strip().splitlines()[0] if err.source.strip() else ""
                where = _code_cell_number(nbformat.read(failed, as_version=4), err.cell_index)
                raise BuildError(
                    f"notebook {name!r} ({source}) failed in {where} (starting {first!r}): "
                    f"{err.ename}: {err.evalue}\n"
                    f"the executed notebook up to the error is in {failed}") from None
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
