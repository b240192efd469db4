"""The networks of the study, by registry key: paper 2's zero-bias CNN, paper 3's VGG16, paper 1's
age / gender network, a tiny test CNN.

Every model is a plain ``torch.nn.Module`` made of *module* layers only (every ReLU and pooling step is
its own module instance, never a functional call and never shared): LRP rules, Grad-CAM layers and
receptive-field arithmetic all address layers by module, so a hidden ``F.relu`` would silently escape
them.

==================  ==========================================================================
key                 factory
==================  ==========================================================================
``zero_bias_cnn``   :func:`zero_bias_cnn` (Khorrami, Paine & Huang 2015, from the authors' code)
``vgg16``           :func:`vgg16` (torchvision VGG16, last layer replaced; Xiao 2024)
``levi_hassner``    :func:`levi_hassner` (Levi & Hassner 2015's age / gender network; paper 1)
``tiny_cnn``        :func:`tiny_cnn` (two small convolutions; for tests and examples)
==================  ==========================================================================
"""
from __future__ import annotations

import difflib
import math
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from .preprocess import local_normalise


def _check_positive(name: str, value) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def zero_bias_cnn(n_outputs: int = 8, *, input_size: int = 96, in_channels: int = 1,
                  widths: Sequence[int] = (64, 128, 256), hidden: int = 300, dropout: float = 0.0,
                  init: str = "paper", init_scale: float = 0.7) -> nn.Sequential:
    """The zero-bias CNN of Khorrami et al. (2015), layer for layer as in the authors' ``model.py``.

    ``conv 5x5 (no bias, pad 2) -> ReLU -> max-pool 2/2`` twice (64, 128 filters), ``conv3`` (256
    filters, no bias) -> ReLU, then a *quadrant* max-pool (kernel = stride = half the last map's
    side, 12x12 at 96 px, giving 2x2x256 = 1024 features), ``[dropout] -> dense 300 (with bias) ->
    ReLU -> dense n_outputs``. The
    softmax of the paper is left to the loss (``nn.CrossEntropyLoss``), so the model returns logits.

    Parameters
    ----------
    n_outputs : int
        8 (CK+ with neutral and contempt), 6 (CK+ six-class), 7 (TFD), or 1 for a regression.
    input_size : int
        Side of the square input; a multiple of 8 (two 2x2 pools, then the quadrant split).
    in_channels : int
        1 for the grayscale faces of the paper.
    widths : three ints
        Filters of conv1-3; ``(64, 128, 256)`` in the paper. Narrower versions train in seconds on a
        CPU (the Methods chapter uses one), with the same layer structure.
    hidden : int
        Units of the dense layer (300 in the paper).
    dropout : float
        Dropout probability on the dense layer's *input* (the paper's "d" variants use 0.5).
    init : {"paper", "torch"}
        ``"paper"``: Gaussian weights with std ``init_scale / sqrt(fan_in)``, dense bias 1.0, output
        bias 0, as in the authors' code (which draws ``init_scale`` from U(0.2, 1.2) unseeded once per
        run; here it is a fixed argument). ``"torch"``: PyTorch's default initialisation.
    init_scale : float
        The ``k`` of the paper's initialisation.
    """
    n_outputs = _check_positive("n_outputs", n_outputs)
    input_size = _check_positive("input_size", input_size)
    if input_size % 8:
        raise ValueError(f"input_size must be a multiple of 8 (two 2x2 pools and a quadrant "
                         f"split), got {input_size}")
    if len(widths) != 3:
        raise ValueError(f"widths must give three numbers of filters, got {widths!r}")
    w1, w2, w3 = (_check_positive("widths", w) for w in widths)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    quadrant = input_size // 8
    model = nn.Sequential()
    model.add_module("conv1", nn.Conv2d(in_channels, w1, 5, padding=2, bias=False))
    model.add_module("relu1", nn.ReLU())
    model.add_module("pool1", nn.MaxPool2d(2, 2))
    model.add_module("conv2", nn.Conv2d(w1, w2, 5, padding=2, bias=False))
    model.add_module("relu2", nn.ReLU())
    model.add_module("pool2", nn.MaxPool2d(2, 2))
    model.add_module("conv3", nn.Conv2d(w2, w3, 5, padding=2, bias=False))
    model.add_module("relu3", nn.ReLU())
    model.add_module("pool3", nn.MaxPool2d(quadrant, quadrant))
    model.add_module("flatten", nn.Flatten())
    model.add_module("dropout", nn.Dropout(dropout))
    model.add_module("fc4", nn.Linear(4 * w3, _check_positive("hidden", hidden)))
    model.add_module("relu4", nn.ReLU())
    model.add_module("output", nn.Linear(hidden, n_outputs))
    if init == "paper":
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    fan_in = m.weight[0].numel()
                    m.weight.normal_(0.0, init_scale / math.sqrt(fan_in))
            model.fc4.bias.fill_(1.0)
            model.output.bias.zero_()
    elif init != "torch":
        raise ValueError(f"unknown init {init!r}; choose 'paper' or 'torch'")
    return model


