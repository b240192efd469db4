"""The models of the study: paper 2's architecture layer for layer, VGG16's factory, the registry."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from facexai.models import (build_model, khorrami_input, last_maxpool, local_mean_subtraction,
                            tiny_cnn, vgg16, zero_bias_cnn)


def test_zero_bias_cnn_is_the_papers_architecture():
    m = zero_bias_cnn(8)                                   # paper defaults, 96 px
    convs = [l for l in m if isinstance(l, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256]
    assert all(c.bias is None and c.kernel_size == (5, 5) and c.padding == (2, 2) for c in convs)
    assert m.pool3.kernel_size == 12 and m.pool3.stride == 12          # quadrant pooling
    assert m.fc4.in_features == 2 * 2 * 256 and m.fc4.out_features == 300
    assert m.fc4.bias is not None and torch.all(m.fc4.bias == 1.0)       # init of the code
    assert torch.all(m.output.bias == 0) and m.output.out_features == 8
    x = torch.zeros(2, 1, 96, 96)
    assert m(x).shape == (2, 8)
    # shapes through the network: 96 -> 48 -> 24 -> 2x2 quadrants
    assert m[:9](x).shape == (2, 256, 2, 2)


def test_zero_bias_cnn_options_and_errors():
    m = zero_bias_cnn(6, input_size=64, widths=(8, 16, 32), hidden=20, dropout=0.5)
    assert m(torch.zeros(1, 1, 64, 64)).shape == (1, 6) and m.dropout.p == 0.5
    with pytest.raises(ValueError, match="multiple of 8"):
        zero_bias_cnn(input_size=90)
    with pytest.raises(ValueError, match="unknown init"):
        zero_bias_cnn(init="xavier")


def test_vgg16_factory_replaces_the_last_layer_and_loads_local_weights(tmp_path):
    m = vgg16(1, weights="none")
    assert m.classifier[6].out_features == 1
    assert m(torch.zeros(1, 3, 64, 64)).shape == (1, 1)
    path = tmp_path / "finetuned.pt"
    torch.save(m.state_dict(), path)
    again = vgg16(1, weights=str(path))
    for (k, a), b in zip(m.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k
    with pytest.raises(FileNotFoundError, match="no such file"):
        vgg16(weights=str(tmp_path / "missing.pt"))


def test_a_narrow_vgg16_is_torchvisions_vgg_with_its_classifier_replaced():
    """The narrow VGG16 is built without torchvision's 120-M-weight ImageNet classifier; it must
    match the straightforward construction: same modules and shapes, torchvision's initialisation
    everywhere (not the same numbers: the skipped classifier no longer draws from the generator),
    nothing left on the meta device."""
    from torchvision.models.vgg import VGG, make_layers

    for bn in (False, True):
        torch.manual_seed(3)
        m = vgg16(5, width=8, batch_norm=bn, dropout=0.0)
        torch.manual_seed(3)
        cfg = [v if v == "M" else v * 8 // 64 for v in
               (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")]
        ref = VGG(make_layers(cfg, batch_norm=bn), dropout=0.0)        # torchvision's own init
        ref.classifier = nn.Sequential(nn.Linear(64 * 49, 512), nn.ReLU(True), nn.Dropout(0.0),
                                       nn.Linear(512, 512), nn.ReLU(True), nn.Dropout(0.0),
                                       nn.Linear(512, 5))
        assert [(k, v.shape) for k, v in m.state_dict().items()] == \
            [(k, v.shape) for k, v in ref.state_dict().items()]
        assert not any(t.is_meta for t in list(m.parameters()) + list(m.buffers()))
        for mine, theirs in zip(m.features, ref.features):
            if isinstance(mine, nn.Conv2d):      # kaiming normal, fan_out: sd sqrt(2 / (9 c_out))
                sd = (2 / (9 * mine.out_channels)) ** 0.5
                assert abs(mine.weight.std().item() / sd - 1) < 0.25 and mine.bias.abs().max() == 0
                assert abs(theirs.weight.std().item() / sd - 1) < 0.25
            elif isinstance(mine, nn.BatchNorm2d):
                assert (mine.weight == 1).all() and (mine.bias == 0).all()
                assert (mine.running_var == 1).all() and (mine.running_mean == 0).all()
        for layer in (m.classifier[0], m.classifier[3], m.classifier[6]):
            assert layer.bias.abs().max() == 0 and abs(layer.weight.std().item() - 0.01) < 0.002
        assert m(torch.zeros(2, 3, 64, 64)).shape == (2, 5)


def test_registry_names_an_unknown_model():
    assert isinstance(build_model("tiny_cnn", n_outputs=2), nn.Module)
    with pytest.raises(ValueError, match="unknown model 'vgg61'.*did you mean 'vgg16'"):
        build_model("vgg61")


def test_local_mean_subtraction_removes_constant_images_and_keeps_edges():
    flat = torch.full((1, 1, 12, 12), 3.0)
    assert torch.allclose(local_mean_subtraction(flat), torch.zeros_like(flat))
    x = khorrami_input(torch.randint(0, 255, (2, 16, 16), dtype=torch.uint8).numpy())
    assert x.shape == (2, 1, 16, 16) and x.dtype == torch.float32


def test_last_maxpool_names_the_last_pooling_module():
    for model in (vgg16(2, width=8), vgg16(2, width=8, batch_norm=True), zero_bias_cnn(),
                  nn.Sequential(nn.Conv2d(1, 1, 1), nn.MaxPool2d(2), tiny_cnn())):
        order = list(dict(model.named_modules()).items())
        name = last_maxpool(model)
        at = [n for n, _ in order].index(name)
        assert isinstance(order[at][1], nn.MaxPool2d)
        assert not any(isinstance(m, nn.MaxPool2d) for _, m in order[at + 1:])
    assert last_maxpool(vgg16(1, width=8)) == "features.30"   # torchvision's VGG16 layer list
    with pytest.raises(ValueError, match="no max-pooling"):
        last_maxpool(nn.Linear(2, 2))
