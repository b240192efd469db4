"""Parameter sweeps: one notebook executed with papermill over a grid of parameter values.

A sweep is a file ``sweeps/<name>.yml``::

    notebook: methods          # a notebook under notebooks/ (or a .md path from the repo root)
    profile: ci                # its values in params/<profile>.yml are every point's base
    description: one line
    set:                       # optional: values every point overrides
      epochs: 2
    grid:                      # the Cartesian product of these lists (in this order) ...
      seed: [0, 1, 2]
    # points:                  # ... or an explicit list of points instead
    #   - {seed: 0, image_size: 48}

:func:`load_sweep` reads it and validates **every point** against the notebook's schema before
anything runs (a grid with no points, an unknown parameter or a value of the wrong type is refused
with a :class:`facexai.params.ParameterError` naming it). :func:`run_sweep` executes each point with
:func:`facexai.execution.execute_notebook` into ``<build>/sweeps/<name>/<point-id>.ipynb`` on a local
process pool or a Dask cluster, and gathers what each notebook recorded with
:func:`facexai.run.result` into one tidy table, ``results.parquet`` and ``results.csv``.

Faults
------
* A point that fails is recorded with status ``failed``, its error and its failing cell; the other
  points go on, and :attr:`SweepReport.n_failed` (the exit status of ``facexai sweep``) counts them.
* Resume: a point whose record (``<point-id>.point.json``) says ``ok`` under the same *key* is
  skipped. The key (:func:`facexai.cache.key`, as for every cache of the study) hashes the
  notebook's source, the point's full parameters, the data it reads (:func:`point_data`: the data
  folder, ``$FACEXAI_DATA``, and its ``path`` parameters, as the book keys its notebooks) and
  :func:`library_fingerprint` (every ``lib/facexai/**/*.py`` and the package data, as for the
  book's notebooks): a changed notebook, other data or a changed library reruns it. Failed points
  are always retried.
* A kernel that dies (out of memory, a segfault, ``os._exit``) fails its point like a cell that
  raises. One run of a sweep at a time: a second is refused (:class:`facexai.locks.SweepLocked`)
  while the first holds ``sweep.lock``; pool workers end with the sweep's main process, however
  it dies.
* Every output (executed notebook, point record, tables) is written atomically: an interrupted sweep
  (Ctrl-C, a killed worker) leaves finished points complete and nothing half-written; the next run
  completes the rest.

The results table: see :mod:`facexai.sweep_results`.

Outputs
-------
``<build>/sweeps/<name>/``: ``<point-id>.ipynb`` (the executed notebook), ``<point-id>.point.json``
(status, key, results: what resuming reads), ``<point-id>.run.json`` (the provenance record),
``<point-id>.log`` (what the point's worker and kernel printed), ``failed/<point-id>.ipynb`` (a
failed notebook up to its error), ``files/<point-id>/`` (the build folder of the point's kernel: the
figures it saves land there, never over the book's) and ``results.parquet`` / ``results.csv``.
Each point's kernel runs with one thread by default (``threads``), whatever the executor.
"""
from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import cache, paths
from .params import ParameterError, load_profile, read_yaml, schema
from .execution import BuildError, data_fingerprint, data_folder_fingerprint
from .locks import SweepLocked, ensure_writable, sweep_lock
from .sweep_executors import WorkerLost, dask_executor, local_executor, output_to
from .sweep_results import (ID_COLUMNS, _clean_stale, TIMING_COLUMNS, VALUE_COLUMNS, comparable,  # noqa: F401
                            metric_wide, rank_agreement, read_table, spread, table,
                            write_tables)

#: Top-level keys of a sweep file.
SPEC_KEYS = ("notebook", "profile", "description", "set", "grid", "points")
#: Columns of the results table before the swept parameters and after them.
#: Environment variables that set the threads of a point's kernel (torch, NumPy's BLAS).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Columns that differ between two runs of the same sweep (timings): ignore them to compare tables.


def library_fingerprint() -> str:
    """Hash of every ``*.py`` file and package data file of the facexai library (names and
    contents), 16 hex digits: :func:`facexai.execution.library_fingerprint`, the code part of the key
    of the book's executed notebooks too.

    Part of each point's resume key: any change to the library's code reruns every point.
    """
    from .execution import library_fingerprint as whole_library

    return whole_library()


