"""State-dict names, shapes and parameter counts of the official networks (UPSTREAM.md section 2.8)."""

from __future__ import annotations

import pytest
import torch

from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan2.config import StyleGAN2DiscriminatorConfig, StyleGAN2GeneratorConfig
from ganforge.plugins.stylegan2.networks import build_discriminator, build_generator


def _shapes(module: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def g1024():
    """cfg stylegan2 at 1024x1024 (built once; about 120 MB)."""
    return _shapes_and_count(build_generator(StyleGAN2GeneratorConfig(), DataInfo(1024, 3, 0)))


@pytest.fixture(scope="module")
def d1024():
    return _shapes_and_count(build_discriminator(StyleGAN2DiscriminatorConfig(), DataInfo(1024, 3, 0)))


def _shapes_and_count(module):
    out = (_shapes(module), sum(p.numel() for p in module.parameters()), module)
    return out


def test_generator_1024_parameter_count(g1024):
    assert g1024[1] == 30_370_060


def test_discriminator_1024_parameter_count(d1024):
    assert d1024[1] == 29_012_513


def test_generator_1024_names_and_shapes(g1024):
    shapes = g1024[0]
    want = {
        "mapping.w_avg": (512,), "synthesis.b4.const": (512, 4, 4), "synthesis.b4.resample_filter": (4, 4),
        "synthesis.b4.conv1.weight": (512, 512, 3, 3), "synthesis.b4.conv1.noise_strength": (),
        "synthesis.b4.conv1.bias": (512,), "synthesis.b4.conv1.resample_filter": (4, 4),
        "synthesis.b4.conv1.noise_const": (4, 4), "synthesis.b4.conv1.affine.weight": (512, 512),
        "synthesis.b4.conv1.affine.bias": (512,), "synthesis.b4.torgb.weight": (3, 512, 1, 1),
        "synthesis.b4.torgb.bias": (3,), "synthesis.b4.torgb.affine.weight": (512, 512),
        "synthesis.b4.torgb.affine.bias": (512,), "synthesis.b1024.conv0.weight": (32, 64, 3, 3),
        "synthesis.b1024.conv0.noise_const": (1024, 1024),
    }
    want.update({f"mapping.fc{i}.weight": (512, 512) for i in range(8)})
    want.update({f"mapping.fc{i}.bias": (512,) for i in range(8)})
    for key, shape in want.items():
        assert shapes.get(key) == shape, key
    res = [2 ** i for i in range(3, 11)]
    for r in res:
        for part in ("resample_filter", "conv0.weight", "conv0.noise_strength", "conv0.bias", "conv0.resample_filter",
                     "conv0.noise_const", "conv0.affine.weight", "conv0.affine.bias", "conv1.weight",
                     "conv1.noise_const", "torgb.weight", "torgb.bias", "torgb.affine.weight", "torgb.affine.bias"):
            assert f"synthesis.b{r}.{part}" in shapes, (r, part)
    blocks = {k.split(".")[1] for k in shapes if k.startswith("synthesis.")}
    assert blocks == {f"b{r}" for r in [4] + res}
    # nothing beyond the official names: w_avg, 16 mapping tensors, b4 (13), 8 blocks of 1 + 7 + 7 + 4
    assert len(shapes) == 1 + 16 + 13 + 8 * 19
    assert g1024[2].num_ws == 18


def test_discriminator_1024_names_and_shapes(d1024):
    shapes = d1024[0]
    for key, shape in {"b1024.resample_filter": (4, 4), "b1024.fromrgb.weight": (32, 3, 1, 1),
                       "b1024.fromrgb.bias": (32,), "b1024.fromrgb.resample_filter": (4, 4),
                       "b1024.conv0.weight": (32, 32, 3, 3), "b1024.conv1.weight": (64, 32, 3, 3),
                       "b1024.skip.weight": (64, 32, 1, 1), "b1024.skip.resample_filter": (4, 4),
                       "b4.conv.weight": (512, 513, 3, 3), "b4.fc.weight": (512, 8192),
                       "b4.out.weight": (1, 512), "b4.out.bias": (1,)}.items():
        assert shapes.get(key) == shape, key
    assert "b1024.skip.bias" not in shapes and "b512.fromrgb.weight" not in shapes
    assert {k.split(".")[0] for k in shapes} == {f"b{2 ** i}" for i in range(2, 11)}


def test_conditional_names():
    G = build_generator(StyleGAN2GeneratorConfig(cbase=1024, cmax=32), DataInfo(16, 3, 10))
    shapes = _shapes(G)
    assert shapes["mapping.embed.weight"] == (512, 10) and shapes["mapping.embed.bias"] == (512,)
    assert shapes["mapping.fc0.weight"] == (512, 1024)
    D = build_discriminator(StyleGAN2DiscriminatorConfig(cbase=1024, cmax=32), DataInfo(16, 3, 10))
    dshapes = _shapes(D)
    assert dshapes["mapping.embed.weight"] == (32, 10) and dshapes["b4.out.weight"] == (32, 32)
    assert {f"mapping.fc{i}.weight" for i in range(8)} <= set(dshapes) and "mapping.w_avg" not in dshapes
    D5 = build_discriminator(StyleGAN2DiscriminatorConfig(cbase=1024, cmax=32, cmap_dim=7, map_depth=2),
                             DataInfo(16, 3, 10))
    assert _shapes(D5)["b4.out.weight"] == (7, 32) and "mapping.fc2.weight" not in _shapes(D5)


@pytest.mark.parametrize("res, num_ws", [(4, 2), (8, 4), (32, 8), (256, 14)])
def test_num_ws(res, num_ws):
    G = build_generator(StyleGAN2GeneratorConfig(cbase=256, cmax=8, z_dim=8, w_dim=8, map_depth=1), DataInfo(res, 3))
    assert G.num_ws == num_ws == 2 * res.bit_length() - 4
    assert G(torch.randn(1, 8), None).shape == (1, 3, res, res)
