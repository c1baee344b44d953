"""Training with StyleGAN2: CPU smoke run, path-length mean across resume, --resume-from an official pickle,
presets and contract checks."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import pytest
import torch
from pydantic import Field

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import read_checkpoint
from ganforge.core.config import resolve_config
from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.plugins import temporary_plugin
from ganforge.core.registry import get_registry
from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan2.config import StyleGAN2DiscriminatorConfig, StyleGAN2GeneratorConfig
from ganforge.plugins.stylegan2.presets import PRESETS, auto_config
from ganforge.testing import check_discriminator, check_generator
from tests.plugins.stylegan2.helpers import d_kwargs, g_config, randomize, sg3_layout_kwargs, write_snapshot

TINY_G = {"name": "stylegan2", "z_dim": 32, "w_dim": 32, "map_depth": 2, "cbase": 512, "cmax": 32}
TINY_D = {"name": "stylegan2", "cbase": 512, "cmax": 32, "mbstd_group_size": 4}


def run_config(outdir, **training):
    t = {"kimg": 0.064, "batch": 8, "kimg_per_tick": 0.032, "progress": False, "tensorboard": False,
         "image_snapshot_ticks": None, "network_snapshot_ticks": None, "grid": [2, 2]}
    t.update(training)
    return {"generator": {**TINY_G, "style_mixing_prob": 0.9}, "discriminator": TINY_D,
            "regularizers": {"r1": {"gamma": 1.0, "interval": 4}, "path_length": {"interval": 4}},
            "dataset": {"name": "shapes", "resolution": 32},
            "training": t, "outdir": str(outdir)}


class _Capture:
    """Records the path-length mean and G's weights when a run starts."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def ganforge_run_start(self, run):
        term = next(t for t in run.loss.terms if t.name == "path_length")
        self.seen.append({"pl_mean": float(term.pl_mean), "G": {k: v.clone() for k, v in run.G.state_dict().items()},
                          "G_ema": {k: v.clone() for k, v in run.G_ema.state_dict().items()}})


def test_cli_smoke_run_with_path_length_mixing_and_lazy_r1(tmp_path, cli):
    result = cli(["run", "--generator", "stylegan2", "--disc", "stylegan2", "--data", "shapes", "--reg", "path_length",
                  "--kimg", "0.064", "--batch", "8", "--tick", "0.032", "--outdir", str(tmp_path), "--gamma", "1",
                  "--set", "dataset.resolution=32", "--set", "generator.cbase=512", "--set", "generator.cmax=32",
                  "--set", "generator.z_dim=32", "--set", "generator.w_dim=32", "--set", "generator.map_depth=2",
                  "--set", "discriminator.cbase=512", "--set", "discriminator.cmax=32",
                  "--set", "generator.style_mixing_prob=0.9", "--set", "regularizers.r1.interval=4",
                  "--set", "training.progress=false", "--set", "training.tensorboard=false",
                  "--set", "training.grid=[2,2]"])
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.iterdir())
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    names = set().union(*stats)
    assert {"Loss/pl_penalty", "Loss/G/reg", "Loss/r1_penalty", "Loss/G/loss", "Loss/D/loss"} <= names
    assert any(f.name.startswith("network-snapshot-") for f in run_dir.iterdir())
    ckpt = read_checkpoint(run_dir / "checkpoint.pt")
    assert float(ckpt["loss"]["terms"]["path_length"]["pl_mean"]) > 0


def test_cli_smoke_run_with_ada(tmp_path, cli):
    """The issue's `gan run --generator stylegan2 --disc stylegan2 --data X --aug ada`, at 32x32 on CPU."""
    sets = ["dataset.resolution=32", "generator.cbase=512", "generator.cmax=32", "generator.z_dim=32",
            "generator.w_dim=32", "generator.map_depth=2", "discriminator.cbase=512", "discriminator.cmax=32",
            "training.progress=false", "training.tensorboard=false", "training.grid=[2,2]"]
    result = cli(["run", "--generator", "stylegan2", "--disc", "stylegan2", "--data", "shapes", "--aug", "ada",
                  "--kimg", "0.064", "--batch", "8", "--tick", "0.032", "--outdir", str(tmp_path)]
                 + [arg for item in sets for arg in ("--set", item)])
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.iterdir())
    assert json.loads((run_dir / "config.json").read_text())["augment"]["name"] == "ada"
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert any("Progress/augment" in row for row in stats)
    assert read_checkpoint(run_dir / "checkpoint.pt")["augment"] is not None


def test_pl_mean_is_restored_on_resume(tmp_path):
    first = ganforge.train(run_config(tmp_path))
    saved = float(read_checkpoint(first.run_dir / "checkpoint.pt")["loss"]["terms"]["path_length"]["pl_mean"])
    assert saved > 0
    capture = _Capture()
    with temporary_plugin(capture, "capture"):
        result = ganforge.train(resume=first.run_dir, kimg=0.096)
    assert result.status == "done" and result.cur_nimg >= 96
    assert capture.seen[0]["pl_mean"] == pytest.approx(saved)


