"""Parameter schemas, profiles and the notebook start-up check: a wrong parameter is named."""
from __future__ import annotations

import re

import jupytext
import pytest

from facexai import paths, run
from facexai.book import toc_notebooks
from facexai.params import Param, ParameterError, Schema, available_profiles, load_profile, schema

SCHEMA = Schema("demo", {"seed": Param("int", "seed", lo=0), "size": Param("int", "px", lo=48, hi=256),
                         "rate": Param("float", "lr", lo=0.0, hi=1.0),
                         "method": Param("choice", "explainer", choices=("lrp", "gradcam")),
                         "sizes": Param("int_list", "sizes", lo=1),
                         "data": Param("path", "folder", optional=True)})
GOOD = {"seed": 0, "size": 96, "rate": 1, "method": "lrp", "sizes": [1, 2], "data": None}


def test_valid_values_pass_and_ints_become_floats():
    out = SCHEMA.validate(GOOD)
    assert out["rate"] == 1.0 and isinstance(out["rate"], float)
    assert list(out) == list(SCHEMA.params)


@pytest.mark.parametrize("key,value,fragment", [
    ("size", 47, "parameter 'size'"),
    ("size", 96.0, "parameter 'size'"),       # a float is not an int
    ("seed", True, "parameter 'seed'"),       # a bool is not an int
    ("rate", float("nan"), "parameter 'rate'"),
    ("method", "lrp2", "parameter 'method'"),
    ("sizes", [1, 0], "parameter 'sizes'[1]"),
    ("sizes", [], "parameter 'sizes'"),
    ("data", "", "parameter 'data'"),
])
def test_bad_value_is_named(key, value, fragment):
    with pytest.raises(ParameterError) as err:
        SCHEMA.validate({**GOOD, key: value})
    assert fragment in str(err.value) and "notebook 'demo'" in str(err.value)


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(ParameterError, match=r"unknown parameter 'szie'.*did you mean 'size'"):
        SCHEMA.validate({**GOOD, "szie": 96})


def test_missing_key_is_named():
    values = dict(GOOD)
    del values["rate"]
    with pytest.raises(ParameterError, match="missing parameter.*rate"):
        SCHEMA.validate(values)
    assert "rate" not in SCHEMA.validate(values, partial=True)


def test_every_profile_validates_and_covers_every_notebook():
    names = toc_notebooks()
    assert set(available_profiles()) >= {"ci", "default", "paper"}
    for profile in ("ci", "default", "paper"):
        values = load_profile(profile)
        assert sorted(values) == sorted(names), profile


def test_unknown_profile_lists_the_available_ones():
    with pytest.raises(ParameterError, match="unknown profile 'nope'.*ci, default"):
        load_profile("nope")


def test_profile_with_a_bad_value_is_refused(tmp_path, monkeypatch):
    (tmp_path / "params").mkdir()
    root = paths.root()
    for name in ("_config.yml", "_toc.yml"):
        (tmp_path / name).write_text((root / name).read_text())
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "data_synthetic.md").write_text("")
    (tmp_path / "params" / "bad.yml").write_text(
        "profile: bad\nnotebooks:\n  data_synthetic:\n    n_faces: many\n")
    monkeypatch.setenv("FACEXAI_ROOT", str(tmp_path))
    with pytest.raises(ParameterError, match="'data_synthetic', parameter 'n_faces'"):
        load_profile("bad")


def _parameters_cell(notebook: str) -> dict:
    nb = jupytext.read(paths.notebooks_dir() / f"{notebook}.md")
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{notebook}: exactly one parameters cell"
    namespace: dict = {}
    exec(cells[0].source, namespace)
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


@pytest.mark.parametrize("notebook", toc_notebooks())
def test_parameters_cell_is_literals_that_match_the_default_profile(notebook):
    literals = _parameters_cell(notebook)
    assert schema(notebook).validate(literals) == load_profile("default")[notebook]


def test_start_reads_globals_and_names_a_misspelt_injected_parameter():
    ns = dict(_parameters_cell("data_synthetic"), np=re, helper=print, _private=1)
    r = run.start("data_synthetic", ns)
    assert r.seed == ns["seed"] and r.n_faces == ns["n_faces"]
    with pytest.raises(ParameterError, match="unknown parameter 'n_face'.*did you mean 'n_faces'"):
        run.start("data_synthetic", {**ns, "n_face": 10})
    with pytest.raises(ParameterError, match="parameter 'image_size'"):
        run.start("data_synthetic", {**ns, "image_size": 20})


