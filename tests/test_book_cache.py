"""The book's execution cache (facexai.book): a notebook is executed again when, and only when,
its key changes (source, parameters, library code, input data, the notebooks it reads); ``--force``
executes everything; a failed notebook is never reused; the reproducibility page says which
notebooks were executed and which reused. Also what a reader gets: the executed notebook as the
page's download, the parameters shown once, and CITATION.cff.

The cache tests build a two-page probe book in a temporary repository (no Jupyter Book): the sweep
probe notebook (tests/data/sweep_probe.md, about a second of work) and a page that reads its
results (``execute_after``) and names a one-point sweep of it (parameter ``sweep``), as the Sweeps
page does. The first build and a failing run execute for real (papermill, a kernel each); the
other builds replace the kernel by a stand-in that writes an executed notebook and its run record
at once, since what they check is which notebooks the build executes, not what a kernel does. The
library's code fingerprint is pinned, because other work may edit the library while the tests run.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
import yaml

from facexai import book, cache, paths

PROBE = Path(__file__).parent / "data" / "sweep_probe.md"
PROFILE = "probe"
BOTH = {"sweep_probe", "sweeps"}
REAL_EXECUTE = book.execute_notebook

READER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
facexai:
  execute_after: [sweep_probe]
---

# Reader probe: reads the probe's results, as a chapter's Claims page does

```{code-cell} ipython3
:tags: [parameters]

sweep = "none"
workers = 1
```

```{code-cell} ipython3
import facexai.run

run = facexai.run.start("sweeps", globals())
facexai.run.result("probe_mean", facexai.run.results_of("sweep_probe")["mean"])
```
"""


def make_probe_repository(root: Path) -> None:
    """A repository of two notebooks under the profile ``probe`` (book/ is empty prose)."""
    (root / "notebooks").mkdir(parents=True)
    (root / "params").mkdir()
    (root / "sweeps").mkdir()
    (root / "book").mkdir()
    shutil.copy(PROBE, root / "notebooks" / "sweep_probe.md")
    (root / "notebooks" / "sweeps.md").write_text(READER)
    (root / "_config.yml").write_text("title: probe\n")
    (root / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "book/intro",
        "chapters": [{"file": "notebooks/sweep_probe"}, {"file": "notebooks/sweeps"}]}))
    (root / "params" / f"{PROFILE}.yml").write_text(yaml.safe_dump({
        "profile": PROFILE, "notebooks": {
            "sweep_probe": {"seed": 3, "n": 5, "scale": 1.0, "fail": False, "sleep": 0.0,
                            "label": "probe"},
            "sweeps": {"sweep": "probe", "workers": 1}}}))
    (root / "sweeps" / "probe.yml").write_text(yaml.safe_dump({
        "notebook": "sweep_probe", "set": {"n": 3, "scale": 1.0, "fail": False, "sleep": 0.0,
                                           "label": "point"},
        "grid": {"seed": [0]}}))


def pin_code(monkeypatch, value: str = "pinned-library") -> None:
    monkeypatch.setattr(cache, "code_fingerprint", lambda *a, **k: value)


def set_locations(monkeypatch, base: Path) -> None:
    monkeypatch.setenv("FACEXAI_ROOT", str(base / "repo"))
    monkeypatch.setenv("FACEXAI_BUILD", str(base / "_build"))
    monkeypatch.setenv("FACEXAI_DATA", str(base / "data"))


def run_build(**options) -> tuple[dict, list[str]]:
    """Build the probe book without HTML; return its build.json and the log lines."""
    lines: list[str] = []
    book.build(PROFILE, html=False, log=lines.append, **options)
    summary = json.loads((paths.executed_dir(PROFILE) / "build.json").read_text())
    return summary, lines


@pytest.fixture(scope="module")
def first_build(tmp_path_factory) -> Path:
    """The probe book built once (both notebooks executed); tests copy it."""
    base = tmp_path_factory.mktemp("probe-book")
    make_probe_repository(base / "repo")
    with pytest.MonkeyPatch.context() as mp:
        set_locations(mp, base)
        pin_code(mp)
        summary, _ = run_build()
    assert set(summary["executed"]) == BOTH and summary["reused"] == []
    return base


