"""Building the book: text notebooks -> papermill under a profile -> Jupyter Book 1 -> HTML.

Steps of :func:`build`:

1. read the profile (``params/<profile>.yml``) and validate every notebook's parameters before
   anything runs;
2. for each notebook of the table of contents (in :func:`execution_order`), compute its key
   (:func:`notebook_key`); if an earlier build left an executed copy under the same key, **reuse**
   it, else convert the notebook with jupytext and execute it with papermill (kernel ``python3``)
   into ``<build>/executed/<profile>/notebooks/<name>.ipynb``; a notebook that raises stops the
   build with an error naming the notebook and the cell;
3. stage ``_config.yml``, ``_toc.yml``, ``book/`` and the executed notebooks into
   ``<build>/stage/<profile>/`` together with the generated run table of the reproducibility page;
4. run ``jupyter-book build`` there (``execute_notebooks: off``, ``-W --keep-going``; incremental,
   so that only the pages whose staged source changed are read again) and copy the result to
   ``<build>/html`` only if it succeeded, so a failed build never replaces a good one.

The execution cache
-------------------
A notebook's key is :func:`facexai.cache.key` (the one hash of every cache of the study, sweeps
included) of

- **settings**: the notebook's name, the profile, a hash of its source text, its validated
  parameters, Python's and the recorded packages' versions (:data:`facexai.run.RECORDED_PACKAGES`),
  and the keys of the notebooks it reads (``facexai: execute_after: [...]`` in its front matter),
  so that a summary page is executed again whenever one of its sources is;
- **data**: the data from outside the project that its parameters point at (a ``path`` parameter
  such as ``data_dir``, under ``$FACEXAI_DATA`` when relative; the ``paper`` profile), by
  :func:`facexai.cache.tree_fingerprint` (paths, sizes and modification times), leaving out
  :func:`facexai.paths.cache_dir` (which notebooks write while they run) and the generated
  :func:`~facexai.paths.synth_dir` and :func:`~facexai.paths.twins_dir`; the files its front matter
  declares (``facexai: inputs: [glob, ...]``, relative to the repository); and for a notebook that
  runs a sweep (a parameter ``sweep`` naming ``sweeps/<name>.yml``), the keys of the sweep's points.
  The synthetic data themselves need no fingerprint: SynthFace populations and dataset twins are
  stored under a hash of the settings and the generator code that made them, which the notebook's
  parameters and the library code already determine;
- **code**: :func:`facexai.cache.code_fingerprint` of the whole library, its package data
  included (:func:`library_fingerprint`).

Prose (``book/``), ``_config.yml`` and ``_toc.yml`` are not part of any key: editing them rebuilds
the HTML only. An executed notebook is stored with ``<name>.cache.json`` beside it (its key, the
parts of the key, when it ran and a digest of the executed file); the entry is removed before a
notebook runs and written only after it succeeded, so a failed or interrupted run is never reused.
``facexai book --force`` executes every notebook again; ``facexai execute NAME`` executes one (and
stores it under its key, so the next build reuses it).
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import nbformat

from . import cache, paths, run
from .execution import (FINISH_CELL, LIBRARY_FILES, BuildError, data_fingerprint,  # noqa: F401
                        data_tree_fingerprint, declared_inputs, execute_after, execute_notebook,
                        execution_order, front_matter, library_fingerprint, toc_notebooks)
from .params import ParameterError, load_profile

#: Suffix of the cache entry written beside an executed notebook.
CACHE_SUFFIX = ".cache.json"
#: Parts of a notebook's key, in the order a changed one is reported.
KEY_PARTS = ("source", "parameters", "code", "data", "inputs", "after", "environment", "profile")
#: What a changed part of the key means, for the build log and the reproducibility page.
CHANGED = {"source": "source changed", "parameters": "parameters changed",
           "code": "library code changed", "data": "input data changed",
           "inputs": "declared inputs changed", "after": "a notebook it reads was executed again",
           "environment": "package versions changed", "profile": "profile changed"}


@dataclass
class NotebookResult:
    """A notebook of this build: its executed copy, its run record and how it got there."""

    name: str
    path: Path
    record: dict[str, Any]
    status: str = "executed"  # "executed", "reused" or "reused, out of date" (--only)
    reason: str = ""          # why it was executed: "no earlier run", "source changed", "--force"
    key: str | None = None
    executed_at: str | None = None

    @property
    def reused(self) -> bool:
        return self.status.startswith("reused")


# ---------------------------------------------------------------------------------------------
# The execution cache: a notebook's key, and the entry stored beside its executed copy
# ---------------------------------------------------------------------------------------------

def inputs_fingerprint(name: str, params: Mapping[str, Any]) -> dict[str, str]:
    """Fingerprints of the files a notebook declares in ``facexai: inputs`` and, for a notebook
    that runs a sweep (a parameter ``sweep``), of that sweep's points (their own keys)."""
    out = {}
    globs = declared_inputs(name)
    if globs:
        root = paths.root()
        files = sorted({p for g in globs for p in root.glob(g) if p.is_file()})
        missing = [g for g in globs if not any(root.glob(g))]
        if missing:
            raise BuildError(f"notebook {name!r}: facexai.inputs names no file: "
                             f"{', '.join(missing)}")
        out["files"] = cache.files_fingerprint(root, files)
    if isinstance(params.get("sweep"), str):
        from .sweep import load_sweep

        try:
            sw = load_sweep(params["sweep"])
            out["sweep"] = cache.digest([sw.name, sw.notebook, [p.key for p in sw.points]])
        except (ParameterError, FileNotFoundError) as err:  # the notebook will say so itself
            out["sweep"] = cache.digest(f"invalid sweep: {err}")
    return out