def vgg16(n_outputs: int = 1, *, weights: str = "none", batch_norm: bool = False,
          dropout: float = 0.5, width: int = 64) -> nn.Module:
    """torchvision's VGG16 with its last layer replaced by ``Linear(4096, n_outputs)`` (Xiao 2024).

    Parameters
    ----------
    n_outputs : int
        1 for paper 3's attribute regression.
    weights : str
        ``"none"`` (random initialisation), ``"imagenet"`` (torchvision's ImageNet weights, downloaded
        by torchvision: needs a network connection or torchvision's cache), or the path of a local
        file holding a ``state_dict`` (loaded with ``torch.load(weights_only=True)``): either
        ImageNet weights (1000 outputs, loaded before the last layer is replaced) or a fine-tuned
        model with ``n_outputs`` outputs (loaded after).
    batch_norm : bool
        ``vgg16_bn`` instead of ``vgg16`` (LRP then needs the VGG canonizer; :mod:`facexai.explain`
        applies it).
    dropout : float
        Dropout of the classifier (0.5 in torchvision and paper 3).
    width : int
        Channels of the first convolution block (64 in torchvision). Other widths scale every
        layer alike (blocks ``width``, 2, 4, 8, 8 x ``width``; dense layers 64 x ``width`` units)
        and keep torchvision's 13 conv + 3 dense structure and module names (``features.30`` is
        still the last max-pool); only ``weights="none"`` or a matching local file then apply.
    """
    import torchvision

    n_outputs = _check_positive("n_outputs", n_outputs)
    width = _check_positive("width", width)
    if width != 64:
        if weights == "imagenet":
            raise ValueError(f"weights='imagenet' needs width=64 (torchvision's VGG16), got width={width}")
        from torchvision.models.vgg import VGG, make_layers

        cfg = [v if v == "M" else v * width // 64 for v in
               (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")]
        hidden = 64 * width
        features = make_layers(cfg, batch_norm=batch_norm)
        # torchvision's VGG always builds (and initialises) its 4096-wide ImageNet classifier, 120 M
        # weights and about 2 s of random numbers, which this model replaces at once: build the
        # shell on the meta device, where that costs nothing, then put in the real layers.
        with torch.device("meta"):
            model = VGG(nn.Identity(), dropout=dropout, init_weights=False)
        model.features = features
        model.classifier = nn.Sequential(
            nn.Linear(8 * width * 7 * 7, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, n_outputs))
        for m in model.modules():   # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)
        if weights != "none":
            path = Path(weights).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"weights={weights!r}: no such file (use 'none' or the path "
                                        "of a state_dict file)")
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        return model
    factory = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
    state = None
    if weights == "none":
        model = factory(weights=None, dropout=dropout)
    elif weights == "imagenet":
        enum = (torchvision.models.VGG16_BN_Weights if batch_norm
                else torchvision.models.VGG16_Weights).IMAGENET1K_V1
        model = factory(weights=enum, dropout=dropout)
    else:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights={weights!r}: no such file (use 'none', 'imagenet' or "
                                    "the path of a state_dict file)")
        model = factory(weights=None, dropout=dropout)
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        if state["classifier.6.weight"].shape[0] == 1000:
            model.load_state_dict(state)
            state = None
    model.classifier[6] = nn.Linear(4096, n_outputs)
    if state is not None:
        model.load_state_dict(state)
    return model


def levi_hassner(n_outputs: int = 8, *, input_size: int = 227, in_channels: int = 3,
                 widths: Sequence[int] = (96, 256, 384), hidden: int = 512, stride: int = 4,
                 lrn: bool = True, dropout: float = 0.5) -> nn.Sequential:
    """The age / gender network of Levi & Hassner (2015), the plausible base model of paper 1.

    From their Caffe definitions: ``conv1`` 7x7 stride 4 (96 filters) -> ReLU -> max-pool 3/2 ->
    LRN(5, alpha 1e-4, beta 0.75); ``conv2`` 5x5 pad 2 (256) -> ReLU -> max-pool 3/2 -> LRN;
    ``conv3`` 3x3 pad 1 (384) -> ReLU -> max-pool 3/2; ``fc6`` 512 -> ReLU -> dropout 0.5; ``fc7``
    512 -> ReLU -> dropout 0.5; ``fc8`` n_outputs (8 age groups or 2 genders; softmax left to the
    loss). Pools round up as Caffe's do, so 227 px gives 7 x 7 x 384 features before ``fc6``.

    Parameters
    ----------
    n_outputs : int
        8 (Adience age groups), 2 (gender), or the number of regressed attributes.
    input_size, in_channels : int
        227 and 3 (RGB) in the paper; smaller inputs work as long as a cell survives ``pool3``.
    widths : three ints
        Filters of conv1-3, ``(96, 256, 384)`` in the paper; narrower versions keep the structure.
    hidden : int
        Units of ``fc6`` and ``fc7`` (512).
    stride : int
        Stride of ``conv1`` (4; a smaller input keeps more of its cells with 2).
    lrn : bool
        The two local response normalisations (LRP passes relevance through them unchanged, as
        the LRP toolbox does).
    dropout : float
        Dropout after ``fc6`` and ``fc7`` (0.5).
    """
    n_outputs = _check_positive("n_outputs", n_outputs)
    size = _check_positive("input_size", input_size)
    stride = _check_positive("stride", stride)
    if len(widths) != 3:
        raise ValueError(f"widths must give three numbers of filters, got {widths!r}")
    w1, w2, w3 = (_check_positive("widths", w) for w in widths)
    hidden = _check_positive("hidden", hidden)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    side = (size - 7) // stride + 1 if size >= 7 else 0
    for _ in range(3):
        side = math.ceil((side - 3) / 2) + 1 if side >= 3 else 0
    if side < 1:
        raise ValueError(f"input_size={input_size} with stride={stride} leaves no cell after "
                         "pool3; use a larger input or stride=2")
    layers: list[tuple[str, nn.Module]] = []
    for k, (cin, cout, kernel, pad, s) in enumerate(
            ((in_channels, w1, 7, 0, stride), (w1, w2, 5, 2, 1), (w2, w3, 3, 1, 1)), start=1):
        layers += [(f"conv{k}", nn.Conv2d(cin, cout, kernel, stride=s, padding=pad)),
                   (f"relu{k}", nn.ReLU()), (f"pool{k}", nn.MaxPool2d(3, 2, ceil_mode=True))]
        if lrn and k < 3:
            layers.append((f"norm{k}", nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75)))
    layers += [("flatten", nn.Flatten()), ("fc6", nn.Linear(w3 * side * side, hidden)),
               ("relu6", nn.ReLU()), ("drop6", nn.Dropout(dropout)), ("fc7", nn.Linear(hidden, hidden)),
               ("relu7", nn.ReLU()), ("drop7", nn.Dropout(dropout)),
               ("fc8", nn.Linear(hidden, n_outputs))]
    return nn.Sequential(OrderedDict(layers))


