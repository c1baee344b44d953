"""FastGAN / FastGAN-lite generators: channel table, sizes against UPSTREAM.md and an independent
count, key names, skip-layer excitation, noise, conditioning, output shapes, contract checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from pydantic import Field

from ganforge.plugins.projected.config import FastGANConfig, FastGANLiteConfig
from ganforge.plugins.projected._layers import NoiseInjection
from ganforge.plugins.projected.fastgan import FastGANGenerator, SEBlock, fastgan_channels
from ganforge.testing import check_generator

# UPSTREAM.md §4.3: nfc[k] = int(mult[k] * ngf)
MULT = {2: 16, 4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}


def _expected_params(ngf: int, z_dim: int, res: int, channels: int, lite: bool) -> int:
    """Parameter count written from the architecture description, independently of the module."""
    nfc = {k: int(v * ngf) for k, v in MULT.items()}
    n = z_dim * 2 * nfc[4] * 16 + 2 * 2 * nfc[4]  # init: SN convT 4x4 (no bias) + BN
    r = 8
    while r <= res:
        cin, cout = nfc[r // 2], nfc[r]
        n += cin * 2 * cout * 9 + 2 * 2 * cout  # conv3x3 + BN
        if not lite:
            n += 1 + cout * 2 * cout * 9 + 1 + 2 * 2 * cout  # noise, second conv, noise, BN
        r *= 2
    for big, small in ((64, 4), (128, 8), (256, 16), (512, 32)):
        if big <= res:
            n += nfc[small] * nfc[big] * 16 + nfc[big] * nfc[big]  # SE: conv4x4 + conv1x1, no bias
    return n + nfc[res] * channels * 9 + channels  # to_big


def _meta_G(res=256, lite=False, ngf=128, c_dim=0):
    with torch.device("meta"):
        return FastGANGenerator(256, c_dim, res, 3, ngf=ngf, lite=lite)


def test_channel_table():
    assert fastgan_channels(128) == {2: 2048, 4: 2048, 8: 1024, 16: 512, 32: 256, 64: 256, 128: 128, 256: 64,
                                     512: 32, 1024: 16}


@pytest.mark.parametrize("lite, upstream_millions", [(False, 105.7), (True, 79.4)])
def test_size_at_256_matches_upstream(lite, upstream_millions):
    G = _meta_G(256, lite)
    n = sum(p.numel() for p in G.parameters())
    assert n == _expected_params(128, 256, 256, 3, lite)
    assert abs(n / 1e6 - upstream_millions) < 0.05


def test_state_names_as_upstream():
    sd = _meta_G(256, lite=False).state_dict()
    assert len(sd) == 138  # UPSTREAM.md (verified)
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert shapes["synthesis.init.init.0.weight_orig"] == (256, 4096, 4, 4)
    assert shapes["synthesis.init.init.1.running_var"] == (4096,)
    for key in ("synthesis.feat_8.1.weight_orig", "synthesis.feat_8.5.weight_orig",
                "synthesis.feat_8.2.weight", "synthesis.feat_8.6.weight", "synthesis.feat_8.3.running_mean",
                "synthesis.feat_8.7.weight", "synthesis.se_64.main.1.weight_orig",
                "synthesis.se_64.main.3.weight_u", "synthesis.to_big.bias", "synthesis.to_big.weight_v"):
        assert key in sd, key
    assert not any("feat_512" in k or "mapping" in k for k in sd)
    lite = _meta_G(256, lite=True).state_dict()
    assert "synthesis.feat_8.2.running_mean" in lite
    assert not any(k.endswith("feat_8.5.weight_orig") for k in lite)


@pytest.mark.parametrize("res", [64, 128, 512, 1024])
def test_sizes_follow_the_architecture_at_other_resolutions(res):
    for lite in (False, True):
        G = _meta_G(res, lite)
        assert sum(p.numel() for p in G.parameters()) == _expected_params(128, 256, res, 3, lite)
    assert hasattr(G.synthesis, "se_512") == (res >= 512) and not hasattr(G.synthesis, "se_1024")


@pytest.mark.parametrize("res", [8, 16, 32, 64, 128, 256, 512, 1024])
def test_output_shapes(res):
    torch.manual_seed(res)
    channels = 1 if res == 32 else 3
    G = FastGANGenerator(32, 0, res, channels, ngf=8, lite=res > 256).eval()
    with torch.no_grad():
        img = G(torch.randn(2, 32), torch.zeros(2, 0))
    assert img.shape == (2, channels, res, res) and torch.isfinite(img).all()


def test_skip_layer_excitation_gates_channels():
    torch.manual_seed(0)
    se = SEBlock(8, 6)
    small, big = torch.randn(3, 8, 8, 8, requires_grad=True), torch.randn(3, 6, 16, 16).abs() + 0.1
    out = se(small, big)
    gate = out / big
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-6)  # one gain per channel
    assert (gate > 0).all() and (gate < 1).all()
    assert not torch.allclose(se(small * 3, big), out)  # the gate is a function of the low-res feature
    out.sum().backward()
    assert small.grad.abs().sum() > 0


def test_noise_modes():
    torch.manual_seed(0)
    G = FastGANGenerator(16, 0, 16, 3, ngf=8, lite=False).eval()
    for name, p in G.named_parameters():
        if name.endswith(("feat_8.2.weight", "feat_8.6.weight", "feat_16.2.weight")):
            p.data.fill_(1.0)
    z = torch.randn(2, 16)
    with torch.no_grad():
        a, b = G(z, z[:, :0]), G(z, z[:, :0])
        c, d = G(z, z[:, :0], noise_mode="const"), G(z, z[:, :0], noise_mode="const")
    assert not torch.equal(a, b) and torch.equal(c, d)
    lite = FastGANGenerator(16, 0, 16, 3, ngf=8, lite=True)
    assert not any(isinstance(m, NoiseInjection) for m in lite.modules())


@pytest.mark.parametrize("lite", [False, True])
def test_conditional_variant(lite):
    torch.manual_seed(1)
    G = FastGANGenerator(16, 5, 32, 3, ngf=8, lite=lite).eval()
    assert G.synthesis.embed.weight.shape == (5, 16)  # one row per dataset class, not 1000
    keys = G.state_dict()
    if lite:
        assert "synthesis.feat_8.bn.gain.weight_orig" in keys and "synthesis.feat_8.bn.stored_mean" in keys
    else:
        assert {"synthesis.feat_32.conv2.weight_orig", "synthesis.feat_32.bn2.bias.weight_u",
                "synthesis.feat_32.noise.weight"} <= set(keys)
    z = torch.randn(1, 16).expand(5, -1)
    with torch.no_grad():
        img = G(z, torch.eye(5), noise_mode="const")
    assert len({tuple(i.flatten()[:32].tolist()) for i in img}) == 5  # the class changes the image


def _small(spec):
    base = spec.config

    class Small(base):  # type: ignore[misc, valid-type]
        ngf: int = Field(8, ge=1, description="narrow for a quick contract check")
        z_dim: int = Field(32, ge=1, description="short for a quick contract check")

    Small.__name__ = base.__name__
    return dataclasses.replace(spec, config=Small)


@pytest.mark.parametrize("name", ["fastgan", "fastgan-lite"])
def test_contract(name, toy_plugins):
    from ganforge.core.registry import get_registry

    spec = get_registry().get("generator", name)
    assert "mapping" not in spec.provides and spec.suggests == {"training": {"glr": 0.0002, "dlr": 0.0002}}
    assert spec.config().ngf == 128 and spec.config().z_dim == 256
    check_generator(_small(spec))


def test_configs_are_distinct_components():
    assert FastGANConfig().name == "fastgan" and FastGANLiteConfig().name == "fastgan-lite"
    G = FastGANGenerator(8, 0, 16, 3, ngf=8, lite=True)
    assert "lite=True" in repr(G.synthesis)


def test_truncation_is_refused_not_ignored():
    from ganforge.core.errors import ConfigError
    from ganforge.core.generate import synthesize

    G = FastGANGenerator(8, 0, 16, 3, ngf=8, lite=True).eval()
    z = torch.randn(2, 8)
    assert synthesize(G, z, z[:, :0]).shape[0] == 2
    with pytest.raises(ConfigError, match="truncation"):
        synthesize(G, z, z[:, :0], truncation_psi=0.7)
