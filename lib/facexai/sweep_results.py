"""The results tables of a sweep: what each point recorded, flattened to one row per metric, and
the summaries the Sweeps page draws (spread over seeds, rank agreement).

The results table
-----------------
One row per (point, metric). Columns: ``sweep``, ``point`` (id), ``index`` (position in the grid),
one column per swept parameter (lists as JSON text), ``status`` (``ok`` / ``failed`` /
``not run``), ``wall_s`` (the point's wall time, kernel start included), ``peak_memory_mb`` (of its
kernel), ``metric``, ``result``, ``row``, ``column``, ``value`` (a float), ``text`` (a string result)
and ``error`` / ``cell`` for a failed point. A table recorded as a result is **flattened**: its
row label (the text cells of the row, e.g. the method) and each numeric column give one metric
``<result>/<row>/<column>`` (``faithfulness/gradcam/mass accuracy``), with the parts in ``result``,
``row`` and ``column``; a number is one metric ``<result>`` with empty ``row`` / ``column``. A
point with no result (or a failed one) has one row with an empty ``metric``. Rows are in grid order,
then in the order of the point's run record (results by name), so both executors give the same
table apart from the timing columns.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import paths

ID_COLUMNS = ("sweep", "point", "index")
VALUE_COLUMNS = ("status", "wall_s", "peak_memory_mb", "metric", "result", "row", "column",
                 "value", "text", "error", "cell")
TIMING_COLUMNS = ("wall_s", "peak_memory_mb")


def _flatten(name: str, value: Any) -> list[dict[str, Any]]:
    """One result as metric rows (see the module docstring)."""
    def number(v: Any) -> float | None:
        if isinstance(v, bool):
            return float(v)
        if isinstance(v, (int, float)):
            return float(v)
        return None

    if isinstance(value, dict) and "table" in value:
        rows = []
        for i, row in enumerate(value["table"]):
            label = "/".join(str(v) for v in row.values()
                             if isinstance(v, str)) or str(i)
            for col, v in row.items():
                x = number(v)
                if x is None or col == "index" and not isinstance(v, float):
                    continue
                rows.append({"metric": f"{name}/{label}/{col}", "result": name, "row": label,
                             "column": col, "value": x, "text": None})
        return rows
    x = number(value)
    return [{"metric": name, "result": name, "row": "", "column": "", "value": x,
             "text": None if x is not None or value is None else str(value)}]


def table(sweep: Any, records: list[dict[str, Any]]):  # sweep: a facexai.sweep.Sweep
    """The tidy results table of a sweep (a pandas DataFrame; see the module docstring)."""
    import pandas as pd

    rows = []
    for rec in records:
        base = {"sweep": sweep.name, "point": rec["point"], "index": rec["index"]}
        for k in sweep.swept:
            v = rec["values"].get(k)
            base[k] = json.dumps(v) if isinstance(v, list) else v
        base.update(status=rec["status"], wall_s=rec.get("wall_s"),
                    peak_memory_mb=rec.get("peak_memory_mb"))
        tail = {"error": rec.get("error"), "cell": rec.get("cell")}
        metrics = [m for name, value in rec.get("results", {}).items()
                   for m in _flatten(name, value)]
        empty = {"metric": None, "result": None, "row": None, "column": None, "value": None,
                 "text": None}
        for m in metrics or [empty]:
            rows.append({**base, **m, **tail})
    columns = [*ID_COLUMNS, *sweep.swept, *VALUE_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    frame["value"] = frame["value"].astype(float)
    for col in ("wall_s", "peak_memory_mb"):
        frame[col] = frame[col].astype(float)
    return frame


def write_tables(sweep: Any, records: list[dict[str, Any]]) -> Path:
    """Write ``results.parquet`` and ``results.csv`` atomically; return the Parquet path."""
    frame = table(sweep, records)
    out = sweep.out_dir / "results.parquet"
    with paths.atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    with paths.atomic_path(sweep.out_dir / "results.csv") as tmp:
        frame.to_csv(tmp, index=False)
    return out


def read_table(name: str):
    """The last results table of sweep ``name`` (``results.parquet``)."""
    import pandas as pd

    path = paths.sweeps_dir(name) / "results.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"sweep {name!r} has no results table yet ({path}): run "
                                f"`facexai sweep {name}`")
    return pd.read_parquet(path)


def comparable(frame):
    """A results table without its timing columns, for comparing two runs of a sweep."""
    timing = [c for c in TIMING_COLUMNS if c in frame.columns]
    return frame.drop(columns=timing).reset_index(drop=True)


def metric_wide(frame, result: str, column: str, by: str = "seed"):
    """One column of a table every point recorded, as a frame: one row per row label of that table
    (the method, say) and one column per value of the swept parameter ``by``; failed points left
    out. Values of points that share ``by`` (other parameters swept too) are averaged."""
    sel = frame[(frame["status"] == "ok") & (frame["result"] == result)
                & (frame["column"] == column)]
    if sel.empty:
        raise ValueError(f"no finished point recorded column {column!r} of result {result!r}")
    return sel.pivot_table(index="row", columns=by, values="value", aggfunc="mean", sort=False)


def spread(wide):
    """Mean, standard deviation (n - 1), minimum, maximum and count of each row of a
    :func:`metric_wide` frame, sorted by the mean (largest first)."""
    import pandas as pd

    out = pd.DataFrame({"mean": wide.mean(axis=1), "sd": wide.std(axis=1, ddof=1),
                        "min": wide.min(axis=1), "max": wide.max(axis=1),
                        "n": wide.notna().sum(axis=1)})
    return out.sort_values("mean", ascending=False)


def rank_agreement(wide) -> float:
    """Mean Spearman correlation, over every pair of columns (seeds), of the order in which they
    rank the rows (methods): 1 when every seed ranks them alike, about 0 when unrelated."""
    import numpy as np

    corr = wide.corr(method="spearman").to_numpy()
    pairs = corr[np.triu_indices_from(corr, k=1)]
    if pairs.size == 0:
        raise ValueError("a rank agreement needs at least two columns (seeds)")
    return float(np.nanmean(pairs))


def _clean_stale(out_dir: Path) -> None:
    """Remove the temporary files a killed run may have left (atomic writes that never finished)."""
    if out_dir.is_dir():
        for tmp in out_dir.glob(".*"):
            if tmp.is_file() and re.match(r"^\.(p\d{3}-.+|results)\.(ipynb|json|parquet|csv)\.",
                                          tmp.name):
                tmp.unlink(missing_ok=True)
