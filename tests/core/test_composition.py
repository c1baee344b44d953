"""The composition model end to end: regularizers from plugins (the documented R2 example), a term
with an auxiliary network trained, checkpointed and resumed exactly, WGAN-GP and R1 + path length
from the CLI, older configuration layouts, and declared forward options."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import Field

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import load_bundle, read_checkpoint
from ganforge.core.config import ComponentConfig, resolve_config
from ganforge.core.errors import ConfigError, IncompatibleComponentsError, PluginError
from ganforge.core.loss import AuxNetwork, LossTerm
from ganforge.core.options import accepts, call_network, declare_options
from ganforge.core.plugins import temporary_plugin
from ganforge.core.specs import RegularizerSpec
from tests.conftest import toy_config

ROOT = Path(__file__).resolve().parents[2]


def _example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / "plugins" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as --plugins-dir loads it (pydantic resolves annotations there)
    spec.loader.exec_module(module)
    return module


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_documented_r2_example_trains_and_matches_its_formula(toy_plugins, tmp_path):
    r2 = _example("r2_penalty")
    with temporary_plugin(r2, "r2_example"):
        cfg = toy_config(tmp_path, kimg=0.064)
        cfg["regularizers"]["r2"] = {"gamma": 0.5, "interval": 2}
        with pytest.raises(IncompatibleComponentsError, match="lazy D regularizers must share one interval.*r2 every 2, r1 every "
                                                              "4"):
            ganforge.train(cfg)
        cfg["regularizers"]["r2"]["interval"] = 4
        result = ganforge.train(cfg)
        rows = _stats(result.run_dir)
        assert any("Loss/r2_penalty" in row for row in rows) and any("Loss/D/r2" in row for row in rows)
        assert result.config.regularizers["r2"].gamma == 0.5

        # D(x) = <w, x> has input gradient w: the penalty is |w|^2 per sample
        class LinearD(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.randn(2, 3, 3))

            def forward(self, img, c):
                return (img * self.w).flatten(1).sum(1)

        from ganforge.core.loss import PhaseBatch, PhaseContext
        from ganforge.plugins.default_losses.losses import LogisticConfig, LogisticLoss

        G = torch.nn.Sequential(torch.nn.Linear(4, 18), torch.nn.Unflatten(1, (2, 3, 3)))
        G.z_dim = 4
        D = LinearD()
        term = r2.R2Term(r2.R2Config(gamma=3.0))
        loss = LogisticLoss(LogisticConfig(), G=lambda z, c: G(z), D=D, regularizers=[term])
        batch = PhaseBatch(real_img=torch.randn(5, 2, 3, 3), real_c=torch.zeros(5, 0), gen_z=torch.randn(5, 4),
                           gen_c=torch.zeros(5, 0), gain=16, cur_nimg=0)
        value = term(PhaseContext(loss, "Dreg", batch, [term]))
        assert torch.allclose(value, 1.5 * D.w.detach().square().sum(), rtol=1e-5)


class ReverseConfig(ComponentConfig):
    name: Literal["toy_reverse"] = "toy_reverse"
    weight: float = Field(0.1, ge=0, description="Weight of the term on G.")


class ReverseTerm(LossTerm):
    """Trains R(G(z)) -> z on its own phase (RMSprop) and adds weight * |R(G(z)) - z|^2 to G's loss."""

    name, player = "toy_reverse", "G"

    def __init__(self, cfg):
        self.cfg = cfg

    def attach(self, loss):
        pixels = loss.info.channels * loss.info.resolution ** 2
        torch.manual_seed(123)  # the aux network's init must not depend on anything but its own seed here
        self.R = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(pixels, loss.G.z_dim))

    def aux_networks(self):
        return {"R": AuxNetwork(self.R, lr=0.01, optimizer="rmsprop", alpha=0.9, eps=1e-6)}

    def __call__(self, ctx):
        if ctx.player == "R":
            img = ctx.loss.run_G(ctx.batch.gen_z, ctx.batch.gen_c).img.detach()
            return (self.R(img) - ctx.batch.gen_z).square().mean()
        return (self.R(ctx.fake().img) - ctx.batch.gen_z).square().mean() * self.cfg.weight


