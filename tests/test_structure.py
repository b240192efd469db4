"""The library's size rules: no module over 500 lines and no function over 60, except those listed
here with the reason they are allowed to be longer (the list can only shrink)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "lib" / "facexai"
MAX_MODULE, MAX_FUNCTION = 500, 60

#: module -> reason it may exceed MAX_MODULE lines
MODULE_EXCEPTIONS = {
    "synth/render.py": "the renderer's drawing steps in order; SynthFace v2 reworks it for "
                       "counterfactual rendering",
}
#: "module:function" -> reason it may exceed MAX_FUNCTION lines
FUNCTION_EXCEPTIONS = {
    "models.py:zero_bias_cnn": "the paper-2 architecture written out layer by layer, with its "
                               "docstring of the authors' code",
    "models.py:vgg16": "torchvision's VGG16 layer list, width-scaled, with the paper's head",
}


def _modules():
    return sorted(p for p in LIB.rglob("*.py") if "__pycache__" not in p.parts)


def _functions(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1


def test_modules_are_short():
    long = {p.relative_to(LIB).as_posix(): n for p in _modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE}
    unexpected = {k: v for k, v in long.items() if k not in MODULE_EXCEPTIONS}
    assert not unexpected, f"modules over {MAX_MODULE} lines: {unexpected}"


def test_functions_are_short():
    long = {f"{p.relative_to(LIB).as_posix()}:{name}": n for p in _modules()
            for name, n in _functions(p) if n > MAX_FUNCTION}
    unexpected = {k: v for k, v in long.items() if k not in FUNCTION_EXCEPTIONS}
    assert not unexpected, f"functions over {MAX_FUNCTION} lines: {unexpected}"


@pytest.mark.parametrize("table", [MODULE_EXCEPTIONS, FUNCTION_EXCEPTIONS])
def test_exceptions_are_still_needed(table):
    """An exception whose module or function is now short (or gone) must leave the list."""
    modules = {p.relative_to(LIB).as_posix(): p for p in _modules()}
    for key in table:
        module, _, function = key.partition(":")
        assert module in modules, f"exception {key!r}: no module {module}"
        path = modules[module]
        if function:
            sizes = dict(_functions(path))
            assert sizes.get(function, 0) > MAX_FUNCTION, f"exception {key!r} is no longer needed"
        else:
            assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_MODULE, \
                f"exception {key!r} is no longer needed"


NOTEBOOKS = LIB.parents[1] / "notebooks"
MAX_NOTEBOOK_CODE = 150


def _code_lines(path: Path) -> list[str]:
    """The non-blank lines of a MyST notebook's code cells, cell options (``:tags:`` ...) left
    out."""
    lines, inside, options = [], False, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```{code-cell}"):
            inside = options = True
        elif inside and line.startswith("```"):
            inside = False
        elif inside:
            options = options and line.startswith(":")
            if not options and line.strip():
                lines.append(line)
    return lines


@pytest.mark.parametrize("notebook", sorted(p.name for p in NOTEBOOKS.glob("*.md")))
def test_notebooks_are_thin(notebook):
    """Notebooks call, show and explain: at most MAX_NOTEBOOK_CODE lines of code, no function or
    class definitions (they belong in the library)."""
    code = _code_lines(NOTEBOOKS / notebook)
    assert len(code) <= MAX_NOTEBOOK_CODE, f"{notebook}: {len(code)} lines of code"
    defined = [line for line in code if line.lstrip().startswith(("def ", "class ", "async def "))]
    assert not defined, f"{notebook} defines {defined}: move them into lib/facexai"
