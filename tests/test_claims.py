"""Claims (facexai.claims): the registry drives the tests, as zennit's conftest parametrises over
its composites. Every registered claim of every paper, given no results, is "not tested" and names
every result it needs; its positive and negative controls give their statuses; each threshold is a
parameter that can flip the positive control; and each result a claim needs is recorded, under the
same constant, by the notebook it belongs to."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pandas as pd
import pytest

import facexai.paper1.claims  # noqa: F401  (registers the claims)
import facexai.paper2.claims  # noqa: F401
import facexai.paper3.claims  # noqa: F401
from facexai import claims as core
from facexai.claims import (CLAIMS, COLUMNS, STATUSES, Claim, MissingResult, Verdict, as_results,
                            claims_table, evaluate, gather, register_claim, table)
from facexai.results import Result, declared

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REGISTERED = list(CLAIMS.values())
_ids = [c.id for c in REGISTERED]


@pytest.fixture(params=REGISTERED, ids=_ids)
def claim(request) -> Claim:
    return request.param


def test_every_paper_registers_claims():
    assert {c.paper for c in REGISTERED} >= {"paper1", "paper2", "paper3"}
    assert len(_ids) == len(set(_ids))


def test_no_results_means_not_tested_naming_every_need(claim):
    for results in ({}, {nb: {} for nb in {r.notebook for r in claim.needs}}):
        row = evaluate(claim, results)
        assert row["status"] == "not tested"
        assert row["missing"].split(", ") == [r.qualified for r in claim.needs]
        for r in claim.needs:
            assert str(r) in row["this study"]
        assert set(row) == set(COLUMNS) and row["claim"] == claim.text


def test_controls_give_their_status(claim):
    assert {"holds", "does not hold"} <= set(claim.controls), \
        f"{claim.id} needs a positive ('holds') and a negative ('does not hold') control"
    for status, values in claim.controls.items():
        row = evaluate(claim, as_results(values), measured=False)
        assert row["status"] == status, row["this study"]
        assert row["missing"] == ""


def test_dropping_any_need_makes_the_control_not_tested(claim):
    values = claim.controls["holds"]
    for need in claim.needs:
        row = evaluate(claim, as_results({r: v for r, v in values.items() if r != need}),
                       measured=False)
        assert row["status"] == "not tested" and row["missing"] == need.qualified


def test_every_threshold_is_a_parameter_that_flips_a_control(claim):
    assert claim.params, f"{claim.id}: a rule with no threshold"
    holds = as_results(claim.controls["holds"])
    for name in claim.params:
        statuses = {evaluate(claim, holds, measured=False, **{name: x})["status"]
                    for x in (-1e9, 1e9)}
        negative = {evaluate(claim, as_results(claim.controls["does not hold"]), measured=False,
                             **{name: x})["status"] for x in (-1e9, 1e9)}
        # a threshold flips the positive control, or (one that only qualifies a negative
        # verdict, e.g. a power requirement) the negative one
        assert statuses - {"holds"} or negative - {"does not hold"}, \
            f"{claim.id}: {name} changes nothing"
        assert statuses <= set(STATUSES)
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        evaluate(claim, holds, nope=1.0)


def test_rule_text_fills_every_threshold(claim):
    text = claim.describe()
    assert text and "{" not in text
    changed = {k: v + 2.25 for k, v in claim.params.items()}
    assert claim.describe(**changed) != text


# -- the needs are recorded by the notebooks, under the same constants ---------------------------

def _code_cells(path: Path) -> str:
    """The code of a MyST notebook's code cells (cell options and IPython magics dropped)."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", path.read_text(encoding="utf-8"),
                       flags=re.S | re.M)
    lines = [ln for cell in cells for ln in cell.splitlines()
             if not ln.startswith((":", "%", "!"))]
    return "\n".join(lines)


def _target(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of a ``from ... import`` in a module of ``package``."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[:len(package.split(".")) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _references(tree: ast.AST, package: str, module) -> set[str]:
    """Names of ``module``'s Result constants that the code refers to, as ``alias.CONST`` or as a
    name imported from it; ``"<name>_*"`` for a constant used with ``.part(...)``."""
    constants = declared(module)
    aliases, direct = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _target(node, package)
            aliases |= {a.asname or a.name for a in node.names
                        if f"{target}.{a.name}" == module.__name__}
            direct |= {a.asname or a.name for a in node.names
                       if target == module.__name__ and a.name in constants}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == module.__name__ and a.asname}

    def constant(node) -> str | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in aliases and node.attr in constants:
            return str(constants[node.attr])
        if isinstance(node, ast.Name) and node.id in direct:
            return str(constants[node.id])
        return None

    found = set()
    for node in ast.walk(tree):
        name = constant(node)
        if name:
            found.add(name)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "part" and constant(node.func.value):
            found.add(f"{constant(node.func.value)}_*")
    return found


