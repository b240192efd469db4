"""Settings declared once as a dataclass (facexai.params.Settings, setting) and the settings the
papers share (facexai.settings): validation, tags, and what a notebook passes on."""
from __future__ import annotations

from dataclasses import dataclass, fields

import pytest

from facexai.params import Param, ParameterError, Settings, setting
from facexai.settings import GROUP_COMPARISON, PROTOCOLS, STRUCTURE_RULE, RegressorSettings


@dataclass(frozen=True)
class _Demo(Settings):
    seed: int = setting(0, Param("int", "a seed", lo=0), "data", "model")
    size: int = setting(64, Param("int", "image size", lo=32), "data")
    lr: float = setting(0.1, Param("float", "learning rate", lo=0.0), "model")
    note: str | None = setting(None, Param("str", "a note", optional=True))


def test_settings_validate_on_creation_and_name_the_setting():
    assert _Demo().size == 64 and _Demo(lr=1).lr == 1.0 and isinstance(_Demo(lr=1).lr, float)
    with pytest.raises(ParameterError, match="setting 'size'"):
        _Demo(size=8)
    with pytest.raises(ValueError, match=r"unknown _Demo setting\(s\) \['colour'\]"):
        _Demo.from_values({"colour": 1})


def test_tags_params_checked_and_pick():
    assert _Demo.names("data") == ("seed", "size") and _Demo.names("model") == ("seed", "lr")
    assert list(_Demo.params()) == ["seed", "size", "lr", "note"]
    assert _Demo.params()["lr"] is fields(_Demo)[2].metadata["param"]
    assert _Demo.checked("model", {"lr": 0.5}) == {"seed": 0, "lr": 0.5}
    with pytest.raises(ValueError, match=r"unknown model setting\(s\) \['size'\]"):
        _Demo.checked("model", {"size": 64})
    with pytest.raises(ParameterError, match="lr"):
        _Demo.checked("model", {"lr": -1.0})
    values = {"seed": 3, "size": 32, "other": 1}
    assert _Demo.pick("data", values) == {"seed": 3, "size": 32}
    assert _Demo.pick("model", values, lr=2.0) == {"seed": 3, "lr": 2.0}

    class Run:
        params = values
    assert _Demo.pick("data", Run()) == {"seed": 3, "size": 32}


def test_the_regressor_settings_defaults_are_inside_their_bounds():
    defaults = RegressorSettings()
    for f in fields(RegressorSettings):
        assert f.metadata["param"].check(f.name, getattr(defaults, f.name)) == getattr(defaults,
                                                                                     f.name)
    assert set(RegressorSettings.names("data")) | set(RegressorSettings.names("model")) | \
        set(RegressorSettings.names("seeds")) == {f.name for f in fields(RegressorSettings)}
    assert RegressorSettings.names("seeds") == ("n_seeds",) and RegressorSettings().n_seeds >= 3
    assert RegressorSettings.params()["protocol"].choices == PROTOCOLS
    assert set(STRUCTURE_RULE) == {"knn_k", "n_permutations", "alpha", "min_gain"}
    assert set(GROUP_COMPARISON) == {"group_by", "n_boot", "n_permutations", "min_group", "alpha"}
