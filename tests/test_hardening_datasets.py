"""Issue 14, the data cases of the reliability review: broken copies of the real datasets, races
and faults when data is written, and the dataset cache. Each test failed before the fix.

Every bad copy is built in ``tmp_path`` from the tiny twins (tests/_twins.py), in the real layouts.
"""
from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import scipy.io
from PIL import Image

from _twins import SMALL, write_small_twins
from facexai import datasets, paths
from facexai.cli import main
from facexai.datasets import core, io
from facexai.params import load_profile
from facexai.synth import dataset as synth_dataset


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_small_twins(tmp_path_factory.mktemp("twins"))


@pytest.fixture
def copy(twins, tmp_path):
    """``copy(key)``: a private copy of a twin to break."""
    def make(key, name=None):
        target = tmp_path / (name or key)
        shutil.copytree(twins[key], target)
        return target
    return make


def check(capsys, key, root, *extra):
    """``facexai data check``: (exit status, stdout, stderr)."""
    status = main(["data", "check", "--dataset", key, str(root), *extra])
    out, err = capsys.readouterr()
    return status, out, err


# ------------------------------------------------------------------------------------------
# 2. data check never says OK for a copy without usable images or with labels matching nothing
# ------------------------------------------------------------------------------------------

def test_ckplus_labels_unzipped_one_level_too_deep(copy, capsys):
    root = copy("ckplus")
    (root / "Emotion_labels").mkdir()
    (root / "Emotion").rename(root / "Emotion_labels" / "Emotion")
    with pytest.raises(datasets.LayoutError, match=r"labels look unzipped one level too deep: "
                                                   r"the subject folders \(S005/...\) are in "
                                                   r".*Emotion_labels/Emotion, expected directly in"):
        datasets.load("ckplus", root, cache=False)
    status, out, err = check(capsys, "ckplus", root)
    assert status == 1 and "OK" not in out and "one level too deep" in err
    assert len(err.strip().splitlines()) == 1
    (root / "Emotion_labels" / "Emotion").rename(root / "Emotion")
    shutil.rmtree(root / "Emotion_labels")
    (root / "cohn-kanade-images").rename(root / "extended")
    (root / "cohn-kanade-images").mkdir()
    (root / "extended").rename(root / "cohn-kanade-images" / "cohn-kanade-images")
    with pytest.raises(datasets.LayoutError, match=r"CK\+: images look unzipped one level too deep"):
        datasets.load("ckplus", root, cache=False)


def test_ckplus_label_without_images_is_a_listed_problem_not_unlabelled(copy, capsys):
    root = copy("ckplus")
    for png in (root / "cohn-kanade-images" / "S005" / "001").iterdir():
        png.unlink()                                  # a labelled sequence with no images
    stray = root / "Emotion" / "S099" / "001"         # a label of a sequence that does not exist
    stray.mkdir(parents=True)
    (stray / "S099_001_00000005_emotion.txt").write_text("   3.0000000e+00\n")
    ds = datasets.load("ckplus", root, crop=None, size=32, cache=False)
    assert ds.notes["unlabelled_sequences"] == 3      # as in the whole twin: not counted there
    assert [(s.path, s.reason) for s in ds.skipped] == [
        ("Emotion/S005/001/S005_001_00000005_emotion.txt",
         "emotion label of sequence S005/001, which has no images in cohn-kanade-images/"),
        ("Emotion/S099/001/S099_001_00000005_emotion.txt",
         "emotion label of sequence S099/001, which has no images in cohn-kanade-images/")]
    assert "ckplus/S005/001" not in {s for s in ds.labels["sequence"]} and len(ds) == 20
    status, out, _ = check(capsys, "ckplus", root)
    assert status == 1 and out.rstrip().endswith("2 problem(s) found") and "S099_001" in out
    with pytest.raises(datasets.LayoutError, match="S005_001_00000005_emotion.txt.*has no images"):
        datasets.load("ckplus", root, crop=None, strict=True, cache=False)


