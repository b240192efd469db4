"""The file format of the dataset cache: one ``.npz`` of plain arrays and a JSON header, no pickle.

The cache folder (``<data>/cache``) may be shared, so an entry is read with
``numpy.load(allow_pickle=False)`` and :func:`json.loads` only: a planted file can at worst fail
to load (and is then rebuilt), never run code. Every field of a :class:`FaceDataset` round-trips
exactly: arrays with their dtypes, data frames column by column (numeric and boolean columns as
arrays, text columns as JSON lists of str/int/float/None), the index and its name, the split
schemes, the skipped files and the notes. A dataset holding anything else (an object array, an
extension dtype, a value JSON cannot hold) raises ``TypeError`` on :func:`write`, and the caller
then leaves it uncached.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .core import FaceDataset, Skipped, SplitScheme

FORMAT = 1
#: What a damaged, foreign or older entry raises on :func:`read` (the caller rebuilds it).
UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, EOFError, zipfile.BadZipFile)
_ARRAY_KINDS = "biufcmM"
#: Text dtypes a column or index may have (pandas 3 makes "str" the default for text).
_TEXT_DTYPES = ("object", "str", "string")


def _plain(value: Any) -> Any:
    """A cell of a text column as a JSON value (an error for anything JSON cannot give back)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value  # JSON gives back each of these, NaN and infinities included
    raise TypeError(f"cannot store a {type(value).__name__} without pickle")


def _array(name: str, values: Any, arrays: dict[str, np.ndarray]) -> None:
    values = np.asarray(values)
    if values.dtype.hasobject:
        raise TypeError(f"{name}: object array")
    arrays[name] = values


def _put_index(index: pd.Index, prefix: str, arrays: dict) -> dict:
    if isinstance(index, pd.RangeIndex):
        return {"range": [index.start, index.stop, index.step], "name": index.name}
    if index.dtype.kind in _ARRAY_KINDS:
        _array(prefix, index.to_numpy(), arrays)
        return {"array": prefix, "name": index.name}
    if str(index.dtype) not in _TEXT_DTYPES:
        raise TypeError(f"index of dtype {index.dtype}")
    return {"values": [_plain(v) for v in index.tolist()], "dtype": str(index.dtype),
            "name": index.name}


def _put_frame(frame: pd.DataFrame | None, prefix: str, arrays: dict) -> dict | None:
    if frame is None:
        return None
    if not isinstance(frame.columns, pd.Index) or isinstance(frame.columns, pd.MultiIndex):
        raise TypeError("multi-level columns")
    if frame.columns.has_duplicates:
        raise TypeError("duplicate column names")
    columns = []
    for j, name in enumerate(frame.columns):
        if not isinstance(name, str):
            raise TypeError(f"column name {name!r} is not text")
        col = frame.iloc[:, j]
        entry: dict[str, Any] = {"name": name}
        if col.dtype.kind in _ARRAY_KINDS and isinstance(col.dtype, np.dtype):
            entry["array"] = f"{prefix}.{j}"
            _array(entry["array"], col.to_numpy(), arrays)
        elif str(col.dtype) in _TEXT_DTYPES:
            entry.update(values=[_plain(v) for v in col.tolist()], dtype=str(col.dtype))
        else:
            raise TypeError(f"column {name!r} of dtype {col.dtype}")
        columns.append(entry)
    return {"columns": columns, "index": _put_index(frame.index, f"{prefix}.index", arrays),
            "columns_name": frame.columns.name}


def write(ds: FaceDataset, path: Path | str) -> None:
    """Write ``ds`` to ``path`` (an ``.npz``); ``TypeError`` if it cannot be stored exactly."""
    arrays: dict[str, np.ndarray] = {}
    for name in ("images", "subjects", "landmarks"):
        if getattr(ds, name) is not None:
            _array(name, getattr(ds, name), arrays)
    splits = []
    for k, (key, scheme) in enumerate(ds.splits.items()):
        _array(f"split{k}.roles", scheme.roles, arrays)
        if scheme.groups is not None:
            _array(f"split{k}.groups", scheme.groups, arrays)
        splits.append({"key": key, "name": scheme.name, "description": scheme.description,
                       "groups": scheme.groups is not None})
    header = {
        "format": FORMAT, "key": ds.key, "target": ds.target,
        "classes": None if ds.classes is None else list(ds.classes), "files": list(ds.files),
        "root": str(ds.root), "splits": splits, "landmarks": ds.landmarks is not None,
        "skipped": [[s.path, s.reason] for s in ds.skipped],
        "notes": {k: v for k, v in ds.notes.items() if not k.startswith("cache")},
        "frames": {name: _put_frame(getattr(ds, name), name, arrays)
                   for name in ("labels", "aus", "au_intensity")}}
    text = json.dumps(header)
    if json.loads(text)["notes"] != header["notes"]:  # a tuple or a non-text key would change
        raise TypeError("notes that JSON cannot give back exactly")
    with open(path, "wb") as fh:
        np.savez(fh, header=np.array(text), **arrays)


def _get_index(spec: dict, z) -> pd.Index:
    if "range" in spec:
        return pd.RangeIndex(*spec["range"], name=spec["name"])
    if "array" in spec:
        return pd.Index(z[spec["array"]], name=spec["name"])
    return pd.Index(_text(spec["values"], spec["dtype"]), name=spec["name"])


def _text(values: list, dtype: str) -> Any:
    """A text column as it was: an object array, or values of pandas' "str"/"string" dtype."""
    if dtype not in _TEXT_DTYPES:
        raise ValueError(f"unknown text dtype {dtype!r}")
    if dtype != "object":
        return pd.array(values, dtype=dtype)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _get_frame(spec: dict | None, z) -> pd.DataFrame | None:
    if spec is None:
        return None
    index = _get_index(spec["index"], z)
    data = {c["name"]: z[c["array"]] if "array" in c else _text(c["values"], c["dtype"])
            for c in spec["columns"]}
    frame = pd.DataFrame(data, index=index, columns=[c["name"] for c in spec["columns"]])
    frame.columns.name = spec["columns_name"]
    return frame


def read(path: Path | str) -> FaceDataset:
    """The dataset stored at ``path`` (raises one of :data:`UNREADABLE` for a bad entry)."""
    with np.load(path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        if header.get("format") != FORMAT:
            raise ValueError(f"cache format {header.get('format')!r}, expected {FORMAT}")
        splits = {s["key"]: SplitScheme(s["name"], z[f"split{k}.roles"], s["description"],
                                        z[f"split{k}.groups"] if s["groups"] else None)
                  for k, s in enumerate(header["splits"])}
        frames = {name: _get_frame(spec, z) for name, spec in header["frames"].items()}
        return FaceDataset(
            key=header["key"], images=z["images"], labels=frames["labels"], target=header["target"],
            classes=None if header["classes"] is None else tuple(header["classes"]),
            subjects=z["subjects"], files=tuple(header["files"]), splits=splits,
            root=Path(header["root"]), landmarks=z["landmarks"] if header["landmarks"] else None,
            aus=frames["aus"], au_intensity=frames["au_intensity"],
            skipped=[Skipped(p, r) for p, r in header["skipped"]], notes=dict(header["notes"]))
