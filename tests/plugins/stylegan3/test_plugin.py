"""The stylegan3 plugin: registration, configs, suggested defaults, the D-input blur, contract checks,
compatibility checks and CPU training smoke runs with another plugin's discriminator."""

from __future__ import annotations

import json

import pluggy
import pytest
import torch
from pydantic import Field, ValidationError

import ganforge
import ganforge.plugins.stylegan3 as sg3_plugin
from ganforge.core import hookspecs
from ganforge.core.compat import check_compatibility
from ganforge.core.config import resolve_config
from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.loss import PhaseBatch
from ganforge.core.registry import get_registry
from ganforge.core.specs import DataInfo, GeneratorSpec, MetricSpec
from ganforge.plugins.stylegan3.blur import blur_images, blur_taps
from ganforge.plugins.stylegan3.config import (
    DEFAULT_MAGNITUDE_EMA_BETA,
    StyleGAN3Config,
    StyleGAN3RConfig,
    StyleGAN3TConfig,
    magnitude_ema_beta_for,
)
from ganforge.testing import check_generator

TINY_G = {"z_dim": 16, "w_dim": 16, "channel_base": 256, "channel_max": 16}
TINY_D = {"name": "pggan", "fmaps_base": 256, "fmaps_max": 16, "mbstd_group_size": 4}
TRAINING = {"kimg": 0.016, "batch": 8, "kimg_per_tick": 0.008, "progress": False, "tensorboard": False,
            "image_snapshot_ticks": None, "network_snapshot_ticks": 2, "ema_kimg": 0.01, "grid": [2, 2]}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_registers_three_generators_and_three_metrics():
    pm = pluggy.PluginManager("ganforge")
    pm.add_hookspecs(hookspecs)
    pm.register(sg3_plugin, name="stylegan3")
    pm.check_pending()
    [gens] = pm.hook.ganforge_register_generators()
    [metrics] = pm.hook.ganforge_register_metrics()
    assert [g.name for g in gens] == ["stylegan3", "stylegan3-t", "stylegan3-r"]
    assert [m.name for m in metrics] == ["eqt50k_int", "eqt50k_frac", "eqr50k"]
    for spec in gens:
        assert isinstance(spec, GeneratorSpec) and "Alias-Free" in spec.paper and spec.summary
        assert spec.provides == {"mapping", "synthesis", "input_transform"} and spec.conditional
        assert spec.data_problems(DataInfo(8)) and spec.data_problems(DataInfo(48))
        assert not spec.data_problems(DataInfo(1024, 1, 5))
        assert spec.suggests == {"training.glr": 0.0025}
        assert spec.options >= {"truncation_psi", "noise_mode", "update_emas"}
    assert (gens[0].config().blur_init_sigma, gens[1].config().blur_init_sigma) == (0, 0)
    assert (gens[2].config().blur_init_sigma, gens[2].config().blur_fade_kimg) == (10, 200)
    assert all(g.config().style_mixing_prob == 0 for g in gens)
    assert all(isinstance(m, MetricSpec) and m.summary for m in metrics)
    with open(sg3_plugin.__file__) as f:
        source = f.read()
    assert "import torch" not in source  # the networks load lazily inside the factories


def test_t_and_r_defaults():
    t, r, default = StyleGAN3TConfig(), StyleGAN3RConfig(), StyleGAN3Config()
    assert default.model_dump(exclude={"name"}) == t.model_dump(exclude={"name"})
    assert (t.z_dim, t.w_dim, t.map_depth, t.num_layers, t.num_critical) == (512, 512, 2, 14, 2)
    assert t.margin_size == 10
    assert (t.first_cutoff, t.first_stopband, t.last_stopband_rel) == (2, 2 ** 2.1, 2 ** 0.3)
    assert (t.output_scale, t.num_fp16_res, t.conv_clamp) == (0.25, 4, 256)
    assert (t.filter_size, t.lrelu_upsampling) == (6, 2)
    assert (t.channel_base, t.channel_max, t.conv_kernel, t.use_radial_filters) == (32768, 512, 3, False)
    assert (r.channel_base, r.channel_max, r.conv_kernel, r.use_radial_filters) == (65536, 1024, 1, True)
    assert DEFAULT_MAGNITUDE_EMA_BETA == t.magnitude_ema_beta == pytest.approx(0.99889, abs=1e-5)
    assert magnitude_ema_beta_for(64) == pytest.approx(0.5 ** (64 / 20000))
    for model in (StyleGAN3TConfig, StyleGAN3RConfig):
        missing = [n for n, f in model.model_fields.items() if n != "name" and not f.description]
        assert not missing
    with pytest.raises(ValidationError, match="num_critical"):
        StyleGAN3TConfig(num_layers=4, num_critical=4)
    with pytest.raises(ValidationError, match="conv_kernel"):
        StyleGAN3RConfig(conv_kernel=0)


