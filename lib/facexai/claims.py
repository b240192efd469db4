"""Claims of a paper as registered objects: what the paper says, what tests it, and a stated rule.

A :class:`Claim` has an id, the paper's words, the recorded results it needs (:class:`Result`
constants, the same objects the notebooks record with ``facexai.run.result``), a rule that turns
those results into a :class:`Verdict`, and the rule's thresholds as parameters with defaults. Each
paper package registers its claims with :func:`register_claim` (as zennit registers composites);
:data:`CLAIMS` holds them by id, so that tests, notebooks and parameter cells can name them.

* :func:`evaluate` - one claim against recorded results: a row whose status is one of
  :data:`STATUSES`; a claim whose results are missing is ``"not tested"`` and names them; a claim
  with **measured controls** runs its rule on the same results measured on a positive and a
  negative control variant of the data (recorded as ``Result.control("positive")``, ...), and its
  verdict stands only if the rule separates them (else ``"not testable here"``);
* :func:`claims_table` - every claim of a paper, one row each;
* :func:`gather` - the recorded results of several notebooks, with the missing notebooks listed;
* :func:`table` - a recorded table result as a DataFrame;
* :func:`deviations` - the bullet list under a notebook's "Deviations" heading, so a summary page
  shows the notebooks' own list instead of a copy that can drift.

This module is general: it never imports a paper package (``tests/test_imports.py``).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

import numpy as np
import pandas as pd

from .results import CONTROL_STATUS, Result

__all__ = ["CLAIMS", "COLUMNS", "STATUSES", "Claim", "MissingResult", "Verdict", "as_results",
           "claims_table", "columns", "control_outcomes", "deviations", "evaluate", "gather",
           "interval_text",
           "number", "plain_roles", "register_claim", "registered", "separated", "share_status",
           "table"]

#: Statuses a claim can have, from best to worst supported; "not tested" when results are missing.
STATUSES: tuple[str, ...] = ("holds", "partly holds", "does not hold", "inconclusive",
                              "not testable here", "not tested")
#: Columns of :func:`evaluate`'s row and of :func:`claims_table`.
COLUMNS: tuple[str, ...] = ("id", "claim", "the paper", "this study", "rule", "controls", "data",
                            "status", "missing", "by construction")

#: Every registered claim, by id, in the order of registration.
CLAIMS: dict[str, "Claim"] = {}


class MissingResult(LookupError):
    """Raised by a rule when a result is recorded but lacks what the rule reads (a table's
    column): the claim becomes "not tested" and the message names what is missing."""


@dataclass(frozen=True)
class Verdict:
    """What a rule decides: a status, this study's numbers in words, and (optionally) the paper's
    numbers in words when they come from the results (else :attr:`Claim.reported` is shown)."""

    status: str
    measured: str
    paper: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")


Rule = Callable[[Mapping[Result, Any], Mapping[str, float]], Verdict]


@dataclass(frozen=True, eq=False)
class Claim:
    """One claim of a paper and the rule that tests it.

    Parameters
    ----------
    id : str
        ``"<paper>.<name>"``, unique in :data:`CLAIMS`.
    paper : str
        The paper package (``"paper3"``).
    text : str
        The claim in the paper's words.
    needs : tuple of Result
        Results the rule needs; any missing one makes the claim "not tested".
    rule : callable
        ``rule(values, params) -> Verdict``; ``values`` maps each need (and each recorded
        ``uses``) to its recorded value, ``params`` holds the thresholds.
    params : mapping of str to float
        The rule's thresholds and their defaults; :func:`evaluate` overrides them by keyword.
    rule_text : str
        The rule in words, with ``{name}`` placeholders for the thresholds (a format spec such as
        ``{min_share:.0%}`` is allowed).
    by_construction : str
        When the claim is true (or false) by construction of the data generator, how.
    reported : str
        What the paper reports, shown when the rule does not give it from the results.
    uses : tuple of Result
        Results the rule reads when recorded, but does without.
    not_measured : str
        Why this study does not record what the claim needs (the claim stays "not tested"); empty
        when a notebook is meant to record every need.
    controls : mapping of str to mapping
        Constructed results and the status the rule must give them (``{"holds": {need: value,
        ...}, "does not hold": {...}}``): a positive and a negative control of the rule, checked by
        the tests for every registered claim.
    measured_controls : mapping of str to str
        The control variants of the *data* that the notebooks measure, ``{"positive": what the
        variant is, "negative": ...}``: the rule runs again on each need recorded as
        ``need.control(variant)`` (a need not recorded for the variant keeps its main value), and
        must give "holds" on the positive and "does not hold" on the negative variant; otherwise
        the claim is "not testable here". Empty: the claim has no measured controls.
    """

    id: str
    paper: str
    text: str
    needs: tuple[Result, ...]
    rule: Rule
    params: Mapping[str, float] = field(default_factory=dict)
    rule_text: str = ""
    by_construction: str = ""
    reported: str = ""
    uses: tuple[Result, ...] = ()
    not_measured: str = ""
    controls: Mapping[str, Mapping[Result, Any]] = field(default_factory=dict)
    measured_controls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if not re.fullmatch(rf"{re.escape(self.paper)}\.[a-z0-9_]+", self.id or ""):
            raise ValueError(f"claim id {self.id!r} must be '{self.paper}.<lower_case_name>'")
        for what in ("needs", "uses"):
            items = tuple(getattr(self, what))
            bad = [r for r in items if not isinstance(r, Result)]
            if bad:
                raise TypeError(f"claim {self.id}: {what} must be Result constants, got {bad!r}")
            object.__setattr__(self, what, items)
        if not self.needs:
            raise ValueError(f"claim {self.id} needs no result: nothing could test it")
        if not callable(self.rule):
            raise TypeError(f"claim {self.id}: rule must be callable")
        params = {k: float(v) for k, v in dict(self.params).items()}
        object.__setattr__(self, "params", MappingProxyType(params))
        named = {f for _, f, _, _ in string.Formatter().parse(self.rule_text) if f}
        unknown = named - set(params)
        if unknown:
            raise ValueError(f"claim {self.id}: rule_text names {sorted(unknown)}, which are not "
                             f"among its params {sorted(params)}")
        for status, values in dict(self.controls).items():
            lacking = [r.qualified for r in self.needs if r not in values]
            if status not in STATUSES or lacking:
                raise ValueError(f"claim {self.id}: control {status!r} must be keyed by a status "
                                 f"and give every need (lacks {lacking})")
        object.__setattr__(self, "controls", MappingProxyType(dict(self.controls)))
        measured = dict(self.measured_controls)
        if measured and set(measured) != set(CONTROL_STATUS):
            raise ValueError(f"claim {self.id}: measured_controls must describe both variants "
                             f"{sorted(CONTROL_STATUS)}, got {sorted(measured)}")
        object.__setattr__(self, "measured_controls", MappingProxyType(measured))

    def thresholds(self, **params: float) -> dict[str, float]:
        """The claim's thresholds: its defaults, overridden by ``params`` (an unknown name is an
        error that names the claim's parameters)."""
        unknown = set(params) - set(self.params)
        if unknown:
            raise ValueError(f"claim {self.id} has no parameter {sorted(unknown)[0]!r}; its "
                             f"parameters: {sorted(self.params) or 'none'}")
        return {**self.params, **{k: float(v) for k, v in params.items()}}

    def describe(self, **params: float) -> str:
        """The rule in words, with the thresholds filled in."""
        return self.rule_text.format(**self.thresholds(**params))