def test_ckplus_empty_tree_and_labels_matching_nothing_are_errors(copy, tmp_path, capsys):
    empty = tmp_path / "empty"
    (empty / "cohn-kanade-images").mkdir(parents=True)
    (empty / "Emotion").mkdir()
    with pytest.raises(datasets.IncompleteDatasetError,
                       match="cohn-kanade-images/ holds no subject folder Snnn"):
        datasets.load("ckplus", empty, cache=False)
    status, out, err = check(capsys, "ckplus", empty)
    assert status == 1 and "OK" not in out and "FAILED: IncompleteDatasetError" in err

    root = copy("ckplus")
    shutil.rmtree(root / "Emotion")
    (root / "Emotion").mkdir()
    with pytest.raises(datasets.IncompleteDatasetError, match="Emotion/ holds no Snnn/nnn/"
                                                              r"\*_emotion.txt file.*Emotion_labels.zip"):
        datasets.load("ckplus", root, cache=False)

    root = copy("ckplus", "other")
    for subject in (root / "Emotion").iterdir():     # labels of another copy's subjects
        subject.rename(subject.with_name(subject.name.replace("S0", "S9")))
    with pytest.raises(datasets.IncompleteDatasetError,
                       match=r"none of the 6 emotion label\(s\) under Emotion/ matches a sequence "
                             r"with images in cohn-kanade-images/ \(e.g. S905/001\)"):
        datasets.load("ckplus", root, cache=False)


def _unusable(key, root):
    """Break a copy so that it has no usable image; return the expected message."""
    if key == "tenk":
        for jpg in (root / datasets.tenk.IMAGES).glob("*.jpg"):
            jpg.unlink()
        return r"none of the 12 images listed in 'Final Values' \(1.jpg ... 12.jpg\) is in"
    if key == "kdef":
        shutil.rmtree(root / "KDEF")
        (root / "KDEF").mkdir()
        return r"KDEF: no image to load in .*KDEF: .*the folder is empty"
    if key == "ckplus":
        for png in (root / "cohn-kanade-images").rglob("*.png"):
            png.write_bytes(b"\x89PNG broken")
        return r"CK\+: none of the 24 image file\(s\) under .* could be read \(first: "
    if key == "tfd":
        mat = scipy.io.loadmat(root / "TFD_96x96.mat")
        mat["labs_ex"][:] = -1
        mat["folds"][:] = 0
        scipy.io.savemat(root / "TFD_96x96.mat", {k: mat[k] for k in datasets.tfd.FIELDS})
        (root / "TFD_48x48.mat").unlink()
        return r"TFD_96x96.mat holds no labelled image \(40 rows\)"
    for jpg in (root / "UTKFace").iterdir():
        jpg.write_bytes(b"not a jpeg")
    return r"UTKFace: none of the 11 image file\(s\) under .* could be read"


@pytest.mark.parametrize("key", datasets.TWIN_KEYS)
def test_data_check_never_says_ok_without_a_usable_image(copy, capsys, key):
    root = copy(key)
    message = _unusable(key, root)
    with pytest.raises(datasets.IncompleteDatasetError, match=message):
        datasets.load(key, root, cache=False)
    status, out, err = check(capsys, key, root)
    assert status == 1 and "OK" not in out
    assert "FAILED: IncompleteDatasetError" in err and len(err.strip().splitlines()) == 1


def test_10k_sheet_matching_no_image_and_a_truncated_sheet(copy):
    root = copy("tenk")
    wb = openpyxl.load_workbook(root / datasets.tenk.WORKBOOK)
    for sheet in ("Final Values", "StDev Values"):
        wb[sheet].delete_rows(4, 20)                 # keep images 1 and 2
    wb.save(root / datasets.tenk.WORKBOOK)
    with pytest.raises(datasets.IncompleteDatasetError,
                       match=r"'Final Values' of .* lists 2 image\(s\), too few .* truncated"):
        datasets.load("tenk", root, cache=False)


# ------------------------------------------------------------------------------------------
# 3. 16-bit frames are scaled by their bit depth, not clipped to white
# ------------------------------------------------------------------------------------------