def point_key(source_text: str, params: dict[str, Any], library: str,
              data: str | None = None) -> str:
    """The resume key of a point: :func:`facexai.cache.key` of the notebook source, its parameters,
    the fingerprint of the data it reads (:func:`point_data`) and the library's code."""
    return cache.key({"source": cache.digest(source_text, size=64), "params": params},
                     data=data, code=library, size=20)


def point_data(notebook: str, params: dict[str, Any], folder: str | None = None) -> str:
    """The data a point reads, as the book's notebooks are keyed by theirs: the data folder
    (:func:`facexai.execution.data_folder_fingerprint`; ``folder`` if computed already) and the
    data its ``path`` parameters name (:func:`facexai.execution.data_fingerprint`)."""
    folder = folder or data_folder_fingerprint()
    return cache.digest({"folder": folder, "paths": data_fingerprint(notebook, params)})


def point_id(index: int, values: dict[str, Any]) -> str:
    """A readable, file-safe id of a point: ``p<index>-<key>-<value>_...`` plus a short hash."""
    text = "_".join(f"{k}-{json.dumps(v, separators=(',', ':')) if isinstance(v, list) else v}"
                    for k, v in values.items())
    slug = re.sub(r"[^A-Za-z0-9.,=+-]+", "_", text)[:60].strip("_") or "point"
    return f"p{index:03d}-{slug}-{cache.digest(values, size=6)}"


@dataclass
class Point:
    """One point of a sweep: its swept values, its full validated parameters and its resume key."""

    index: int
    id: str
    values: dict[str, Any]
    params: dict[str, Any]
    key: str


@dataclass
class Sweep:
    """A validated sweep: the notebook, the profile it starts from and every point."""

    name: str
    notebook: str
    source: Path
    profile: str
    description: str
    swept: list[str]
    points: list[Point]
    library: str

    @property
    def out_dir(self) -> Path:
        return paths.sweeps_dir(self.name)


def _resolve_notebook(notebook: Any, where: str) -> Path:
    if not isinstance(notebook, str) or not notebook:
        raise ParameterError(f"{where}: 'notebook' must name a notebook, got {notebook!r}")
    if notebook.endswith(".md"):
        source = (paths.root() / notebook).resolve()
    else:
        source = paths.notebooks_dir() / f"{notebook}.md"
    if not source.is_file():
        raise ParameterError(f"{where}: notebook {notebook!r} has no file {source}")
    return source


