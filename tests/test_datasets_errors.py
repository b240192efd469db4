"""Hand-made broken copies of the twins: every kind of bad input gives its own clear error."""
from __future__ import annotations

import shutil

import numpy as np
import openpyxl
import pytest
import scipy.io

from _twins import write_small_twins
from facexai import datasets
from facexai.datasets.core import SplitScheme, check_subject_independent


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_small_twins(tmp_path_factory.mktemp("twins"))


@pytest.fixture
def copy(twins, tmp_path):
    """``copy(key)``: a private copy of a twin to break."""
    def make(key):
        target = tmp_path / key
        shutil.copytree(twins[key], target)
        return target
    return make


# ------------------------------------------------------------------------------------------
# Missing data
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("key,shown", [("tenk", "psychology-attributes.xlsx"),
                                       ("kdef", "AF01AFS.JPG"), ("ckplus", "cohn-kanade-images/"),
                                       ("tfd", "TFD_96x96.mat"), ("utkface", "UTKFace/")])
def test_missing_folder_names_the_tree_and_where_to_ask(tmp_path, key, shown):
    with pytest.raises(datasets.DatasetNotFoundError) as err:
        datasets.load(key, tmp_path / "nowhere")
    text = str(err.value)
    assert str(tmp_path / "nowhere") in text and shown in text
    assert "never downloads" in text and datasets.get(key).request in text
    assert isinstance(err.value, FileNotFoundError)  # the CLI's generic handler catches it too


def test_missing_required_file_inside_an_existing_root(copy):
    root = copy("ckplus")
    shutil.rmtree(root / "Emotion")
    with pytest.raises(datasets.DatasetNotFoundError, match=r"Emotion.*not found"):
        datasets.load("ckplus", root, cache=False)


# ------------------------------------------------------------------------------------------
# Missing or renamed sheets, columns, fields
# ------------------------------------------------------------------------------------------

def _edit_workbook(root, edit):
    path = root / datasets.tenk.WORKBOOK
    wb = openpyxl.load_workbook(path)
    edit(wb)
    wb.save(path)


def test_missing_sheet_lists_missing_and_found(copy):
    root = copy("tenk")
    _edit_workbook(root, lambda wb: wb.remove(wb["StDev Values"]))
    with pytest.raises(datasets.SchemaError,
                       match=r"missing sheet\(s\) StDev Values; found sheets: All Data, Final Values"):
        datasets.load("tenk", root, cache=False)


def test_renamed_column_lists_missing_and_found(copy):
    root = copy("tenk")

    def rename(wb):
        ws = wb["Final Values"]
        col = [c.value for c in ws[1]].index("happy") + 1
        ws.cell(1, col).value = "Happy "
        ws.cell(1, 1).value = "Image"
    _edit_workbook(root, rename)
    with pytest.raises(datasets.SchemaError) as err:
        datasets.load("tenk", root, cache=False)
    text = str(err.value)
    assert "'Final Values': missing column(s) Image #, happy" in text
    assert "found columns: Image, Filename" in text and "unexpected: Image, Happy)" in text


def test_missing_mat_field_lists_missing_and_found(copy):
    root = copy("tfd")
    mat = scipy.io.loadmat(root / "TFD_96x96.mat")
    scipy.io.savemat(root / "TFD_96x96.mat", {k: mat[k] for k in ("images", "folds", "labs_ex")})
    with pytest.raises(datasets.SchemaError,
                       match=r"missing field\(s\) labs_id; found fields: folds, images, labs_ex"):
        datasets.load("tfd", root, cache=False)


def test_mat_field_of_the_wrong_shape(copy):
    root = copy("tfd")
    mat = scipy.io.loadmat(root / "TFD_96x96.mat")
    mat["folds"] = mat["folds"][:, :4]
    scipy.io.savemat(root / "TFD_96x96.mat", {k: mat[k] for k in datasets.tfd.FIELDS})
    with pytest.raises(datasets.SchemaError, match=r"'folds' has shape \(40, 4\), expected \(40, 5\)"):
        datasets.load("tfd", root, cache=False)


# ------------------------------------------------------------------------------------------
# Unreadable images: skipped and counted, or an error in strict mode
# ------------------------------------------------------------------------------------------

def test_truncated_image_is_skipped_by_default_and_stops_strict_mode(copy):
    root = copy("ckplus")
    png = root / "cohn-kanade-images" / "S010" / "001" / "S010_001_00000005.png"
    png.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    ds = datasets.load("ckplus", root, crop=None, size=32, cache=False)
    assert len(ds) == 23 and [s.path for s in ds.skipped] == [png.relative_to(root).as_posix()]
    assert "cohn-kanade-images/S010/001/S010_001_00000005.png" not in ds.files
    with pytest.raises(datasets.UnreadableFileError, match="S010_001_00000005.png"):
        datasets.load("ckplus", root, crop=None, size=32, strict=True, cache=False)


def test_corrupt_jpeg_and_missing_image_in_the_10k_twin(copy):
    root = copy("tenk")
    folder = root / "Face Annotations" / "Images and Annotations"
    (folder / "3.jpg").write_bytes(b"not a jpeg at all")
    (folder / "5.jpg").unlink()
    ds = datasets.load("tenk", root, cache=False)
    assert len(ds) == 10 and sorted(s.path.rsplit("/", 1)[1] for s in ds.skipped) == ["3.jpg", "5.jpg"]
    assert "cannot identify image file" in ds.skipped[0].reason
    # the paper-3 split is made on the sheet's rows: a skipped image moves no other one
    full = datasets.splits.paper3_scheme(12).roles
    assert np.array_equal(ds.splits["paper3"].roles, np.delete(full, [2, 4], axis=0))
    with pytest.raises(datasets.UnreadableFileError, match="3.jpg"):
        datasets.load("tenk", root, strict=True, cache=False)