def environment_fingerprint() -> dict[str, Any]:
    """Python's version and the versions of the packages every run record lists."""
    return {"python": platform.python_version(), "packages": run.package_versions()}


def notebook_key(name: str, params: Mapping[str, Any], profile: str, *,
                 after: Mapping[str, str] | None = None, code: str | None = None,
                 environment: Mapping[str, Any] | None = None) -> tuple[str, dict[str, str]]:
    """The key of notebook ``name`` under ``profile`` and the hash of each of its parts.

    ``after``: the keys of the notebooks it reads (its ``execute_after``); ``code`` and
    ``environment`` default to :func:`library_fingerprint` and :func:`environment_fingerprint`
    (pass them to compute them once per build).
    """
    source = (paths.notebooks_dir() / f"{name}.md").read_text(encoding="utf-8")
    environment = environment if environment is not None else environment_fingerprint()
    settings = {"notebook": name, "profile": profile, "source": cache.digest(source, size=64),
                "parameters": dict(params), "after": dict(sorted((after or {}).items())),
                "environment": environment}
    data = {"data": data_fingerprint(name, params), "inputs": inputs_fingerprint(name, params)}
    code = code if code is not None else library_fingerprint()
    key = cache.key(settings, data=cache.digest(data), code=code)
    parts = {"source": settings["source"], "parameters": cache.digest(settings["parameters"]),
             "code": code, "data": cache.digest(data["data"]),
             "inputs": cache.digest(data["inputs"]), "after": cache.digest(settings["after"]),
             "environment": cache.digest(environment), "profile": profile}
    return key, parts


