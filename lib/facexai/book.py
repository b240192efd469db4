"""Building the book: text notebooks -> papermill under a profile -> Jupyter Book 1 -> HTML.

Steps of :func:`build`:

1. read the profile (``params/<profile>.yml``) and validate every notebook's parameters before
   anything runs;
2. convert each notebook of the table of contents with jupytext and execute it with papermill
   (kernel ``python3``) into ``<build>/executed/<profile>/notebooks/<name>.ipynb``; a notebook that
   raises stops the build with an error naming the notebook and the cell;
3. stage ``_config.yml``, ``_toc.yml``, ``book/`` and the executed notebooks into
   ``<build>/stage/<profile>/`` together with the generated run table of the reproducibility page;
4. run ``jupyter-book build`` there (``execute_notebooks: off``, ``-W --keep-going``) and move the
   result to ``<build>/html`` only if it succeeded, so a failed build never replaces a good one.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from . import paths, run
from .params import load_profile

FINISH_CELL = "import facexai.run\nfacexai.run.finish();"


class BuildError(RuntimeError):
    """A notebook failed, or Jupyter Book reported an error or a warning."""


@dataclass
class NotebookResult:
    name: str
    path: Path
    record: dict[str, Any]


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


def executed_dir(profile: str) -> Path:
    """``<build>/executed/<profile>/notebooks``: executed notebooks and their ``.run.json`` records."""
    return paths.build_dir() / "executed" / profile / "notebooks"


def execute_after(name: str) -> list[str]:
    """The notebooks ``name`` must run after: ``facexai: execute_after: [...]`` in its front matter.

    A summary page (a chapter's "Claims" table, say) can stand first in the book yet read the
    results of the notebooks after it (:func:`facexai.run.results_of`).
    """
    import jupytext

    meta = jupytext.read(paths.notebooks_dir() / f"{name}.md").metadata.get("facexai", {})
    after = meta.get("execute_after", []) if isinstance(meta, dict) else []
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise BuildError(f"notebook {name!r}: facexai.execute_after must be a list of notebook "
                         f"names, got {after!r}")
    return after


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


def execute_notebook(source: Path, out: Path, parameters: dict[str, Any], profile: str) -> dict:
    """Execute one text notebook with papermill; write the executed copy atomically to ``out``.

    Returns the run's provenance record (also stored in the notebook's ``facexai`` metadata).
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
            executed.metadata["facexai"] = rec
            nbformat.write(executed, tmp)
    return rec


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v!r}`" for k, v in params.items())


def runs_table(records: list[dict[str, Any]], profile: str, total_s: float) -> str:
    """The reproducibility page's tables (Markdown), made from the runs' provenance records."""
    lines = [
        f"Profile **`{profile}`**, built {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        f"all notebooks took {total_s:.1f} s in total.",
        "",
        "| notebook | seed | wall time (s) | peak memory (MiB) | git commit | parameters |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(f"| {r['notebook']} | {r['seed']} | {r['papermill_duration_s']:.1f} | "
                     f"{r['peak_memory_mb']:.0f} | `{r['git_commit'][:12]}"
                     f"{'+dirty' if r['git_commit'].endswith('+dirty') else ''}` | "
                     f"{_fmt_params(r['parameters'])} |")
    if records:
        first = records[0]
        lines += ["", f"Python {first['python']} on `{first['platform']}`.", "",
                  "| package | version |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in first["packages"].items()]
    return "\n".join(lines) + "\n"


def stage(profile: str, executed: list[NotebookResult], total_s: float) -> Path:
    """Assemble the book sources for Jupyter Book in ``<build>/stage/<profile>/``."""
    root = paths.root()
    dest = paths.build_dir() / "stage" / profile
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, dest / name)
    shutil.copytree(root / "book", dest / "book")
    (dest / "notebooks").mkdir()
    for res in executed:
        shutil.copy2(res.path, dest / "notebooks" / res.path.name)
    (dest / "book" / "runs-table.md").write_text(
        runs_table([r.record for r in executed], profile, total_s), encoding="utf-8")
    return dest


def build_html(stage_dir: Path) -> Path:
    """Run Jupyter Book on a staged tree; on success move the HTML to ``<build>/html``."""
    site = paths.build_dir() / "site"
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage_dir), "--builder",
           "html", "--path-output", str(site), "-W", "--keep-going", "--all"]
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = paths.build_dir() / "jupyter-book.log"
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        problems = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                    if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        raise BuildError("jupyter-book build failed (warnings count as errors):\n"
                         + "\n".join(problems[:40]) + f"\nfull log: {log}")
    new = site / "_build" / "html"
    final = paths.build_dir() / "html"
    old = final.with_name("html.old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    new.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


def build(profile: str = "default", *, html: bool = True, only: list[str] | None = None,
          log=print) -> Path:
    """Execute every notebook under ``profile`` and build the HTML book; return the HTML folder."""
    t0 = time.time()
    values = load_profile(profile)  # validates every notebook's parameters before anything runs
    names = toc_notebooks()
    missing = [n for n in names if n not in values]
    if missing:
        raise BuildError(f"profile {profile!r} gives no parameters for notebook(s) "
                         f"{', '.join(missing)} (params/{profile}.yml)")
    if only:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise BuildError(f"unknown notebook(s) {', '.join(unknown)}; known: {', '.join(names)}")
    out_dir = executed_dir(profile)
    results = {}
    for name in execution_order(names):
        out = out_dir / f"{name}.ipynb"
        if only and name not in only:
            if not out.is_file():
                raise BuildError(f"--only skips {name!r} but it was never executed under {profile!r}")
            rec = nbformat.read(out, as_version=4).metadata["facexai"]
        else:
            log(f"[facexai] executing {name} (profile {profile}) ...")
            rec = execute_notebook(paths.notebooks_dir() / f"{name}.md", out, values[name], profile)
            log(f"[facexai]   {name}: {rec['papermill_duration_s']:.1f} s, "
                f"peak {rec['peak_memory_mb']:.0f} MiB")
        results[name] = NotebookResult(name, out, rec)
    results = [results[n] for n in names]  # book order again
    total = time.time() - t0
    summary = {"profile": profile, "notebooks_s": round(total, 2),
               "notebooks": {r.name: r.record["papermill_duration_s"] for r in results}}
    if not html:
        return out_dir
    log("[facexai] building HTML with jupyter-book ...")
    t1 = time.time()
    result = build_html(stage(profile, results, total))
    summary.update(html_s=round(time.time() - t1, 2), total_s=round(time.time() - t0, 2))
    paths.write_text_atomic(paths.build_dir() / "executed" / profile / "build.json",
                            json.dumps(summary, indent=1))
    log(f"[facexai] book built in {summary['total_s']:.1f} s -> {result / 'index.html'}")
    return result
