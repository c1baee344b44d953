"""The PGGAN plugin: registration, configs, architecture variants, progressive growing, training."""

from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pluggy
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

import ganforge.plugins.pggan as pggan_plugin
from ganforge.core import hookspecs
from ganforge.core.errors import ConfigError
from ganforge.core.specs import CheckContext, DataInfo, DiscriminatorSpec, GeneratorSpec
from ganforge.plugins.pggan._progressive import lod_schedule
from ganforge.plugins.pggan.config import PGGANDiscriminatorConfig, PGGANGeneratorConfig, check_run
from ganforge.plugins.pggan.discriminator import PGGANDiscriminator
from ganforge.plugins.pggan.generator import PGGANGenerator

SMALL = dict(fmaps_base=256, fmaps_max=16)  # nf(r) = min(256 // r, 16): 16 up to 16x16, then 8, 4, 2


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # The tensors here are tiny: one thread is as fast, and immune to a busy machine's thread contention.
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_G(res=16, channels=3, c_dim=0, **kw):
    kw = {**SMALL, "z_dim": 8, **kw}
    return PGGANGenerator(c_dim=c_dim, img_resolution=res, img_channels=channels, **kw)


def make_D(res=16, channels=3, c_dim=0, **kw):
    kw = {**SMALL, "mbstd_group_size": 4, **kw}
    return PGGANDiscriminator(c_dim=c_dim, img_resolution=res, img_channels=channels, **kw)


def onehot(n, c_dim):
    return torch.eye(c_dim)[torch.arange(n) % c_dim]


# ---------------------------------------------------------------------------------------------
# Registration and configuration
# ---------------------------------------------------------------------------------------------


def test_registers_generator_and_discriminator_specs():
    pm = pluggy.PluginManager("ganforge")
    pm.add_hookspecs(hookspecs)
    pm.register(pggan_plugin, name="pggan")
    pm.check_pending()
    [[gspec]] = pm.hook.ganforge_register_generators()
    [[dspec]] = pm.hook.ganforge_register_discriminators()
    assert isinstance(gspec, GeneratorSpec) and isinstance(dspec, DiscriminatorSpec)
    for spec in (gspec, dspec):
        assert spec.name == "pggan" and spec.summary and "Karras" in spec.paper and "Schwarz" in spec.paper
        limits = (spec.min_resolution, spec.max_resolution, spec.power_of_two, spec.conditional)
        assert limits == (8, 1024, True, True)
    assert gspec.data_problems(DataInfo(4)) and gspec.data_problems(DataInfo(48))
    assert not gspec.data_problems(DataInfo(32, 1, 10))
    info = DataInfo(resolution=16, channels=1, label_dim=3)
    G = gspec.build(PGGANGeneratorConfig(z_dim=8, **SMALL), info)
    D = dspec.build(PGGANDiscriminatorConfig(mbstd_group_size=2, **SMALL), info)
    assert (G.z_dim, G.c_dim, G.img_resolution, G.img_channels) == (8, 3, 16, 1)
    img = G(torch.randn(2, 8), onehot(2, 3))
    assert D(img, onehot(2, 3)).shape == (2,)


def test_plugin_init_is_light():
    # __init__ holds hookimpls only; the networks load lazily inside the factories
    source = open(pggan_plugin.__file__).read()
    assert "import torch" not in source and "ganforge.plugins.pggan.generator:build_generator" in source
    assert {"ganforge_register_generators", "ganforge_register_discriminators"} <= set(dir(pggan_plugin))


def test_config_defaults_and_descriptions():
    g, d = PGGANGeneratorConfig(), PGGANDiscriminatorConfig()
    assert (g.z_dim, g.fmaps_base, g.fmaps_max, g.divide_channels_by, g.upsampling, g.padding_mode) == (
        512, 16384, 512, 1, "nearest", "zeros")
    assert (g.use_wscale, g.final_tanh, g.fused_scale, g.progressive) == (True, False, False, False)
    assert (g.lod_training_kimg, g.lod_transition_kimg) == (600, 600)
    assert (d.downsampling, d.mbstd_group_size, d.padding_mode, d.use_wscale) == ("avg", 16, "zeros", True)
    for model in (PGGANGeneratorConfig, PGGANDiscriminatorConfig):
        for name, field in model.model_fields.items():
            assert name == "name" or field.description, f"{model.__name__}.{name} has no description"