@pytest.mark.parametrize(("name", "blur"),
                         [("stylegan3", False), ("stylegan3-t", False), ("stylegan3-r", True)])
def test_suggested_official_settings(name, blur):
    config, applied = resolve_config({"generator": name, "discriminator": "pggan"})
    assert config.training.glr == 0.0025 and config.generator.style_mixing_prob == 0
    assert (config.generator.blur_init_sigma, config.generator.blur_fade_kimg) == ((10, 200) if blur else (0, 0))
    assert any("suggested by generator" in line and "training.glr" in line for line in applied)
    mine, _ = resolve_config({"generator": name, "training": {"glr": 0.001, "batch": 64},
                              "regularizers": {"r1": {"gamma": 2.0}}})
    assert mine.training.glr == 0.001 and mine.regularizers["r1"].gamma == 2
    mine, _ = resolve_config({"generator": name}, sets=["generator.blur_fade_kimg=400"])
    assert mine.generator.blur_fade_kimg == 400 and mine.generator.blur_init_sigma == (10 if blur else 0)
    # the layout of older versions (blur and mixing on the loss) still resolves
    old, _ = resolve_config({"generator": name, "loss": {"name": "logistic", "r1_gamma": 2.0, "blur_fade_kimg": 400,
                                                         "blur_init_sigma": 3.0, "style_mixing_prob": 0.0}})
    assert (old.generator.blur_init_sigma, old.generator.blur_fade_kimg) == (3.0, 400)
    assert old.regularizers["r1"].gamma == 2.0


class RecordingD(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones([]))
        self.seen = []

    def forward(self, img, c):
        self.seen.append(img.detach().clone())
        return (img * self.w).mean(dim=[1, 2, 3])


def test_blur_schedule_of_stylegan3_r_reaches_the_discriminator():
    config, _ = resolve_config({"generator": {"name": "stylegan3-r", **TINY_G}, "discriminator": TINY_D})
    info = DataInfo(16)
    G = get_registry().get("generator", "stylegan3-r").build(config.generator, info)
    D = RecordingD()
    loss = get_registry().get("loss", config.loss.name).build(config.loss, G=G, D=D, augment=None,
                                                                regularizers=[], device="cpu")
    assert G.blur.sigma_at(0) == 10 and G.blur.sigma_at(100_000) == 5 and G.blur.sigma_at(200_000) == 0
    assert G.d_input_transform(200_000) is None
    real = torch.randn(2, 3, 16, 16)
    for nimg, sigma in ((0, 10.0), (100_000, 5.0), (250_000, 0.0)):
        D.seen.clear()
        batch = PhaseBatch(real_img=real, real_c=torch.zeros(2, 0), gen_z=torch.randn(2, 16),
                           gen_c=torch.zeros(2, 0), gain=1.0, cur_nimg=nimg)
        loss.accumulate_gradients("Dmain", batch)
        fake_seen, real_seen = D.seen
        want = blur_images(real, sigma) if sigma else real
        assert torch.allclose(real_seen, want, atol=1e-6)
        if sigma:
            assert real_seen.std() < real.std() / 2  # visibly blurred
        assert fake_seen.shape == real.shape


class _Small(StyleGAN3TConfig):
    channel_base: int = Field(256, ge=1, description="Small for the contract check.")
    channel_max: int = Field(16, ge=1, description="Small for the contract check.")
    z_dim: int = Field(16, ge=1, description="Small for the contract check.")
    w_dim: int = Field(16, ge=1, description="Small for the contract check.")


class _SmallR(StyleGAN3RConfig):
    channel_base: int = Field(256, ge=1, description="Small for the contract check.")
    channel_max: int = Field(16, ge=1, description="Small for the contract check.")
    z_dim: int = Field(16, ge=1, description="Small for the contract check.")
    w_dim: int = Field(16, ge=1, description="Small for the contract check.")


@pytest.mark.parametrize(("name", "small"), [("stylegan3-t", _Small), ("stylegan3-r", _SmallR)])
def test_contract_checks(name, small):
    import dataclasses

    spec = dataclasses.replace(get_registry().get("generator", name), config=small)
    check_generator(spec, batch=2)


