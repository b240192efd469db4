"""Hardening of runs (issue 14): sweeps, notebook execution and the CLI under faults.

- a kernel that dies (the out-of-memory killer, a segfault, ``os._exit``) fails its sweep point or
  notebook like a cell that raises: the other points go on, the table is written, the notebook up
  to the dead cell is kept, the book and ``facexai execute`` say so in one line;
- every error of the CLI is one line (``facexai <command>: error: ...``, exit status 2), the
  traceback only with ``--debug``; a read-only build folder and an unreachable Dask scheduler are
  such errors;
- a sweep point's resume key covers the data folder it reads;
- a sweep whose main process is killed leaves no worker or kernel behind, and one sweep runs at a
  time (a lock in its output folder).

The notebooks are copies of the sweep probe (tests/data/sweep_probe.md, about a second of work)
with one cell added.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import yaml

from facexai import paths, sweep
from facexai.cli import main as cli_main
from facexai.execution import BuildError

PROBE = Path(__file__).parent / "data" / "sweep_probe.md"
FIXED = {"n": 5, "scale": 1.0, "sleep": 0.0, "label": "probe", "fail": False}
DIED = "kernel died (exit code 3): killed by the out-of-memory killer, a segfault or os._exit"
EXIT_CELL = "if run.seed == 1:\n    os._exit(3)"


def quiet(*_):
    return None


@pytest.fixture(autouse=True)
def build_dir(tmp_path, monkeypatch):
    """Each test has its own build and data folders; the library fingerprint is pinned (other
    work may edit the library while the tests run)."""
    monkeypatch.setenv("FACEXAI_BUILD", str(tmp_path / "_build"))
    monkeypatch.setenv("FACEXAI_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(sweep, "library_fingerprint", lambda: "pinned-for-tests")
    return tmp_path / "_build"


def probe_with(folder: Path, code: str) -> Path:
    """A copy of the probe notebook with one code cell added at its end (its code cell 5)."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = folder / "sweep_probe.md"
    nb.write_text(PROBE.read_text() + f"\n```{{code-cell}} ipython3\n{code}\n```\n")
    return nb


def sweep_file(folder: Path, name: str, notebook: Path = PROBE, **spec) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yml"
    body = {"notebook": str(notebook), "set": {**FIXED, **spec.pop("set", {})}, **spec}
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def one_error_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"facexai {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- 1. a dead kernel ------------------------------------------------------------------------

def test_a_dead_kernel_fails_its_point_and_the_others_go_on(tmp_path, build_dir, capsys):
    nb = probe_with(tmp_path / "nb", EXIT_CELL)
    path = sweep_file(tmp_path, "dead", nb, grid={"seed": [0, 1, 2]})
    assert cli_main(["sweep", str(path), "--workers", "2"]) == 1  # one point failed
    err = capsys.readouterr().err
    sw = sweep.load_sweep(path)
    dead = sw.points[1].id
    t = sweep.read_table("dead")  # the table is written
    row = t[t.point == dead].iloc[0]
    assert row.status == "failed" and row.cell == "code cell 5" and DIED in row.error
    assert f"FAILED {dead}: " in err and DIED in err
    others = t[t.point != dead]
    assert (others.status == "ok").all() and set(others.seed) == {0, 2}
    kept = nbformat.read(build_dir / "sweeps" / "dead" / "failed" / f"{dead}.ipynb", 4)
    assert any("os._exit(3)" in c.source for c in kept.cells)  # the notebook up to the dead cell
    assert all(c.get("execution_count") for c in kept.cells if "facexai.run.start" in c.source)


def make_book(root: Path, extra: str) -> None:
    """A repository of one notebook (the probe plus ``extra``) under the profile ``probe``."""
    probe_with(root / "notebooks", extra)
    (root / "params").mkdir()
    (root / "book").mkdir()
    (root / "_config.yml").write_text("title: probe\n")
    (root / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "book/intro", "chapters": [{"file": "notebooks/sweep_probe"}]}))
    (root / "params" / "probe.yml").write_text(yaml.safe_dump({
        "profile": "probe", "notebooks": {"sweep_probe": {**FIXED, "seed": 1}}}))