@pytest.mark.parametrize(("model", "values", "match"), [
    (PGGANGeneratorConfig, {"upsampling": "cubic"}, "'nearest', 'bilinear', 'zeros' or 'shuffle'"),
    (PGGANGeneratorConfig, {"padding_mode": "mirror"}, "'reflect'"),
    (PGGANGeneratorConfig, {"z_dim": 0}, "greater than or equal to 1"),
    (PGGANGeneratorConfig, {"fused_scale": True, "upsampling": "bilinear"}, "fused_scale"),
    (PGGANGeneratorConfig, {"fused_scale": True, "padding_mode": "reflect"}, "fused_scale"),
    (PGGANGeneratorConfig, {"upsample": "zeros"}, "Extra inputs are not permitted"),
    (PGGANDiscriminatorConfig, {"downsampling": "max"}, "'avg', 'stride' or 'blurpool'"),
    (PGGANDiscriminatorConfig, {"mbstd_group_size": -1}, "greater than or equal to 0"),
    (PGGANDiscriminatorConfig, {"lod_transition_kimg": -5}, "greater than or equal to 0"),
])
def test_config_rejects_bad_values(model, values, match):
    with pytest.raises(ValidationError, match=match):
        model(**values)


def test_check_run_batch_and_schedule():
    def run(batch, batch_gpu=None, g=None, d=None, world=1):
        config = SimpleNamespace(generator=g or PGGANGeneratorConfig(), discriminator=d or PGGANDiscriminatorConfig(),
                                 training=SimpleNamespace(batch=batch, batch_gpu=batch_gpu))
        return CheckContext(config=config, info=DataInfo(32), world=world)
    assert check_run(run(32)) == []
    assert check_run(run(8)) == []  # group clamped to the batch
    assert "does not divide" in check_run(run(24))[0]
    assert check_run(run(24, batch_gpu=16)) == []
    assert check_run(run(24, d=PGGANDiscriminatorConfig(mbstd_group_size=0))) == []
    problems = check_run(run(32, g=PGGANGeneratorConfig(progressive=True)))
    assert len(problems) == 1 and "progressive: generator True vs discriminator False" in problems[0]
    assert check_run(run(32, g=SimpleNamespace(name="other"))) == []
    assert "does not divide" in check_run(run(48, world=2))[0]  # 24 per process