def register_claim(id: str, *, paper: str, text: str, needs: Iterable[Result],
                   params: Mapping[str, float] | None = None, rule_text: str = "",
                   by_construction: str = "", reported: str = "", uses: Iterable[Result] = (),
                   not_measured: str = "",
                   controls: Mapping[str, Mapping[Result, Any]] | None = None,
                   measured_controls: Mapping[str, str] | None = None
                   ) -> Callable[[Rule], Rule]:
    """Register the decorated rule as the claim ``id`` in :data:`CLAIMS` (the rule is returned
    unchanged). The arguments are :class:`Claim`'s. Registering an id again is an error unless
    it is the same rule (a module imported twice)."""

    def decorator(rule: Rule) -> Rule:
        claim = Claim(id=id, paper=paper, text=text, needs=tuple(needs), rule=rule,
                      params=params or {}, rule_text=rule_text, by_construction=by_construction,
                      reported=reported, uses=tuple(uses), not_measured=not_measured,
                      controls=controls or {}, measured_controls=measured_controls or {})
        old = CLAIMS.get(id)
        if old is not None and (old.rule.__module__, old.rule.__qualname__) != \
                (rule.__module__, rule.__qualname__):
            raise ValueError(f"claim {id!r} is already registered by "
                             f"{old.rule.__module__}.{old.rule.__qualname__}")
        CLAIMS[id] = claim
        return rule

    return decorator