def test_record_has_the_provenance_fields(tmp_path, monkeypatch):
    run.start("data_synthetic", _parameters_cell("data_synthetic"))
    monkeypatch.setenv("FACEXAI_RUN_RECORD", str(tmp_path / "rec.json"))
    rec = run.finish()
    assert (tmp_path / "rec.json").is_file()
    for key in ("profile", "parameters", "seed", "git_commit", "packages", "wall_time_s",
                "peak_memory_mb"):
        assert key in rec
    assert rec["peak_memory_mb"] > 10 and rec["packages"]["numpy"] != "not installed"


def test_results_are_recorded_and_read_back_by_another_notebook(tmp_path, monkeypatch):
    import json

    import pandas as pd

    run.start("data_synthetic", _parameters_cell("data_synthetic"))
    assert run.result("accuracy", 0.75) == 0.75
    table = pd.DataFrame({"r": [0.5, 0.25]}, index=pd.Index(["happy", "calm"], name="attribute"))
    run.result("pearson", table)
    with pytest.raises(TypeError, match="result 'model'"):
        run.result("model", object())
    build = tmp_path / "build"
    record = build / "executed" / "ci" / "notebooks" / "data_synthetic.run.json"
    record.parent.mkdir(parents=True)
    monkeypatch.setenv("FACEXAI_RUN_RECORD", str(record))
    monkeypatch.setenv("FACEXAI_BUILD", str(build))
    rec = run.finish()
    assert rec["results"]["accuracy"] == 0.75
    assert rec["results"]["pearson"] == {"table": [{"attribute": "happy", "r": 0.5},
                                                   {"attribute": "calm", "r": 0.25}]}
    assert json.loads(record.read_text())["results"] == rec["results"]
    assert run.results_of("data_synthetic", "ci") == rec["results"]
    with pytest.raises(FileNotFoundError, match="no run record of notebook 'methods'.*execute it"):
        run.results_of("methods", "ci")


# -- validation gaps of the reliability review (item 7) and YAML errors (item 6) ---------------

def test_a_choice_refuses_a_float_for_an_int_and_an_int_for_a_bool():
    p = Param("choice", "which TFD file", choices=(48, 96))
    assert p.check("w", 48) == 48
    with pytest.raises(ParameterError, match=r"w: got 48\.0 of type float"):
        p.check("w", 48.0)
    with pytest.raises(ParameterError, match="got True"):
        Param("choice", "sign", choices=(1, -1)).check("w", True)


def test_an_unbounded_integer_stops_where_seeds_stop():
    seed = Param("int", "a seed", lo=0)
    assert seed.check("w", 2 ** 32 - 1) == 2 ** 32 - 1
    with pytest.raises(ParameterError, match=r"got 18446744073709551616, out of range \(integers"):
        seed.check("w", 2 ** 64)


@pytest.mark.parametrize("text, fragment", [
    ("profile: dup\nnotebooks:\n  data_synthetic:\n    seed: 0\n    seed: 1\n",
     r"dup\.yml, line 5: duplicate key 'seed' \(first on line 4\)"),
    ("profile: dup\nnotebooks:\n  data_synthetic: {seed: 0\n", r"dup\.yml, line \d+: "),
])
def test_a_profile_with_a_duplicate_key_or_a_syntax_error_is_refused(tmp_path, monkeypatch, text,
                                                                      fragment):
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "dup.yml").write_text(text)
    monkeypatch.setenv("FACEXAI_ROOT", str(tmp_path))
    with pytest.raises(ParameterError, match=fragment):
        load_profile("dup")


def test_a_sweep_grid_with_a_duplicate_key_is_refused(tmp_path, monkeypatch):
    from facexai import sweep

    path = tmp_path / "grid.yml"
    path.write_text("notebook: methods\nprofile: ci\ngrid:\n  seed: [0, 1, 2]\n  seed: [3]\n")
    with pytest.raises(ParameterError, match=r"grid\.yml, line 5: duplicate key 'seed'"):
        sweep.load_sweep(path)