class ReversePlugin:
    @hookimpl
    def ganforge_register_losses(self):
        return [RegularizerSpec(factory=ReverseTerm, config=ReverseConfig, player="G", summary="test")]


class StopAt:
    def __init__(self, tick):
        self.tick = tick

    @hookimpl
    def ganforge_run_should_stop(self, run, stats):
        return True if run.cur_tick == self.tick else None


def test_auxiliary_network_is_trained_checkpointed_and_resumed_exactly(toy_plugins, tmp_path):
    with temporary_plugin(ReversePlugin(), "reverse"):
        cfg = toy_config(tmp_path, deterministic=True, kimg=0.2, network_snapshot_ticks=2)
        cfg["regularizers"] = {"toy_reverse": {}}
        full = ganforge.train(cfg)
        with temporary_plugin(StopAt(2), "stopper"):
            part = ganforge.train(cfg)
        assert part.status == "stopped"
        resumed = ganforge.train(resume=str(part.run_dir))
        a, b = read_checkpoint(full.run_dir / "checkpoint.pt"), read_checkpoint(resumed.run_dir / "checkpoint.pt")
        for key, value in a["networks"]["aux"]["R"].items():
            assert torch.equal(value, b["networks"]["aux"]["R"][key]), key
        for key, value in a["networks"]["G"].items():
            assert torch.equal(value, b["networks"]["G"][key]), key
        assert a["optimizers"]["R"]["state"] and "alpha" in a["optimizers"]["R"]["param_groups"][0]
        rows = _stats(full.run_dir)
        assert any("Loss/R/toy_reverse" in row for row in rows) and any("Loss/G/toy_reverse" in row for row in rows)
        bundle = load_bundle(sorted(full.run_dir.glob("network-snapshot-*.pt"))[-1])
        assert set(bundle.aux) == {"R"}
        assert torch.equal(bundle.aux["R"][1].weight, a["networks"]["aux"]["R"]["1.weight"])