def test_resume_from_an_official_pickle_copies_the_weights(tmp_path):
    info = DataInfo(32, 3, 0)
    cfg = g_config(**{k: v for k, v in TINY_G.items() if k != "name"})
    from ganforge.plugins.stylegan2.networks import build_discriminator, build_generator

    G = randomize(build_generator(cfg, info), seed=7)
    G_ema = randomize(build_generator(cfg, info), seed=8)
    dcfg = StyleGAN2DiscriminatorConfig(**{k: v for k, v in TINY_D.items() if k != "name"})
    D = randomize(build_discriminator(dcfg, info), seed=9)
    pkl = tmp_path / "network-snapshot-001000.pkl"
    write_snapshot(pkl, G, D, G_ema, sg3_layout_kwargs(G, cfg), d_kwargs(D, dcfg))
    capture = _Capture()
    with temporary_plugin(capture, "capture"):
        result = ganforge.train(run_config(tmp_path / "runs", kimg=0.008), resume_from=str(pkl))
    seen = capture.seen[0]
    for name, want in G.state_dict().items():
        assert torch.equal(seen["G"][name], want), name
    for name, want in G_ema.state_dict().items():
        assert torch.equal(seen["G_ema"][name], want), name
    log = (result.run_dir / "log.txt").read_text()
    assert f"copied {len(G.state_dict())} tensors into G" in log and f"copied {len(D.state_dict())} tensors into D" in log


def test_path_length_needs_a_style_based_generator(tmp_path):
    cfg = run_config(tmp_path)
    cfg["generator"] = {"name": "pggan", "fmaps_base": 256, "fmaps_max": 16}
    with pytest.raises(IncompatibleComponentsError, match="needs a generator that provides 'mapping'"):
        ganforge.train(cfg)


def test_path_length_refuses_fused_training_with_skipped_weight_gradients(tmp_path):
    cfg = run_config(tmp_path)
    cfg["generator"] = {**TINY_G, "fused_modconv_default": True}
    with pytest.raises(IncompatibleComponentsError, match="fused_modconv_default"):
        ganforge.train(cfg)


def test_too_few_channels_is_a_clear_error(tmp_path):
    cfg = run_config(tmp_path)
    cfg["generator"] = {**TINY_G, "cbase": 16}
    with pytest.raises(IncompatibleComponentsError, match="generator.cbase=16 gives 0 channels at 32x32"):
        ganforge.train(cfg)


# ---------------------------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_resolve(name):
    config, _ = resolve_config({"dataset": {"name": "shapes", "resolution": 32}}, preset=name)
    assert config.generator.name == "stylegan2" and config.discriminator.name == "stylegan2"
    assert config.training.betas == (0.0, 0.99)


def test_official_settings_of_the_presets():
    sg2, _ = resolve_config({}, preset="stylegan2")
    assert (sg2.generator.map_depth, sg2.generator.style_mixing_prob, sg2.regularizers["path_length"].pl_weight,
            sg2.regularizers["path_length"].interval, sg2.regularizers["r1"].interval, sg2.training.glr, sg2.training.batch,
            sg2.training.ema_kimg, sg2.generator.fused_modconv_default) == (8, 0.9, 2, 4, 16, 0.002, 32, None,
                                                                             "inference_only")
    p256, _ = resolve_config({}, preset="stylegan2-paper256")
    assert (p256.generator.cbase, p256.regularizers["r1"].gamma, p256.training.batch, p256.discriminator.mbstd_group_size,
            p256.training.glr, p256.training.ema_kimg, p256.training.ema_rampup, p256.generator.w_avg_beta) == \
        (16384, 1, 64, 8, 0.0025, 20, None, 0.995)
    cifar, _ = resolve_config({}, preset="stylegan2-cifar")
    assert cifar.discriminator.architecture == "orig" and "path_length" not in cifar.regularizers
    assert (cifar.generator.style_mixing_prob, cifar.generator.map_depth, cifar.discriminator.mbstd_group_size) == (0, 2, 32)
    # user flags on top: --gamma and --mirror
    mine, _ = resolve_config({}, preset="stylegan2-paper1024", overrides={"regularizers.r1.gamma": 6.6})
    assert mine.regularizers["r1"].gamma == 6.6 and mine.generator.cbase == 32768


@pytest.mark.parametrize("res, batch, gamma, cbase, lr", [(256, 16, 0.8192, 16384, 0.0025),
                                                          (1024, 4, 52.4288, 32768, 0.002),
                                                          (64, 32, 0.0256, 16384, 0.0025)])
def test_auto_formula(res, batch, gamma, cbase, lr):
    cfg = auto_config(res)
    t = cfg["training"]
    assert (t["batch"], cfg["generator"]["cbase"], t["glr"], cfg["generator"]["map_depth"]) == (batch, cbase, lr, 2)
    assert cfg["regularizers"]["r1"]["gamma"] == pytest.approx(gamma)
    assert cfg["discriminator"]["mbstd_group_size"] == min(batch, 4) and t["ema_kimg"] == pytest.approx(batch * 10 / 32)
    assert auto_config(256, gpus=8)["training"]["batch"] == 64


# ---------------------------------------------------------------------------------------------
# Contract checks (small default configs; the full-size ones are slow)
# ---------------------------------------------------------------------------------------------


class _SmallG(StyleGAN2GeneratorConfig):
    name: Literal["stylegan2"] = "stylegan2"
    z_dim: int = Field(32, description="Latent size.")
    w_dim: int = Field(32, description="Intermediate latent size.")
    cbase: int = Field(256, description="Channel budget.")
    cmax: int = Field(32, description="Maximum channels.")


class _SmallD(StyleGAN2DiscriminatorConfig):
    name: Literal["stylegan2"] = "stylegan2"
    cbase: int = Field(256, description="Channel budget.")
    cmax: int = Field(32, description="Maximum channels.")


def test_contract_checks_small():
    registry = get_registry()
    check_generator(dataclasses.replace(registry.get("generator", "stylegan2"), config=_SmallG))
    check_discriminator(dataclasses.replace(registry.get("discriminator", "stylegan2"), config=_SmallD))


@pytest.mark.slow
def test_contract_checks_default_size():
    registry = get_registry()
    check_generator(registry.get("generator", "stylegan2"))
    check_discriminator(registry.get("discriminator", "stylegan2"))
