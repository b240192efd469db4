"""Lazy exports of a package (PEP 562): names imported from their modules on first use, so that
importing the package (e.g. a paper's schema, which profile validation reads in every notebook
kernel and sweep point) does not load torch."""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping, Sequence

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str], submodules: Sequence[str],
                 namespace: dict) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: a submodule of ``submodules`` is imported when
    asked for, a name of ``names`` (name -> relative module) is read from its module and kept in
    ``namespace`` (the package's ``globals()``); anything else is an AttributeError."""
    def __getattr__(name: str) -> Any:
        if name in submodules:
            return importlib.import_module(f".{name}", package)
        if name in names:
            value = getattr(importlib.import_module(names[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return __getattr__