def test_16bit_png_is_scaled_by_its_bit_depth(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as im:
        assert im.mode.startswith("I")               # a real 16-bit PNG
    img = io.read_image(tmp_path / "deep.png")
    assert img.dtype == np.uint8 and (img.min(), img.max()) == (0, 255)
    assert np.array_equal(img, np.rint(ramp * 255.0 / 65535).astype(np.uint8))
    assert len(np.unique(img)) == 256


def test_16bit_ckplus_frame_loads_like_its_8bit_original(copy):
    root = copy("ckplus")
    before = datasets.load("ckplus", root, crop=None, size=None, cache=False)
    frame = root / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000005.png"
    gray = np.asarray(Image.open(frame))
    assert gray.ndim == 2
    Image.fromarray(gray.astype(np.uint16) * 257).save(frame)   # the same picture, 16 bits
    after = datasets.load("ckplus", root, crop=None, size=None, cache=False)
    k = after.files.index("cohn-kanade-images/S005/001/S005_001_00000005.png")
    assert after.images[k].max() < 255 and np.array_equal(after.images, before.images)


# ------------------------------------------------------------------------------------------
# 4. Two processes making the same dataset at once
# ------------------------------------------------------------------------------------------

def _race_twin(parent, barrier, queue):
    barrier.wait()
    try:
        queue.put(str(datasets.ensure_twin("utkface", root=parent, **SMALL["utkface"])))
    except BaseException as err:  # noqa: BLE001 - reported to the parent process
        queue.put(f"ERROR {type(err).__name__}: {err}")


def test_two_processes_writing_the_same_twin_both_succeed(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race_twin, args=(tmp_path, barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert results[0] == results[1] and not results[0].startswith("ERROR"), results
    assert [p.name for p in tmp_path.iterdir()] == [Path(results[0]).name]  # no temporary left
    assert len(datasets.load("utkface", results[0], cache=False)) == 11


def test_twin_finished_by_another_process_before_the_rename_is_success(tmp_path, monkeypatch):
    spec, other = datasets.get("utkface"), tmp_path / "other"
    target = datasets.ensure_twin("utkface", root=other, **SMALL["utkface"])
    parent = tmp_path / "twins"

    def racing(root, **settings):
        spec.write_twin(root, **settings)
        shutil.copytree(target, parent / target.name)  # the other process wins meanwhile
    monkeypatch.setitem(core.DATASETS, "utkface", replace(spec, write_twin=racing))
    got = datasets.ensure_twin("utkface", root=parent, **SMALL["utkface"])
    assert got == parent / target.name and [p.name for p in parent.iterdir()] == [target.name]


def test_synthface_set_finished_by_another_process_before_the_rename(tmp_path, monkeypatch):
    settings = dict(n=6, seed=1, size=48, n_raters=3)
    done = synth_dataset.ensure_dataset(**settings, root=tmp_path / "other")
    root, real = tmp_path / "synth", synth_dataset.factor_table

    def racing(params):
        shutil.copytree(done, root / done.name)      # the other worker finishes first
        return real(params)
    monkeypatch.setattr(synth_dataset, "factor_table", racing)
    got = synth_dataset.ensure_dataset(**settings, root=root)
    assert got == root / done.name and [p.name for p in root.iterdir()] == [done.name]
    assert len(synth_dataset.load_dataset(got)) == 6


# ------------------------------------------------------------------------------------------
# 5. TFD: the 48-px file, the identity leak as a problem with a switch, v7.3 and empty files
# ------------------------------------------------------------------------------------------

def test_data_check_checks_every_tfd_file_or_the_size_asked(copy, capsys):
    root = copy("tfd")
    status, out, _ = check(capsys, "tfd", root)
    assert status == 0 and "(96 px file): OK" in out and "(48 px file): OK" in out
    assert "tfd: 35 images of 48x48" in out
    (root / "TFD_96x96.mat").unlink()
    status, out, _ = check(capsys, "tfd", root)
    assert status == 0 and out.rstrip().endswith("(48 px file): OK")
    status, _, err = check(capsys, "tfd", root, "--size", "96")
    assert status == 1 and "TFD_96x96.mat not found" in err
    status, _, err = check(capsys, "kdef", root, "--size", "48")
    assert status == 2 and "apply to --dataset tfd only" in err


def _leak(root):
    for size in (48, 96):
        mat = scipy.io.loadmat(root / f"TFD_{size}x{size}.mat")
        mat["folds"][2, 0] = 1                        # identity 1: tested and trained on in fold 0
        scipy.io.savemat(root / f"TFD_{size}x{size}.mat", {k: mat[k] for k in datasets.tfd.FIELDS})


def test_tfd_identity_leak_is_a_problem_of_the_copy_with_a_switch(copy, capsys):
    root = copy("tfd")
    _leak(root)
    with pytest.raises(datasets.SubjectLeakError, match=r"a problem of this copy's 'folds' field; "
                                                        r"to proceed anyway .*allow_identity_leak=True"):
        datasets.load("tfd", root, cache=False)
    ds = datasets.load("tfd", root, allow_identity_leak=True, cache=False)
    assert len(ds) == 35 and "1 (test: TFD_96x96.mat row 0, train: TFD_96x96.mat row 2)" in \
        ds.notes["identity_leaks"][0]
    status, out, err = check(capsys, "tfd", root, "--size", "96")
    assert status == 1 and "FAILED: SubjectLeakError" in err and "--allow-identity-leak" in err
    status, out, _ = check(capsys, "tfd", root, "--allow-identity-leak")
    assert status == 0 and "OK; identity leak allowed by --allow-identity-leak" in out
    assert "identity leaks: 1 (TFD: split scheme 'tfd_folds', split 0" in out
    # the profile switch reaches the loader
    p = dict(load_profile("ci")["data_formats"], tfd_size=96)
    assert datasets.load_options(p)["tfd"]["allow_identity_leak"] is False
    p["tfd_allow_identity_leak"] = True
    ds = datasets.load("tfd", root, cache=False, **datasets.load_options(p)["tfd"])
    assert ds.notes["identity_leaks"]


def test_tfd_v73_empty_and_truncated_mat_files_are_one_line_errors(copy, capsys):
    root = copy("tfd")
    mat = root / "TFD_96x96.mat"
    header = (b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 "
              b"HDF5 schema 1.00 .").ljust(116) + bytes(8) + b"\x00\x02IM"
    mat.write_bytes(header + bytes(384) + b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(datasets.UnreadableFileError,
                       match=r"TFD_96x96.mat was saved as MATLAB v7.3 \(HDF5\).*re-save it .*-v7"):
        datasets.load("tfd", root, cache=False)
    mat.write_bytes(b"")
    with pytest.raises(datasets.UnreadableFileError, match=r"TFD_96x96.mat is an empty file "
                                                           r"\(0 bytes\): the download or copy"):
        datasets.load("tfd", root, cache=False)
    status, _, err = check(capsys, "tfd", root, "--size", "96")
    assert status == 1 and "empty file (0 bytes)" in err and len(err.strip().splitlines()) == 1
    shutil.copy(root / "TFD_48x48.mat", mat)
    mat.write_bytes(mat.read_bytes()[:100])
    with pytest.raises(datasets.UnreadableFileError, match="TFD_96x96.mat.*truncated"):
        datasets.load("tfd", root, cache=False)


# ------------------------------------------------------------------------------------------
# 6. Errors instead of tracebacks
# ------------------------------------------------------------------------------------------

def test_empty_kdef_folder_and_angles_matching_nothing(copy, tmp_path, capsys):
    (tmp_path / "empty" / "KDEF").mkdir(parents=True)
    with pytest.raises(datasets.IncompleteDatasetError,
                       match=r"KDEF: no image to load in .*KDEF: no file named "
                             r"<ID><EX><ANGLE>.JPG .*the folder is empty"):
        datasets.load("kdef", tmp_path / "empty", cache=False)
    status, _, err = check(capsys, "kdef", tmp_path / "empty")
    assert status == 1 and "KeyError" not in err and "FAILED: IncompleteDatasetError" in err
    root = copy("kdef")
    for jpg in (root / "KDEF").rglob("*S.JPG"):
        jpg.unlink()
    with pytest.raises(datasets.IncompleteDatasetError, match=r"none of its 112 image\(s\) has "
                                                              r"angle\(s\) S"):
        datasets.load("kdef", root, angles=("S",), cache=False)


def test_utkface_with_fewer_images_than_folds(copy, capsys):
    root = copy("utkface")
    for jpg in sorted((root / "UTKFace").iterdir())[3:]:
        jpg.unlink()
    with pytest.raises(datasets.IncompleteDatasetError,
                       match=r"only 3 well-named image\(s\) in .*UTKFace, fewer than the 5 folds "
                             r"\(n_folds=5\): the copy looks incomplete"):
        datasets.load("utkface", root, cache=False)
    assert len(datasets.load("utkface", root, n_folds=3, cache=False)) == 3
    status, _, err = check(capsys, "utkface", root)
    assert status == 1 and "ValueError" not in err and "fewer than the 5 folds" in err


def test_unreadable_folder_is_one_error_naming_it(copy, monkeypatch, capsys):
    root = copy("kdef")
    locked, listdir = root / "KDEF" / "AF01", Path.iterdir

    def iterdir(self):
        if self == locked:  # what chmod 000 does for a user other than root
            raise PermissionError(13, "Permission denied", str(self))
        return listdir(self)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(datasets.UnreadableFileError,
                       match=rf"cannot list folder {locked}: permission denied"):
        datasets.load("kdef", root, cache=False)
    status, _, err = check(capsys, "kdef", root)
    assert status == 1 and "FAILED: UnreadableFileError" in err and str(locked) in err


def test_permission_error_anywhere_in_a_loader_is_a_dataset_error(copy, monkeypatch):
    root = copy("kdef")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(root / "KDEF" / "AM01" / "AM01AFS.JPG"))
    monkeypatch.setattr(datasets.kdef, "_build", refuse)
    with pytest.raises(datasets.UnreadableFileError,
                       match=r"KDEF: cannot read .*AM01AFS.JPG: permission denied"):
        datasets.load("kdef", root, cache=False)


def _permissions_enforced(tmp_path) -> bool:
    """False where a chmod-000 folder can still be listed (root, or CAP_DAC_OVERRIDE)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0)
    try:
        os.listdir(probe)
        return False
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)


def test_really_unreadable_folder(copy, tmp_path):
    if os.name != "posix" or not _permissions_enforced(tmp_path):
        pytest.skip("this user reads a chmod-000 folder anyway (root): simulated above")
    root = copy("utkface")
    (root / "UTKFace").chmod(0)
    try:
        with pytest.raises(datasets.UnreadableFileError, match="permission denied"):
            datasets.load("utkface", root, cache=False)
    finally:
        (root / "UTKFace").chmod(0o755)


def test_read_only_data_folder_when_data_must_be_created(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FACEXAI_DATA", str(tmp_path / "data"))

    def refuse(*args, **kwargs):  # a read-only folder, also when the tests run as root
        raise PermissionError(13, "Permission denied", kwargs.get("dir"))
    monkeypatch.setattr(paths.tempfile, "mkdtemp", refuse)
    with pytest.raises(datasets.NotWritableError,
                       match=rf"cannot write the UTKFace twin: cannot write in {tmp_path}/data/twins: "
                             rf"permission denied; it is under \$FACEXAI_DATA \({tmp_path}/data\): "
                             r"set FACEXAI_DATA to a writable folder"):
        datasets.ensure_twin("utkface", **SMALL["utkface"])

    def no_render(*args, **kwargs):
        raise AssertionError("rendered before finding the folder read-only")
    monkeypatch.setattr(synth_dataset, "render_batch", no_render)
    with pytest.raises(paths.NotWritableError, match=r"SynthFace dataset: .*FACEXAI_DATA"):
        synth_dataset.ensure_dataset(6, 1, 48)
    assert main(["data", "twins", "--profile", "ci"]) == 2
    err = capsys.readouterr().err
    assert "set FACEXAI_DATA to a writable folder" in err and len(err.strip().splitlines()) == 1


def test_really_read_only_data_folder(tmp_path, monkeypatch):
    if os.name != "posix" or not _permissions_enforced(tmp_path):
        pytest.skip("this user writes into a read-only folder anyway (root): simulated above")
    (tmp_path / "data").mkdir()
    (tmp_path / "data").chmod(0o555)
    monkeypatch.setenv("FACEXAI_DATA", str(tmp_path / "data"))
    try:
        with pytest.raises(datasets.NotWritableError, match="FACEXAI_DATA"):
            datasets.ensure_twin("utkface", **SMALL["utkface"])
    finally:
        (tmp_path / "data").chmod(0o755)


# ------------------------------------------------------------------------------------------
# 11. Minor: system files, 10k sheet cells and headers, file modes, stale temporaries, cache
# ------------------------------------------------------------------------------------------

def test_system_files_are_not_data(copy, capsys):
    root = copy("kdef")
    for folder in (root / "KDEF", root / "KDEF" / "AF01"):
        for name in ("Thumbs.db", "desktop.ini", ".DS_Store"):
            (folder / name).write_bytes(b"\x00junk")
    (root / "KDEF" / "__MACOSX").mkdir()
    (root / "KDEF" / "__MACOSX" / "._AF01AFS.JPG").write_bytes(b"\x00")
    ds = datasets.load("kdef", root, cache=False)
    assert ds.skipped == [] and len(ds) == 140
    status, out, _ = check(capsys, "kdef", root)
    assert status == 0 and out.rstrip().endswith(": OK")


def _edit_workbook(root, edit):
    path = root / datasets.tenk.WORKBOOK
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(path)


def _column(ws, name):
    return [c.value for c in ws[1]].index(name) + 1


def test_10k_sd_cells_are_checked(copy):
    root = copy("tenk")

    def spoil(wb):
        ws = wb["StDev Values"]
        ws.cell(4, _column(ws, "happy"), "oops")      # row 4 = image 3
        ws.cell(6, _column(ws, "calm"), -3)
    _edit_workbook(root, spoil)
    with pytest.raises(datasets.LabelError) as err:
        datasets.load("tenk", root, cache=False)
    text = str(err.value)
    assert "2 standard deviation value(s) of sheet 'StDev Values' are not numbers in [0, 8]" in text
    assert "'StDev Values' row 4, Image # 3, column 'happy' ('oops')" in text
    assert "'StDev Values' row 6, Image # 5, column 'calm' (-3" in text


def test_10k_duplicate_column_header_is_an_error(copy):
    root = copy("tenk")

    def duplicate(wb):
        ws = wb["Final Values"]
        ws.cell(1, _column(ws, "calm"), "happy")
    _edit_workbook(root, duplicate)
    with pytest.raises(datasets.SchemaError,
                       match=r"psychology-attributes.xlsx, sheet 'Final Values': duplicate column "
                             r"header\(s\) 'happy' \(columns [A-Z]+ and [A-Z]+\)"):
        datasets.load("tenk", root, cache=False)


def test_10k_filename_column_of_the_real_sheets_is_expected(copy):
    root = copy("tenk")
    wb = openpyxl.load_workbook(root / datasets.tenk.WORKBOOK, read_only=True)
    assert [c.value for c in next(wb["Final Values"].iter_rows(max_row=1))][:2] == \
        ["Image #", "Filename"]                      # as the real sheets (papers.md)
    wb.close()
    _edit_workbook(root, lambda wb: wb["All Data"].cell(1, _column(wb["All Data"], "happy"), "Hapy"))
    with pytest.raises(datasets.SchemaError) as err:
        datasets.load("tenk", root, cache=False)
    text = str(err.value)
    assert "missing column(s) happy" in text and "(unexpected: Hapy)" in text


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_outputs_honour_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        paths.write_text_atomic(tmp_path / "out.json", "{}")
        assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~mask
        with paths.atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "inside.txt").write_text("x")
        assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~mask
    finally:
        os.umask(old)


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_writes_are_cleaned_by_the_next_write(tmp_path):
    host, dead, live = paths._host(), _dead_pid(), os.getpid()
    names = {
        "dead file": f".out.json.facexai-tmp-{host}-{dead}-abcdefgh.json",
        "dead folder": f".utk-1234.facexai-tmp-{host}-{dead}-abcdefgh",
        "live file": f".out.json.facexai-tmp-{host}-{live}-abcdefgh.json",
        "old unmarked": ".out.json.k3j_9x0a.json",
        "recent unmarked": ".out.json.zzzzzzzz.json",
        "not ours": ".keep",
    }
    for what, name in names.items():
        path = tmp_path / name
        path.mkdir() if "folder" in what else path.write_text("partial")
    stale = time.time() - paths.STALE_AFTER_S - 60
    os.utime(tmp_path / names["old unmarked"], (stale, stale))
    paths.write_text_atomic(tmp_path / "out.json", "{}")
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {"out.json", names["live file"], names["recent unmarked"], names["not ours"]}

    parent = tmp_path / "twins"
    parent.mkdir()
    killed = parent / f".utkface-0.facexai-tmp-{host}-{dead}-abcdefgh"
    (killed / "UTKFace").mkdir(parents=True)
    datasets.ensure_twin("utkface", root=parent, **SMALL["utkface"])
    assert not killed.exists() and len(list(parent.iterdir())) == 1


def _same(a, b):
    """Every field of two FaceDatasets equal, dtypes included (the notes but the cache's)."""
    assert (a.key, a.target, a.classes, a.files, a.root, a.skipped) == \
        (b.key, b.target, b.classes, b.files, b.root, b.skipped)
    for name in ("images", "subjects", "landmarks"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
    for name in ("labels", "aus", "au_intensity"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None)
        if x is not None:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
    assert list(a.splits) == list(b.splits)
    for k in a.splits:
        s, t = a.splits[k], b.splits[k]
        assert (s.name, s.description) == (t.name, t.description)
        assert np.array_equal(s.roles, t.roles) and s.roles.dtype == t.roles.dtype
        assert (s.groups is None and t.groups is None) or np.array_equal(s.groups, t.groups)
    strip = lambda n: {k: v for k, v in n.items() if not k.startswith("cache")}  # noqa: E731
    assert strip(a.notes) == strip(b.notes)


@pytest.mark.parametrize("key", datasets.TWIN_KEYS)
def test_dataset_cache_is_pickle_free_and_round_trips_exactly(twins, tmp_path, key):
    options = {"crop": None, "size": 48} if key == "ckplus" else {}
    built = datasets.load(key, twins[key], cache=tmp_path, **options)
    hit = datasets.load(key, twins[key], cache=tmp_path, **options)
    assert (built.notes["cache"], hit.notes["cache"]) == ("built", "hit")
    _same(built, hit)
    _same(built, datasets.load(key, twins[key], cache=False, **options))
    entries = list((tmp_path / "datasets").iterdir())
    assert [p.suffix for p in entries] == [".npz"]
    with np.load(entries[0], allow_pickle=False) as z:   # no object array anywhere
        assert all(z[name].dtype != object for name in z.files)
    entries[0].write_bytes(b"PK\x03\x04 damaged")           # a damaged entry is rebuilt
    assert datasets.load(key, twins[key], cache=tmp_path, **options).notes["cache"] == "built"


def test_dataset_cache_round_trips_text_objects_nan_and_skipped_files(tmp_path):
    from facexai.datasets import store
    labels = pd.DataFrame({"n": np.array([1, 2], np.int16), "f": [0.5, np.nan],
                           "obj": pd.Series(["a", None], dtype=object),
                           "s": pd.Series(["x", np.nan], dtype="str"), "b": [True, False]},
                          index=pd.Index([7, 9], name="image"))
    ds = core.FaceDataset(
        key="demo", images=np.zeros((2, 3, 3), np.uint8), labels=labels, target=None, classes=None,
        subjects=np.array(["p", "q"]), files=("a.png", "b.png"),
        splits={"k": core.SplitScheme("k", np.array([[1], [3]]), "d", np.array([0, 1]))},
        root=tmp_path, landmarks=np.full((2, 68, 2), np.nan, np.float32),
        skipped=[core.Skipped("c.png", "truncated")], notes={"missed": ["a.png"], "n": 3})
    store.write(ds, tmp_path / "entry.npz")
    _same(ds, store.read(tmp_path / "entry.npz"))


def test_read_only_cache_folder_leaves_the_cache_off(twins, monkeypatch):
    def refuse(target, suffix=None):
        raise paths.NotWritableError(f"cannot write in {Path(target).parent}: permission denied")
    monkeypatch.setattr(paths, "atomic_path", refuse)
    with pytest.warns(UserWarning, match="dataset cache not written"):
        ds = datasets.load("utkface", twins["utkface"], cache=twins["utkface"].parent / "c")
    assert len(ds) == 11 and ds.notes["cache"].startswith("off (cannot write in")