def _expand(spec: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """The points of a sweep spec: the Cartesian product of ``grid`` or the list ``points``."""
    grid, points = spec.get("grid"), spec.get("points")
    if (grid is None) == (points is None):
        raise ParameterError(f"{where}: give exactly one of 'grid' (lists of values) or 'points' "
                             "(a list of parameter mappings)")
    if grid is not None:
        if not isinstance(grid, dict) or not grid:
            raise ParameterError(f"{where}: 'grid' must be a non-empty mapping of parameter -> "
                                 f"list of values, got {grid!r}")
        for k, values in grid.items():
            if not isinstance(values, list):
                raise ParameterError(f"{where}: grid parameter {k!r} must be a list of values, "
                                     f"got {values!r}")
            if not values:
                raise ParameterError(f"{where}: grid parameter {k!r} has no values: the grid "
                                     "has no points")
        return [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    if not isinstance(points, list) or not points:
        raise ParameterError(f"{where}: 'points' is empty: the sweep has no points")
    for i, p in enumerate(points):
        if not isinstance(p, dict):
            raise ParameterError(f"{where}: point {i} must be a mapping of parameters, got {p!r}")
    return [dict(p) for p in points]


def _points(where: str, sch: Any, base: dict[str, Any], raw: list[dict[str, Any]],
            source_text: str, library: str) -> list[Point]:
    """Validate each point's full parameters (``base`` then its values) and key it."""
    folder = data_folder_fingerprint()
    points = []
    for i, values in enumerate(raw):
        try:
            params = sch.validate({**base, **values})
        except ParameterError as err:
            raise ParameterError(f"{where}, point {i} {values!r}: {err}") from None
        vals = {k: params[k] for k in values}
        data = point_data(sch.notebook, params, folder)
        points.append(Point(i, point_id(i, vals), vals, params,
                            point_key(source_text, params, library, data)))
    return points


def make_sweep(name: str, spec: dict[str, Any], where: str | None = None) -> Sweep:
    """Validate a sweep spec (the content of a sweep file) and return its points.

    Every point (profile values, then ``set``, then the point's own values) is checked against the
    notebook's schema; the first problem raises :class:`ParameterError` naming the sweep, the point
    and the parameter. Nothing runs.
    """
    where = where or f"sweep {name!r}"
    if not isinstance(spec, dict):
        raise ParameterError(f"{where}: expected a mapping, got {type(spec).__name__}")
    extra = [k for k in spec if k not in SPEC_KEYS]
    if extra:
        raise ParameterError(f"{where}: unknown key(s) {', '.join(map(str, extra))}; "
                             f"known: {', '.join(SPEC_KEYS)}")
    source = _resolve_notebook(spec.get("notebook"), where)
    notebook = source.stem
    sch = schema(notebook)
    profile = spec.get("profile")
    base: dict[str, Any] = {}
    if profile is not None:
        values = load_profile(profile)
        if notebook not in values:
            raise ParameterError(f"{where}: profile {profile!r} gives no parameters for notebook "
                                 f"{notebook!r}")
        base = dict(values[notebook])
    fixed = spec.get("set") or {}
    if not isinstance(fixed, dict):
        raise ParameterError(f"{where}: 'set' must be a mapping of parameters, got {fixed!r}")
    try:
        sch.validate(fixed, partial=True)
    except ParameterError as err:
        raise ParameterError(f"{where}, 'set': {err}") from None
    raw = _expand(spec, where)
    swept = list(dict.fromkeys(k for p in raw for k in p))
    source_text = source.read_text(encoding="utf-8")
    library = library_fingerprint()
    for i, values in enumerate(raw):  # unknown names and wrong types first, in every point
        try:
            sch.validate(values, partial=True)
        except ParameterError as err:
            raise ParameterError(f"{where}, point {i} {values!r}: {err}") from None
    points = _points(where, sch, {**base, **fixed}, raw, source_text, library)
    seen: dict[str, int] = {}
    for p in points:
        text = json.dumps(p.values, sort_keys=True)
        if text in seen:
            raise ParameterError(f"{where}: the same point appears twice (points {seen[text]} and "
                                 f"{p.index}: {p.values!r})")
        seen[text] = p.index
    return Sweep(name=name, notebook=notebook, source=source, profile=profile or "sweep",
                 description=str(spec.get("description", "")), swept=swept, points=points,
                 library=library)


def load_sweep(name: str | Path) -> Sweep:
    """Read ``sweeps/<name>.yml`` (or a path to a sweep file) and validate every point."""
    path = Path(name)
    if path.suffix not in (".yml", ".yaml"):
        path = paths.sweep_files_dir() / f"{name}.yml"
    if not path.is_file():
        files = paths.sweep_files_dir()
        known = sorted(p.stem for p in files.glob("*.yml")) if files.is_dir() else []
        raise ParameterError(f"unknown sweep {str(name)!r}: no file {path}; known sweeps: "
                             f"{', '.join(known) or 'none'}")
    spec = read_yaml(path)
    return make_sweep(path.stem, spec, where=f"sweep {path}")


# ---------------------------------------------------------------------------------------------
# Executing one point (in a worker process: local pool or Dask)
# ---------------------------------------------------------------------------------------------

_CELL = re.compile(r"failed in (.+?) \(starting")


def run_point(task: dict[str, Any]) -> dict[str, Any]:
    """Execute one point and write its record; return the record. Runs in a worker process.

    ``task`` holds plain data only (so that it travels to a Dask worker): the notebook source, the
    output notebook, the parameters, the profile, the key and the folders of the build. It sets
    environment variables and redirects file descriptors while the point runs: one point per
    process at a time (Dask workers with one thread each).
    """
    from .execution import execute_notebook

    out = Path(task["out"])
    record_path = out.with_suffix(".point.json")
    rec = {k: task[k] for k in ("point", "index", "values", "key")}
    # The point's kernel gets a build folder of its own, so that the figures it saves go to
    # <sweep>/files/<point>/figures/ and never overwrite those of the book's own run.
    env = {"FACEXAI_BUILD": task["files"], "FACEXAI_ROOT": task["root"],
           "FACEXAI_DATA": task["data"]}
    if task.get("threads"):
        env.update({k: str(task["threads"]) for k in THREAD_VARIABLES})
    t0 = time.perf_counter()
    with paths.environment(env), output_to(out.with_suffix(".log")):
        try:
            run = execute_notebook(Path(task["source"]), out, task["params"], task["profile"])
            rec.update(status="ok", results=run.get("results", {}),
                       peak_memory_mb=run.get("peak_memory_mb"), error=None, cell=None)
            (out.parent / "failed" / out.name).unlink(missing_ok=True)  # from an earlier failure
        except BuildError as err:
            message = str(err)
            found = _CELL.search(message)
            rec.update(status="failed", results={}, peak_memory_mb=None,
                       error=message.splitlines()[0], cell=found.group(1) if found else None)
            # execute_notebook keeps the notebook up to the error beside the output folder
            failed = out.parent.parent / "failed" / out.name
            if failed.is_file():
                dest = out.parent / "failed" / out.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                failed.replace(dest)
        except Exception as err:  # noqa: BLE001 - whatever else stopped the point fails it alone
            rec.update(status="failed", results={}, peak_memory_mb=None, cell=None,
                       error=f"{type(err).__name__}: {err}".splitlines()[0])
        rec["wall_s"] = round(time.perf_counter() - t0, 3)
        paths.write_text_atomic(record_path, json.dumps(rec, indent=1, sort_keys=True))
    return rec


def _task(sweep: Sweep, point: Point, threads: int | None = None) -> dict[str, Any]:
    return {"threads": threads, "point": point.id, "index": point.index, "values": point.values,
            "key": point.key,
            "params": point.params, "profile": sweep.profile, "source": str(sweep.source),
            "out": str(sweep.out_dir / f"{point.id}.ipynb"),
            "files": str(sweep.out_dir / "files" / point.id),
            "root": str(paths.root()), "data": str(paths.data_dir())}


def finished(sweep: Sweep, point: Point) -> dict[str, Any] | None:
    """The record of a point already done under the same key (and its notebook), else ``None``."""
    rec_path = sweep.out_dir / f"{point.id}.point.json"
    if not rec_path.is_file() or not (sweep.out_dir / f"{point.id}.ipynb").is_file():
        return None
    try:
        rec = json.loads(rec_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return rec if rec.get("status") == "ok" and rec.get("key") == point.key else None


# ---------------------------------------------------------------------------------------------
# Running a sweep and the results table
# ---------------------------------------------------------------------------------------------

@dataclass
class SweepReport:
    """What a run of a sweep did: points run, reused, failed, not run, and the table's paths."""

    sweep: Sweep
    records: list[dict[str, Any]]
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    table: Path | None = None

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    @property
    def not_run(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["status"] == "not run"]

    def summary(self) -> str:
        n = len(self.records)
        text = (f"sweep {self.sweep.name!r}: {n} point(s), {len(self.ran)} run, "
                f"{len(self.reused)} reused, {self.n_failed} failed")
        if self.not_run:
            text += f", {len(self.not_run)} not run (rerun to complete)"
        return text + f", {self.wall_s:.1f} s"


def _plan(sweep: Sweep, force: bool, threads: int | None, records: dict[str, dict],
          report: "SweepReport") -> list[dict]:
    """The tasks of the points to run; points done under the same key go to ``records`` as reused."""
    todo = []
    for p in sweep.points:
        done = None if force else finished(sweep, p)
        if done is not None:
            records[p.id] = done
            report.reused.append(p.id)
        else:
            todo.append(_task(sweep, p, threads))
    return todo


def _run_points(todo: list[dict], workers: int, scheduler: str | None, records: dict[str, dict],
                report: "SweepReport", log: Callable[[str], None],
                on_point: Callable[[dict[str, Any]], None] | None) -> None:
    """Run the tasks on the chosen executor; store each record as its point finishes (a point
    whose worker died is recorded as "not run")."""
    executor = (local_executor(todo, workers, run_point) if scheduler is None
                else dask_executor(todo, workers, scheduler, run_point))
    try:
        for task, rec in executor:
            if isinstance(rec, BaseException):
                rec = {k: task[k] for k in ("point", "index", "values", "key")} | {
                    "status": "not run", "results": {}, "error": str(rec), "cell": None,
                    "wall_s": None, "peak_memory_mb": None}
            else:
                report.ran.append(rec["point"])
            records[rec["point"]] = rec
            msg = f"  {rec['point']}: {rec['status']}"
            if rec.get("wall_s") is not None:
                msg += f" in {rec['wall_s']:.1f} s"
            if rec["status"] != "ok":
                msg += f" ({rec['error']})"
            log(msg)
            if on_point is not None:
                on_point(rec)
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()


def run_sweep(sweep: Sweep | str, *, workers: int = 1, scheduler: str | None = None,
              force: bool = False, threads: int | None = 1, log: Callable[[str], None] = print,
              on_point: Callable[[dict[str, Any]], None] | None = None) -> SweepReport:
    """Execute every point of a sweep not already done; write the results tables.

    Parameters
    ----------
    sweep : Sweep or str
        A validated sweep, or the name of a file in ``sweeps/``.
    workers : int
        Points run at once (processes of the local pool, or of a Dask LocalCluster).
    scheduler : str, optional
        ``None``: the local process pool; ``"local"``: a Dask LocalCluster; ``"tcp://host:port"``:
        the Dask scheduler there (its workers need this library and the same checkout).
    force : bool
        Rerun every point, even those done under the same key.
    threads : int or None
        Threads of each point's kernel (``OMP_NUM_THREADS`` and friends; default 1): the same on
        every executor and worker count, so that the numbers do not depend on them, and no
        oversubscription when ``workers`` points share the cores. ``None`` leaves the default.
    log : callable
        Progress lines.
    on_point : callable, optional
        Called with each record as its point finishes (the tests interrupt a run from it).

    Returns
    -------
    SweepReport
        Records of every point in grid order; ``n_failed`` is the number of failed points.
        ``KeyboardInterrupt`` propagates (after the running points stopped); no table is written
        then, and finished points are kept for the next run.

    Raises :class:`facexai.locks.SweepLocked` at once while another process runs the same sweep,
    :class:`facexai.paths.NotWritableError` if the build folder cannot be written and
    :class:`facexai.sweep_executors.SchedulerUnreachable` if no Dask scheduler answers.
    """
    if isinstance(sweep, str):
        sweep = load_sweep(sweep)
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"workers must be a positive integer, got {workers!r}")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"threads must be a positive integer or None, got {threads!r}")
    t0 = time.perf_counter()
    ensure_writable(paths.build_dir(), "the build folder", "FACEXAI_BUILD")
    with sweep_lock(sweep.name, sweep.out_dir):
        return _run_locked(sweep, workers, scheduler, force, threads, log, on_point, t0)


def _run_locked(sweep: Sweep, workers: int, scheduler: str | None, force: bool,
                threads: int | None, log: Callable[[str], None],
                on_point: Callable[[dict[str, Any]], None] | None, t0: float) -> SweepReport:
    """:func:`run_sweep` once it holds the sweep's lock."""
    out = sweep.out_dir
    _clean_stale(out)
    records: dict[str, dict] = {}
    report = SweepReport(sweep=sweep, records=[])
    todo = _plan(sweep, force, threads, records, report)
    where = "local pool" if scheduler is None else f"Dask ({scheduler})"
    log(f"[facexai] sweep {sweep.name}: {len(sweep.points)} point(s) of {sweep.notebook} "
        f"from profile {sweep.profile}; {len(report.reused)} done already, {len(todo)} to run "
        f"on the {where} with {workers} worker(s)")
    if todo:
        _run_points(todo, workers, scheduler, records, report, log, on_point)
    _clean_stale(out)  # what killed workers left (their points are "not run")
    report.records = [records[p.id] for p in sweep.points]
    report.table = write_tables(sweep, report.records)
    report.wall_s = time.perf_counter() - t0
    log(f"[facexai] {report.summary()} -> {report.table}")
    return report


__all__ = ["Sweep", "Point", "SweepReport", "WorkerLost", "SweepLocked", "load_sweep", "make_sweep",
           "run_sweep", "run_point", "finished", "table", "write_tables", "read_table", "comparable",
           "metric_wide", "spread", "rank_agreement", "library_fingerprint", "point_key",
           "point_data", "point_id", "sweep_lock", "THREAD_VARIABLES"]
