"""Layers, Fourier-feature input, magnitude EMA, modulated convolution and the whole generator."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan3.config import StyleGAN3RConfig, StyleGAN3TConfig
from ganforge.plugins.stylegan3.generator import build_generator
from ganforge.plugins.stylegan3.layers import FullyConnectedLayer, MappingNetwork, stored_bias
from ganforge.plugins.stylegan3.synthesis import SynthesisInput, disc_frequencies, modulated_conv2d

SMALL = {"z_dim": 16, "w_dim": 16, "channel_base": 512, "channel_max": 16}


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_G(cfg_cls=StyleGAN3TConfig, res=16, c_dim=0, **kw):
    return build_generator(cfg_cls(**{**SMALL, **kw}), DataInfo(resolution=res, label_dim=c_dim))


# ------------------------------------------------------------------------------------------------
# Fully connected layer and mapping network
# ------------------------------------------------------------------------------------------------

def test_fully_connected_stores_the_bias_pre_divided():
    fc = FullyConnectedLayer(8, 4, lr_multiplier=0.01, weight_init=0, bias_init=[1, 0, 0, 0])
    assert torch.equal(fc.weight, torch.zeros(4, 8))
    assert torch.allclose(fc.bias, torch.tensor([100.0, 0, 0, 0]))  # bias_init / lr_multiplier
    out = fc(torch.randn(3, 8))
    assert torch.allclose(out, torch.tensor([[1.0, 0, 0, 0]]).expand(3, 4))


def test_fully_connected_runtime_gains_and_init_std():
    fc = FullyConnectedLayer(256, 512, lr_multiplier=0.01, weight_init=2.0, activation="lrelu")
    assert fc.weight.std().item() == pytest.approx(2.0 / 0.01, rel=0.05)
    x = torch.randn(5, 256)
    want = F.leaky_relu(x @ (fc.weight * 0.01 / 16).t() + fc.bias * 0.01, 0.2) * math.sqrt(2)
    assert torch.allclose(fc(x), want, atol=1e-5)
    assert "activation=lrelu" in repr(fc)


def test_mapping_normalises_truncates_and_tracks_w_avg():
    m = MappingNetwork(z_dim=8, c_dim=0, w_dim=6, num_ws=5, num_layers=2, w_avg_beta=0.9)
    z = torch.randn(4, 8)
    ws = m(z, None)
    assert ws.shape == (4, 5, 6) and torch.equal(ws[:, 0], ws[:, 4])
    assert torch.allclose(m(z * 7.0, None), ws, atol=1e-5)  # z is normalised by its 2nd moment
    assert torch.equal(m.w_avg, torch.zeros(6))  # no update without update_emas
    m(z, None, update_emas=True)
    assert torch.allclose(m.w_avg, ws[:, 0].mean(0) * 0.1, atol=1e-6)  # lerp(mean, w_avg=0, beta=0.9)
    t = m(z, None, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.allclose(t[:, :3], m.w_avg.lerp(ws[:, :3], 0.5), atol=1e-6)
    assert torch.allclose(t[:, 3:], ws[:, 3:])
    assert torch.allclose(m(z, None, truncation_psi=0), m.w_avg.expand(4, 5, 6))
    assert set(m.state_dict()) == {"w_avg", "fc0.weight", "fc0.bias", "fc1.weight", "fc1.bias"}


def test_conditional_mapping_embeds_labels():
    m = MappingNetwork(z_dim=8, c_dim=3, w_dim=6, num_ws=2)
    assert m.fc0.weight.shape == (6, 14) and m.embed.weight.shape == (6, 3)
    z = torch.randn(2, 8)
    assert not torch.allclose(m(z, torch.eye(3)[[0, 0]]), m(z, torch.eye(3)[[1, 1]]))
    with pytest.raises(ValueError, match=r"c must be \[N, 3\]"):
        m(z, None)

def test_stored_bias_is_the_runtime_bias_over_lr_multiplier():
    b = stored_bias([1, 0, 0.5, -2], 4, 0.01)
    assert b.dtype == torch.float32 and b.shape == (4,)
    torch.testing.assert_close(b * 0.01, torch.tensor([1, 0, 0.5, -2.0]))
    assert torch.equal(stored_bias(0.3, 3, 1.0), torch.full([3], 0.3))
    with pytest.raises(ValueError):
        stored_bias([1, 2], 3, 1.0)  # neither one value nor one per output


def test_mapping_is_built_from_stylegan3_layers():
    m = MappingNetwork(z_dim=8, c_dim=3, w_dim=6, num_ws=4, num_layers=3, lr_multiplier=0.1)
    layers = [m.embed, m.fc0, m.fc1, m.fc2]
    assert all(type(layer) is FullyConnectedLayer for layer in layers)
    assert [layer.activation for layer in layers] == ["linear", "lrelu", "lrelu", "lrelu"]
    assert m.fc0.weight.std().item() == pytest.approx(10.0, rel=0.3)  # weight_init / lr_multiplier
    assert set(m.state_dict()) == {"w_avg", "embed.weight", "embed.bias"} | {
        f"fc{i}.{p}" for i in range(3) for p in ("weight", "bias")}


# ------------------------------------------------------------------------------------------------
# Fourier-feature input
# ------------------------------------------------------------------------------------------------

def make_input(random_affine=False):
    inp = SynthesisInput(w_dim=8, channels=32, size=36, sampling_rate=16, bandwidth=2)
    if random_affine:  # a trained network rotates and translates by w
        with torch.no_grad():
            inp.affine.weight.normal_(0, 0.5)
    return inp


def test_input_frequencies_and_phases():
    inp = SynthesisInput(w_dim=8, channels=4096, size=36, sampling_rate=16, bandwidth=2)
    radii = inp.freqs.norm(dim=1)
    assert radii.max() <= 2 and radii.min() >= 0  # within the bandwidth
    # radius = bandwidth * exp(-r^2 / 4) with r ~ chi(2): P(radius < b/2) = P(r^2 > 4 ln 2) = 1/4
    assert (radii < 1).float().mean().item() == pytest.approx(0.25, abs=0.03)
    angles = torch.atan2(inp.freqs[:, 1], inp.freqs[:, 0])
    assert (angles > 0).float().mean().item() == pytest.approx(0.5, abs=0.04)  # directions are uniform
    assert inp.phases.min() >= -0.5 and inp.phases.max() < 0.5
    freqs, phases, amplitudes = inp.transformed_frequencies(torch.randn(3, 8))
    assert torch.allclose(freqs, inp.freqs.expand(3, -1, -1))
    assert torch.allclose(phases, inp.phases.expand(3, -1))
    assert torch.equal(amplitudes, torch.ones(3, 4096))  # identity: nothing damped
    assert torch.equal(inp.transform, torch.eye(3))


def test_input_damps_frequencies_pushed_out_of_band():
    inp = make_input()
    with torch.no_grad():
        inp.transform.copy_(torch.diag(torch.tensor([3.0, 3.0, 1.0])))  # zoom out: frequencies x3
    freqs, _, amplitudes = inp.transformed_frequencies(torch.randn(1, 8))
    radius = freqs.norm(dim=2)[0]
    want = (1 - (radius - 2) / (8 - 2)).clamp(0, 1)  # fades from the bandwidth (2) to Nyquist (8)
    assert torch.allclose(amplitudes[0], want)
    assert torch.all(amplitudes[0][radius >= 8] == 0) and torch.all(amplitudes[0][radius <= 2] == 1)


def test_disc_frequencies_by_hand():
    torch.manual_seed(5)
    g = torch.randn(64, 2)
    torch.manual_seed(5)
    f = disc_frequencies(64, 3.0)
    r2 = g.square().sum(1, keepdim=True)
    torch.testing.assert_close(f, g / r2.sqrt() * 3.0 * torch.exp(-r2 / 4))  # direction * b * sqrt(u)


def test_input_affine_rotates_frequencies_and_shifts_phases():
    inp = make_input()
    a, tx, ty = 0.7, 0.3, -0.2
    with torch.no_grad():  # runtime affine output = its bias: (2 cos a, 2 sin a, 2 tx, 2 ty)
        inp.affine.weight.zero_()
        inp.affine.bias.copy_(torch.tensor([2 * math.cos(a), 2 * math.sin(a), 2 * tx, 2 * ty]))
    freqs, phases, _ = inp.transformed_frequencies(torch.randn(2, 8))
    c, s = math.cos(a), math.sin(a)
    linear = torch.tensor([[c, -s], [s, c]])  # x -> R (x - t): the inverse rotation and translation
    offset = linear @ torch.tensor([-tx, -ty])
    torch.testing.assert_close(freqs[1], inp.freqs @ linear)
    torch.testing.assert_close(phases[1], inp.phases + inp.freqs @ offset)


@pytest.mark.parametrize("random_affine", [False, True])
@pytest.mark.parametrize("shift", [(3, 0), (0, -2), (1, 4)])
def test_input_translation_moves_features_by_whole_samples(random_affine, shift):
    inp = make_input(random_affine)
    w = torch.randn(2, 8)
    with torch.no_grad():
        x0 = inp(w)
        kx, ky = shift
        inp.transform[0, 2] = -kx / inp.sampling_rate  # the inverse transform, as gan generate writes it
        inp.transform[1, 2] = -ky / inp.sampling_rate
        x1 = inp(w)
    s = inp.size
    moved = x1[:, :, max(ky, 0):s + min(ky, 0), max(kx, 0):s + min(kx, 0)]
    source = x0[:, :, max(-ky, 0):s + min(-ky, 0), max(-kx, 0):s + min(-kx, 0)]
    assert torch.allclose(moved, source, atol=2e-4)
    assert not torch.allclose(x1, x0, atol=1e-2)


@pytest.mark.parametrize("random_affine", [False, True])
def test_input_rotation_rotates_features(random_affine):
    inp = make_input(random_affine)
    w = torch.randn(2, 8)
    with torch.no_grad():
        x0 = inp(w)
        a = math.pi / 2  # gen_images' matrix [[cos, sin], [-sin, cos]] of --rotate 90, inverted
        m = torch.tensor([[math.cos(a), math.sin(a), 0], [-math.sin(a), math.cos(a), 0], [0, 0, 1.0]])
        inp.transform.copy_(torch.linalg.inv(m))
        x1 = inp(w)
    # the sampling grid is symmetric about the centre, so a quarter turn maps samples onto samples
    assert torch.allclose(x1, torch.rot90(x0, 1, dims=(2, 3)), atol=2e-4)
    assert not torch.allclose(x1, x0, atol=1e-2)


# ------------------------------------------------------------------------------------------------
# Modulated convolution and magnitude EMA
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_matches_a_per_sample_reference(demodulate):
    x, w, s = torch.randn(3, 5, 9, 9), torch.randn(4, 5, 3, 3), torch.randn(3, 5)
    gain = torch.tensor(0.7)
    out_fused = modulated_conv2d(x, w, s, demodulate=demodulate, padding=2, input_gain=gain, fused=True)
    out_split = modulated_conv2d(x.contiguous(memory_format=torch.channels_last), w, s, demodulate=demodulate,
                                 padding=2, input_gain=gain, fused=False)
    wn = w / w.square().mean(dim=[1, 2, 3], keepdim=True).sqrt() if demodulate else w
    sn = s / s.square().mean().sqrt() if demodulate else s
    for n in range(3):
        wk = wn * sn[n].view(1, 5, 1, 1)
        if demodulate:
            wk = wk / (wk.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        want = F.conv2d(x[n:n + 1], wk * 0.7, padding=2)
        assert torch.allclose(out_fused[n:n + 1], want, atol=1e-4)
        assert torch.allclose(out_split[n:n + 1], want, atol=1e-4)
    assert out_fused.shape == (3, 4, 11, 11)
    assert out_split.is_contiguous(memory_format=torch.channels_last)


def test_magnitude_ema_updates_only_with_update_emas():
    G = small_G(magnitude_ema_beta=0.9)
    z = torch.randn(4, 16)
    emas = lambda: [float(getattr(G.synthesis, n).magnitude_ema) for n in G.synthesis.layer_names]  # noqa: E731
    G(z, None)
    assert emas() == [1.0] * len(G.synthesis.layer_names)
    with torch.no_grad():
        x_in = G.synthesis.input(G.mapping(z, None)[:, 0])
    G(z, None, update_emas=True)
    first = G.synthesis.L0_36_16.magnitude_ema
    assert float(first) == pytest.approx(float(x_in.square().mean().lerp(torch.tensor(1.0), 0.9)), rel=1e-5)
    assert all(v != 1.0 for v in emas())
    assert float(G.mapping.w_avg.abs().sum()) > 0


def test_magnitude_ema_normalises_the_input():
    G = small_G()
    layer = G.synthesis.L0_36_16
    x, w = torch.randn(2, 16, 36, 36), torch.randn(2, 16)
    with torch.no_grad():
        y1 = layer(x, w)
        layer.magnitude_ema.fill_(4.0)  # input gain 1/2
        y2 = layer(x * 2, w)
    assert torch.allclose(y1, y2, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# The generator
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cfg_cls", [StyleGAN3TConfig, StyleGAN3RConfig])
def test_generator_output_and_options(cfg_cls):
    G = small_G(cfg_cls, res=32).eval()
    z = torch.randn(2, 16)
    img = G(z, None)
    assert img.shape == (2, 3, 32, 32) and img.dtype == torch.float32 and img.is_contiguous()
    assert torch.isfinite(img).all() and 0 < img.abs().max() < 2
    assert torch.equal(G(z, None, noise_mode="random"), img)  # no noise inputs in StyleGAN3
    assert torch.equal(G(z, None, force_fp32=True), img)  # fp16 layers run in float32 on CPU
    assert any(getattr(G.synthesis, n).use_fp16 for n in G.synthesis.layer_names)
    flat = G(torch.randn(2, 16), None, truncation_psi=0)
    assert torch.allclose(flat[0], flat[1], atol=1e-5)  # every z maps to w_avg
    assert G(z[:1], None).shape == (1, 3, 32, 32)
    assert torch.allclose(G(z[:1], None), img[:1], atol=1e-5)  # samples do not interact
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(torch.randn(2, 3, 16))


def test_output_scale_and_conditioning():
    G = small_G(c_dim=3, output_scale=1.0).eval()
    z = torch.randn(2, 16)
    a, b = G(z, torch.eye(3)[[0, 0]]), G(z, torch.eye(3)[[1, 1]])
    assert not torch.allclose(a, b)
    with torch.no_grad():
        G.synthesis.output_scale = 0.25
    assert torch.allclose(G(z, torch.eye(3)[[0, 0]]), a * 0.25, atol=1e-6)


def test_gradients_reach_every_parameter():
    G = small_G(StyleGAN3RConfig, c_dim=2)
    img = G(torch.randn(2, 16), torch.eye(2))
    img.square().mean().backward()
    missing = [n for n, p in G.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_reprs_name_the_hyperparameters():
    G = small_G(StyleGAN3RConfig)
    text = repr(G)
    for needle in ("num_ws=16", "sampling_rate=16", "bandwidth=2", "radial=True", "conv_kernel=1",
                   "is_critically_sampled=True", "num_critical=2", "w_avg_beta=0.998"):
        assert needle in text, needle


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cfg_cls", [StyleGAN3TConfig, StyleGAN3RConfig])
def test_fp16_layers_on_cuda_match_float32(cfg_cls):
    G = small_G(cfg_cls, res=64).eval().cuda()
    z = torch.randn(4, 16, device="cuda")
    fp16, fp32 = G(z, None), G(z, None, force_fp32=True)
    assert fp16.dtype == torch.float32 and torch.isfinite(fp16).all()
    assert (fp16 - fp32).abs().max() < 0.05 * fp32.abs().max()
    assert torch.allclose(G.cpu()(z.cpu(), None), fp32.cpu(), atol=1e-4)  # fused (CUDA) == split (CPU)
