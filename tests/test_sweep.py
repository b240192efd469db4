"""Parameter sweeps (facexai.sweep): validation before anything runs, the local pool and Dask
executors giving the same table, a failing point, an interrupted run that resumes, resume keys.

The swept notebook is tests/data/sweep_probe.md (about a second a point): it draws ``n`` normal
numbers with ``numpy.random.default_rng(seed)`` and records their mean and a small table, which the
tests recompute independently.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from facexai import sweep
from facexai.cli import main as cli_main
from facexai.params import ParameterError

PROBE = Path(__file__).parent / "data" / "sweep_probe.md"
REAL_FINGERPRINT = sweep.library_fingerprint
FIXED = {"n": 7, "scale": 2.0, "sleep": 0.0, "label": "probe", "fail": False}


@pytest.fixture(autouse=True)
def build_dir(tmp_path, monkeypatch):
    """Every test writes into its own build folder; the library fingerprint is pinned, because
    other work may edit the library while the tests run (its own test is below)."""
    monkeypatch.setenv("FACEXAI_BUILD", str(tmp_path / "_build"))
    monkeypatch.setattr(sweep, "library_fingerprint", lambda: "pinned-for-tests")
    return tmp_path / "_build"


def spec(grid=None, points=None, notebook=str(PROBE), **extra):
    out = {"notebook": notebook, "set": dict(FIXED), **extra}
    if grid is not None:
        out["grid"] = grid
    if points is not None:
        out["points"] = points
    return out


def expected_mean(seed: int, n: int = FIXED["n"], scale: float = FIXED["scale"]) -> float:
    return float(np.random.default_rng(seed).normal(0.0, scale, size=n).mean())


@pytest.fixture(scope="module")
def dask_scheduler():
    """One in-process Dask LocalCluster (2 single-threaded worker processes) for the module."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=40)
    yield cluster.scheduler_address
    cluster.close()


# --- refused before anything runs -------------------------------------------------------------

@pytest.mark.parametrize("bad, named", [
    (spec(grid={"seed": []}), "'seed' has no values"),
    (spec(points=[]), "no points"),
    (spec(grid={"seed": [0], "sede": [1]}), "unknown parameter 'sede' (did you mean 'seed'?)"),
    (spec(grid={"seed": [0, "one"]}), "parameter 'seed': got 'one' of type str"),
    (spec(grid={"seed": [0], "fail": [0]}), "parameter 'fail': got 0 of type int"),
    (spec(grid={"seed": [0]}, set={"scale": "big"}), "'set': notebook 'sweep_probe', parameter 'scale'"),
    (spec(grid={"seed": 3}), "grid parameter 'seed' must be a list"),
    (spec(grid={"seed": [0]}, points=[{"seed": 1}]), "exactly one of 'grid'"),
    (spec(grid={"seed": [0]}, profile="nope"), "unknown profile 'nope'"),
    (spec(grid={"seed": [0]}, notebook="no_such_notebook"), "has no file"),
    ({**spec(grid={"seed": [0]}), "grdi": {}}, "unknown key(s) grdi"),
    (spec(points=[{"seed": 0}, {"seed": 0}]), "the same point appears twice"),
    ({"notebook": str(PROBE), "grid": {"seed": [0]}}, "missing parameter(s) n, scale, fail"),
])
def test_bad_sweeps_are_refused_naming_the_problem(bad, named, build_dir):
    with pytest.raises(ParameterError) as err:
        sweep.make_sweep("bad", bad)
    assert named in str(err.value)
    assert not build_dir.exists()  # nothing ran, nothing was written


