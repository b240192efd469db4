"""Names of recorded results, shared by the notebook that records them and the claims that read them.

A notebook records a number or a small table with ``facexai.run.result(NAME, value)``; a claim
declares the results it needs by the same constant. Both sides import one :class:`Result`, so a
renamed result fails a test (every claim's needs must be recorded by its notebook) instead of
silently turning the claim into "not tested".
"""
from __future__ import annotations


class Result(str):
    """A result's name (a ``str``, so it can be passed wherever a name is) and its notebook.

    >>> MEAN_R = Result("paper3_predictive", "mean_r_vgg16", "mean test r over attributes")
    >>> MEAN_R, MEAN_R.notebook
    ('mean_r_vgg16', 'paper3_predictive')
    >>> Result("paper3_bias", "n_gaps").part("sex")
    'n_gaps_sex'
    """

    notebook: str
    doc: str

    def __new__(cls, notebook: str, name: str, doc: str = "") -> "Result":
        if not notebook or not name:
            raise ValueError(f"a result needs a notebook and a name, got {notebook!r}, {name!r}")
        obj = super().__new__(cls, name)
        obj.notebook = notebook
        obj.doc = doc
        return obj

    def __getnewargs__(self):  # pickling and copying keep the notebook
        return (self.notebook, str(self), self.doc)

    @property
    def name(self) -> str:
        return str(self)

    @property
    def qualified(self) -> str:
        """``<notebook>:<name>``."""
        return f"{self.notebook}:{self}"

    def part(self, suffix: object) -> "Result":
        """The result ``<name>_<suffix>`` of the same notebook (one per group, ground truth, ...)."""
        return Result(self.notebook, f"{self}_{suffix}", self.doc)

    def control(self, variant: str) -> "Result":
        """The same result measured on a control variant of the data (``"positive"``: a variant
        where the claim is known to hold; ``"negative"``: where it is known not to), recorded as
        ``<name>@<variant>``; see :func:`facexai.claims.evaluate`.

        >>> Result("paper3_bias", "n_gaps").control("positive")
        'n_gaps@positive'
        """
        if variant not in CONTROL_VARIANTS:
            raise ValueError(f"control variant must be one of {CONTROL_VARIANTS}, got {variant!r}")
        return Result(self.notebook, f"{self}@{variant}", self.doc)


#: The control variants a result can be recorded for, and the status a claim's rule must give
#: each (:meth:`Result.control`).
CONTROL_VARIANTS: tuple[str, ...] = ("positive", "negative")
CONTROL_STATUS: dict[str, str] = {"positive": "holds", "negative": "does not hold"}


def declared(module) -> dict[str, Result]:
    """Every :class:`Result` constant of a module, by attribute name."""
    return {k: v for k, v in vars(module).items() if isinstance(v, Result)}
