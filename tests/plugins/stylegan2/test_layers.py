"""Each StyleGAN2 layer against expectations derived by hand from the paper / upstream definitions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.nn.conv2d_layer import Conv2dLayer
from ganforge.nn.fully_connected import FullyConnectedLayer
from ganforge.nn.mapping import MappingNetwork, normalize_2nd_moment
from ganforge.nn.stylegan2_discriminator import DiscriminatorEpilogue, StyleGAN2Discriminator
from ganforge.nn.stylegan2_synthesis import SynthesisBlock, SynthesisLayer, SynthesisNetwork, ToRGBLayer
from ganforge.ops import setup_filter, upsample2d
from tests.plugins.stylegan2.helpers import make_D, make_G, randomize

SQRT2 = math.sqrt(2)


def lrelu(x):
    return F.leaky_relu(x, 0.2) * SQRT2


# ---------------------------------------------------------------------------------------------
# Fully connected and mapping
# ---------------------------------------------------------------------------------------------


def test_fully_connected_equalized_lr_gains():
    torch.manual_seed(1)
    fc = FullyConnectedLayer(64, 8, lr_multiplier=0.01, bias_init=0.5)
    assert fc.weight.std().item() == pytest.approx(100, rel=0.1)  # init N(0, 1) / lr_multiplier
    assert torch.all(fc.bias == 0.5)  # stored bias is not divided (StyleGAN2 semantics)
    x = torch.randn(5, 64)
    want = x @ (fc.weight * 0.01 / 8).t() + fc.bias * 0.01
    torch.testing.assert_close(fc(x), want)
    act = FullyConnectedLayer(64, 8, activation="lrelu")
    torch.testing.assert_close(act(x), lrelu(x @ (act.weight / 8).t() + act.bias))


def test_fully_connected_frozen_is_buffers():
    fc = FullyConnectedLayer(4, 3, trainable=False)
    assert list(fc.parameters()) == [] and set(dict(fc.named_buffers())) == {"weight", "bias"}


def test_mapping_normalises_z_and_embeds_c():
    torch.manual_seed(2)
    m = MappingNetwork(z_dim=8, c_dim=3, w_dim=6, num_ws=5, num_layers=2)
    z, c = torch.randn(4, 8), torch.eye(3)[[0, 1, 2, 0]]
    w = m(z, c)
    assert w.shape == (4, 5, 6) and torch.equal(w[:, 0], w[:, 4])  # broadcast copies
    # normalising the second moment makes the mapping invariant to the scale of z and of the embedding
    torch.testing.assert_close(m(z * 7.5, c * 3.0), w, rtol=1e-5, atol=1e-5)
    x = torch.cat([normalize_2nd_moment(z), normalize_2nd_moment(m.embed(c))], dim=1)
    want = m.fc1(m.fc0(x))
    torch.testing.assert_close(w[:, 2], want)
    assert m.fc0.weight.shape == (6, 8 + 6)  # z and the w_dim-sized embedding concatenated


def test_normalize_2nd_moment_by_hand():
    x = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(normalize_2nd_moment(x), x / math.sqrt(12.5 + 1e-8))


def test_w_avg_tracking_only_with_update_emas():
    torch.manual_seed(3)
    m = MappingNetwork(z_dim=8, c_dim=0, w_dim=6, num_ws=2, num_layers=1, w_avg_beta=0.9)
    m.w_avg.copy_(torch.randn(6))
    before = m.w_avg.clone()
    z = torch.randn(10, 8)
    w = m(z, None)
    assert torch.equal(m.w_avg, before)
    m(z, None, update_emas=True)
    torch.testing.assert_close(m.w_avg, 0.9 * before + 0.1 * w[:, 0].mean(0))


def test_truncation_with_cutoff():
    torch.manual_seed(4)
    m = MappingNetwork(z_dim=8, c_dim=0, w_dim=6, num_ws=5, num_layers=2)
    m.w_avg.copy_(torch.randn(6))
    z = torch.randn(3, 8)
    w = m(z, None)
    torch.testing.assert_close(m(z, None, truncation_psi=0), m.w_avg.expand(3, 5, 6))
    half = m(z, None, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(half[:, :2], (w[:, :2] + m.w_avg) / 2)
    assert torch.equal(half[:, 2:], w[:, 2:])


def test_discriminator_style_mapping_has_no_w_avg():
    m = MappingNetwork(z_dim=0, c_dim=4, w_dim=6, num_ws=None, w_avg_beta=None)
    assert "w_avg" not in dict(m.named_buffers())
    assert m(None, torch.eye(4)).shape == (4, 6)
    with pytest.raises(ValueError, match="running mean"):
        m(None, torch.eye(4), truncation_psi=0.5)


# ---------------------------------------------------------------------------------------------
# Convolution layers
# ---------------------------------------------------------------------------------------------


def test_conv2d_layer_gain_activation_clamp():
    torch.manual_seed(5)
    conv = Conv2dLayer(4, 6, 3, activation="lrelu", conv_clamp=0.7)
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(2, 4, 8, 8)
    pre = F.conv2d(x, conv.weight / math.sqrt(4 * 9), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), lrelu(pre).clamp(-0.7, 0.7))
    torch.testing.assert_close(conv(x, gain=0.5), (lrelu(pre) * 0.5).clamp(-0.35, 0.35))


def test_conv2d_layer_frozen_keeps_names():
    frozen = Conv2dLayer(3, 4, 1, trainable=False)
    live = Conv2dLayer(3, 4, 1)
    assert list(frozen.parameters()) == []
    assert set(frozen.state_dict()) == set(live.state_dict()) == {"weight", "bias", "resample_filter"}


def _style_weight(layer, w):
    return layer.affine(w)  # [N, in]


def test_synthesis_layer_demodulation_by_hand():
    """1x1 modulated conv: y_o = sum_i W_oi s_i x_i / sqrt(sum_i (W_oi s_i)^2 + 1e-8), then noise, bias, lrelu."""
    torch.manual_seed(6)
    layer = SynthesisLayer(5, 3, w_dim=4, resolution=6, kernel_size=1, use_noise=False)
    randomize(layer)
    x, w = torch.randn(2, 5, 6, 6), torch.randn(2, 4)
    s = _style_weight(layer, w)
    wmod = layer.weight[:, :, 0, 0][None] * s[:, None, :]  # [N, O, I]
    d = (wmod.square().sum(2) + 1e-8).rsqrt()  # [N, O]
    want = torch.einsum("noi,nihw->nohw", wmod * d[:, :, None], x) + layer.bias[None, :, None, None]
    for fused in (True, False):
        torch.testing.assert_close(layer(x, w, fused_modconv=fused), lrelu(want), rtol=1e-4, atol=1e-5)


def test_synthesis_layer_demodulation_removes_weight_and_style_scale():
    torch.manual_seed(7)
    layer = randomize(SynthesisLayer(4, 4, w_dim=4, resolution=8, use_noise=False))
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 4)
    y = layer(x, w)
    with torch.no_grad():
        layer.weight.mul_(13.0)
        layer.affine.weight.mul_(3.0)
        layer.affine.bias.mul_(3.0)
    torch.testing.assert_close(layer(x, w), y, rtol=1e-4, atol=1e-5)


def test_noise_modes():
    torch.manual_seed(8)
    layer = randomize(SynthesisLayer(4, 4, w_dim=4, resolution=8, activation="linear"))
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 4)
    none = layer(x, w, noise_mode="none")
    const = layer(x, w, noise_mode="const")
    torch.testing.assert_close(const - none, (layer.noise_const * layer.noise_strength).expand_as(none),
                               rtol=1e-4, atol=1e-5)
    r1, r2 = layer(x, w, noise_mode="random"), layer(x, w, noise_mode="random")
    assert not torch.allclose(r1, r2)
    diff = r1 - none  # one noise map per sample, shared by the channels
    torch.testing.assert_close(diff, diff[:, :1].expand_as(diff), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        layer.noise_strength.zero_()
    torch.testing.assert_close(layer(x, w, noise_mode="random"), none)
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, w, noise_mode="loud")


def test_torgb_weight_gain_without_demodulation():
    torch.manual_seed(9)
    rgb = randomize(ToRGBLayer(6, 3, w_dim=4, conv_clamp=100))
    x, w = torch.randn(2, 6, 5, 5), torch.randn(2, 4)
    s = rgb.affine(w) / math.sqrt(6)
    want = torch.einsum("oi,ni,nihw->nohw", rgb.weight[:, :, 0, 0], s, x) + rgb.bias[None, :, None, None]
    torch.testing.assert_close(rgb(x, w), want, rtol=1e-4, atol=1e-5)


def test_skip_architecture_sums_upsampled_images():
    torch.manual_seed(10)
    net = randomize(SynthesisNetwork(w_dim=4, img_resolution=8, img_channels=3, channel_base=64, channel_max=8,
                                     architecture="skip"))
    assert net.num_ws == 4
    ws = torch.randn(2, 4, 4)
    b4, b8 = net.b4, net.b8
    x4 = b4.conv1(b4.const.expand(2, -1, -1, -1), ws[:, 0], noise_mode="const")
    img4 = b4.torgb(x4, ws[:, 1])
    x8 = b8.conv1(b8.conv0(x4, ws[:, 1], noise_mode="const"), ws[:, 2], noise_mode="const")
    want = upsample2d(img4, setup_filter([1, 3, 3, 1])) + b8.torgb(x8, ws[:, 3])
    torch.testing.assert_close(net(ws, noise_mode="const"), want, rtol=1e-4, atol=1e-5)


def test_resnet_block_scales_both_branches_by_sqrt_half():
    torch.manual_seed(11)
    block = randomize(SynthesisBlock(6, 4, w_dim=4, resolution=8, img_channels=3, is_last=True,
                                     architecture="resnet", conv_clamp=None))
    assert {"skip", "conv0", "conv1", "torgb"} <= set(dict(block.named_children()))
    x, ws = torch.randn(2, 6, 4, 4), torch.randn(2, 3, 4)
    out, img = block(x, None, ws, noise_mode="const")
    main = block.conv1(block.conv0(x, ws[:, 0], noise_mode="const"), ws[:, 1], noise_mode="const")
    torch.testing.assert_close(out, (block.skip(x) + main) * math.sqrt(0.5), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(img, block.torgb(out, ws[:, 2]))


def test_orig_architecture_has_one_torgb():
    G = make_G(res=16, architecture="orig")
    assert [n for n, _ in G.synthesis.named_children() if hasattr(getattr(G.synthesis, n), "torgb")] == ["b16"]
    assert G.num_ws == 6  # 2 * log2(16) - 2


def test_fp16_blocks_run_in_fp32_on_cpu():
    G16 = randomize(make_G(res=16, num_fp16_res=4)).eval()
    G32 = make_G(res=16, num_fp16_res=0).eval()
    G32.load_state_dict(G16.state_dict())
    assert G16.synthesis.b16.use_fp16 and G16.synthesis.b8.use_fp16 and not G16.synthesis.b4.use_fp16
    z = torch.randn(2, 16)
    img = G16(z, None, noise_mode="const")
    assert img.dtype == torch.float32
    assert torch.equal(img, G32(z, None, noise_mode="const"))


def test_fused_and_unfused_generators_agree():
    G = randomize(make_G(res=16, fused_modconv_default="inference_only"))
    z = torch.randn(3, 16)
    G.train()
    a = G(z, None, noise_mode="const")  # training mode: not fused
    G.eval()
    torch.testing.assert_close(G(z, None, noise_mode="const"), a, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Discriminator
# ---------------------------------------------------------------------------------------------


def test_minibatch_std_by_hand():
    torch.manual_seed(12)
    epi = DiscriminatorEpilogue(4, cmap_dim=0, resolution=4, img_channels=3, mbstd_group_size=2)
    x = torch.randn(4, 4, 4, 4)
    y = epi.mbstd(x)
    # samples n and n + N/G form a group (reshape [G, N/G, ...])
    for n in range(4):
        partner = (n + 2) % 4
        std = torch.stack([x[n], x[partner]]).var(0, unbiased=False).add(1e-8).sqrt().mean()
        torch.testing.assert_close(y[n, 4], std.expand(4, 4))


def test_epilogue_projection():
    torch.manual_seed(13)
    epi = randomize(DiscriminatorEpilogue(4, cmap_dim=5, resolution=4, img_channels=3, mbstd_group_size=2))
    x, cmap = torch.randn(4, 4, 4, 4), torch.randn(4, 5)
    h = epi.out(epi.fc(epi.conv(epi.mbstd(x)).flatten(1)))
    assert h.shape == (4, 5)
    torch.testing.assert_close(epi(x, None, cmap), (h * cmap).sum(1, keepdim=True) / math.sqrt(5))


def test_conditional_discriminator_uses_the_label_mapping():
    D = randomize(make_D(res=16, c_dim=3))
    assert D.cmap_dim == 16 and D.mapping.num_ws is None
    img = torch.randn(4, 3, 16, 16)
    c = torch.eye(3)[[0, 1, 2, 0]]
    out = D(img, c)
    assert out.shape == (4, 1)
    assert not torch.allclose(out, D(img, torch.eye(3)[[1, 2, 0, 1]]))


@pytest.mark.parametrize("architecture, per_block, extra", [("resnet", 3, 1), ("orig", 2, 1), ("skip", 3, 0)])
def test_freeze_d_turns_the_first_layers_into_buffers(architecture, per_block, extra):
    D = make_D(res=32, architecture=architecture, freeze_layers=4)
    ref = make_D(res=32, architecture=architecture)
    assert set(D.state_dict()) == set(ref.state_dict())
    order = []  # layer order upstream counts: per block fromrgb, conv0, conv1, skip
    for res in D.block_resolutions:
        block = getattr(D, f"b{res}")
        order += [getattr(block, n) for n in ("fromrgb", "conv0", "conv1", "skip") if hasattr(block, n)]
    assert len(order) == per_block * 3 + extra
    assert [layer.trainable for layer in order] == [False] * 4 + [True] * (len(order) - 4)
    frozen = sum(p.numel() for layer in order[:4] for p in layer.buffers() if p.ndim > 0) - \
        sum(layer.resample_filter.numel() for layer in order[:4])
    assert sum(p.numel() for p in D.parameters()) + frozen == sum(p.numel() for p in ref.parameters())
    assert all(p.requires_grad for p in D.parameters())  # nothing frozen beyond the buffers


def test_discriminator_blocks_match_architectures():
    for arch, children in (("resnet", {"fromrgb", "conv0", "conv1", "skip"}), ("orig", {"fromrgb", "conv0", "conv1"}),
                           ("skip", {"fromrgb", "conv0", "conv1"})):
        D = make_D(res=16, architecture=arch)
        assert set(dict(D.b16.named_children())) == children
        assert ("fromrgb" in dict(D.b8.named_children())) == (arch == "skip")
        assert ("fromrgb" in dict(D.b4.named_children())) == (arch == "skip")
        assert D(torch.randn(2, 3, 16, 16), None).shape == (2, 1)


def test_discriminator_fp16_is_fp32_on_cpu():
    D = randomize(make_D(res=16, num_fp16_res=4))
    D32 = make_D(res=16, num_fp16_res=0)
    D32.load_state_dict(D.state_dict())
    img = torch.randn(2, 3, 16, 16)
    assert torch.equal(D(img, None), D32(img, None))


def test_bad_inputs_are_clear():
    D = StyleGAN2Discriminator(0, 16, 3, channel_base=256, channel_max=16)
    with pytest.raises(ValueError, match=r"img must be \[N, 3, 16, 16\]"):
        D(torch.randn(2, 3, 8, 8), None)
    G = make_G(res=8)
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(torch.randn(2, 3, 16))


@pytest.mark.gpu
def test_fp16_blocks_on_cuda_stay_close_to_fp32():
    G = randomize(make_G(res=32, cbase=1024, cmax=64, num_fp16_res=2)).eval().cuda()
    D = randomize(make_D(res=32, cbase=1024, cmax=64, num_fp16_res=2)).cuda()
    z = torch.randn(4, 16, device="cuda")
    img16 = G(z, None, noise_mode="const")
    img32 = G(z, None, noise_mode="const", force_fp32=True)
    assert img16.dtype == torch.float32 and G.synthesis.b32.use_fp16 and not G.synthesis.b8.use_fp16
    assert (img16 - img32).abs().max() < 0.05 * img32.abs().max()
    assert torch.allclose(D(img32, None), D(img32, None, force_fp32=True), rtol=0.05, atol=0.05)
    G.train()  # unfused modulated convolutions in fp16, as in training
    G(z, None, noise_mode="const").square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in G.parameters() if p.grad is not None)
