"""Shared fixtures. The whole-book fixture builds the ci profile once per session into a temporary
build folder, so the tests never touch the developer's own ``_build/``."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> Path:
    """Build the whole book under the ``ci`` profile; return the build folder."""
    from facexai import paths
    from facexai.book import build

    build_dir = tmp_path_factory.mktemp("build")
    data_dir = tmp_path_factory.mktemp("data")
    with paths.environment({"FACEXAI_BUILD": str(build_dir), "FACEXAI_DATA": str(data_dir)}):
        build("ci", log=lambda *a: None)
    return build_dir