def share_status(k: float, n: float, min_share: float) -> str:
    """The rule of a claim about "the attributes" (or filters, pairs, ...): ``"holds"`` when true
    for ``k >= min_share * n`` of ``n > 0``, ``"partly holds"`` when for some, else
    ``"does not hold"``."""
    return "holds" if n and k >= min_share * n else "partly holds" if k else "does not hold"


def number(x: Any, digits: int = 2) -> str:
    """A number for a claim's text: ``digits`` decimals, ``"n/a"`` for None or a non-finite one."""
    if x is None or (isinstance(x, (float, np.floating)) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def interval_text(values: Mapping[Result, Any], result: Result) -> str:
    """``" [lo, hi]"``: the interval recorded beside ``result`` as its parts ``lo`` and ``hi``
    (empty when they are not among ``values``)."""
    lo, hi = values.get(result.part("lo")), values.get(result.part("hi"))
    return "" if lo is None or hi is None else f" [{number(lo)}, {number(hi)}]"


def registered(paper: str | None = None) -> list[Claim]:
    """The registered claims of ``paper`` (all papers when None), in registration order."""
    return [c for c in CLAIMS.values() if paper is None or c.paper == paper]


def as_results(values: Mapping[Result, Any]) -> dict[str, dict[str, Any]]:
    """``{Result: value}`` as recorded results, ``{notebook: {name: value}}`` (for a claim's
    controls, or results built by hand)."""
    out: dict[str, dict[str, Any]] = {}
    for r, value in values.items():
        out.setdefault(r.notebook, {})[str(r)] = value
    return out


def _lookup(wanted: Iterable[Result], results: Mapping[str, Mapping[str, Any]]
            ) -> tuple[dict[Result, Any], list[Result]]:
    """The recorded value of each wanted result (by its notebook and name), and the missing ones
    (not recorded, or recorded as None)."""
    found, missing = {}, []
    for r in wanted:
        value = (results.get(r.notebook) or {}).get(str(r))
        if value is None:
            missing.append(r)
        else:
            found[r] = value
    return found, missing


def _missing_text(missing: list[Result], results: Mapping[str, Mapping[str, Any]]) -> str:
    """``"missing: nb.a, nb.b; other (no run record)"`` grouped by notebook."""
    parts = []
    for notebook in dict.fromkeys(r.notebook for r in missing):
        names = [str(r) for r in missing if r.notebook == notebook]
        record = "" if results.get(notebook) else " (no run record)"
        parts.append(f"{notebook}{record}: {', '.join(names)}")
    return "missing: " + "; ".join(parts)


def evaluate(claim: Claim, results: Mapping[str, Mapping[str, Any]], *, data: str = "",
             measured: bool = True, **params: float) -> dict[str, Any]:
    """Test one claim against recorded results.

    Parameters
    ----------
    claim : Claim
        A registered claim (or any :class:`Claim`).
    results : mapping
        ``{notebook: {name: value}}``, as :func:`gather` returns; a result is looked up by its
        constant's notebook and name, never by a substring.
    data : str
        Which data the results come from (shown in the row).
    measured : bool
        Run the rule on the claim's measured controls too (:func:`control_outcomes`) and report
        "not testable here" when it does not separate them; False tests the rule alone (on
        constructed results, as the claim's ``controls`` are).
    **params : float
        Thresholds overriding the claim's defaults.

    Returns
    -------
    dict
        One row with the keys :data:`COLUMNS`; ``missing`` lists (comma-separated, as
        ``notebook:name``) every needed result that was not recorded, and then the status is
        ``"not tested"``. The rule never runs on incomplete results and a missing result never
        raises.
    """
    thresholds = claim.thresholds(**params)
    values, missing = _lookup(claim.needs, results)
    used, _ = _lookup(claim.uses, results)
    row = {"id": claim.id, "claim": claim.text, "the paper": claim.reported, "this study": "",
           "rule": claim.describe(**thresholds), "controls": "", "data": data,
           "status": "not tested", "missing": "", "by construction": claim.by_construction}
    missing_names = [r.qualified for r in missing]
    if not missing:
        try:
            verdict = claim.rule({**used, **values}, MappingProxyType(thresholds))
        except MissingResult as err:
            row["this study"] = f"missing: {err}"
            row["missing"] = str(err)
            return row
        row.update({"this study": verdict.measured, "status": verdict.status,
                    "the paper": verdict.paper or claim.reported})
        if claim.measured_controls and measured:
            outcomes = control_outcomes(claim, results, {**used, **values}, thresholds)
            row["controls"] = "; ".join(f"{variant} ({claim.measured_controls[variant]}): "
                                        f"{status}" for variant, status in outcomes.items())
            if not separated(outcomes):
                row["status"] = "not testable here"
                row["this study"] += (f" [the rule would say '{verdict.status}', but it does not "
                                      "separate its controls]")
        return row
    text = _missing_text(missing, results)
    row["this study"] = f"{claim.not_measured}; {text}" if claim.not_measured else text
    row["missing"] = ", ".join(missing_names)
    return row


def control_outcomes(claim: Claim, results: Mapping[str, Mapping[str, Any]],
                     values: Mapping[Result, Any], thresholds: Mapping[str, float]
                     ) -> dict[str, str]:
    """The rule's status on each measured control variant of the data: every need and use
    recorded as ``r.control(variant)`` replaces its main value (``values``); a rule that cannot
    run on a variant gives ``"not tested"``."""
    out = {}
    for variant in CONTROL_STATUS:
        wanted = {r: r.control(variant) for r in (*claim.needs, *claim.uses)}
        found, _ = _lookup(wanted.values(), results)
        variant_values = dict(values)
        variant_values.update({r: found[c] for r, c in wanted.items() if c in found})
        try:
            out[variant] = claim.rule(variant_values, MappingProxyType(dict(thresholds))).status
        except (MissingResult, KeyError, ValueError, TypeError):
            out[variant] = "not tested"
    return out


def separated(outcomes: Mapping[str, str]) -> bool:
    """Whether a rule separated its controls: "holds" on the positive variant and "does not
    hold" on the negative one."""
    return all(outcomes.get(v) == status for v, status in CONTROL_STATUS.items())


def claims_table(paper: str, results: Mapping[str, Mapping[str, Any]], *, data: str = "",
                 **params: float) -> pd.DataFrame:
    """Every registered claim of ``paper`` against ``results``, one row each (:func:`evaluate`).

    A parameter in ``params`` goes to every claim of the paper that has it; a name no claim of
    the paper has is an error. The paper's claims module must have been imported (it registers
    them); no claim registered for ``paper`` is an error too.
    """
    claims = registered(paper)
    if not claims:
        raise ValueError(f"no claims registered for {paper!r} (import facexai.{paper}.claims); "
                         f"papers with claims: {sorted({c.paper for c in CLAIMS.values()})}")
    known = {k for c in claims for k in c.params}
    unknown = set(params) - known
    if unknown:
        raise ValueError(f"no claim of {paper} has the parameter {sorted(unknown)[0]!r}; "
                         f"parameters: {sorted(known)}")
    rows = [evaluate(c, results, data=data, **{k: v for k, v in params.items() if k in c.params})
            for c in claims]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def gather(notebooks: Iterable[str], reader: Callable[[str], dict] | None = None
           ) -> tuple[dict[str, dict], list[str]]:
    """``({notebook: results}, [missing notebooks])`` for a summary page's notebooks.

    ``reader`` defaults to :func:`facexai.run.results_of` (this build's profile); a notebook whose
    record is missing maps to ``{}`` and is listed.
    """
    if reader is None:
        from .run import results_of as reader
    out, missing = {}, []
    for name in notebooks:
        try:
            out[name] = reader(name)
        except FileNotFoundError:
            out[name] = {}
            missing.append(name)
    return out, missing


def table(value: Any) -> pd.DataFrame | None:
    """A recorded table result (``{"table": [...]}``) as a DataFrame (None for a missing or
    non-table value); a DataFrame (a claim's control) is returned as it is."""
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, dict) and isinstance(value.get("table"), list):
        frame = pd.DataFrame(value["table"])
        # a table recorded from a frame with a plain range index carries it as "index"
        plain = "index" in frame.columns and \
            (frame["index"].to_numpy() == np.arange(len(frame))).all()
        return frame.drop(columns=["index"]) if plain else frame
    return None