def stand_in_execute(source: Path, out: Path, parameters: dict, profile: str, *,
                     key: str | None = None) -> dict:
    """What :func:`facexai.book.execute_notebook` leaves behind, without a kernel: the executed
    notebook (one output) with its run record, and the record beside it; fails like the probe."""
    if parameters.get("fail"):
        raise book.BuildError(f"notebook {source.stem!r} failed: sweep probe failing on purpose")
    rec = {"notebook": source.stem, "profile": profile, "parameters": dict(parameters),
           "seed": parameters.get("seed"), "git_commit": "0" * 40, "packages": {},
           "python": "3.11", "platform": "stand-in", "started": "2026-01-01T00:00:00+0000",
           "wall_time_s": 0.01, "peak_memory_mb": 1.0, "results": {}, "papermill_duration_s": 0.01,
           "key": key}
    cell = nbformat.v4.new_code_cell("1", outputs=[nbformat.v4.new_output(
        "execute_result", {"text/plain": "1"}, execution_count=1)])
    nbformat.write(nbformat.v4.new_notebook(cells=[cell], metadata={"facexai": rec}), out)
    out.with_suffix(".run.json").write_text(json.dumps(rec))
    return rec


@pytest.fixture
def probe(first_build, tmp_path, monkeypatch) -> Path:
    """A private copy of the built probe book, with the environment pointing at it and the kernel
    replaced by :func:`stand_in_execute`."""
    base = tmp_path / "probe"
    shutil.copytree(first_build, base)
    set_locations(monkeypatch, base)
    pin_code(monkeypatch)
    monkeypatch.setattr(book, "execute_notebook", stand_in_execute)
    return base


def executed_file(name: str) -> Path:
    return paths.executed_notebooks_dir(PROFILE) / f"{name}.ipynb"


