"""The layer schedule and naming against the official networks' facts (UPSTREAM.md section 2.9)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan3.config import StyleGAN3RConfig, StyleGAN3TConfig
from ganforge.plugins.stylegan3.generator import build_generator
from ganforge.plugins.stylegan3.schedule import layer_padding, layer_schedule, resampling


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Layer names of the official networks (read from their state dicts), by (config, resolution, cbase).
T1024 = ("L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_148_512 L6_148_512 L7_276_323 L8_276_203 "
         "L9_532_128 L10_1044_81 L11_1044_51 L12_1044_32 L13_1024_32 L14_1024_3")
R1024 = ("L0_36_1024 L1_36_1024 L2_52_1024 L3_52_1024 L4_84_1024 L5_148_1024 L6_148_1024 L7_276_645 "
         "L8_276_406 L9_532_256 L10_1044_161 L11_1044_102 L12_1044_64 L13_1024_64 L14_1024_3")
T512 = ("L0_36_512 L1_36_512 L2_52_512 L3_52_512 L4_84_512 L5_84_512 L6_148_512 L7_148_483 L8_276_323 "
        "L9_276_215 L10_532_144 L11_532_96 L12_532_64 L13_512_64 L14_512_3")
R512_TAIL = "L7_148_967 L8_276_645 L9_276_431 L10_532_287 L11_532_192 L12_532_128 L13_512_128 L14_512_3"
T256_CB16K = ("L0_36_512 L1_36_512 L2_36_512 L3_52_512 L4_52_512 L5_84_512 L6_84_512 L7_148_362 L8_148_256 "
              "L9_148_181 L10_276_128 L11_276_91 L12_276_64 L13_256_64 L14_256_3")
R256_CB16K_TAIL = "L7_148_724 L8_148_512 L9_148_362 L10_276_256 L11_276_181 L12_276_128 L13_256_128 L14_256_3"
T256_DEFAULT_TAIL = "L9_148_362 L10_276_256 L11_276_181 L12_276_128 L13_256_128"


def names(cfg, res):
    _, layers = layer_schedule(res, 3, cfg.channel_base, cfg.channel_max)
    return [layer.name for layer in layers]


@pytest.mark.parametrize(("cfg", "res", "expected"), [
    (StyleGAN3TConfig(), 1024, T1024),
    (StyleGAN3RConfig(), 1024, R1024),
    (StyleGAN3TConfig(), 512, T512),
    (StyleGAN3TConfig(channel_base=16384), 256, T256_CB16K),
])
def test_full_name_lists(cfg, res, expected):
    assert names(cfg, res) == expected.split()


@pytest.mark.parametrize(("cfg", "res", "tail"), [
    (StyleGAN3RConfig(), 512, R512_TAIL),
    # the paper's --cbase=16384 ablation; R doubles it
    (StyleGAN3RConfig(channel_base=32768), 256, R256_CB16K_TAIL),
])
def test_name_list_tails(cfg, res, tail):
    got = names(cfg, res)
    assert got[-len(tail.split()):] == tail.split()


def test_default_cbase_256_names():
    got = names(StyleGAN3TConfig(), 256)
    assert got[9:14] == T256_DEFAULT_TAIL.split()


def test_t1024_parameters_buffers_and_filters():
    torch.manual_seed(0)
    G = build_generator(StyleGAN3TConfig(), DataInfo(1024))
    assert sum(p.numel() for p in G.parameters()) == 22_313_167
    assert G.num_ws == G.synthesis.num_ws == G.mapping.num_ws == 16
    assert G.synthesis.layer_names == T1024.split()
    sd = G.state_dict()
    shapes = {k: tuple(v.shape) for k, v in sd.items()}
    assert {k: v for k, v in shapes.items() if k.startswith("synthesis.input.")} == {
        "synthesis.input.weight": (512, 512), "synthesis.input.transform": (3, 3),
        "synthesis.input.freqs": (512, 2), "synthesis.input.phases": (512,),
        "synthesis.input.affine.weight": (4, 512), "synthesis.input.affine.bias": (4,)}
    assert {k for k in shapes if k.startswith("mapping.")} == {
        "mapping.w_avg", "mapping.fc0.weight", "mapping.fc0.bias", "mapping.fc1.weight", "mapping.fc1.bias"}
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        keys = {k.split(".", 2)[2] for k in shapes if k.startswith(f"synthesis.{name}.")}
        expected = {"weight", "bias", "magnitude_ema", "affine.weight", "affine.bias"}
        if layer.is_torgb:
            assert keys == expected  # ToRGB: no filters (identity)
            continue
        assert keys == expected | {"up_filter", "down_filter"}
        assert shapes[f"synthesis.{name}.up_filter"] == ({2: (12,), 4: (24,)}[layer.up_factor])
        assert shapes[f"synthesis.{name}.down_filter"] == (12,)
        assert shapes[f"synthesis.{name}.weight"][2:] == (3, 3)
        assert float(sd[f"synthesis.{name}.magnitude_ema"]) == 1.0
    assert shapes["synthesis.L13_1024_32.weight"] == (32, 32, 3, 3)
    assert shapes["synthesis.L14_1024_3.weight"] == (3, 32, 1, 1)


def test_r1024_radial_filters_and_1x1_convs():
    G = build_generator(StyleGAN3RConfig(), DataInfo(1024))
    assert G.synthesis.layer_names == R1024.split()
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        if layer.is_torgb:
            assert layer.up_filter is None and layer.down_filter is None
            continue
        assert layer.weight.shape[2:] == (1, 1)
        want = (12,) if layer.is_critically_sampled else (12, 12)
        assert tuple(layer.down_filter.shape) == want, name
        assert layer.up_filter.ndim == 1
    assert [n for n in G.synthesis.layer_names if getattr(G.synthesis, n).is_critically_sampled] == \
        ["L12_1044_64", "L13_1024_64", "L14_1024_3"]


def test_schedule_formulas_independently():
    # f_c, f_t, s, f_h of the paper's figure 4b, recomputed from the definitions at 512
    inp, layers = layer_schedule(512, 3)
    res, n, crit = 512, 14, 2
    for layer in layers:
        e = min(layer.index / (n - crit), 1)
        fc = 2 * (res / 2 / 2) ** e
        ft = 2 ** 2.1 * (res / 2 * 2 ** 0.3 / 2 ** 2.1) ** e
        s = 2 ** int(np.ceil(np.log2(min(2 * ft, res))))
        assert layer.out_cutoff == pytest.approx(fc) and layer.out_sampling_rate == s
        assert layer.out_half_width == pytest.approx(max(ft, s / 2) - fc)
        assert layer.out_size == (res if layer.index >= n - 1 else s + 20)
        assert layer.is_critically_sampled == (layer.index >= n - crit)
        assert layer.use_fp16 == (s * 16 > res)
    assert (inp.channels, inp.size, inp.sampling_rate, inp.bandwidth) == (512, 36, 16, 2)
    assert layers[-1].out_cutoff == 256 and layers[-1].out_sampling_rate == 512  # last layers: Nyquist
    for prev, layer in itertools.pairwise(layers):
        assert (layer.in_size, layer.in_channels, layer.in_cutoff) == (prev.out_size, prev.out_channels,
                                                                       prev.out_cutoff)


@pytest.mark.parametrize("cfg", [StyleGAN3TConfig(), StyleGAN3RConfig()])
@pytest.mark.parametrize("res", [256, 1024])
def test_padding_gives_the_output_size(cfg, res):
    # filtered_lrelu's output size (ops formula) after the k-full convolution must be the layer's out_size
    _, layers = layer_schedule(res, 3, cfg.channel_base, cfg.channel_max)
    for layer in layers:
        k = 1 if layer.is_torgb else cfg.conv_kernel
        tmp, up, fu, down, fd = resampling(layer.in_sampling_rate, layer.out_sampling_rate, layer.is_torgb)
        assert tmp == max(layer.in_sampling_rate, layer.out_sampling_rate) * (1 if layer.is_torgb else 2)
        x0, x1, y0, y1 = layer_padding(layer.in_size, layer.out_size, k, up, down, fu, fd)
        assert (x0, x1) == (y0, y1)
        size = ((layer.in_size + k - 1) * up + x0 + x1 - (fu - 1) - (fd - 1) + (down - 1)) // down
        assert size == layer.out_size, layer.name


@pytest.mark.parametrize("kernel", [1, 3])
def test_padding_keeps_sample_positions_symmetric(kernel):
    # Appendix C.3: samples sit symmetrically about the centre, so a point-symmetric input (and a
    # point-symmetric kernel) gives a point-symmetric output in every layer; the swapped padding does not.
    from ganforge.plugins.stylegan3.synthesis import SynthesisLayer

    torch.manual_seed(0)
    _, layers = layer_schedule(64, 3, 512, 16)
    for spec in layers[:-1]:
        layer = SynthesisLayer(spec, 8, conv_kernel=kernel, use_radial_filters=kernel == 1)
        x = torch.randn(2, spec.in_channels, spec.in_size, spec.in_size)
        x = x + x.flip(2, 3)
        w = torch.randn(2, 8)
        with torch.no_grad():
            layer.weight.copy_(layer.weight + layer.weight.flip(2, 3))
            y = layer(x, w)
            assert (y - y.flip(2, 3)).abs().max() <= 1e-5 * y.abs().max(), spec.name
            x0, x1, y0, y1 = layer.padding
            if x0 != x1:
                layer.padding = [x1, x0, y1, y0]
                y = layer(x, w)
                assert (y - y.flip(2, 3)).abs().max() > 1e-3 * y.abs().max(), spec.name


def test_resampling_factors_and_taps():
    assert resampling(16, 16, False) == (32, 2, 12, 2, 12)
    assert resampling(16, 32, False) == (64, 4, 24, 2, 12)
    assert resampling(256, 256, True) == (256, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="integer multiples"):
        resampling(12, 32, False)
    with pytest.raises(ValueError, match="num_critical"):
        layer_schedule(256, 3, num_layers=2, num_critical=2)


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[3] / "benchmarks" / "ops.py"
    spec = importlib.util.spec_from_file_location("benchmark_ops", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_ops_benchmark_replays_the_plugins_layers():
    """benchmarks/ops.py times the filtered_lrelu calls our synthesis layers make, from our schedule."""
    from ganforge.ops import filtered_lrelu

    calls = _benchmark_module().sg3_schedule(res=16, channel_base=512, channel_max=16)
    G = build_generator(StyleGAN3TConfig(z_dim=8, w_dim=8, channel_base=512, channel_max=16),
                        DataInfo(resolution=16))
    layers = [getattr(G.synthesis, name) for name in G.synthesis.layer_names]
    assert [c["name"] for c in calls] == G.synthesis.layer_names
    for call, layer in zip(calls, layers, strict=True):
        assert call["up"] == layer.up_factor and call["down"] == layer.down_factor
        assert call["padding"] == layer.padding
        for ours, theirs in ((call["fu"], layer.up_filter), (call["fd"], layer.down_filter)):
            assert (ours is None and theirs is None) or torch.equal(ours, theirs)
        x = torch.randn(1, call["channels"], call["size"], call["size"])
        y = filtered_lrelu(x, call["fu"], call["fd"], torch.zeros(call["channels"]), up=call["up"],
                           down=call["down"], padding=call["padding"], gain=call["gain"], slope=call["slope"])
        assert y.shape[-2:] == (call["out_size"], call["out_size"]) == (layer.out_size, layer.out_size)
