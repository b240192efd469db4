"""Class activation maps of many outputs from one forward pass (facexai.explain.cam.CAM): equal to
the single-output Grad-CAM and to captum's LayerGradCam for every output and sign; a variant is one
override; hooks and model state are released; layer helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

from facexai.explain import Target, explain, hook_count, relevance_map
from facexai.explain.cam import (CAM, GradCAM, find_cam_layer, finer_layer, gradcam_outputs,
                                 layer_shape)
from facexai.models import tiny_cnn, vgg16


@pytest.fixture
def model():
    torch.manual_seed(0)
    return tiny_cnn(4, in_channels=3, input_size=16).double()


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.rand(5, 3, 16, 16, dtype=torch.float64)


class _Signed(nn.Module):
    """``sign * model(x)``: captum explains the model's output as it is, so the low direction of
    output i is captum's Grad-CAM of output i of the negated model."""

    def __init__(self, model, sign):
        super().__init__()
        self.model, self.sign = model, sign

    def forward(self, x):
        return self.sign * self.model(x)


@pytest.mark.parametrize("layer", ["1", "4"])
def test_every_output_and_sign_equals_the_single_output_gradcam_and_captum(model, x, layer):
    outputs, signs = [0, 2, 3], (1, -1)
    maps = GradCAM(model, layer, batch_size=2)(x, outputs, signs)
    assert set(maps) == {(i, s) for i in outputs for s in signs}
    for i in outputs:
        for s in signs:
            one = explain(model, x, Target.regression(sign=s, index=i), "gradcam", layer=layer)
            np.testing.assert_allclose(maps[i, s], relevance_map(one), rtol=1e-10, atol=1e-12)
            signed = _Signed(model, s)
            attr = LayerGradCam(signed, dict(signed.named_modules())[f"model.{layer}"]).attribute(
                x, i, relu_attributions=True)
            ref = LayerAttribution.interpolate(attr, (16, 16), "bilinear")[:, 0].detach().numpy()
            np.testing.assert_allclose(maps[i, s], ref, rtol=1e-9, atol=1e-12)
            assert maps[i, s].shape == (5, 16, 16) and maps[i, s].dtype == np.float64


def test_maps_do_not_depend_on_the_batch_size_and_hooks_and_state_are_restored(model, x):
    model.train()
    flags = [p.requires_grad for p in model.parameters()]
    whole = gradcam_outputs(model, x, [1], "4", signs=(1,), batch_size=len(x))
    parts = gradcam_outputs(model, x, [1], "4", signs=(1,), batch_size=2)
    np.testing.assert_array_equal(whole[1, 1], parts[1, 1])
    assert hook_count(model) == 0 and model.training
    assert [p.requires_grad for p in model.parameters()] == flags


def test_a_variant_is_one_override_of_the_weights(model, x):
    class ElementwiseCAM(CAM):   # HiResCAM: the gradient itself weighs each position
        def weights(self, grad, act):
            return grad

    maps = ElementwiseCAM(model, "4")(x, [2], (1, -1))
    # written out: the activation by a forward hook, its gradient by autograd
    seen = {}
    handle = model[4].register_forward_hook(lambda m, i, o: seen.update(a=o))
    try:
        out = model(x)
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(out[:, 2].sum(), seen["a"])
    for s in (1, -1):
        cam = torch.relu((s * grad * seen["a"]).sum(1, keepdim=True))
        ref = nn.functional.interpolate(cam, size=(16, 16), mode="bilinear", align_corners=False)
        np.testing.assert_allclose(maps[2, s], ref[:, 0].detach().numpy(), rtol=1e-10, atol=1e-13)
    with pytest.raises(NotImplementedError, match="weights"):
        CAM(model, "4")(x, [0])


def test_bad_signs_layers_and_inputs_are_named(model, x):
    with pytest.raises(ValueError, match="sign"):
        GradCAM(model, "4")(x, [0], (2,))
    with pytest.raises(ValueError, match="no \\(N, C, h, w\\) maps"):
        GradCAM(model, "7")(x, [0])            # the dense layer
    with pytest.raises(ValueError, match="unknown layer"):
        GradCAM(model, "conv9")
    with pytest.raises(ValueError, match="batch_size"):
        GradCAM(model, "4", batch_size=0)
    with pytest.raises(ValueError, match="tensor"):
        GradCAM(model, "4")(x[0], [0])
    assert hook_count(model) == 0


def test_default_layer_is_the_last_convolutions_relu(model):
    assert find_cam_layer(model, None)[0] == "4"
    assert find_cam_layer(model, "1") == ("1", model[1])


def test_finer_layer_of_vgg16_is_conv4_3():
    net = vgg16(40)
    assert finer_layer(net, "features.30") == "features.22"
    assert finer_layer(net, "features.29") == "features.22"
    assert isinstance(net.features[22], nn.ReLU) and isinstance(net.features[23], nn.MaxPool2d)
    with pytest.raises(ValueError, match="no pooling"):
        finer_layer(net, "features.3")


def test_layer_shape_of_vgg16_features_30_at_64_px():
    assert layer_shape(vgg16(2), torch.zeros(3, 3, 64, 64), "features.30") == (512, 2, 2)
