"""The preprocessed-array cache (keyed by file contents and options) and the ``facexai data``
commands: ``check`` summarises a copy without touching it, ``twins`` writes a profile's twins."""
from __future__ import annotations

import hashlib
import os
import shutil

import numpy as np
import pytest
import scipy.io

from _twins import write_small_twins
from facexai import datasets, paths
from facexai.cli import main


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_small_twins(tmp_path_factory.mktemp("twins"))


def _rewrite_same_size_and_time(path, change):
    """Rewrite a file in place with the same size and modification time (a content-only change)."""
    st = path.stat()
    change(path)
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_cache_hit_then_rebuild_on_a_content_change_of_the_same_size_and_time(twins, tmp_path):
    root, cache = tmp_path / "tfd", tmp_path / "cache"
    shutil.copytree(twins["tfd"], root)
    first = datasets.load("tfd", root, cache=cache)
    second = datasets.load("tfd", root, cache=cache)
    assert (first.notes["cache"], second.notes["cache"]) == ("built", "hit")
    assert np.array_equal(first.images, second.images) and first.labels.equals(second.labels)

    def brighten(path):
        mat = scipy.io.loadmat(path)
        mat["images"][0] = 255 - mat["images"][0]
        scipy.io.savemat(path, {k: mat[k] for k in datasets.tfd.FIELDS})
    _rewrite_same_size_and_time(root / "TFD_96x96.mat", brighten)
    third = datasets.load("tfd", root, cache=cache)
    assert third.notes["cache"] == "built"
    assert np.array_equal(third.images[0], 255 - first.images[0])
    assert np.array_equal(third.images[1:], first.images[1:])
    # no temporary file is left beside the entries (atomic writes)
    assert [p.name for p in (cache / "datasets").iterdir() if p.name.startswith(".")] == []


def test_cache_rebuilds_on_a_changed_image_or_option(twins, tmp_path, monkeypatch):
    monkeypatch.setenv("FACEXAI_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "utk"
    shutil.copytree(twins["utkface"], root)
    a = datasets.load("utkface", root, size=32)
    assert a.notes["cache"] == "built" and a.notes["cache_file"].startswith(str(paths.cache_dir()))
    assert datasets.load("utkface", root, size=32).notes["cache"] == "hit"
    assert datasets.load("utkface", root, size=40).notes["cache"] == "built"      # option
    assert datasets.load("utkface", root, size=32, grayscale=True).notes["cache"] == "built"
    jpg = root / "UTKFace" / a.files[0].split("/")[-1]

    def flip_a_byte(path):  # inside the entropy-coded data: same size, other pixels
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    _rewrite_same_size_and_time(jpg, flip_a_byte)
    b = datasets.load("utkface", root, size=32)
    assert b.notes["cache"] == "built"
    assert b.images.shape == a.images.shape and not np.array_equal(b.images[0], a.images[0])
    assert datasets.load("utkface", root, size=32, cache=False).notes["cache"] == "off"


def _snapshot(root):
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, hashlib.sha1(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_data_check_prints_a_summary_and_modifies_nothing(twins, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FACEXAI_CACHE", str(tmp_path / "cache"))
    before = _snapshot(twins["ckplus"])
    assert main(["data", "check", "--dataset", "ckplus", str(twins["ckplus"])]) == 0
    out = capsys.readouterr().out
    assert "ckplus: 24 images of 96x96" in out
    assert "labels per class: neutral 6," in out and "subjects: 3" in out
    assert "split scheme 'paper2_folds' (10 split(s), train/valid/test): 0: 8/8/8; 1: 8/8/8; 2: 16/0/8; 3: 24/0/0;" in out
    assert "unlabelled sequences: 3" in out and "problems: 0 file(s) skipped" in out
    assert out.rstrip().endswith(": OK")
    assert _snapshot(twins["ckplus"]) == before and not (tmp_path / "cache").exists()


def test_data_check_fails_on_a_broken_tree(twins, capsys, tmp_path):
    root = tmp_path / "ck"
    shutil.copytree(twins["ckplus"], root)
    emo = next((root / "Emotion").rglob("*_emotion.txt"))
    emo.write_text("   1.5000000e+00\n")
    assert main(["data", "check", "--dataset", "ckplus", str(root)]) == 1
    err = capsys.readouterr().err
    assert "FAILED: LabelError" in err and emo.name in err
    assert main(["data", "check", "--dataset", "ckplus", str(tmp_path / "none")]) == 1
    assert "Expected this layout" in capsys.readouterr().err
    png = next((root / "cohn-kanade-images").rglob("*_00000001.png"))
    emo.write_text("   1.0000000e+00\n")
    png.write_bytes(b"\x89PNG broken")
    assert main(["data", "check", "--dataset", "ckplus", str(root)]) == 1
    out = capsys.readouterr().out
    assert "problems: 1 file(s) skipped" in out and png.name in out
    assert main(["data", "check", "--dataset", "ckpluss", str(root)]) == 1
    assert "did you mean 'ckplus'" in capsys.readouterr().err


def test_data_twins_writes_every_twin_of_the_profile(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACEXAI_DATA", str(tmp_path))
    assert main(["data", "twins", "--profile", "ci"]) == 0
    out = capsys.readouterr().out
    folders = sorted(p.name.split("-")[0] for p in (tmp_path / "twins").iterdir())
    assert folders == sorted(datasets.TWIN_KEYS)
    assert all(f"{k} twin for profile 'ci'" in out for k in datasets.TWIN_KEYS)
    stamp = {p: p.stat().st_mtime_ns for p in (tmp_path / "twins").iterdir()}
    assert main(["data", "twins", "--profile", "ci"]) == 0          # reused, not rewritten
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "twins").iterdir()} == stamp
    assert main(["data", "twins", "--profile", "paper"]) == 0
    assert "reads the real datasets" in capsys.readouterr().out