def test_cli_refuses_before_running_and_dry_run_lists_points(tmp_path, build_dir, capsys):
    bad = tmp_path / "bad.yml"
    bad.write_text(yaml.safe_dump(spec(grid={"seed": [0, 1], "n": [5, -1]}), sort_keys=False))
    assert cli_main(["sweep", str(bad)]) == 125
    assert "point 1 {'seed': 0, 'n': -1}: notebook 'sweep_probe', parameter 'n'" in capsys.readouterr().err
    good = tmp_path / "good.yml"
    good.write_text(yaml.safe_dump(spec(grid={"seed": [0, 1], "n": [5, 6]}), sort_keys=False))
    assert cli_main(["sweep", str(good), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "4 valid point(s) of sweep_probe" in out and out.count("  p00") == 4
    assert not build_dir.exists()
    assert cli_main(["sweep", "no_such_sweep"]) == 125


def test_points_merge_profile_set_and_grid_in_order():
    sw = sweep.make_sweep("m", {"notebook": "methods", "profile": "ci", "set": {"epochs": 2},
                                "grid": {"seed": [0, 1], "image_size": [48, 64]}})
    from facexai.params import load_profile

    ci = load_profile("ci")["methods"]
    assert [p.values for p in sw.points] == [{"seed": 0, "image_size": 48}, {"seed": 0, "image_size": 64},
                                             {"seed": 1, "image_size": 48}, {"seed": 1, "image_size": 64}]
    p = sw.points[3].params
    assert p == {**ci, "epochs": 2, "seed": 1, "image_size": 64}
    assert sw.swept == ["seed", "image_size"] and sw.profile == "ci"
    assert len({q.key for q in sw.points}) == 4 and len({q.id for q in sw.points}) == 4


# --- resume keys -----------------------------------------------------------------------------

def test_point_key_changes_with_source_parameters_and_library():
    base = sweep.point_key("source", {"seed": 0}, "lib1")
    assert base == sweep.point_key("source", {"seed": 0}, "lib1")
    assert base != sweep.point_key("source ", {"seed": 0}, "lib1")
    assert base != sweep.point_key("source", {"seed": 1}, "lib1")
    assert base != sweep.point_key("source", {"seed": 0}, "lib2")


def test_library_fingerprint_follows_every_python_file(tmp_path, monkeypatch):
    from facexai import cache

    fresh = REAL_FINGERPRINT  # the fixture pinned the module attribute
    assert len(fresh()) == 16 and fresh() == cache.code_fingerprint("**/*.py", "data/*")
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.py").write_text("x = 1\n")
    (lib / "sub" / "b.py").write_text("y = 2\n")
    (lib / "notes.txt").write_text("not code")
    monkeypatch.setattr(cache, "PACKAGE", lib)
    first = fresh()
    (lib / "notes.txt").write_text("changed, still not code")
    assert fresh() == first
    (lib / "sub" / "b.py").write_text("y = 3\n")
    assert fresh() != first


# --- the table ---------------------------------------------------------------------------------

def test_table_flattens_recorded_tables_one_row_per_point_and_metric():
    sw = sweep.make_sweep("t", spec(grid={"seed": [0, 1]}))
    recs = [
        {"point": sw.points[0].id, "index": 0, "values": {"seed": 0}, "key": "k", "status": "ok",
         "wall_s": 1.5, "peak_memory_mb": 100.0, "error": None, "cell": None,
         "results": {"acc": 0.5, "name": "x",
                     "scores": {"table": [{"index": "gradcam", "mass": 0.25, "rank": 0.75},
                                          {"index": "lrp", "mass": 0.5, "rank": 1.0}]}}},
        {"point": sw.points[1].id, "index": 1, "values": {"seed": 1}, "key": "k", "status": "failed",
         "wall_s": 0.5, "peak_memory_mb": None, "error": "boom", "cell": "code cell 4",
         "results": {}},
    ]
    t = sweep.table(sw, recs)
    assert list(t.columns) == ["sweep", "point", "index", "seed", *sweep.VALUE_COLUMNS]
    ok = t[t.status == "ok"].set_index("metric")
    assert ok.loc["acc", "value"] == 0.5 and ok.loc["name", "text"] == "x"
    assert np.isnan(ok.loc["name", "value"])
    assert ok.loc["scores/gradcam/mass", "value"] == 0.25
    assert ok.loc["scores/lrp/rank", ["result", "row", "column"]].tolist() == ["scores", "lrp", "rank"]
    assert len(ok) == 2 + 4 and (ok.seed == 0).all()
    bad = t[t.status == "failed"]
    assert len(bad) == 1 and bad.iloc[0]["cell"] == "code cell 4" and pd.isna(bad.iloc[0]["metric"])


# --- running: both executors, a failing point, resume, interruption ---------------------------

def check_probe_table(t: pd.DataFrame, seeds, failing=()) -> None:
    for seed in seeds:
        rows = t[t.seed == seed]
        if seed in failing:
            assert rows.status.tolist() == ["failed"]
            assert rows.cell.iloc[0] == "code cell 4"
            assert "ValueError: sweep probe failing on purpose" in rows.error.iloc[0]
            continue
        m = rows.set_index("metric")
        assert (rows.status == "ok").all() and rows.wall_s.iloc[0] > 0
        assert rows.peak_memory_mb.iloc[0] > 10
        assert m.loc["mean", "value"] == pytest.approx(expected_mean(seed))
        x = np.random.default_rng(seed).normal(0.0, FIXED["scale"], size=FIXED["n"])
        assert m.loc["moments/abs/max", "value"] == pytest.approx(np.abs(x).max())
        assert m.loc["label", "text"] == "probe"
        assert m.loc["omp_threads", "text"] == "1"  # one thread per point by default


def test_local_pool_and_dask_give_the_same_table_with_a_failing_point(build_dir, tmp_path,
                                                                      dask_scheduler, monkeypatch):
    points = [{"seed": 0, "fail": False}, {"seed": 1, "fail": True}, {"seed": 2, "fail": False}]
    sw = sweep.make_sweep("both", spec(points=points))
    local = sweep.run_sweep(sw, workers=2, log=lambda *_: None)
    assert local.n_failed == 1 and len(local.ran) == 3
    t_local = sweep.read_table("both")
    check_probe_table(t_local, [0, 1, 2], failing=[1])
    out = build_dir / "sweeps" / "both"
    assert (out / "results.csv").is_file()
    assert sorted(p.name for p in out.glob("*.ipynb")) == sorted(
        f"{p.id}.ipynb" for p in sw.points if not p.values["fail"])
    assert (out / "failed" / f"{sw.points[1].id}.ipynb").is_file()  # up to the error
    # each point's kernel had a build folder of its own: its figures never overwrite the book's
    assert (out / "files" / sw.points[2].id / "figures" / "sweep_probe" / "seed.txt").read_text() == "2"
    assert not (build_dir / "figures").exists()
    assert "IPKernelApp" in (out / f"{sw.points[0].id}.log").read_text()  # kernel output kept aside
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv")[["point", "metric", "value"]],
                                  t_local[["point", "metric", "value"]].astype({"metric": object}),
                                  check_dtype=False)

    monkeypatch.setenv("FACEXAI_BUILD", str(tmp_path / "_build_dask"))
    on_dask = sweep.run_sweep(sweep.make_sweep("both", spec(points=points)),
                              workers=2, scheduler=dask_scheduler, log=lambda *_: None)
    assert on_dask.n_failed == 1
    t_dask = sweep.read_table("both")
    pd.testing.assert_frame_equal(sweep.comparable(t_local), sweep.comparable(t_dask))

    # a rerun retries the failed point only
    again = sweep.run_sweep(sweep.make_sweep("both", spec(points=points)), workers=2,
                            scheduler=dask_scheduler, log=lambda *_: None)
    assert again.ran == [sw.points[1].id] and sorted(again.reused) == sorted(
        [sw.points[0].id, sw.points[2].id])
    pd.testing.assert_frame_equal(sweep.comparable(sweep.read_table("both")),
                                  sweep.comparable(t_dask))


def test_an_interrupted_sweep_leaves_nothing_half_written_and_resumes(build_dir):
    sw = sweep.make_sweep("stop", spec(grid={"seed": [0, 1, 2]}))
    seen = []

    def interrupt(rec):
        seen.append(rec["point"])
        raise KeyboardInterrupt  # Ctrl-C after the first point finished

    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(sw, workers=1, on_point=interrupt, log=lambda *_: None)
    out = build_dir / "sweeps" / "stop"
    assert not (out / "results.parquet").exists() and not (out / "results.csv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    done = [p.id for p in sw.points if sweep.finished(sw, p) is not None]
    assert seen[0] in done and len(done) < 3
    for pid in done:  # every notebook there is complete, with its record
        assert json.loads((out / f"{pid}.ipynb").read_text())["metadata"]["facexai"]["results"]

    rerun = sweep.run_sweep(sweep.make_sweep("stop", spec(grid={"seed": [0, 1, 2]})),
                            workers=2, log=lambda *_: None)
    assert sorted(rerun.reused) == sorted(done)
    assert sorted(rerun.ran) == sorted(p.id for p in sw.points if p.id not in done)
    check_probe_table(sweep.read_table("stop"), [0, 1, 2])


def test_a_changed_notebook_reruns_its_points(tmp_path):
    nb = tmp_path / "sweep_probe.md"
    shutil.copyfile(PROBE, nb)
    first = sweep.run_sweep(sweep.make_sweep("edit", spec(grid={"seed": [5]}, notebook=str(nb))),
                            workers=2, log=lambda *_: None)
    assert len(first.ran) == 1
    same = sweep.run_sweep(sweep.make_sweep("edit", spec(grid={"seed": [5]}, notebook=str(nb))),
                           workers=2, log=lambda *_: None)
    assert same.ran == [] and len(same.reused) == 1
    nb.write_text(nb.read_text().replace("raise on purpose", "raise on purpose (edited)"))
    edited = sweep.run_sweep(sweep.make_sweep("edit", spec(grid={"seed": [5]}, notebook=str(nb))),
                             workers=2, log=lambda *_: None)
    assert len(edited.ran) == 1 and edited.reused == []
    check_probe_table(sweep.read_table("edit"), [5])


def test_a_killed_worker_loses_only_its_points_and_the_next_run_completes_them(build_dir, tmp_path,
                                                                             monkeypatch):
    path = tmp_path / "kill.yml"
    path.write_text(yaml.safe_dump(spec(grid={"seed": [0, 1]}), sort_keys=False))
    monkeypatch.setenv("SWEEP_PROBE_KILL_SEED", "1")  # seen by the spawned worker and its kernel
    status = cli_main(["sweep", str(path), "--workers", "1"])
    sw = sweep.load_sweep(path)
    t = sweep.read_table("kill")
    lost = t[t.status == "not run"].point.tolist()
    assert status == len(lost) >= 1  # the exit status counts the points not done
    assert sw.points[1].id in lost and sw.points[0].id not in lost
    assert "worker process died" in t[t.point == sw.points[1].id].error.iloc[0]
    out = build_dir / "sweeps" / "kill"
    assert not (out / f"{sw.points[1].id}.ipynb").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    monkeypatch.delenv("SWEEP_PROBE_KILL_SEED")
    second = sweep.run_sweep(sw, workers=2, log=lambda *_: None)
    assert sorted(second.ran) == sorted(lost)
    assert sorted(second.reused) == sorted(p.id for p in sw.points if p.id not in lost)
    check_probe_table(sweep.read_table("kill"), [0, 1])


def test_metric_wide_spread_and_rank_agreement_on_a_hand_built_table():
    rows = []
    for seed, (a, b, c) in {0: (0.1, 0.2, 0.3), 1: (0.3, 0.4, 0.5), 2: (0.2, 0.6, 0.45)}.items():
        for method, v in zip("abc", (a, b, c)):
            rows.append({"seed": seed, "status": "ok", "result": "scores", "row": method,
                         "column": "mass", "value": v})
        rows.append({"seed": seed, "status": "ok", "result": "scores", "row": "a",
                     "column": "rank", "value": 9.0})
    rows.append({"seed": 3, "status": "failed", "result": None, "row": None, "column": None,
                 "value": np.nan})
    wide = sweep.metric_wide(pd.DataFrame(rows), "scores", "mass")
    assert list(wide.columns) == [0, 1, 2] and list(wide.index) == ["a", "b", "c"]
    assert wide.loc["b", 2] == 0.6
    s = sweep.spread(wide)
    assert list(s.index) == ["c", "b", "a"]  # means 0.417, 0.4, 0.2
    assert s.loc["b", "mean"] == pytest.approx(0.4) and s.loc["b", "sd"] == pytest.approx(0.2)
    assert s.loc["a", "min"] == 0.1 and s.loc["a", "max"] == 0.3 and (s.n == 3).all()
    # seeds 0 and 1 rank a < b < c (rho 1); seed 2 ranks a < c < b (rho 0.5 with each)
    assert sweep.rank_agreement(wide) == pytest.approx((1 + 0.5 + 0.5) / 3)
    with pytest.raises(ValueError, match="no finished point"):
        sweep.metric_wide(pd.DataFrame(rows), "scores", "pointing")


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "sweeps").glob("*.yml")),
                         ids=lambda p: p.stem)
def test_every_sweep_file_of_the_project_is_valid(path):
    sw = sweep.load_sweep(path)
    assert sw.points and sw.name == path.stem