def notebook_keys(names: list[str], values: Mapping[str, Mapping[str, Any]],
                  profile: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The key (and parts) of every notebook of ``names``, each after those it reads."""
    code, environment = library_fingerprint(), environment_fingerprint()
    keys: dict[str, tuple[str, dict[str, str]]] = {}
    for name in execution_order(names):
        after = {a: keys[a][0] for a in execute_after(name)}
        keys[name] = notebook_key(name, values[name], profile, after=after, code=code,
                                  environment=environment)
    return keys


def cache_entry(out: Path) -> dict[str, Any] | None:
    """The cache entry of an executed notebook ``out`` if it is complete and matches the file
    (the executed copy, its run record and the entry, all from one successful run), else None."""
    entry_path = out.with_suffix(CACHE_SUFFIX)
    if not (entry_path.is_file() and out.is_file() and out.with_suffix(".run.json").is_file()):
        return None
    try:
        entry = json.loads(entry_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if entry.get("status") != "ok" or entry.get("ipynb") != cache.file_digest(out):
        return None
    return entry


def why_execute(entry: Mapping[str, Any] | None, parts: Mapping[str, str]) -> str:
    """Why a notebook must run again: the parts of its key that changed since its entry."""
    if entry is None:
        return "no earlier successful run"
    old = entry.get("parts", {})
    changed = [CHANGED[p] for p in KEY_PARTS if old.get(p) != parts.get(p)]
    return ", ".join(changed) or "key changed"


def execute_cached(name: str, out: Path, params: Mapping[str, Any], profile: str, key: str,
                   parts: Mapping[str, str]) -> dict[str, Any]:
    """Execute notebook ``name`` into ``out`` (:func:`execute_notebook`) and, once it succeeded,
    write its cache entry under ``key``; return its run record."""
    entry_path = out.with_suffix(CACHE_SUFFIX)
    entry_path.unlink(missing_ok=True)  # a failed or interrupted run leaves no entry
    rec = execute_notebook(paths.notebooks_dir() / f"{name}.md", out, dict(params), profile,
                           key=key)
    entry = {"status": "ok", "notebook": name, "profile": profile, "key": key, "parts": dict(parts),
             "executed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
             "ipynb": cache.file_digest(out), "record": rec}
    paths.write_text_atomic(entry_path, json.dumps(entry, indent=1, sort_keys=True, default=str))
    return rec


# ---------------------------------------------------------------------------------------------
# Staging and the HTML
# ---------------------------------------------------------------------------------------------

def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v!r}`" for k, v in params.items())


def _when(record: Mapping[str, Any]) -> str:
    started = str(record.get("started", ""))  # %Y-%m-%dT%H:%M:%S%z
    return started[:16].replace("T", " ") if started else "?"


def runs_table(results: list[NotebookResult], profile: str, total_s: float) -> str:
    """The reproducibility page's tables (Markdown): how each notebook got into this build
    (executed now, or reused from an earlier build under the same key) and its provenance."""
    executed = [r for r in results if not r.reused]
    lines = [
        f"Profile **`{profile}`**, built {time.strftime('%Y-%m-%d %H:%M %Z')}: "
        f"{len(executed)} of {len(results)} notebooks executed in this build, "
        f"{len(results) - len(executed)} reused from earlier builds "
        f"(their key --- source, parameters, library code, input data --- was unchanged); "
        f"executing and checking the notebooks took {total_s:.1f} s.",
        "",
        "| notebook | in this build | run time (s) | ran at | key |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        status = r.status if r.reused else f"executed ({r.reason})" if r.reason else "executed"
        key = r.key or r.record.get("key") or "?"
        lines.append(f"| {r.name} | {status} | {r.record['papermill_duration_s']:.1f} | "
                     f"{_when(r.record)} | `{key}` |")
    lines += [
        "",
        "*Run time* is the notebook's papermill run, in this build or in the build it was reused "
        "from. To execute one page again, `facexai execute <notebook> --profile "
        f"{profile}` (the next `facexai book --profile {profile}` reuses it); to execute every "
        f"page again, `facexai book --profile {profile} --force` "
        f"(`make book PROFILE={profile} FORCE=1`).",
        "",
        "| notebook | seed | peak memory (MiB) | git commit | parameters |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rec = r.record
        lines.append(f"| {r.name} | {rec['seed']} | {rec['peak_memory_mb']:.0f} | "
                     f"`{rec['git_commit'][:12]}"
                     f"{'+dirty' if rec['git_commit'].endswith('+dirty') else ''}` | "
                     f"{_fmt_params(rec['parameters'])} |")
    if results:
        first = results[0].record
        lines += ["", f"Python {first['python']} on `{first['platform']}`.", "",
                  "| package | version |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in first["packages"].items()]
    return "\n".join(lines) + "\n"


def for_reader(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Show a notebook's parameters once: where papermill injected the profile's values (the
    values used), the notebook's own ``parameters`` cell (defaults that were overridden) is
    hidden from the page. It stays in the notebook, so a downloaded copy runs as it did."""
    def tags(cell) -> list[str]:
        return list(cell.metadata.get("tags", []))

    if any("injected-parameters" in tags(c) for c in nb.cells):
        for cell in nb.cells:
            if "parameters" in tags(cell) and "remove-cell" not in tags(cell):
                cell.metadata["tags"] = [*tags(cell), "remove-cell"]
    return nb


def _write_if_changed(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` unless it holds them already: an unchanged file keeps its
    modification time, so Jupyter Book (Sphinx) does not read that page again."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def stage(profile: str, results: list[NotebookResult], total_s: float) -> Path:
    """Assemble the book sources for Jupyter Book in ``<build>/stage/<profile>/``.

    The executed notebooks are staged as the pages' sources, so the page's download button
    (``.ipynb``) gives the executed notebook with its outputs. Files that did not change since the
    last build are left untouched and files no longer in the book are removed, so that an
    incremental Jupyter Book build reads only the pages that changed.
    """
    root = paths.root()
    dest = paths.stage_dir(profile)
    files = {Path(n): (root / n).read_bytes() for n in ("_config.yml", "_toc.yml")}
    files.update({p.relative_to(root): p.read_bytes() for p in sorted((root / "book").rglob("*"))
                  if p.is_file()})
    for res in results:
        nb = for_reader(nbformat.read(res.path, as_version=4))
        files[Path("notebooks") / res.path.name] = nbformat.writes(nb).encode("utf-8")
    files[Path("book") / "runs-table.md"] = runs_table(results, profile, total_s).encode("utf-8")
    if dest.exists():
        for path in sorted(dest.rglob("*"), reverse=True):  # children before their folder
            if path.is_file() and path.relative_to(dest) not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    for rel, data in files.items():
        _write_if_changed(dest / rel, data)
    return dest


def build_html(stage_dir: Path, *, fresh: bool = False) -> Path:
    """Run Jupyter Book on a staged tree; on success move the HTML to ``<build>/html``.

    The build is incremental (Sphinx reads again only the staged files that changed) unless
    ``fresh`` or there is no environment of an earlier build. A failed build removes that
    environment, so that the next build reads every page again and shows every warning again
    (``-W`` makes warnings errors; an incremental build would not repeat those of unchanged pages).
    """
    site = paths.build_dir() / "site"
    fresh = fresh or not (site / "_build" / ".doctrees" / "environment.pickle").is_file()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(stage_dir), "--builder",
           "html", "--path-output", str(site), "-W", "--keep-going"] + (["--all"] if fresh else [])
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    log = paths.build_dir() / "jupyter-book.log"
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    if proc.returncode != 0:
        shutil.rmtree(site, ignore_errors=True)
        problems = [ln for ln in (proc.stdout + proc.stderr).splitlines()
                    if "WARNING" in ln or "ERROR" in ln or "Error" in ln]
        raise BuildError("jupyter-book build failed (warnings count as errors):\n"
                         + "\n".join(problems[:40]) + f"\nfull log: {log}")
    final = paths.html_dir()
    fresh_copy, old = final.with_name("html.new"), final.with_name("html.old")
    for folder in (fresh_copy, old):
        if folder.exists():
            shutil.rmtree(folder)
    # a copy: the site keeps its HTML, so that the next build writes only the pages that changed
    shutil.copytree(site / "_build" / "html", fresh_copy)
    if final.exists():
        final.rename(old)
    fresh_copy.rename(final)
    if old.exists():
        shutil.rmtree(old)
    return final


# ---------------------------------------------------------------------------------------------
# The build
# ---------------------------------------------------------------------------------------------

def _reuse_as_is(name: str, out: Path, entry: Mapping[str, Any] | None, key: str,
                 profile: str) -> NotebookResult:
    """A notebook ``--only`` leaves out: taken as it is, said to be out of date if it is."""
    if entry is not None:
        status = "reused" if entry["key"] == key else "reused, out of date"
        return NotebookResult(name, out, entry["record"], status, "", entry["key"])
    if not out.is_file():
        raise BuildError(f"--only skips {name!r} but it was never executed under {profile!r}")
    record = nbformat.read(out, as_version=4).metadata["facexai"]
    return NotebookResult(name, out, record, "reused, out of date", "", record.get("key"))


def execute_book(profile: str, *, only: list[str] | None = None, force: bool = False,
                 prepare: Callable[[], Any] | None = None,
                 log: Callable[..., None] = print) -> list[NotebookResult]:
    """Bring every notebook of the book up to date under ``profile``: execute those whose key
    changed (all with ``force``; those of ``only`` and no other with ``only``), reuse the others.
    ``prepare`` (making the profile's data, say) is called once before the first notebook is
    executed, and not at all when every notebook is reused. Returns them in book order."""
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
    out_dir = paths.executed_notebooks_dir(profile)
    keys = notebook_keys(names, values, profile)
    results: dict[str, NotebookResult] = {}
    for name in execution_order(names):
        out = out_dir / f"{name}.ipynb"
        key, parts = keys[name]
        entry = cache_entry(out)
        if only and name not in only:
            res = _reuse_as_is(name, out, entry, key, profile)
            if res.status != "reused":
                log(f"[facexai] {name}: {res.status} (--only leaves it as it is)")
        elif not force and not only and entry is not None and entry["key"] == key:
            res = NotebookResult(name, out, entry["record"], "reused", "", key)
            log(f"[facexai] reusing {name} (key {key}, executed {_when(res.record)})")
        else:
            reason = "--force" if force else "--only" if only else why_execute(entry, parts)
            if prepare is not None:
                prepare()
                prepare = None
            log(f"[facexai] executing {name} (profile {profile}; {reason}) ...")
            rec = execute_cached(name, out, values[name], profile, key, parts)
            res = NotebookResult(name, out, rec, "executed", reason, key)
            log(f"[facexai]   {name}: {rec['papermill_duration_s']:.1f} s, "
                f"peak {rec['peak_memory_mb']:.0f} MiB")
        results[name] = res
    return [results[n] for n in names]  # book order again


def build(profile: str = "default", *, html: bool = True, only: list[str] | None = None,
          force: bool = False, prepare: Callable[[], Any] | None = None,
          log: Callable[..., None] = print) -> Path:
    """Execute the notebooks of the book under ``profile`` that are not up to date
    (:func:`execute_book`) and build the HTML book; return the HTML folder (the executed
    notebooks' folder when ``html`` is false).

    ``force``: execute every notebook, even those whose key is unchanged. ``only``: execute these
    notebooks and take the others as they are, up to date or not (the page says which).
    ``prepare``: called once before the first notebook is executed (see :func:`execute_book`).
    Writes ``<build>/executed/<profile>/build.json``: times, which notebooks were executed and
    which reused, their keys, and the last cold build (every notebook executed).
    """
    t0 = time.time()
    ordered = execute_book(profile, only=only, force=force, prepare=prepare, log=log)
    total = time.time() - t0
    summary: dict[str, Any] = {
        "profile": profile, "notebooks_s": round(total, 2),
        "notebooks": {r.name: r.record["papermill_duration_s"] for r in ordered},
        "executed": [r.name for r in ordered if not r.reused],
        "reused": [r.name for r in ordered if r.reused],
        "keys": {r.name: r.key for r in ordered}, "force": force, "only": list(only or []),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "html_s": None}
    summary_path = paths.executed_dir(profile) / "build.json"
    result = paths.executed_notebooks_dir(profile)
    if html:
        log("[facexai] building HTML with jupyter-book ...")
        t1 = time.time()
        result = build_html(stage(profile, ordered, total), fresh=force)
        summary["html_s"] = round(time.time() - t1, 2)
    summary["total_s"] = round(time.time() - t0, 2)
    summary["cold"] = _last_cold(summary, summary_path)
    paths.write_text_atomic(summary_path, json.dumps(summary, indent=1))
    n_exec = len(summary["executed"])
    log(f"[facexai] {'book built' if html else 'notebooks done'} in {summary['total_s']:.1f} s "
        f"({n_exec} executed, {len(ordered) - n_exec} reused) -> "
        f"{result / 'index.html' if html else result}")
    return result


def _last_cold(summary: Mapping[str, Any], path: Path) -> dict[str, Any] | None:
    """This build's times if it was cold (every notebook executed, HTML built), else those of the
    last cold build recorded in ``path``."""
    if summary["html_s"] is not None and not summary["reused"] and not summary["only"]:
        return {k: summary[k] for k in ("date", "total_s", "notebooks_s", "html_s")}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("cold")
    except (OSError, ValueError):
        return None