def test_a_second_build_with_nothing_changed_reuses_every_notebook(probe):
    before = {n: executed_file(n).stat().st_mtime_ns for n in BOTH}
    summary, lines = run_build()
    assert summary["executed"] == [] and set(summary["reused"]) == BOTH
    assert {n: executed_file(n).stat().st_mtime_ns for n in BOTH} == before
    assert sum(line.startswith("[facexai] reusing") for line in lines) == 2
    # the reused run records are those of the first build, keys included
    first = json.loads((probe / "_build" / "executed" / PROFILE / "build.json").read_text())
    assert summary["keys"] == first["keys"]
    rec = nbformat.read(executed_file("sweeps"), 4).metadata["facexai"]
    assert rec["key"] == summary["keys"]["sweeps"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


CHANGES = {
    # change: (what it does to the probe repository, notebooks executed again, reason logged)
    "source of the read notebook": (
        lambda repo, mp: _edit(repo / "notebooks" / "sweep_probe.md", "# Sweep probe",
                               "# Sweep probe (edited)"),
        BOTH, "source changed"),
    "source of the reading notebook": (
        lambda repo, mp: _edit(repo / "notebooks" / "sweeps.md", "# Reader probe",
                               "# Reader probe (edited)"),
        {"sweeps"}, "source changed"),
    "parameter of the read notebook": (
        lambda repo, mp: _edit(repo / "params" / f"{PROFILE}.yml", "n: 5", "n: 6"),
        BOTH, "parameters changed"),
    "parameter of the reading notebook": (
        lambda repo, mp: _edit(repo / "params" / f"{PROFILE}.yml", "workers: 1", "workers: 2"),
        {"sweeps"}, "parameters changed"),
    "library code": (lambda repo, mp: pin_code(mp, "edited-library"), BOTH,
                     "library code changed"),
    "input data": (
        lambda repo, mp: mp.setattr(book, "data_fingerprint",
                                    lambda name, params: {"data_dir": "new-copy"}),
        BOTH, "input data changed"),
    "the sweep the reading notebook runs": (
        lambda repo, mp: _edit(repo / "sweeps" / "probe.yml", "- 0", "- 1"),
        {"sweeps"}, "declared inputs changed"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_change_executes_the_notebook_again_and_those_that_read_it(change, probe, monkeypatch):
    apply, expected, reason = CHANGES[change]
    apply(probe / "repo", monkeypatch)
    summary, lines = run_build()
    assert set(summary["executed"]) == expected
    assert set(summary["reused"]) == BOTH - expected
    changed = [line for line in lines if line.startswith("[facexai] executing sweep")]
    assert any(reason in line for line in changed), lines
    # and then it is up to date again
    again, _ = run_build()
    assert again["executed"] == []


def test_the_data_are_made_once_before_the_first_execution_and_not_for_a_warm_build(probe):
    calls = []
    run_build(prepare=lambda: calls.append("data"))
    assert calls == []  # nothing to execute: the data commands are not run
    _edit(probe / "repo" / "params" / f"{PROFILE}.yml", "n: 5", "n: 6")
    summary, _ = run_build(prepare=lambda: calls.append("data"))
    assert calls == ["data"] and set(summary["executed"]) == BOTH


def test_force_executes_every_notebook(probe):
    summary, lines = run_build(force=True)
    assert set(summary["executed"]) == BOTH
    assert all("--force" in line for line in lines if line.startswith("[facexai] executing"))


def test_a_failed_notebook_is_never_reused(probe, monkeypatch):
    params = probe / "repo" / "params" / f"{PROFILE}.yml"
    _edit(params, "fail: false", "fail: true")
    for execute in (REAL_EXECUTE, stand_in_execute):  # the second build runs it again:
        monkeypatch.setattr(book, "execute_notebook", execute)  # a failure is never stored
        with pytest.raises(book.BuildError, match="failing on purpose"):
            run_build()
        assert book.cache_entry(executed_file("sweep_probe")) is None
        assert executed_file("sweep_probe").is_file()  # the first build's copy, left in place
    _edit(params, "fail: true", "fail: false")
    summary, lines = run_build()  # back to the settings of the first build: executed again,
    assert summary["executed"] == ["sweep_probe"]  # under its first key, so its reader is reused
    assert any("sweep_probe" in line and "no earlier successful run" in line for line in lines)


def test_facexai_execute_stores_one_notebook_under_its_key(probe, capsys):
    from facexai.cli import main

    _edit(probe / "repo" / "notebooks" / "sweeps.md", "# Reader probe", "# Reader probe (edited)")
    assert main(["execute", "sweeps", "--profile", PROFILE]) == 0
    assert "key " in capsys.readouterr().out
    summary, _ = run_build()
    assert summary["executed"] == [] and set(summary["reused"]) == BOTH


def test_the_reproducibility_tables_say_executed_or_reused_with_key_and_run_time(probe):
    _edit(probe / "repo" / "params" / f"{PROFILE}.yml", "workers: 1", "workers: 2")
    results = book.execute_book(PROFILE, log=lambda *a: None)
    by_name = {r.name: r for r in results}
    assert by_name["sweep_probe"].status == "reused" and by_name["sweeps"].status == "executed"
    table = book.runs_table(results, PROFILE, 1.0)
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| (\w+) \| (?:reused|executed).*$",
                                                       table, re.M)}
    assert set(rows) == BOTH
    assert "| reused |" in rows["sweep_probe"]
    assert "| executed (parameters changed) |" in rows["sweeps"]
    for r in results:
        assert f"`{r.key}`" in rows[r.name]
        assert f"| {r.record['papermill_duration_s']:.1f} |" in rows[r.name]
    assert f"facexai execute <notebook> --profile {PROFILE}" in table
    assert "1 of 2 notebooks executed in this build, 1 reused" in table


def test_a_page_shows_the_parameters_used_once():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("# Parameters\nseed = 3",
                                  metadata={"tags": ["injected-parameters"]}),
        nbformat.v4.new_code_cell("x = seed")])
    tags = [c.metadata.get("tags", []) for c in book.for_reader(nb).cells]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters"], []]
    alone = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]})])
    assert book.for_reader(alone).cells[0].metadata["tags"] == ["parameters"]  # nothing injected


def test_data_fingerprint_follows_the_real_data_but_not_the_cache(tmp_path, monkeypatch):
    data = tmp_path / "data"
    (data / "KDEF_and_AKDEF" / "KDEF").mkdir(parents=True)
    (data / "KDEF_and_AKDEF" / "KDEF" / "a.jpg").write_bytes(b"face")
    monkeypatch.setenv("FACEXAI_DATA", str(data))
    monkeypatch.delenv("FACEXAI_CACHE", raising=False)
    params = {"data_dir": "."}  # the paper profile: the real datasets under $FACEXAI_DATA
    first = book.data_fingerprint("data_formats", params)
    assert set(first) == {"data_dir"}
    for written_by_a_run in (paths.cache_dir() / "paper3" / "m.pt", paths.synth_dir() / "x" / "f",
                             paths.twins_dir() / "tenk-1" / "f"):
        written_by_a_run.parent.mkdir(parents=True, exist_ok=True)
        written_by_a_run.write_bytes(b"generated")
    assert book.data_fingerprint("data_formats", params) == first
    (data / "KDEF_and_AKDEF" / "KDEF" / "b.jpg").write_bytes(b"another face")
    assert book.data_fingerprint("data_formats", params) != first
    assert book.data_fingerprint("data_formats", {"data_dir": None}) == {}  # the twins