def test_equivariance_metrics_need_an_input_transform():
    registry = get_registry()
    bad, _ = resolve_config({"generator": "pggan", "metrics": ["eqt50k_int", "fid50k_full"]
                             if registry.has("metric", "fid50k_full") else ["eqt50k_int"]})
    with pytest.raises(IncompatibleComponentsError, match="eqt50k_int.*provides 'input_transform'"):
        check_compatibility(bad, DataInfo(32), registry)
    good, _ = resolve_config({"generator": {"name": "stylegan3", **TINY_G}, "discriminator": TINY_D,
                              "metrics": ["eqt50k_int", "eqr50k"]})
    check_compatibility(good, DataInfo(32), registry)


def _train(tmp_path, generator, disc=TINY_D, metrics=()):
    cfg = {"generator": {**generator, **TINY_G}, "discriminator": disc,
           "dataset": {"name": "shapes", "resolution": 32},
           "regularizers": {"r1": {"gamma": 1.0, "interval": 4}}, "training": TRAINING,
           "metrics": list(metrics), "outdir": str(tmp_path)}
    return ganforge.train(cfg)


def test_train_stylegan3_t_with_pggan_discriminator_and_eq_metric(tmp_path):
    result = _train(tmp_path, {"name": "stylegan3"}, metrics=[{"name": "eqt50k_frac", "num_gen": 4}])
    assert result.status == "done" and result.cur_nimg >= 16
    record = json.loads((result.run_dir / "metric-eqt50k_frac.jsonl").read_text().splitlines()[-1])
    assert record["results"]["eqt50k_frac"] > 10
    G = ganforge.load_network(result.run_dir)
    emas = [float(getattr(G.synthesis, n).magnitude_ema) for n in G.synthesis.layer_names]
    assert all(v != 1.0 for v in emas)  # updated in training and copied into G_ema
    assert float(G.mapping.w_avg.abs().sum()) > 0
    assert G(torch.randn(2, 16), None).shape == (2, 3, 32, 32)


def test_gan_run_stylegan3_r_with_blur_schedule(tmp_path, cli):
    args = ["run", "--generator", "stylegan3-r", "--disc", "pggan", "--data", "shapes", "--outdir",
            str(tmp_path), "--set", "dataset.resolution=32", "--gamma", "1", "--batch", "8",
            "--kimg", "0.016", "--tick", "0.008"]
    args += [f"--set=generator.{k}={v}" for k, v in TINY_G.items()]
    args += [f"--set=discriminator.{k}={v}" for k, v in TINY_D.items() if k != "name"]
    args += ["--set", "training.progress=false", "--set", "training.tensorboard=false",
             "--set", "training.image_snapshot_ticks=null", "--set", "training.grid=[2,2]",
             "--set", "generator.blur_fade_kimg=0.032"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    [run_dir] = list(tmp_path.iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["generator"]["blur_init_sigma"] == 10 and config["generator"]["blur_fade_kimg"] == 0.032
    assert config["regularizers"]["r1"]["gamma"] == 1
    assert config["generator"]["name"] == "stylegan3-r" and config["training"]["glr"] == 0.0025
    G = ganforge.load_network(run_dir)
    assert G.synthesis.L0_36_16.down_filter.ndim == 2  # radial filters


def test_train_stylegan3_with_stylegan2_discriminator(tmp_path):
    registry = get_registry()
    fields = registry.get("discriminator", "stylegan2").config.model_fields
    small = {"channel_base": 256, "channel_max": 16, "cbase": 256, "cmax": 16}
    disc = {"name": "stylegan2", **{k: v for k, v in small.items() if k in fields}}
    for name in ("stylegan3", "stylegan3-r"):
        result = _train(tmp_path / name, {"name": name}, disc=disc)
        assert result.status == "done" and result.cur_nimg >= 16


def test_blur_taps_and_images():
    taps = blur_taps(1.0)
    want = torch.exp2(-torch.arange(-3, 4.0).square())
    assert torch.allclose(taps, want / want.sum())
    assert blur_taps(0.2).numel() == 1
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1
    out = blur_images(img, 1.0)
    assert torch.allclose(out[0, 0, 4, 1:8], taps * taps[3], atol=1e-6)  # separable: outer product of the taps
    assert torch.allclose(out.sum(), torch.tensor(1.0))
    assert blur_images(img, 0.2) is img