def _recorded(path: Path, module) -> set[str]:
    """The constants of ``module`` that a notebook refers to (hence records with
    ``facexai.run.result``), in its code cells or in the modules of its paper that it imports (a
    function that returns ``{constant: value}`` for the notebook to record); string literals do
    not count. Only the constants of this notebook are kept."""
    tree = ast.parse(_code_cells(path))
    paper = module.__name__.rpartition(".")[0]
    found = _references(tree, "", module)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == paper:
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"{paper}."):
            names = [node.module.rpartition(".")[2]]
        else:
            continue
        for name in names:
            source = ROOT / "lib" / Path(*paper.split(".")) / f"{name}.py"
            if name not in ("results", "claims") and source.is_file():
                found |= _references(ast.parse(source.read_text(encoding="utf-8")), paper, module)
    return {n for n in found
            if any(str(c) == n.removesuffix("_*") and c.notebook == path.stem
                   for c in declared(module).values())}


def _base(need: Result, module) -> str | None:
    """The declared constant a need is (its name) or a ``.part`` of (``"<name>_*"``)."""
    names = {str(c) for c in declared(module).values() if c.notebook == need.notebook}
    if str(need) in names:
        return str(need)
    bases = [n for n in names if str(need).startswith(f"{n}_")]
    return f"{max(bases, key=len)}_*" if bases else None


def test_the_recorded_result_parser_on_a_constructed_notebook(tmp_path):
    from facexai.paper3 import results as R

    nb = tmp_path / "paper3_bias.md"
    nb.write_text("```{code-cell} ipython3\n:tags: [remove-cell]\nimport facexai.run\n"
                  "from facexai.paper3 import results as P\n%matplotlib inline\n"
                  "facexai.run.result(P.N_GAPS, 1)\nfacexai.run.result(P.N_GAPS.part(x), 2)\n"
                  "facexai.run.result('n_tests', 3)\nfacexai.run.result(Q.VARIABLES, 3)\n"
                  "facexai.run.result(P.MEAN_R_VGG16, 1)\n```\n", encoding="utf-8")
    found = _recorded(nb, R)
    assert found == {"n_gaps", "n_gaps_*"}                       # another notebook's is dropped
    assert _base(R.N_GAPS.part("sex"), R) == "n_gaps_*" and _base(R.N_GAPS, R) == "n_gaps"
    assert _base(R.MEAN_R_VGG16_NO_AUG, R) == "mean_r_vgg16_no_aug"   # a constant, not a part


def test_every_need_is_recorded_by_its_notebook(claim):
    module = _results_module(claim)
    if not any(NOTEBOOKS.glob(f"{claim.paper}_*.md")):
        pytest.skip(f"no notebook of {claim.paper} yet")
    missing = []
    for nb in sorted({r.notebook for r in claim.needs}):
        path = NOTEBOOKS / f"{nb}.md"
        recorded = _recorded(path, module) if path.is_file() else set()
        # a constant handed whole to a function that records its parts counts for them too
        recorded |= {f"{n}_*" for n in recorded}
        missing += [r.qualified for r in claim.needs
                    if r.notebook == nb and _base(r, module) not in recorded]
    if claim.not_measured:
        assert missing, f"{claim.id} says it is not measured, but its notebooks record every need"
    else:
        assert not missing, f"{claim.id}: not recorded under its constant: {missing}"


def _results_module(claim: Claim):
    import importlib

    return importlib.import_module(f"facexai.{claim.paper}.results")


def test_every_need_is_a_declared_constant(claim):
    for need in (*claim.needs, *claim.uses):
        assert _base(need, _results_module(claim)) is not None, need


# -- the registry and the table ------------------------------------------------------------------

_R = Result("nb", "x")


def _rule(v, p):
    return Verdict("holds" if v[_R] >= p["t"] else "does not hold", f"x = {v[_R]}")


def test_register_claim_checks_its_arguments():
    kw = dict(paper="testpaper", text="t", needs=(_R,), params={"t": 1.0}, rule_text="x >= {t}")
    try:
        register_claim("testpaper.one", **kw)(_rule)
        assert CLAIMS["testpaper.one"].describe(t=2) == "x >= 2.0"
        register_claim("testpaper.one", **kw)(_rule)          # the same rule again: fine
        with pytest.raises(ValueError, match="already registered"):
            register_claim("testpaper.one", **kw)(lambda v, p: None)
        with pytest.raises(ValueError, match="must be 'testpaper.<"):
            register_claim("other.two", **kw)(_rule)
        with pytest.raises(ValueError, match="not among its params"):
            register_claim("testpaper.two", **{**kw, "rule_text": "{u}"})(_rule)
        with pytest.raises(TypeError, match="Result constants"):
            register_claim("testpaper.two", **{**kw, "needs": ("x",)})(_rule)
        with pytest.raises(ValueError, match="every need"):
            register_claim("testpaper.two", **{**kw, "controls": {"holds": {}}})(_rule)
        t = claims_table("testpaper", {"nb": {"x": 2}}, data="d", t=3)
        assert t["status"].tolist() == ["does not hold"] and t["rule"][0] == "x >= 3.0"
        with pytest.raises(ValueError, match="parameter 'u'"):
            claims_table("testpaper", {}, u=1)
    finally:
        CLAIMS.pop("testpaper.one", None)
    with pytest.raises(ValueError, match="no claims registered"):
        claims_table("testpaper", {})


