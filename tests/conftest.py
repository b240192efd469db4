"""Shared fixtures. The whole-book fixture builds the ci profile once per session into a temporary
build folder, so the tests never touch the developer's own ``_build/``."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> Path:
    """Build the whole book under the ``ci`` profile; return the build folder."""
    from facexai.book import build

    build_dir = tmp_path_factory.mktemp("build")
    data_dir = tmp_path_factory.mktemp("data")
    saved = {k: os.environ.get(k) for k in ("FACEXAI_BUILD", "FACEXAI_DATA")}
    os.environ["FACEXAI_BUILD"], os.environ["FACEXAI_DATA"] = str(build_dir), str(data_dir)
    try:
        build("ci", log=lambda *a: None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return build_dir