def columns(values: Mapping[Result, Any] | pd.DataFrame, result: Result, *names: str
            ) -> pd.DataFrame:
    """Columns ``names`` of the recorded table ``result`` (or of ``values``, that table itself) as
    numbers, rows where any is missing dropped; :class:`MissingResult` naming the result (or its
    column) when it is not there."""
    frame = values if isinstance(values, pd.DataFrame) else table(values.get(result))
    if frame is None:
        raise MissingResult(f"{result.qualified} (not a recorded table)")
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise MissingResult(f"{result.qualified} column {absent[0]!r}")
    return frame[list(names)].apply(pd.to_numeric, errors="coerce").dropna()


# ---------------------------------------------------------------------------------------------
# Deviations
# ---------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_ROLE = re.compile(r"\{[\w:.-]+\}`([^`<]*?)(?:\s*<([^>]*)>)?`")


def plain_roles(text: str) -> str:
    """MyST roles as plain text (``{cite:t}`xiao2024``` -> ``xiao2024``), for text shown in a
    notebook's Markdown output, which is rendered as CommonMark without roles."""
    return _ROLE.sub(lambda m: m.group(1).strip() or (m.group(2) or ""), text)


def deviations(path: Path | str, heading: str = "deviations", strip_roles: bool = True
               ) -> list[str]:
    """The bullet items of the section of a MyST notebook whose heading contains ``heading``.

    Items are returned as one string each (continuation lines joined; MyST roles made plain text
    unless ``strip_roles`` is False); an empty list when the file or the section is missing. Code
    cells are skipped.
    """
    path = Path(path)
    if not path.is_file():
        return []
    items, inside, level, in_code = [], False, 0, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        m = _HEADING.match(line)
        if m:
            if inside and len(m.group(1)) <= level:
                break
            if heading in m.group(2).lower():
                inside, level = True, len(m.group(1))
            continue
        if not inside:
            continue
        if line.startswith(("* ", "- ")):
            items.append(line[2:].strip())
        elif line.startswith("  ") and items and line.strip():
            items[-1] += " " + line.strip()
    return [plain_roles(i) for i in items] if strip_roles else items
