"""The start and end of a notebook run: validation, seeding, provenance.

A chapter notebook calls :func:`start` once, right after its imports::

    run = facexai.run.start("data_synthetic", globals())

which validates the parameters it was given (literals of its ``parameters`` cell, or the values
papermill injected from a profile), seeds every random generator, and remembers the start time. The
build appends a hidden last cell calling :func:`finish`, which writes the run's provenance record
(profile, parameters, seed, git commit, package versions, wall time, peak memory) to the path in
``$FACEXAI_RUN_RECORD``; the build stores it in the executed notebook's metadata and shows it on the
reproducibility page.
"""
from __future__ import annotations

import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import paths
from .params import ParameterError, schema

#: Packages whose versions go into every provenance record.
RECORDED_PACKAGES = (
    "facexai", "numpy", "scipy", "pandas", "matplotlib", "seaborn", "scikit-learn", "torch",
    "torchvision", "zennit", "captum", "umap-learn", "openTSNE", "papermill", "jupyter-book",
)

# Names an IPython kernel defines by itself; never parameters.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}

# What papermill can inject from a YAML profile: scalars and lists. Anything else in a notebook's
# globals (modules, functions, constant tuples or dicts imported from the library) is not a parameter.
_PARAMETER_TYPES = (bool, int, float, str, list, type(None))

_current: "Run | None" = None


@dataclass
class Run:
    """A notebook run in progress: its validated parameters and where its outputs go."""

    notebook: str
    params: dict[str, Any]
    profile: str
    started: float = field(default_factory=time.time)
    results: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.params[name]
        except KeyError:
            raise AttributeError(f"run of {self.notebook!r} has no parameter {name!r}") from None

    @property
    def seed(self) -> int | None:
        return self.params.get("seed")

    @property
    def figures_dir(self) -> Path:
        return paths.figures_dir(self.notebook)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's global generator and, if it is imported, torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _parameters_in(namespace: Mapping[str, Any], notebook: str) -> dict[str, Any]:
    """The notebook's parameters among a namespace's globals; unknown plain values are an error."""
    known = schema(notebook).params
    found, unknown = {}, []
    for name, value in namespace.items():
        if name.startswith("_") or name in _KERNEL_NAMES:
            continue
        if name not in known and not isinstance(value, _PARAMETER_TYPES):
            continue  # an import (module, function, constant tuple or dict): never a parameter
        if name in known:
            found[name] = value
        else:
            unknown.append(name)
    if unknown:
        # A plain value that is neither a parameter nor an import is most likely a misspelt
        # parameter injected by papermill, which would otherwise be silently ignored.
        try:
            schema(notebook).validate({unknown[0]: None}, partial=True)
        except ParameterError as err:
            raise ParameterError(f"{err} (a plain value defined before facexai.run.start: "
                                 "misspelt in the profile or the parameters cell?)") from None
    return found


def start(notebook: str, namespace: Mapping[str, Any] | None = None, **values: Any) -> Run:
    """Validate a notebook's parameters, seed everything and start the clock.

    Parameters
    ----------
    notebook : str
        The notebook's name (file stem), which selects its schema.
    namespace : mapping, optional
        The notebook's ``globals()``: every parameter of the schema is read from it, and any other
        plain value in it is reported as an unknown parameter.
    **values
        Parameters given directly (used instead of, or on top of, ``namespace``).
    """
    global _current
    given = dict(_parameters_in(namespace, notebook)) if namespace is not None else {}
    given.update(values)
    params = schema(notebook).validate(given)
    if "seed" in params:
        seed_everything(params["seed"])
    _current = Run(notebook=notebook, params=params,
                   profile=os.environ.get("FACEXAI_PROFILE", "interactive"))
    return _current


def current() -> Run:
    """The run started by :func:`start` in this process."""
    if _current is None:
        raise RuntimeError("no notebook run started: call facexai.run.start(name, globals()) first")
    return _current


def _plain(value: Any, name: str) -> Any:
    """A result value as JSON-able data: a number, a string, a bool, or a small table of them."""
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value.item() if isinstance(value, np.generic) else value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # a pandas Series or DataFrame: a small table
        frame = value.to_frame() if getattr(value, "ndim", 2) == 1 else value
        if len(frame) * max(len(frame.columns), 1) > 10_000:
            raise ValueError(f"result {name!r} is a table of {frame.shape}: too large to record "
                             "(at most 10,000 cells)")
        table = frame.reset_index()
        table.columns = [str(c) for c in table.columns]
        return {"table": [{k: _plain(v, name) for k, v in row.items()}
                          for row in table.to_dict(orient="records")]}
    raise TypeError(f"result {name!r} must be a number, string, bool or pandas table, "
                    f"got {type(value).__name__}")


def result(name: str, value: Any) -> Any:
    """Record a result of this run under ``name``: a number, or a small pandas table.

    Results go into the run's provenance record (``"results"``), where a sweep gathers them into one
    tidy table (one row per point and metric). Returns ``value``, so it can wrap an expression.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a result needs a non-empty string name, got {name!r}")
    current().results[name] = _plain(value, name)
    return value


def results_of(notebook: str, profile: str | None = None) -> dict[str, Any]:
    """The results another notebook recorded in this build (its ``.run.json`` record).

    For summary pages that declare ``facexai: execute_after: [...]`` in their front matter, so the
    build runs them after the notebooks they read. ``profile``: this run's profile by default.
    """
    profile = profile or os.environ.get("FACEXAI_PROFILE") or "interactive"
    path = paths.executed_notebooks_dir(profile) / f"{notebook}.run.json"
    if not path.is_file():
        raise FileNotFoundError(f"no run record of notebook {notebook!r} under profile {profile!r} "
                                f"({path}): execute it first (facexai execute {notebook} "
                                f"--profile {profile})")
    return json.loads(path.read_text(encoding="utf-8")).get("results", {})


def package_versions(names: tuple[str, ...] = RECORDED_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: Path | None = None) -> str:
    """``<sha>`` of HEAD, with ``+dirty`` when tracked files differ; ``unknown`` outside git."""
    cwd = cwd or paths.root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def peak_memory_mb() -> float:
    """Peak resident memory of this process and of its finished children, in MiB (Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


def record(run: Run | None = None) -> dict[str, Any]:
    """The provenance record of a run, as plain JSON-able data."""
    run = run or current()
    return {
        "notebook": run.notebook,
        "profile": run.profile,
        "parameters": run.params,
        "seed": run.seed,
        "git_commit": git_commit(),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(run.started)),
        "wall_time_s": round(time.time() - run.started, 3),
        "peak_memory_mb": round(peak_memory_mb(), 1),
        "results": dict(run.results),
    }


def finish() -> dict[str, Any]:
    """Write the provenance record to ``$FACEXAI_RUN_RECORD`` (if set) and return it."""
    rec = record()
    target = os.environ.get("FACEXAI_RUN_RECORD")
    if target:
        paths.write_text_atomic(target, json.dumps(rec, indent=1, sort_keys=True))
    return rec


__all__ = ["Run", "start", "finish", "current", "record", "result", "results_of", "seed_everything", "ParameterError"]
