"""The registry of explainers: string keys, their options and defaults, one contract.

An explainer is a function ``(model, x, target, **options) -> relevance`` registered with
:func:`register` under a key that parameters cells and sweeps can name. :func:`options_for` checks
options against the registered ones and names any that the method does not know.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping


@dataclass(frozen=True)
class Explainer:
    """A registered explainer: key, family, function, and its options with their defaults."""

    key: str
    family: str
    fn: Callable
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> str:
        """First line of the function's docstring."""
        return (self.fn.__doc__ or "").strip().splitlines()[0] if self.fn.__doc__ else ""


#: Explainers by key, in registration order (gradient family, occlusion, LRP, CAM).
EXPLAINERS: dict[str, Explainer] = {}


def register(key: str, family: str, **defaults: Any) -> Callable[[Callable], Callable]:
    """Decorator: register ``fn`` as explainer ``key`` with options ``defaults``."""
    def wrap(fn: Callable) -> Callable:
        if key in EXPLAINERS:
            raise ValueError(f"an explainer {key!r} is already registered")
        EXPLAINERS[key] = Explainer(key, family, fn, dict(defaults))
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
