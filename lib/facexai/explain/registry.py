"""The registry of explainers: string keys, their options and defaults, one contract.

An explainer is a function ``(model, x, target, **options) -> relevance`` registered with
:func:`register` under a key that parameters cells and sweeps can name. :func:`options_for` checks
options against the registered ones and names any that the method does not know.

:func:`facexai.explain.explain` may call an explainer on consecutive chunks of the batch
(``batch_size``); the map of an image must not depend on the chunk it is in (a test runs every
registered explainer both ways). An explainer that draws random numbers per image is registered with
``indexed=True`` and is then also given ``start``, the index of ``x[0]`` in the whole batch, so that
it can seed each image by its global index. ``batch_size`` itself is reserved for :func:`explain`
and cannot be an explainer's option.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Explainer:
    """A registered explainer: key, family, function, and its options with their defaults.

    ``indexed``: the function takes a keyword ``start`` (the index of its first sample in the
    whole batch that :func:`facexai.explain.explain` was given).
    """

    key: str
    family: str
    fn: Callable
    defaults: Mapping[str, Any] = field(default_factory=dict)
    indexed: bool = False

    @property
    def doc(self) -> str:
        """First line of the function's docstring."""
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


#: Explainers by key, in registration order (gradient family, occlusion, LRP, CAM).
EXPLAINERS: dict[str, Explainer] = {}

#: Keywords of :func:`facexai.explain.explain` itself (and ``start``, given to indexed explainers):
#: an option of that name could never reach the explainer.
RESERVED_OPTIONS: tuple[str, ...] = ("batch_size", "start")


def register(key: str, family: str, *, indexed: bool = False,
             **defaults: Any) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn`` as explainer ``key`` with options ``defaults``.

    ``indexed=True``: ``fn`` also takes ``start``, the global index of its first sample (see the
    module docstring).
    """
    reserved = [k for k in defaults if k in RESERVED_OPTIONS]
    if reserved:
        raise ValueError(f"explainer {key!r}: option name(s) {', '.join(map(repr, reserved))} are "
                         f"reserved by explain(); rename them")

    def wrap(fn: Callable) -> Callable:
        if key in EXPLAINERS:
            raise ValueError(f"an explainer {key!r} is already registered")
        EXPLAINERS[key] = Explainer(key, family, fn, dict(defaults), bool(indexed))
        return fn
    return wrap


def get(method: str) -> Explainer:
    """The explainer registered as ``method``; a ValueError names an unknown key."""
    if method not in EXPLAINERS:
        near = difflib.get_close_matches(str(method), list(EXPLAINERS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown explanation method {method!r}{hint}; known methods: "
                         f"{', '.join(EXPLAINERS)}")
    return EXPLAINERS[method]


def options_for(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The method's defaults updated with ``options``; a ValueError names unknown options."""
    explainer = get(method)
    unknown = [k for k in options if k not in explainer.defaults]
    if unknown:
        known = ", ".join(explainer.defaults) or "none"
        raise ValueError(f"method {method!r} has no option(s) {', '.join(map(repr, unknown))}; "
                         f"its options: {known}")
    return {**explainer.defaults, **options}


def describe(methods):
    """One row per method: its family, what it computes (its docstring's first line) and its
    options with their defaults."""
    import pandas as pd

    return pd.DataFrame([{"method": k, "family": get(k).family, "what it computes": get(k).doc,
                          "options": ", ".join(f"{o}={v!r}" for o, v in get(k).defaults.items())}
                         for k in methods]).set_index("method")