# ---------------------------------------------------------------------------------------------
# Shapes, channel table and variants
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("res", [8, 16, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("c_dim", [0, 5])
def test_shapes_and_dtypes(res, channels, c_dim):
    G = make_G(res, channels, c_dim)
    D = make_D(res, channels, c_dim)
    c = onehot(4, c_dim) if c_dim else None
    img = G(torch.randn(4, 8), c)
    assert img.shape == (4, channels, res, res) and img.dtype == torch.float32
    logits = D(img, c)
    assert logits.shape == (4,) and logits.dtype == torch.float32
    assert (G.img_resolution, G.img_channels, G.c_dim, D.c_dim) == (res, channels, c_dim, c_dim)


def test_channel_table():
    cfg = dict(fmaps_base=2048, fmaps_max=128, divide_channels_by=4)
    nf = {r: min(2048 // r, 128) // 4 for r in (2, 4, 8, 16, 32, 64)}  # 32, 32, 32, 32, 16, 8
    G = make_G(64, **cfg)
    assert G.b4.conv0.fc.weight.shape == (nf[4] * 16, 8)
    for r in (8, 16, 32, 64):
        block = getattr(G, f"b{r}")
        assert block.conv0.conv.weight.shape[:2] == (nf[r], nf[r // 2])
        assert block.conv1.conv.weight.shape[:2] == (nf[r], nf[r])
    assert G.b64.torgb.weight.shape == (3, nf[64], 1, 1)
    D = make_D(64, **cfg)
    for r in (64, 32, 16, 8):
        block = getattr(D, f"b{r}")
        assert block.conv0.weight.shape[:2] == (nf[r], nf[r])
        assert block.conv1.weight.shape[:2] == (nf[r // 2], nf[r])
    assert D.b64.fromrgb.weight.shape == (nf[64], 3, 1, 1)
    assert D.b4.conv.weight.shape[:2] == (nf[4], nf[4] + 1)  # + the minibatch-stddev channel
    assert D.b4.fc.weight.shape == (nf[2], nf[4] * 16)
    assert D.b4.out.weight.shape == (1, nf[2])


def test_too_many_divisions_is_a_config_error():
    with pytest.raises(ConfigError, match="generator.divide_channels_by.*16x16 would have no channels"):
        make_G(16, fmaps_base=64, fmaps_max=8, divide_channels_by=5)
    with pytest.raises(ConfigError, match="discriminator.divide_channels_by"):
        make_D(16, fmaps_base=64, fmaps_max=8, divide_channels_by=5)
    with pytest.raises(ValueError, match="from 8 to 1024"):
        make_G(24)


def _capture_input(module):
    seen = {}
    module.register_forward_pre_hook(lambda m, args: seen.__setitem__("x", args[0].detach().clone()))
    return seen


def _capture_output(module):
    seen = {}
    module.register_forward_hook(lambda m, args, out: seen.__setitem__("y", out.detach().clone()))
    return seen


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "zeros", "shuffle"])
def test_generator_upsampling_modes(mode):
    G = make_G(16, upsampling=mode)
    b4_out = _capture_output(G.b4)
    conv_in = _capture_input(G.b8.conv0.conv)
    G(torch.randn(2, 8))
    prev, x = b4_out["y"], conv_in["x"]  # b4 output (pixel-normalised) and what b8's first conv sees
    if mode == "nearest":
        expected = prev.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    elif mode == "bilinear":
        expected = F.interpolate(prev, scale_factor=2, mode="bilinear", align_corners=False)
    elif mode == "zeros":
        expected = torch.zeros(2, prev.shape[1], 8, 8)
        expected[:, :, ::2, ::2] = prev
    else:  # the conv before the shuffle has 4x the channels; the shuffle folds them into 2x2 cells
        assert G.b4.conv1.conv.out_channels == 4 * 16 and prev.shape[1] == 64
        assert G.b16.conv1.conv.out_channels == 16  # the last block is not multiplied
        expected = torch.empty(2, 16, 8, 8)
        for di in range(2):
            for dj in range(2):
                expected[:, :, di::2, dj::2] = prev[:, di * 2 + dj::4]
    torch.testing.assert_close(x, expected)


def test_fused_scale_is_the_same_function():
    G = make_G(16)
    Gf = make_G(16, fused_scale=True)
    Gf.load_state_dict(G.state_dict())
    assert Gf.b8.conv0.up is None and "fused_upsample=True" in repr(Gf.b8.conv0)
    z = torch.randn(3, 8)
    torch.testing.assert_close(Gf(z), G(z), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["avg", "stride", "blurpool"])
def test_discriminator_downsampling_modes(mode):
    D = make_D(16, downsampling=mode)
    conv1_out = _capture_output(D.b16.conv1)
    block_out = _capture_output(D.b16)
    D(torch.randn(4, 3, 16, 16))
    y = F.leaky_relu(conv1_out["y"], 0.2).double()
    if mode == "avg":
        expected = y.reshape(4, 16, 8, 2, 8, 2).mean(dim=(3, 5))
    elif mode == "stride":
        expected = y[:, :, ::2, ::2]
    else:
        k = torch.tensor([[1.0, 3, 1], [3, 9, 3], [1, 3, 1]], dtype=torch.float64) / 25
        p = F.pad(y, (1, 1, 1, 1), mode="reflect")
        blurred = sum(p[:, :, i:i + 16, j:j + 16] * k[i, j] for i in range(3) for j in range(3))
        expected = blurred.reshape(4, 16, 8, 2, 8, 2).mean(dim=(3, 5))
    torch.testing.assert_close(block_out["y"].double(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_mode_reaches_every_3x3_conv(mode):
    G, D = make_G(16, padding_mode=mode), make_D(16, padding_mode=mode)
    convs = [m for net in (G, D) for m in net.modules() if getattr(m, "kernel_size", None) == 3]
    assert len(convs) == 5 + 5 and all(c.padding_mode == mode for c in convs)
    x = torch.randn(2, 16, 4, 4)
    conv = G.b4.conv1.conv
    torch.testing.assert_close(conv(x), F.conv2d(F.pad(x, (1, 1, 1, 1), mode=mode), conv.effective_weight(),
                                                 conv.effective_bias()))
    Gz = make_G(16)
    Gz.load_state_dict(G.state_dict())
    z = torch.randn(2, 8)
    assert not torch.allclose(G(z), Gz(z))  # same weights, different borders


def test_equalized_lr_gains_in_the_networks():
    G, D = make_G(16), make_D(16)
    assert G.b4.conv0.fc.gain == pytest.approx(math.sqrt(2) / 4)
    assert G.b8.conv0.conv.gain == pytest.approx(math.sqrt(2)) and G.b16.torgb.gain == 1.0
    assert D.b16.fromrgb.gain == pytest.approx(math.sqrt(2)) and D.b4.fc.gain == pytest.approx(math.sqrt(2))
    assert D.b4.out.gain == 1.0
    conv = G.b16.conv1.conv
    assert conv.weight_gain == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))
    plain = make_G(16, use_wscale=False).b16.conv1.conv
    assert plain.weight_gain == 1.0 and plain.use_wscale is False


def test_final_tanh():
    G = make_G(16)
    Gt = make_G(16, final_tanh=True)
    Gt.load_state_dict(G.state_dict())
    z = torch.randn(3, 8) * 5
    torch.testing.assert_close(Gt(z), torch.tanh(G(z)))


# ---------------------------------------------------------------------------------------------
# Conditioning
# ---------------------------------------------------------------------------------------------


def test_conditional_generator_uses_the_label():
    G = make_G(16, c_dim=4)
    z = torch.randn(1, 8).repeat(4, 1)
    img = G(z, torch.eye(4))
    assert not torch.allclose(img[0], img[1])
    with pytest.raises(ValueError, match=r"c must be \[N, 4\]"):
        G(z, None)
    # the first layer sees pixel_norm(concat(pixel_norm(z), c))
    seen = _capture_input(G.b4.conv0)
    G(z, torch.eye(4))
    zn = z / z.square().mean(1, keepdim=True).sqrt()
    expected = torch.cat([zn, torch.eye(4)], 1)
    torch.testing.assert_close(seen["x"], expected / expected.square().mean(1, keepdim=True).sqrt())


def test_conditional_discriminator_is_a_projection():
    D = make_D(16, c_dim=3)
    head = _capture_output(D.b4.out)
    img, c = torch.randn(4, 3, 16, 16), torch.rand(4, 3)
    logits = D(img, c)
    out = head["y"]
    assert out.shape == (4, 4)
    torch.testing.assert_close(logits, out[:, 0] + (out[:, 1:] * c).sum(1))
    one_hot = D(img, onehot(4, 3))
    torch.testing.assert_close(one_hot, out[:, 0] + out[torch.arange(4), 1 + torch.arange(4) % 3])
    with pytest.raises(ValueError, match=r"c must be \[N, 3\]"):
        D(img, None)


def test_unconditional_networks_ignore_c():
    G, D = make_G(16), make_D(16)
    z, img = torch.randn(4, 8), torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(G(z, torch.zeros(4, 0)), G(z, None))
    torch.testing.assert_close(D(img, torch.zeros(4, 0)), D(img))


def test_minibatch_std_in_discriminator():
    D = make_D(16, mbstd_group_size=4)
    with pytest.raises(ValueError, match="not divisible by the group size 4"):
        D(torch.randn(6, 3, 16, 16))
    assert D(torch.randn(2, 3, 16, 16)).shape == (2,)  # group clamped to the batch
    D0 = make_D(16, mbstd_group_size=0)
    assert D0.b4.mbstd is None and D0.b4.conv.in_channels == 16
    assert D0(torch.randn(6, 3, 16, 16)).shape == (6,)


# ---------------------------------------------------------------------------------------------
# Progressive growing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("nimg", "lod"), [
    (0, 3.0), (599_999, 3.0), (600_000, 3.0), (900_000, 2.5), (1_200_000, 2.0), (1_500_000, 2.0),
    (2_100_000, 1.5), (3_000_000, 1.0), (3_450_000, 0.25), (3_600_000, 0.0), (50_000_000, 0.0),
])
def test_lod_schedule(nimg, lod):
    assert lod_schedule(nimg, 3, 600, 600) == pytest.approx(lod)


def test_lod_schedule_edge_cases():
    assert lod_schedule(599_999, 3, 600, 0) == 3.0 and lod_schedule(600_000, 3, 600, 0) == 2.0
    assert lod_schedule(150_000, 3, 0, 600) == pytest.approx(2.75)
    assert lod_schedule(0, 3, 0, 0) == 0.0


def test_set_progress_and_state_dict():
    G = make_G(32, progressive=True, lod_training_kimg=1, lod_transition_kimg=1)
    D = make_D(32, progressive=True, lod_training_kimg=1, lod_transition_kimg=1)
    assert G.lod.item() == 3.0 and D.lod.item() == 3.0  # a fresh network starts at 4x4
    G_ema = copy.deepcopy(G)
    for net in (G, D, G_ema):
        net.set_progress(1500)
        assert net.lod.item() == pytest.approx(2.5)
    state = G.state_dict()
    assert state["lod"].item() == pytest.approx(2.5)
    G2 = make_G(32, progressive=True, lod_training_kimg=1, lod_transition_kimg=1)
    G2.load_state_dict(state)
    assert G2.lod.item() == pytest.approx(2.5)
    z = torch.randn(2, 8)
    torch.testing.assert_close(G2(z), G(z))
    torch.testing.assert_close(G(z), G(z, lod=2.5))  # forward reads the buffer


def test_set_progress_is_a_noop_when_not_progressive():
    G, D = make_G(16), make_D(16)
    for net in (G, D):
        net.set_progress(10_000_000)
        assert net.lod.item() == 0.0 and "lod" in net.state_dict()
    with pytest.raises(ValueError, match="needs progressive=True"):
        G(torch.randn(2, 8), lod=1)
    with pytest.raises(ValueError, match="needs progressive=True"):
        D(torch.randn(4, 3, 16, 16), lod=1)
    assert G.b8.torgb is None and D.b8.fromrgb is None  # no unused RGB layers
    with pytest.raises(ValueError, match=r"lod must be in \[0, 2\]"):
        make_G(16, progressive=True)(torch.randn(2, 8), lod=2.5)


def test_generator_integer_lod_is_the_lower_resolution_path_upsampled():
    G = make_G(32, progressive=True)
    G16 = make_G(16)
    dropped = ("b32", "lod", "b4.torgb", "b8.torgb")
    shared = {k: v for k, v in G.state_dict().items() if not k.startswith(dropped)}
    assert G16.load_state_dict(shared, strict=False) == (["lod"], [])
    z = torch.randn(3, 8)
    torch.testing.assert_close(G(z, lod=1), F.interpolate(G16(z), scale_factor=2, mode="nearest"))
    coarse = G(z, lod=3)  # 4x4 image replicated in 8x8 cells
    torch.testing.assert_close(coarse, coarse[:, :, ::8, ::8].repeat_interleave(8, 2).repeat_interleave(8, 3))


def test_generator_fade_in_is_the_documented_blend():
    G = make_G(32, progressive=True)
    z = torch.randn(3, 8)
    full, half, quarter = G(z, lod=0), G(z, lod=1), G(z, lod=2)
    # lod = 0.25: 75 % the new 32x32 image, 25 % the 16x16 image upsampled
    torch.testing.assert_close(G(z, lod=0.25), 0.75 * full + 0.25 * half)
    torch.testing.assert_close(G(z, lod=1.5), 0.5 * half + 0.5 * quarter)


def test_discriminator_integer_lod_is_the_lower_resolution_path():
    D = make_D(32, progressive=True)
    D16 = make_D(16)
    dropped = ("b32", "lod", "b8.fromrgb", "b4.fromrgb")
    shared = {k: v for k, v in D.state_dict().items() if not k.startswith(dropped)}
    assert D16.load_state_dict(shared, strict=False) == (["lod"], [])
    img = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(D(img, lod=1), D16(F.avg_pool2d(img, 2)))


def test_discriminator_fade_in_is_the_documented_blend():
    D = make_D(32, progressive=True)
    img = torch.randn(4, 3, 32, 32)
    x16 = torch.lerp(D.b32(D.b32.fromrgb(img)), D.b16.fromrgb(F.avg_pool2d(img, 2)), 0.25)
    expected = D.b4(D.b8(D.b16(x16)))[:, 0]
    torch.testing.assert_close(D(img, lod=0.25), expected)


def test_process_reals_mirrors_the_generator_blend():
    D = make_D(32, progressive=True)
    x = torch.randn(2, 3, 32, 32)

    def up(t, f=2):
        return F.interpolate(t, scale_factor=f, mode="nearest")

    D.lod.fill_(0.0)
    assert D.process_reals(x) is x
    D.lod.fill_(0.25)
    torch.testing.assert_close(D.process_reals(x), 0.75 * x + 0.25 * up(F.avg_pool2d(x, 2)))
    D.lod.fill_(1.0)
    torch.testing.assert_close(D.process_reals(x), up(F.avg_pool2d(x, 2)))
    torch.testing.assert_close(D(D.process_reals(x)), D(x))  # D pools to the active resolution anyway
    D.lod.fill_(1.5)
    p = F.avg_pool2d(x, 2)
    torch.testing.assert_close(D.process_reals(x), up(0.5 * p + 0.5 * up(F.avg_pool2d(p, 2))))
    # a generator whose two active resolutions reproduce the data exactly yields processed reals
    G = make_G(32, progressive=True)
    with torch.no_grad():
        for block, target in ((G.b16, p), (G.b8, F.avg_pool2d(p, 2))):
            block.torgb.register_forward_hook(lambda m, a, out, t=target: t)
    torch.testing.assert_close(G(torch.randn(2, 8), lod=1.5), D.process_reals(x))
    plain = make_D(32)
    assert plain.process_reals(x) is x


def test_progressive_shuffle_generator_has_rgb_layers_for_the_wide_features():
    G = make_G(16, upsampling="shuffle", progressive=True)
    assert G.b4.torgb.in_channels == 64 and G.b16.torgb.in_channels == 16
    for lod in (0, 0.5, 1, 2):
        assert G(torch.randn(2, 8), lod=lod).shape == (2, 3, 16, 16)


# ---------------------------------------------------------------------------------------------
# Gradients and training
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("c_dim", [0, 3])
def test_gradients_reach_every_parameter(c_dim):
    G, D = make_G(16, c_dim=c_dim), make_D(16, c_dim=c_dim)
    c = onehot(4, c_dim) if c_dim else None
    D(G(torch.randn(4, 8), c), c).square().sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_progressive_gradients_reach_the_active_parameters():
    G, D = make_G(32, progressive=True), make_D(32, progressive=True)
    for net in (G, D):
        net.lod.fill_(0.5)
    D(G(torch.randn(4, 8))).square().sum().backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            if name.startswith(("b4.torgb", "b8.torgb", "b4.fromrgb", "b8.fromrgb")):
                assert p.grad is None, name  # RGB layers of inactive resolutions
            else:
                assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("downsampling", ["avg", "stride", "blurpool"])
@pytest.mark.parametrize("padding_mode", ["zeros", "reflect"])
def test_r1_double_backward_through_discriminator(downsampling, padding_mode):
    D = make_D(16, c_dim=2, downsampling=downsampling, padding_mode=padding_mode)
    img = torch.randn(4, 3, 16, 16, requires_grad=True)
    logits = D(img, onehot(4, 2))
    (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
    penalty = grad.square().sum(dim=(1, 2, 3)).mean()
    penalty.backward()
    weights = [p for name, p in D.named_parameters() if name.endswith("weight")]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in weights)
    assert D.b16.conv0.weight.grad.abs().sum() > 0


def _targets(res):
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, res), torch.linspace(-1, 1, res), indexing="ij")
    return torch.stack([
        torch.stack([xx, yy, xx * yy]),
        torch.stack([torch.sin(3 * xx), torch.cos(3 * yy), (xx ** 2 + yy ** 2 < 0.5).float() * 2 - 1]),
        torch.stack([torch.sign(torch.sin(4 * xx)), -xx, yy]),
        torch.stack([torch.cos(2 * (xx + yy)), torch.sin(5 * yy) * 0.5, -yy * xx]),
    ])


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear", "zeros", "shuffle"])
def test_generator_testbed_overfits_four_images(upsampling):
    # The frequency-bias generator testbed: regress fixed images from fixed latents with MSE and
    # Adam(lr 1e-3, betas (0, 0.99)); testbed architecture: z_dim 64, channels / 8, reflect padding.
    G = PGGANGenerator(z_dim=64, c_dim=0, img_resolution=16, img_channels=3, divide_channels_by=8,
                       upsampling=upsampling, padding_mode="reflect")
    z, target = torch.randn(4, 64), _targets(16)
    opt = torch.optim.Adam(G.parameters(), lr=1e-3, betas=(0.0, 0.99), eps=1e-8)
    with torch.no_grad():
        initial = F.mse_loss(G(z), target).item()
    for _ in range(200):
        loss = F.mse_loss(G(z), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = F.mse_loss(G(z), target).item()
    assert final < initial / 10, (initial, final)


def test_reprs_name_the_options():
    G = make_G(16, upsampling="zeros", padding_mode="reflect", progressive=True)
    D = make_D(16, downsampling="blurpool")
    assert "upsampling=zeros" in repr(G) and "padding_mode=reflect" in repr(G)
    assert "progressive=True" in repr(G)
    assert "downsampling=blurpool" in repr(D) and "group_size=4" in repr(D) and "progressive=False" in repr(D)