@pytest.mark.parametrize("command", [["book", "--no-html", "--no-data"], ["execute", "sweep_probe"]])
def test_a_dead_kernel_in_the_book_is_a_failed_notebook_not_a_crash(command, tmp_path, monkeypatch,
                                                                     capsys):
    make_book(tmp_path / "repo", EXIT_CELL)
    monkeypatch.setenv("FACEXAI_ROOT", str(tmp_path / "repo"))
    assert cli_main([*command, "--profile", "probe"]) == 2
    line = one_error_line(capsys.readouterr().err, command[0])
    assert "notebook 'sweep_probe'" in line and "failed in code cell 5" in line and DIED in line
    kept = paths.executed_dir("probe") / "failed" / "sweep_probe.ipynb"
    assert f"the executed notebook up to the error is in {kept}" in line and kept.is_file()
    assert not (paths.executed_notebooks_dir("probe") / "sweep_probe.cache.json").exists()


# --- 6. one-line errors ----------------------------------------------------------------------

def unwritable(tmp_path: Path) -> Path:
    """A build folder that cannot be created (root writes through file modes: /sys then)."""
    if os.geteuid() == 0:
        return Path("/sys/fs/facexai-read-only-build")
    ro = tmp_path / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    return ro / "_build"


@pytest.mark.parametrize("command", [["book", "--no-html", "--no-data"], ["execute", "sweep_probe"],
                                     ["sweep"]])
def test_a_read_only_build_folder_is_one_line_naming_it_and_its_variable(command, tmp_path,
                                                                         monkeypatch, capsys):
    make_book(tmp_path / "repo", "pass")
    monkeypatch.setenv("FACEXAI_ROOT", str(tmp_path / "repo"))
    build = unwritable(tmp_path)
    monkeypatch.setenv("FACEXAI_BUILD", str(build))
    if command == ["sweep"]:
        command = ["sweep", str(sweep_file(tmp_path, "ro", grid={"seed": [0]}))]
    else:
        command = [*command, "--profile", "probe"]
    try:
        assert cli_main(command) == 2
    finally:
        if build.parent.name == "read-only":
            build.parent.chmod(0o700)
    line = one_error_line(capsys.readouterr().err, command[0])
    assert f"the build folder {build} is not writable" in line and "FACEXAI_BUILD" in line


def test_an_unreachable_dask_scheduler_is_one_line_quickly(tmp_path, capsys):
    path = sweep_file(tmp_path, "far", grid={"seed": [0]})
    t0 = time.perf_counter()
    assert cli_main(["sweep", str(path), "--scheduler", "tcp://127.0.0.1:1"]) == 2
    assert time.perf_counter() - t0 < 30
    line = one_error_line(capsys.readouterr().err, "sweep")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in line