def tiny_cnn(n_outputs: int = 3, *, in_channels: int = 1, input_size: int = 16, width: int = 4,
             bias: bool = True) -> nn.Sequential:
    """Two 3x3 convolutions with ReLU and max-pooling, then a dense layer: for tests.

    ``bias=False`` gives a bias-free ReLU network, on which LRP-epsilon conserves relevance exactly
    (up to epsilon), the identity the tests check.
    """
    if input_size % 4:
        raise ValueError(f"input_size must be a multiple of 4, got {input_size}")
    side = input_size // 4
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * side * side, 8 * width, bias=bias), nn.ReLU(),
        nn.Linear(8 * width, n_outputs, bias=bias),
    )


#: Model factories by key; parameters and sweeps name them.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "zero_bias_cnn": zero_bias_cnn, "vgg16": vgg16, "levi_hassner": levi_hassner,
    "tiny_cnn": tiny_cnn,
}


def build_model(key: str, **kwargs) -> nn.Module:
    """The model of registry key ``key`` (see :data:`MODELS`); a ValueError names an unknown key."""
    if key not in MODELS:
        near = difflib.get_close_matches(str(key), list(MODELS), n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise ValueError(f"unknown model {key!r}{hint}; known models: {', '.join(MODELS)}")
    return MODELS[key](**kwargs)


def local_mean_subtraction(x: torch.Tensor, size: int = 5) -> torch.Tensor:
    """Subtract each pixel's ``size`` x ``size`` neighbourhood mean, per image, the window at the
    border averaging over the pixels inside the image only: what the authors' input normaliser
    (anna's ``Normer3``) effectively does under Python 2, where its division by ``std ** (1/2)``
    is a division by 1 (see papers.md), except at the border, where anna averages over zero
    padding (:func:`facexai.preprocess.local_normalise`, the paper-2 chapter's exact port).
    """
    return local_normalise(x, size, 0.0, zero_padding=False)


def khorrami_input(images) -> torch.Tensor:
    """Paper 2's input scaling of uint8 images ``(N, H, W)`` or ``(N, 1, H, W)``: ``x / 255 * 2``
    (range [0, 2]) followed by :func:`local_mean_subtraction`; returns ``(N, 1, H, W)`` float32."""
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim == 3:
        x = x[:, None]
    return local_mean_subtraction(x / 255.0 * 2.0)


def last_maxpool(model: nn.Module) -> str:
    """Dotted name of the last ``nn.MaxPool2d`` of ``model``: VGG16's ``features.30`` (paper 3's
    Grad-CAM layer; ``features.43`` with batch normalisation), ``pool3`` of the zero-bias CNN."""
    names = [name for name, m in model.named_modules() if isinstance(m, nn.MaxPool2d)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no max-pooling layer")
    return names[-1]
