"""The import rule of the study core: a general module (anything not under ``paperN/``) never
imports a paper package, and no paper package imports another. Every module's imports are read
with ``ast`` (absolute and relative, at module level and inside functions)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib"
PACKAGE = "facexai"
_PAPER = re.compile(rf"^{PACKAGE}\.(paper\d+)(?:\.|$)")


def module_name(path: Path, root: Path = LIB) -> str:
    """``lib/facexai/paper3/claims.py`` -> ``facexai.paper3.claims`` (a package's ``__init__``
    -> the package)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, root: Path = LIB) -> set[str]:
    """Absolute names of every module a file imports; ``from X import y`` gives both ``X`` and
    ``X.y`` (``y`` may be a submodule), relative imports resolved against the file's package."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names if a.name != "*"}
    return out


def paper_of(module: str) -> str | None:
    """``"paper3"`` for ``facexai.paper3`` and its submodules, None for a general module."""
    m = _PAPER.match(module)
    return m.group(1) if m else None


def violations(root: Path = LIB) -> list[str]:
    """``"<module> imports <module>"`` for every import that breaks the rule."""
    bad = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        source = module_name(path, root)
        own = paper_of(source)
        for target in sorted(imported(path, root)):
            other = paper_of(target)
            if other is not None and other != own:
                bad.append(f"{source} imports {target}")
    return bad


def test_general_modules_and_papers_import_no_other_paper():
    bad = violations()
    assert not bad, "the core must not depend on a paper, nor a paper on another:\n" + \
        "\n".join(bad)


@pytest.fixture
def tree(tmp_path) -> Path:
    """A constructed package with one legal and several illegal imports."""
    files = {
        "facexai/__init__.py": "",
        "facexai/stats.py": "import numpy\n",
        "facexai/claims.py": "def f():\n    from .paper3 import results\n",      # lazy, relative
        "facexai/groups.py": "from . import paper2\n",                            # package itself
        "facexai/plots.py": "import facexai.paper1.figures as f\n",               # absolute
        "facexai/paper1/__init__.py": "from . import claims\nfrom ..stats import x\n",
        "facexai/paper1/claims.py": "from ..paper2.results import R\n",            # paper -> paper
        "facexai/paper2/__init__.py": "from .. import claims\nfrom facexai.paper2 import a\n",
        "facexai/paper2/sub/deep.py": "from ... import paper3\nfrom .. import results\n",
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_relative_imports_are_resolved(tree):
    assert imported(tree / "facexai/paper1/__init__.py", tree) >= {"facexai.paper1.claims",
                                                                  "facexai.stats.x"}
    assert "facexai.paper2.results" in imported(tree / "facexai/paper2/sub/deep.py", tree)
    assert "facexai.paper3" in imported(tree / "facexai/paper2/sub/deep.py", tree)
    assert paper_of("facexai.paper12.x") == "paper12" and paper_of("facexai.papers") is None


def test_the_rule_finds_every_kind_of_violation(tree):
    found = violations(tree)
    assert found == [
        "facexai.claims imports facexai.paper3",
        "facexai.claims imports facexai.paper3.results",
        "facexai.groups imports facexai.paper2",
        "facexai.paper1.claims imports facexai.paper2.results",
        "facexai.paper1.claims imports facexai.paper2.results.R",
        "facexai.paper2.sub.deep imports facexai.paper3",
        "facexai.plots imports facexai.paper1.figures",
    ]