@pytest.mark.parametrize("error, expected", [
    (RuntimeError("boom"), "RuntimeError: boom (run with --debug for the traceback)"),
    (KeyError("label"), "KeyError: 'label'"),
    (ValueError("n_splits=5 is greater than the number of images, 3"),
     "ValueError: n_splits=5 is greater than the number of images, 3"),
    (PermissionError(13, "Permission denied", "/data/KDEF/A01"),
     "PermissionError: [Errno 13] Permission denied: '/data/KDEF/A01'"),
    (BuildError("notebook 'x' failed in code cell 2\nthe notebook is in /b/x.ipynb"),
     "notebook 'x' failed in code cell 2; the notebook is in /b/x.ipynb"),
])
def test_every_cli_error_is_one_line_and_the_traceback_needs_debug(error, expected, tmp_path,
                                                                  monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(sweep, "run_sweep", fail)
    path = sweep_file(tmp_path, "raise", grid={"seed": [0]})
    assert cli_main(["sweep", str(path)]) == 2
    assert one_error_line(capsys.readouterr().err, "sweep") == f"facexai sweep: error: {expected}"
    with pytest.raises(type(error)):
        cli_main(["--debug", "sweep", str(path)])


def test_ctrl_c_is_not_an_error_line(tmp_path, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep, "run_sweep", interrupt)
    path = sweep_file(tmp_path, "stop", grid={"seed": [0]})
    assert cli_main(["sweep", str(path)]) == 130
    assert "interrupted" in capsys.readouterr().err
    import facexai.book

    monkeypatch.setattr(facexai.book, "build", interrupt)
    with pytest.raises(KeyboardInterrupt):
        cli_main(["book", "--no-data"])


# --- 8. resume follows the data ---------------------------------------------------------------

def test_a_rerun_on_other_data_executes_the_points_again(tmp_path, monkeypatch):
    a, b = tmp_path / "data-a", tmp_path / "data-b"
    for folder, text in ((a, "first copy"), (b, "second copy")):
        (folder / "ratings").mkdir(parents=True)
        (folder / "ratings" / "table.csv").write_text(text)
    spec = {"notebook": str(PROBE), "set": FIXED, "grid": {"seed": [0]}}
    monkeypatch.setenv("FACEXAI_DATA", str(a))
    assert len(sweep.run_sweep(sweep.make_sweep("data", spec), log=quiet).ran) == 1
    same = sweep.run_sweep(sweep.make_sweep("data", spec), log=quiet)
    assert same.ran == [] and len(same.reused) == 1
    key_a = sweep.make_sweep("data", spec).points[0].key
    # what the points write or generate there (cache, synthetic faces, twins) is not their input
    for generated in (paths.cache_dir(), paths.synth_dir(), paths.twins_dir()):
        (generated / "made").mkdir(parents=True)
        (generated / "made" / "x.npy").write_text("generated")
    assert sweep.make_sweep("data", spec).points[0].key == key_a
    (a / "ratings" / "table.csv").write_text("first copy, edited")  # the same folder, other data
    assert sweep.make_sweep("data", spec).points[0].key != key_a
    monkeypatch.setenv("FACEXAI_DATA", str(b))
    other = sweep.run_sweep(sweep.make_sweep("data", spec), log=quiet)
    assert len(other.ran) == 1 and other.reused == []


# --- 9 and 10. a killed sweep leaves no process; one run of a sweep at a time ----------------

def _alive(procs) -> list:
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def test_a_second_run_is_refused_and_a_killed_sweep_leaves_no_process(tmp_path, build_dir,
                                                                      capsys):
    psutil = pytest.importorskip("psutil")
    path = sweep_file(tmp_path / "slow", "hold", set={"sleep": 300.0}, grid={"seed": [0, 1]})
    env = {**os.environ, "FACEXAI_BUILD": str(build_dir)}
    with open(tmp_path / "main.log", "w") as log:
        main = subprocess.Popen([sys.executable, "-m", "facexai", "sweep", str(path), "--workers",
                                 "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    family: list = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until both points' kernels run
            assert main.poll() is None, (tmp_path / "main.log").read_text()
            family = psutil.Process(main.pid).children(recursive=True)
            kernels = [p for p in _alive(family) if "ipykernel" in " ".join(p.cmdline())]
            if len(kernels) == 2:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the sweep's kernels did not start")
        # 10: the same sweep again (another file of the same name) is refused, nothing runs
        again = sweep_file(tmp_path / "fast", "hold", grid={"seed": [0]})
        assert cli_main(["sweep", str(again)]) == 2
        line = one_error_line(capsys.readouterr().err, "sweep")
        lock = build_dir / "sweeps" / "hold" / "sweep.lock"
        assert f"sweep 'hold' is already running (pid {main.pid}, started " in line
        assert f"lock file {lock}" in line
        # 9: SIGKILL of the main process: its workers and their kernels go too
        family = psutil.Process(main.pid).children(recursive=True)
        os.kill(main.pid, signal.SIGKILL)
        main.wait(timeout=10)
        deadline = time.monotonic() + 15
        while _alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(family), [" ".join(p.cmdline())[:80] for p in _alive(family)]
    finally:
        for p in _alive(family) + ([psutil.Process(main.pid)] if main.poll() is None else []):
            p.kill()
    # the dead holder's lock is no obstacle
    with sweep.sweep_lock("hold", lock.parent):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_kernel_that_dies_while_starting_is_started_again():
    from facexai.execution import KERNEL_START_FAILED, _with_kernel_retry

    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError(KERNEL_START_FAILED)      # e.g. lost the race for a port
        return "ran"
    assert _with_kernel_retry(flaky) == "ran" and len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="kernel_info"):
        _with_kernel_retry(lambda: flaky() if len(calls) < 9 else None, attempts=2)

    def other():
        raise RuntimeError("something else")
    with pytest.raises(RuntimeError, match="something else"):
        _with_kernel_retry(other)
