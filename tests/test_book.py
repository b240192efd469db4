"""The whole book under the ci profile, and the build's failure modes."""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest

from facexai import paths
from facexai.book import BuildError, execute_notebook, toc_notebooks
from facexai.browser import check_site, html_pages

pytestmark = pytest.mark.book


def test_every_notebook_is_executed_with_its_provenance(book_build):
    summary = json.loads((book_build / "executed" / "ci" / "build.json").read_text())
    assert summary["executed"] == toc_notebooks() and summary["reused"] == []  # a fresh folder
    for name in toc_notebooks():
        nb = nbformat.read(book_build / "executed" / "ci" / "notebooks" / f"{name}.ipynb", 4)
        rec = nb.metadata["facexai"]
        assert rec["key"] == summary["keys"][name]
        assert rec["notebook"] == name and rec["profile"] == "ci"
        assert rec["papermill_duration_s"] > 0 and rec["peak_memory_mb"] > 0
        assert rec["git_commit"] and rec["packages"]["torch"]
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, name
    assert set(summary["notebooks"]) == set(toc_notebooks())


def test_figures_are_written_as_named_pngs(book_build):
    for name in toc_notebooks():
        pngs = list((book_build / "figures" / name).glob("*.png"))
        assert pngs, f"{name} wrote no figure under _build/figures/{name}/"
        for png in pngs:
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reproducibility_page_shows_every_run(book_build):
    page = (book_build / "html" / "book" / "reproducibility.html").read_text()
    for name in toc_notebooks():
        assert f"<td><p>{name}</p></td>" in page
    assert "peak memory" in page


def test_browser_check_passes_and_takes_a_screenshot(book_build):
    # into the project's own _build/ (not the temporary one): a person can look at it after a run
    shot = paths.build_dir() / "screenshot-ci.png"
    shot.unlink(missing_ok=True)
    problems = check_site(book_build / "html", screenshot=shot)
    assert problems == [], "\n".join(map(str, problems))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(html_pages(book_build / "html")) >= 7


def test_browser_check_fails_on_a_missing_figure_and_a_broken_link(book_build, tmp_path):
    html = tmp_path / "html"
    shutil.copytree(book_build / "html", html)
    figure = sorted((html / "_images").glob("*.png"))[0]
    figure.unlink()
    intro = html / "book" / "intro.html"
    intro.write_text(intro.read_text().replace('href="paper1.html"', 'href="paper-one.html"', 1))
    problems = check_site(html)
    kinds = {(p.kind, p.detail.rsplit("/", 1)[-1]) for p in problems}
    assert ("image not loaded", figure.name) in kinds
    assert any(k == "broken link" and d.startswith("paper-one.html") for k, d in kinds)


def test_a_failing_notebook_names_itself_and_the_cell(tmp_path):
    src = tmp_path / "broken.md"
    header = (paths.notebooks_dir() / "data_synthetic.md").read_text().split("\n---\n")[0]
    src.write_text(header + "\n---\n"
                   "# Broken\n\n```{code-cell} ipython3\nx = 1\n```\n\n"
                   "```{code-cell} ipython3\nraise ValueError('boom')\n```\n")
    out = tmp_path / "out" / "notebooks" / "broken.ipynb"
    with pytest.raises(BuildError) as err:
        execute_notebook(src, out, {}, "ci")
    message = str(err.value)
    assert "'broken'" in message and "code cell 2" in message and "ValueError: boom" in message
    assert not out.exists(), "a failed run must not leave an executed notebook behind"
    assert (tmp_path / "out" / "failed" / "broken.ipynb").is_file()


def test_execute_after_reorders_execution_and_refuses_cycles_and_unknown_names(monkeypatch):
    import facexai.execution as book

    deps = {"intro": [], "claims": ["a", "b"], "a": [], "b": ["a"]}
    monkeypatch.setattr(book, "execute_after", lambda n: deps[n])
    assert book.execution_order(["intro", "claims", "a", "b"]) == ["intro", "a", "b", "claims"]
    deps["a"] = ["claims"]
    with pytest.raises(BuildError, match="wait for each other: claims -> a -> claims"):
        book.execution_order(["intro", "claims", "a", "b"])
    deps.update(a=[], b=["nowhere"])
    with pytest.raises(BuildError, match="'b' executes after nowhere"):
        book.execution_order(["intro", "claims", "a", "b"])


def test_every_notebook_in_the_book_has_a_valid_execution_order():
    from facexai.book import execution_order

    names = toc_notebooks()
    assert sorted(execution_order(names)) == sorted(names)