def test_a_rule_never_runs_on_incomplete_results_and_missing_parts_are_named():
    def rule(v, p):
        raise MissingResult("nb:x column 'y'")

    c = Claim(id="t.c", paper="t", text="t", needs=(_R, Result("nb", "z")), rule=rule)
    assert evaluate(c, {"nb": {"x": None, "z": 1}})["missing"] == "nb:x"   # None is missing
    row = evaluate(c, {"nb": {"x": 1, "z": 1}})
    assert row["status"] == "not tested" and row["missing"] == "nb:x column 'y'"
    assert "nb (no run record)" in evaluate(c, {})["this study"]


def test_measured_controls_decide_whether_a_verdict_stands():
    c = Claim(id="t.c", paper="t", text="t", needs=(_R,), rule=_rule, params={"t": 1},
              measured_controls={"positive": "x made large", "negative": "x made small"})
    pos, neg = _R.control("positive"), _R.control("negative")
    assert (str(pos), str(neg)) == ("x@positive", "x@negative")
    row = evaluate(c, {"nb": {"x": 2, str(pos): 5, str(neg): 0}})
    assert row["status"] == "holds"
    assert row["controls"] == ("positive (x made large): holds; negative (x made small): "
                               "does not hold")
    # a negative control that the rule calls "holds": the verdict cannot stand
    row = evaluate(c, {"nb": {"x": 2, str(pos): 5, str(neg): 3}})
    assert row["status"] == "not testable here" and "would say 'holds'" in row["this study"]
    # a control variant that was not recorded keeps the main value: not separated either
    assert evaluate(c, {"nb": {"x": 0, str(neg): 0}})["status"] == "not testable here"
    assert evaluate(c, {"nb": {"x": 0, str(neg): 0}}, measured=False)["status"] == \
        "does not hold"
    with pytest.raises(ValueError, match="both variants"):
        Claim(id="t.d", paper="t", text="t", needs=(_R,), rule=_rule,
              measured_controls={"positive": "only one"})
    with pytest.raises(ValueError, match="control variant"):
        _R.control("neutral")


def test_results_are_looked_up_by_notebook_and_exact_name():
    c = Claim(id="t.c", paper="t", text="t", needs=(_R,), rule=_rule, params={"t": 0})
    assert evaluate(c, {"other": {"x": 1}})["status"] == "not tested"
    assert evaluate(c, {"nb": {"x_total": 1, "X": 1}})["status"] == "not tested"
    assert evaluate(c, {"nb": {"x": 1}})["status"] == "holds"


def test_paper3_table_has_a_row_per_claim_with_its_rule():
    t = claims_table("paper3", {})
    assert list(t.columns) == list(COLUMNS)
    assert t["id"].tolist() == [c.id for c in core.registered("paper3")]
    assert (t["status"] == "not tested").all() and t["rule"].str.len().gt(0).all()


def test_gather_lists_missing_notebooks():
    def reader(name):
        if name == "b":
            raise FileNotFoundError(name)
        return {"x": 1}
    found, missing = gather(["a", "b"], reader)
    assert found == {"a": {"x": 1}, "b": {}} and missing == ["b"]


def test_recorded_tables_round_trip():
    from facexai.run import _plain

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    pd.testing.assert_frame_equal(table(_plain(frame, "t")), frame)
    assert table(frame) is frame and table(0.5) is None and table(None) is None


def test_deviations_are_read_from_the_section(tmp_path):
    md = tmp_path / "nb.md"
    md.write_text("# Title\n\n## Deviations from the paper\n\n* **One.** first\n  continued "
                  "{cite:t}`xiao2024`\n"
                  "* Two.\n\n```{code-cell} ipython3\n* not a bullet\n```\n\n## Summary\n\n"
                  "* not a deviation\n", encoding="utf-8")
    assert core.deviations(md) == ["**One.** first continued xiao2024", "Two."]
    assert core.deviations(md, strip_roles=False)[0].endswith("{cite:t}`xiao2024`")
    assert core.deviations(tmp_path / "missing.md") == []