def test_cli_trains_r1_with_path_length_and_wgan_gp(cli, tmp_path):
    sets = ["dataset.resolution=16", "generator.cbase=256", "generator.cmax=16", "generator.z_dim=16",
            "generator.w_dim=16", "generator.map_depth=2", "discriminator.cbase=256", "discriminator.cmax=16",
            "training.progress=false", "training.tensorboard=false", "training.grid=[2,2]",
            "regularizers.r1.interval=2", "regularizers.path_length.interval=2"]
    args = ["run", "--generator", "stylegan2", "--disc", "stylegan2", "--reg", "r1", "--reg", "path_length",
            "--gamma", "0.5", "--kimg", "0.032", "--batch", "8", "--tick", "0.016", "--outdir", str(tmp_path / "a")]
    result = cli(args + [arg for item in sets for arg in ("--set", item)])
    assert result.exit_code == 0, result.output
    [run_dir] = list((tmp_path / "a").iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["regularizers"]["r1"] == {"name": "r1", "gamma": 0.5, "interval": 2}
    names = set().union(*_stats(run_dir))
    assert {"Loss/r1_penalty", "Loss/D/r1", "Loss/pl_penalty", "Loss/G/path_length"} <= names

    result = cli(["run", "--loss", "wgan-gp", "--data", "shapes", "--kimg", "0.032", "--batch", "8", "--tick", "0.016",
                  "--outdir", str(tmp_path / "b"), "--set", "dataset.resolution=16", "--set", "generator.fmaps_base=256",
                  "--set", "generator.fmaps_max=16", "--set", "discriminator.fmaps_base=256",
                  "--set", "discriminator.fmaps_max=16", "--set", "discriminator.mbstd_group_size=4",
                  "--set", "training.progress=false", "--set", "training.tensorboard=false",
                  "--set", "training.grid=[2,2]"])
    assert result.exit_code == 0, result.output
    [run_dir] = list((tmp_path / "b").iterdir())
    config = json.loads((run_dir / "config.json").read_text())
    assert config["loss"]["name"] == "wgan-gp" and "r1" not in config["regularizers"]
    last = _stats(run_dir)[-1]
    assert last["Loss/gp_penalty"]["num"] > 0 and all(
        torch.isfinite(torch.tensor(last[k]["mean"])) for k in ("Loss/gp_penalty", "Loss/D/loss", "Loss/G/loss"))


def test_older_layouts_resolve_to_the_new_one():
    cfg, applied = resolve_config({"loss": {"name": "logistic", "r1_gamma": 3.0, "r1_interval": 8}})
    assert cfg.regularizers["r1"].gamma == 3.0 and cfg.regularizers["r1"].interval == 8
    assert not any("r1" in line for line in applied)
    cfg, _ = resolve_config({}, sets=["loss.r1_gamma=0"])
    assert "r1" not in cfg.regularizers  # gamma 0 turned R1 off
    cfg, _ = resolve_config({"generator": "stylegan2", "loss": {"name": "logistic", "style_mixing_prob": 0.9}})
    assert cfg.generator.style_mixing_prob == 0.9
    # what old checkpoints carry for generators without these options: zeros, dropped
    cfg, _ = resolve_config({"loss": {"name": "hinge", "r1_gamma": 0.0, "style_mixing_prob": 0.0,
                                      "blur_init_sigma": 0.0, "blur_fade_kimg": 0.0}})
    assert cfg.loss.name == "hinge" and "r1" not in cfg.regularizers
    with pytest.raises(ConfigError, match="loss.style_mixing_prob.*pggan"):
        resolve_config({"loss": {"name": "logistic", "style_mixing_prob": 0.5}})
    # the logistic loss suggests R1; a hinge loss does not; removing a suggested term sticks
    cfg, applied = resolve_config({})
    assert cfg.regularizers["r1"].gamma == 10 and any("regularizers.r1" in line for line in applied)
    assert resolve_config({}, preset="quickstart")[0].regularizers["r1"].gamma == 0.1
    assert "r1" not in resolve_config({"loss": "hinge"})[0].regularizers
    assert "r1" not in resolve_config({"loss": "logistic"}, sets=["regularizers.r1=null"])[0].regularizers
    cfg, applied = resolve_config({"discriminator": {"name": "projected", "pretrained": False}})
    assert cfg.loss.name == "hinge" and "r1" not in cfg.regularizers  # the suggested loss replaced logistic


class Net(torch.nn.Module):
    forward_options = frozenset({"noise_mode"})

    def forward(self, z, c, noise_mode="random", truncation_psi=1.0):
        return (noise_mode, truncation_psi)


def test_declared_forward_options():
    net = Net()
    assert call_network(net, 1, 2, noise_mode="const", truncation_psi=0.5) == ("const", 1.0)  # undeclared: left out
    with pytest.raises(TypeError, match="unknown network option 'noise_mod'.*did you mean 'noise_mode'"):
        call_network(net, 1, 2, noise_mod="const")
    declare_options(net, {"truncation_psi"})
    assert accepts(net, "truncation_psi") and call_network(net, 1, 2, truncation_psi=0.5) == ("random", 0.5)
    with pytest.raises(PluginError, match="declares forward options \\['update_emas'\\]"):
        declare_options(Net(), {"update_emas"})
    G = ganforge.get_registry().get("generator", "stylegan2").build(
        ganforge.get_registry().get("generator", "stylegan2").config(cbase=256, cmax=8, z_dim=8, w_dim=8, map_depth=1),
        ganforge.core.specs.DataInfo(8))
    assert accepts(G, "truncation_psi") and accepts(G.synthesis, "noise_mode") and not accepts(G, "features")