def test_build_json_keeps_the_last_cold_build(tmp_path):
    path = tmp_path / "build.json"
    cold = {"date": "d1", "total_s": 600.0, "notebooks_s": 550.0, "html_s": 50.0, "reused": [],
            "only": []}
    assert book._last_cold(cold, path) == {"date": "d1", "total_s": 600.0, "notebooks_s": 550.0,
                                           "html_s": 50.0}
    path.write_text(json.dumps({"cold": book._last_cold(cold, path)}))
    warm = {**cold, "date": "d2", "total_s": 30.0, "reused": ["a"]}
    assert book._last_cold(warm, path)["date"] == "d1"  # a warm build carries the cold one over
    assert book._last_cold({**cold, "html_s": None}, path)["date"] == "d1"  # no HTML: not a build


def test_bench_prints_the_warm_rebuild_beside_the_cold_build_and_says_where_it_came_from(capsys):
    from facexai import bench

    warm = {"wall_s": 40.0, "total_s": 35.0, "notebooks_s": 12.0, "html_s": 23.0,
            "notebooks": {"a": 1.0, "b": 2.0}, "reused": ["a", "b"], "executed": []}
    bench.print_book_times({"warm": warm, "cold_source": "read from the last cold build (d1)",
                            "cold": {"wall_s": 600.0, "notebooks_s": 550.0, "html_s": 50.0}})
    out = capsys.readouterr().out
    assert "warm rebuild (2 of 2 notebooks reused, 0 executed): 40.0 s" in out
    assert "goal <= 60 s: met" in out
    assert "cold build: 600.0 s (notebooks 550.0 s, jupyter-book 50.0 s): read from the last" in out
    bench.print_book_times({"warm": {**warm, "wall_s": 75.0}, "cold": None,
                            "cold_source": "no cold build recorded"})
    out = capsys.readouterr().out
    assert "goal <= 60 s: NOT met" in out and "cold build: unknown" in out


# --- what the reader gets, on the whole ci book (the session's one build) -------------------

@pytest.mark.book
def test_each_chapter_downloads_as_its_executed_notebook(book_build):
    html = book_build / "html"
    for name in book.toc_notebooks():
        page = (html / "notebooks" / f"{name}.html").read_text()
        link = f"../_sources/notebooks/{name}.ipynb"
        assert f'href="{link}"' in page, f"{name}: no .ipynb download"
        nb = nbformat.read(html / "notebooks" / link, 4)
        assert nb.metadata["facexai"]["notebook"] == name and nb.metadata["facexai"]["key"]
        assert "papermill" in nb.metadata
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), name


@pytest.mark.book
def test_each_chapter_shows_its_parameters_once(book_build):
    for name in book.toc_notebooks():
        page = (book_build / "html" / "notebooks" / f"{name}.html").read_text()
        assert page.count("tag_injected-parameters") == 1, name
        assert "tag_parameters" not in page, name


@pytest.mark.book
def test_the_reproducibility_page_says_how_each_notebook_got_into_the_build(book_build):
    html = (book_build / "html" / "book" / "reproducibility.html").read_text()
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())  # code spans split words into tags
    summary = json.loads((book_build / "executed" / "ci" / "build.json").read_text())
    rows = re.findall(r"(\w+) (executed \([^)]*\)|reused) ([\d.]+) [\d-]+ [\d:]+ (\w+)", text)
    assert {(name, key) for name, _, _, key in rows} == set(summary["keys"].items())
    for name, status, seconds, _ in rows:
        assert status.startswith("reused" if name in summary["reused"] else "executed")
        assert float(seconds) == pytest.approx(summary["notebooks"][name], abs=0.06)
    assert "notebooks executed in this build" in text
    text = text.replace("&lt;", "<").replace("&gt;", ">")
    assert "facexai execute <notebook> --profile ci" in text


def test_citation_file_is_valid_cff():
    import tomllib

    cff = yaml.safe_load((paths.root() / "CITATION.cff").read_text())
    project = tomllib.loads((paths.root() / "pyproject.toml").read_text())["project"]
    assert cff["cff-version"] == "1.2.0" and cff["message"]
    assert cff["title"] == "facexai" and cff["type"] == "software"
    assert cff["authors"] == [{"name": "facexai contributors"}]
    assert str(cff["version"]) == project["version"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(cff["date-released"]))
    assert cff["license"] == "MIT"
    for ref in cff["references"]:
        assert ref["type"] in {"article", "conference-paper"} and ref["title"] and ref["authors"]