# ------------------------------------------------------------------------------------------
# Labels outside the codes, duplicate ids, subject leaks
# ------------------------------------------------------------------------------------------

def test_out_of_range_ckplus_emotion_names_the_file(copy):
    root = copy("ckplus")
    emo = next((root / "Emotion" / "S010").rglob("*_emotion.txt"))
    emo.write_text("   9.0000000e+00\n")
    with pytest.raises(datasets.LabelError, match=rf"{emo.name}.*9\.0"):
        datasets.load("ckplus", root, cache=False)


def test_out_of_range_tfd_expression_and_10k_rating_and_utkface_age(copy):
    root = copy("tfd")
    mat = scipy.io.loadmat(root / "TFD_96x96.mat")
    mat["labs_ex"][4, 0] = 8
    scipy.io.savemat(root / "TFD_96x96.mat", {k: mat[k] for k in datasets.tfd.FIELDS})
    with pytest.raises(datasets.LabelError, match=r"TFD_96x96.mat row 4 \(8\)"):
        datasets.load("tfd", root, cache=False)

    root = copy("tenk")
    _edit_workbook(root, lambda wb: wb["Final Values"].cell(3, 3 + 27, 10.5))  # image 2, "happy"
    with pytest.raises(datasets.LabelError, match=r"Image # 2, column 'happy' \(10\.5\)"):
        datasets.load("tenk", root, cache=False)

    root = copy("utkface")
    first = sorted((root / "UTKFace").iterdir())[0]
    bad = first.with_name("200_" + first.name.split("_", 1)[1])
    first.rename(bad)
    with pytest.raises(datasets.LabelError, match=rf"age.*{bad.name}"):
        datasets.load("utkface", root, cache=False)


def test_duplicate_ids_are_named(copy):
    root = copy("tenk")
    _edit_workbook(root, lambda wb: wb["Final Values"].cell(4, 1, 1))
    with pytest.raises(datasets.DuplicateIdError, match=r"'Image #'.*1 \('Final Values' row 2 and "
                                                        r"'Final Values' row 4\)"):
        datasets.load("tenk", root, cache=False)

    root = copy("kdef")
    src = root / "KDEF" / "AF01" / "AF01ANS.JPG"
    shutil.copy(src, src.with_name("AF01ANS.jpg"))
    with pytest.raises(datasets.DuplicateIdError, match=r"AF01ANS.*AF01ANS.JPG and KDEF/AF01/AF01ANS.jpg"):
        datasets.load("kdef", root, cache=False)

    root = copy("ckplus")
    emo = next((root / "Emotion" / "S005" / "001").iterdir())
    shutil.copy(emo, emo.with_name("S005_001_00000004_emotion.txt"))
    with pytest.raises(datasets.DuplicateIdError, match=r"S005/001 holds 2 _emotion.txt files"):
        datasets.load("ckplus", root, cache=False)


def test_subject_in_two_roles_of_a_fold_is_a_leak(copy):
    root = copy("tfd")
    mat = scipy.io.loadmat(root / "TFD_96x96.mat")
    # identity 1 (rows 0-6) is in group 0: test in split 0; move one of its images to train
    assert (mat["folds"][:7, 0] == 3).all()
    mat["folds"][2, 0] = 1
    scipy.io.savemat(root / "TFD_96x96.mat", {k: mat[k] for k in datasets.tfd.FIELDS})
    with pytest.raises(datasets.SubjectLeakError) as err:
        datasets.load("tfd", root, cache=False)
    text = str(err.value)
    assert "split 0" in text and "1 subject(s)" in text and \
        "1 (test: TFD_96x96.mat row 0, train: TFD_96x96.mat row 2)" in text
    ds = datasets.load("tfd", root, check_leaks=False, cache=False)  # the escape hatch
    assert len(ds) == 35


def test_leak_check_names_subjects_across_folds():
    roles = np.array([[3], [1], [1], [1], [2], [2]], np.int8)   # subject A tested and trained on
    scheme = SplitScheme("s", roles, "")
    subjects = np.array(["A", "A", "B", "B", "C", "C"])
    files = [f"f{i}.png" for i in range(6)]
    with pytest.raises(datasets.SubjectLeakError, match=r"A \(train: f1.png, test: f0.png\)|"
                                                        r"A \(test: f0.png, train: f1.png\)"):
        check_subject_independent(scheme, subjects, files, "demo")
    check_subject_independent(scheme, subjects, files, "demo", unknown=("A",))  # not checked


def test_misplaced_kdef_image_is_skipped_or_strict_error(copy):
    root = copy("kdef")
    src = root / "KDEF" / "AF01" / "AF01HAS.JPG"
    src.rename(root / "KDEF" / "AM01" / "AF01HAS.JPG")
    ds = datasets.load("kdef", root, angles=("S",), cache=False)
    assert len(ds) == 27 and ds.skipped[0].reason == "image of AF01 in folder AM01"
    with pytest.raises(datasets.LayoutError, match="AM01/AF01HAS.JPG"):
        datasets.load("kdef", root, angles=("S",), strict=True, cache=False)
