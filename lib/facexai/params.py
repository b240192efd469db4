"""Notebook parameters: schemas, profiles and validation.

Every chapter notebook has one ``parameters`` cell of literals and a schema registered here under the
notebook's name (see :mod:`facexai.schemas`). A *profile* (``params/<profile>.yml``) gives values per
notebook; the build validates every notebook's values **before anything runs**, and each notebook
validates again at its top through :func:`facexai.run.start`. A bad value stops the run with a message
naming the notebook, the parameter and what was expected.

Profile file layout::

    profile: default            # must equal the file name
    description: one line
    notebooks:
      data_synthetic:           # notebook name = file stem under notebooks/
        seed: 0
        n_faces: 600

Settings shared by several notebooks (a paper's data and model settings) are declared once, as the
fields of a :class:`Settings` dataclass (:func:`setting`): the notebooks' schemas, the functions'
defaults and their validation all derive from it.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from . import paths


#: The largest integer parameter without a bound of its own (seeds: NumPy and torch take 2**32 - 1).
MAX_INT = 2 ** 32 - 1


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # "<<: *anchor" merges a mapping; keys given beside it override it
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})",
                    key_node.start_mark)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path | str) -> Any:
    """Read a profile or sweep file: safe YAML, a duplicate key or a syntax error is a
    :class:`ParameterError` naming the file and the line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise ParameterError(f"{where}: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ParameterError(f"{path}: not valid YAML: {err}") from None


class ParameterError(ValueError):
    """A parameter is unknown, missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    """One parameter: its kind, bounds or choices, default and meaning.

    ``kind`` is one of ``int``, ``float``, ``bool``, ``str``, ``choice``, ``path`` (a string or
    ``None``), ``int_list`` / ``str_list`` (lists whose items obey ``lo``/``hi``/``choices``).
    """

    kind: str
    doc: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # None allowed

    def describe(self) -> str:
        parts = [self.kind]
        if self.choices is not None:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.lo is not None or self.hi is not None:
            parts.append(f"in [{self.lo if self.lo is not None else '-inf'}, "
                         f"{self.hi if self.hi is not None else 'inf'}]")
        if self.optional:
            parts.append("or None")
        return " ".join(parts)

    def check(self, where: str, value: Any) -> Any:
        """Return the value (ints accepted for floats) or raise :class:`ParameterError`."""
        def fail(why: str) -> ParameterError:
            return ParameterError(f"{where}: {why}; expected {self.describe()} ({self.doc})")

        if value is None:
            if self.optional:
                return None
            raise fail("got None")
        if self.kind in ("int_list", "str_list"):
            if not isinstance(value, (list, tuple)) or not value:
                raise fail(f"got {value!r}, not a non-empty list")
            item = Param(self.kind.removesuffix("_list"), self.doc, self.lo, self.hi, self.choices)
            return [item.check(f"{where}[{i}]", v) for i, v in enumerate(value)]
        checks: dict[str, Callable[[Any], bool]] = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v),
            "bool": lambda v: isinstance(v, bool),
            "str": lambda v: isinstance(v, str),
            "path": lambda v: isinstance(v, str) and v != "",
            "choice": lambda v: True,
        }
        if self.kind not in checks:
            raise ValueError(f"unknown parameter kind {self.kind!r}")
        if not checks[self.kind](value):
            raise fail(f"got {value!r} of type {type(value).__name__}")
        if self.choices is not None and not any(value == c and type(value) is type(c)
                                                for c in self.choices):
            raise fail(f"got {value!r}" + (f" of type {type(value).__name__}"
                                           if value in self.choices else ""))
        hi = self.hi if self.hi is not None or self.kind != "int" else MAX_INT
        if self.lo is not None and value < self.lo or hi is not None and value > hi:
            raise fail(f"got {value!r}, out of range" + (f" (integers are at most {MAX_INT}, "
                                                         "what NumPy and torch seeds take)"
                                                         if hi == MAX_INT else ""))
        return float(value) if self.kind == "float" else value


@dataclass(frozen=True)
class Schema:
    """The parameters of one notebook."""

    notebook: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def validate(self, values: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
        """Check ``values`` against the schema; return them cleaned, in schema order.

        With ``partial=True`` missing keys are allowed (a profile or sweep overriding a few).
        """
        unknown = [k for k in values if k not in self.params]
        if unknown:
            k = unknown[0]
            near = difflib.get_close_matches(k, list(self.params), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ParameterError(
                f"notebook {self.notebook!r}: unknown parameter {k!r}{hint}; "
                f"known parameters: {', '.join(self.params)}")
        checked = {k: p.check(f"notebook {self.notebook!r}, parameter {k!r}", values[k])
                   for k, p in self.params.items() if k in values}
        missing = [k for k in self.params if k not in values]
        if missing and not partial:
            raise ParameterError(
                f"notebook {self.notebook!r}: missing parameter(s) {', '.join(missing)}")
        return checked


def setting(default: Any, param: Param, *tags: str):
    """A field of a :class:`Settings` dataclass: its default (the published book's value), its
    :class:`Param`, and the groups it belongs to (e.g. ``"data"``, ``"model"``)."""
    return field(default=default, metadata={"param": param, "tags": frozenset(tags)})


class Settings:
    """Base of a frozen dataclass of settings declared with :func:`setting`, validated on creation.

    A paper declares its settings once::

        @dataclass(frozen=True)
        class PaperSettings(Settings):
            seed: int = setting(0, Param("int", "seed of everything", lo=0), "data", "model")

    and derives from them its notebooks' schemas (``register(name, **PaperSettings.params())``),
    its functions' keyword arguments (:meth:`checked`) and what a notebook passes them
    (:meth:`pick`). Creating one raises a :class:`ParameterError` naming a value out of range.
    """

    def __post_init__(self) -> None:
        for f in fields(self):
            value = f.metadata["param"].check(f"{type(self).__name__} setting {f.name!r}",
                                              getattr(self, f.name))
            object.__setattr__(self, f.name, value)

    @classmethod
    def params(cls) -> dict[str, Param]:
        """The Param of every setting (name -> Param), in declaration order."""
        return {f.name: f.metadata["param"] for f in fields(cls)}

    @classmethod
    def names(cls, tag: str) -> tuple[str, ...]:
        """The names of the settings tagged ``tag``, in declaration order."""
        return tuple(f.name for f in fields(cls) if tag in f.metadata["tags"])

    @classmethod
    def from_values(cls, values: Mapping[str, Any]):
        """The defaults updated with ``values``; an unknown name is a ValueError listing the known
        ones."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown {cls.__name__} setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def values(self, tag: str) -> dict[str, Any]:
        """The settings tagged ``tag`` (name -> value), in declaration order."""
        return {k: getattr(self, k) for k in self.names(tag)}

    @classmethod
    def checked(cls, tag: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` of settings tagged ``tag`` validated, the others of the tag at their
        defaults; a name outside the tag is a ValueError (``"unknown <tag> setting(s)"``)."""
        known = cls.names(tag)
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown {tag} setting(s) {unknown}; known: {list(known)}")
        return cls.from_values(values).values(tag)

    @classmethod
    def pick(cls, tag: str, params: Any, **overrides: Any) -> dict[str, Any]:
        """The settings tagged ``tag`` among a notebook's parameters (a :class:`facexai.run.Run`
        or a dict), updated with ``overrides``."""
        p = getattr(params, "params", params)
        return {**{k: p[k] for k in cls.names(tag) if k in p}, **overrides}


SCHEMAS: dict[str, Schema] = {}


def register(notebook: str, **params: Param) -> Schema:
    """Register the parameter schema of a notebook (its file stem under ``notebooks/``)."""
    if notebook in SCHEMAS:
        raise ValueError(f"a schema for notebook {notebook!r} is already registered")
    SCHEMAS[notebook] = schema = Schema(notebook, dict(params))
    return schema


def _register_all() -> None:
    """Import every module that registers schemas: :mod:`facexai.schemas` (the general chapters)
    and each paper package's ``schema`` module (``facexai.paperN.schema``), found by name.

    They are found at run time rather than imported here, so that this module imports no paper
    package and no module that imports it back (the study core never depends on a paper).
    """
    import importlib
    import pkgutil

    package = importlib.import_module(__package__)
    importlib.import_module(f"{__package__}.schemas")
    for info in pkgutil.iter_modules(package.__path__):
        if info.ispkg and info.name.startswith("paper"):
            name = f"{__package__}.{info.name}.schema"
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name != name:
                    raise


def schema(notebook: str) -> Schema:
    """The registered schema of ``notebook`` (every schema module is imported on first use)."""
    if notebook not in SCHEMAS:
        _register_all()
    try:
        return SCHEMAS[notebook]
    except KeyError:
        raise ParameterError(
            f"no parameter schema for notebook {notebook!r}; known notebooks: "
            f"{', '.join(sorted(SCHEMAS))}") from None


def profile_path(profile: str) -> Path:
    return paths.profiles_dir() / f"{profile}.yml"


def available_profiles() -> list[str]:
    return sorted(p.stem for p in paths.profiles_dir().glob("*.yml"))


def load_profile(profile: str) -> dict[str, dict[str, Any]]:
    """Read ``params/<profile>.yml`` and validate every notebook's values; return them by notebook.

    Every notebook named must exist and every value must pass its schema; each notebook must give
    all of its parameters (profiles are complete, so a run never silently falls back on the
    literals in a notebook).
    """
    path = profile_path(profile)
    if not path.is_file():
        raise ParameterError(
            f"unknown profile {profile!r}: no file {path}; available profiles: "
            f"{', '.join(available_profiles()) or 'none'}")
    doc = read_yaml(path) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("notebooks"), dict):
        raise ParameterError(f"profile {path}: expected a mapping with a 'notebooks' mapping")
    if doc.get("profile") != profile:
        raise ParameterError(
            f"profile {path}: its 'profile' key is {doc.get('profile')!r}, expected {profile!r}")
    extra = set(doc) - {"profile", "description", "notebooks"}
    if extra:
        raise ParameterError(f"profile {path}: unknown top-level key(s) {', '.join(sorted(extra))}")
    out = {}
    for notebook, values in doc["notebooks"].items():
        if not (paths.notebooks_dir() / f"{notebook}.md").is_file():
            raise ParameterError(
                f"profile {path}: notebook {notebook!r} has no file notebooks/{notebook}.md")
        out[notebook] = schema(notebook).validate(values or {})
    return out
