"""Short CPU runs of both testbeds for several architectures, resume, loading, evaluation figures, CLI."""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
import pytest
import torch
from pydantic import Field
from torch import nn

from ganforge import hookimpl
from ganforge.core.checkpoint import load_bundle, load_network
from ganforge.core.config import ComponentConfig
from ganforge.core.errors import ConfigError, IncompatibleComponentsError, UnknownComponentError
from ganforge.core.plugins import temporary_plugin
from ganforge.core.specs import DiscriminatorSpec, GeneratorSpec
from ganforge.plugins.freqbias.config import resolve_testbed_config
from ganforge.plugins.freqbias.evaluate import evaluate_run, final_predictions
from ganforge.plugins.freqbias.testbed_discriminator import train_discriminator_testbed
from ganforge.plugins.freqbias.testbed_generator import train_generator_testbed


# -- a third-party plugin, as someone outside the project would write it ------------------------
class UpConvConfig(ComponentConfig):
    name: Literal["tp-upconv"] = "tp-upconv"
    z_dim: int = Field(8, description="Latent size.")
    width: int = Field(8, description="Channels.")


class UpConvG(nn.Module):
    """z -> 2x2 map -> transposed convolutions (x2 each) -> image."""

    def __init__(self, cfg, info):
        super().__init__()
        self.z_dim, self.c_dim = cfg.z_dim, info.label_dim
        self.img_resolution, self.img_channels = info.resolution, info.channels
        self.fc = nn.Linear(cfg.z_dim + info.label_dim, cfg.width * 4)
        ups = []
        res = 2
        while res < info.resolution:
            ups += [nn.ConvTranspose2d(cfg.width, cfg.width, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            res *= 2
        self.ups = nn.Sequential(*ups)
        self.out = nn.Conv2d(cfg.width, info.channels, 1)
        self.width = cfg.width

    def forward(self, z, c):
        x = self.fc(torch.cat([z, c], 1)).view(-1, self.width, 2, 2)
        return self.out(self.ups(x))


class TwoHeadConfig(ComponentConfig):
    name: Literal["tp-twohead"] = "tp-twohead"
    width: int = Field(8, description="Channels.")


class TwoHeadD(nn.Module):
    """Unconditional, two logits per image ([N, 2]), any number of input channels."""

    def __init__(self, cfg, info):
        super().__init__()
        self.conv = nn.Conv2d(info.channels, cfg.width, 3, stride=2, padding=1)
        self.fc = nn.Linear(cfg.width * (info.resolution // 2) ** 2, 2)

    def forward(self, img, c):
        return self.fc(torch.nn.functional.leaky_relu(self.conv(img), 0.2).flatten(1))


class ThirdParty:
    @hookimpl
    def ganforge_register_generators(self):
        return [GeneratorSpec(name="tp-upconv", factory=UpConvG, config=UpConvConfig, summary="test G")]

    @hookimpl
    def ganforge_register_discriminators(self):
        return [DiscriminatorSpec(name="tp-twohead", factory=TwoHeadD, config=TwoHeadConfig, summary="test D",
                                  conditional=False)]


@pytest.fixture
def third_party():
    with temporary_plugin(ThirdParty(), "third_party_test"):
        yield


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FAST = ["data.resolution=8", "data.subset=3", "dataset=photos", "training.progress=false",
        "training.threads=1", "training.print_every=2"]


def gen_config(name, *sets, iterations=6, eval_every=3):
    config, _ = resolve_testbed_config("generator", sets=[f"generator.name={name}", *FAST,
                                                          f"training.iterations={iterations}",
                                                          f"training.eval_every={eval_every}", *sets])
    return config


def disc_config(name, *sets, iterations=6, eval_every=3):
    config, _ = resolve_testbed_config("discriminator", sets=[f"discriminator.name={name}", *FAST,
                                                              f"training.iterations={iterations}",
                                                              f"training.eval_every={eval_every}", *sets])
    return config


def _stats(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def _check_layout(run_dir, iterations, evals):
    assert json.loads((run_dir / "config.json").read_text())["training"]["iterations"] == iterations
    data = torch.load(run_dir / "model.pt", weights_only=True)
    assert data["progress"]["it"] == iterations and data["format"] == "ganforge-freqbias-testbed"
    logged = sorted(int(p.stem.split("_")[1]) for p in (run_dir / "logs").glob("spectrum_0*.npz"))
    assert logged == evals
    assert sorted(p.name for p in (run_dir / "imgs").iterdir()) == [f"samples_{i:08d}.png" for i in evals]
    assert (run_dir / "logs" / "spectrum_real.npz").is_file() and (run_dir / "training_data.png").is_file()
    assert len(list((run_dir / "plots").glob("spectrum_*.png"))) == len(evals)


# -- generator testbed -------------------------------------------------------------------------
@pytest.mark.parametrize("generator", ["toy", "tp-upconv"])
def test_generator_testbed_runs_any_generator(tmp_path, toy_plugins, third_party, generator):
    config = gen_config(generator, iterations=30, eval_every=10)
    result = train_generator_testbed(config, tmp_path / "run")
    run_dir = result.run_dir
    assert result.iterations == 30
    _check_layout(run_dir, 30, [0, 10, 20, 30])
    rows = _stats(run_dir)
    train = [r["loss"] for r in rows if r["kind"] == "train"]
    psnrs = [r["psnr"] for r in rows if r["kind"] == "eval"]
    assert len(train) == 15 and train[-1] < train[0]  # the regression makes progress
    assert psnrs[-1] > psnrs[0]
    # the eval command recomputes the final PSNR from model.pt and the data: it must match the log
    pred, images, it = final_predictions(run_dir)
    assert it == 30 and pred.shape == images.shape == (3, 3, 8, 8)
    out = evaluate_run(run_dir, psnr=True, image_evolution=True, spectrum_evolution=True,
                       spectrum_error_evolution=True, rows=3)
    assert out.psnr == pytest.approx(psnrs[-1], rel=1e-6)
    assert {p.name for p in out.figures} == {"image_evolution.png", "spectrum_evolution.png",
                                            "spectrum_error_evolution.png"}
    assert all(p.stat().st_size > 2000 for p in out.figures)
    err = np.load(run_dir / "eval" / "spectrum_error_evolution.npz")
    # 8x8 images: 6 bins, DC dropped
    assert list(err["iterations"]) == [0, 10, 20, 30] and err["error"].shape == (4, 5)
    assert np.abs(err["error"]).max() <= 1
    # model.pt loads as a network anywhere a network is accepted
    G = load_network(run_dir / "model.pt")
    torch.testing.assert_close(G(torch.load(run_dir / "model.pt", weights_only=True)["latents"],
                                 torch.zeros(3, G.c_dim)), pred)


def test_generator_testbed_spectrum_loss_and_highpass(tmp_path, toy_plugins):
    config = gen_config("toy", "training.losses={\"mse\": 1, \"spectrum\": 0.5}", "data.highpass=true",
                        iterations=4, eval_every=4)
    train_generator_testbed(config, tmp_path / "run")
    pred, images, _ = final_predictions(tmp_path / "run")
    assert images.abs().max() > 1  # the high-pass output can leave [-1, 1] (gain 4 at Nyquist)
    assert images.mean(dim=(2, 3)).abs().max() < 0.3  # and removes DC


def test_generator_testbed_resumes_exactly(tmp_path, toy_plugins):
    full = train_generator_testbed(gen_config("toy", iterations=8, eval_every=4), tmp_path / "full")
    part = gen_config("toy", "training.save_every=2", iterations=5, eval_every=4)
    train_generator_testbed(part, tmp_path / "part")
    resumed = train_generator_testbed(gen_config("toy", "training.save_every=2", iterations=8, eval_every=4),
                                      tmp_path / "part")
    assert resumed.iterations == 8
    a = torch.load(full.run_dir / "model.pt", weights_only=True)["networks"]["G"]
    b = torch.load(resumed.run_dir / "model.pt", weights_only=True)["networks"]["G"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    its = [r["it"] for r in _stats(resumed.run_dir)]
    assert its == sorted(its) and len(its) == len(set((r["it"], r["kind"]) for r in _stats(resumed.run_dir)))


def test_a_run_folder_refuses_another_configuration(tmp_path, toy_plugins):
    train_generator_testbed(gen_config("toy", iterations=1, eval_every=1), tmp_path / "run")
    with pytest.raises(ConfigError, match="generator.width"):
        train_generator_testbed(gen_config("toy", "generator.width=4", iterations=1), tmp_path / "run")


# -- discriminator testbed ---------------------------------------------------------------------
@pytest.mark.parametrize("disc,mode", [("toy", "native"), ("tp-twohead", "input"), ("tp-twohead", "logit")])
def test_discriminator_testbed_runs_any_discriminator(tmp_path, toy_plugins, third_party, disc, mode):
    extra = ["model.spectrum_disc=true"] if mode == "input" else []
    config = disc_config(disc, f"model.conditioning={'auto' if mode != 'logit' else 'logit'}", *extra,
                         iterations=10, eval_every=5)
    result = train_discriminator_testbed(config, tmp_path / "run")
    _check_layout(result.run_dir, 10, [0, 5, 10])
    D = load_network(result.run_dir / "model.pt", which="D")
    assert D.mode == mode and (D.spec_disc is not None) == bool(extra)
    bundle = load_bundle(result.run_dir / "model.pt")
    assert bundle.G_ema.c_dim == 3 and bundle.info.label_dim == 3
    images = bundle.G.images
    assert not torch.equal(images, bundle.G_ema.images)  # the EMA copy lags behind
    rows = _stats(result.run_dir)
    assert {"loss_d", "loss_g", "reg"} <= set(rows[1])
    out = evaluate_run(result.run_dir, psnr=True, spectrum_error_evolution=True)
    assert out.psnr == pytest.approx([r["psnr"] for r in rows if r["kind"] == "eval"][-1], rel=1e-6)
    if mode == "native":  # the direct generator is a conditional network for gan spectrum calc too
        from ganforge.plugins.freqbias.avg_spectra import iter_images

        batch = next(iter_images(result.run_dir / "model.pt", num=4, batch=4))
        assert batch.shape == (4, 3, 8, 8) and batch.dtype == torch.uint8


def test_direct_generator_moves_towards_the_data(tmp_path, toy_plugins):
    config = disc_config("toy", "training.model_average_beta=0", iterations=100, eval_every=100)
    result = train_discriminator_testbed(config, tmp_path / "run")
    psnrs = [r["psnr"] for r in _stats(result.run_dir) if r["kind"] == "eval"]
    assert psnrs[-1] > psnrs[0] + 1


def test_unsuitable_conditioning_is_refused(tmp_path, third_party):
    config = disc_config("tp-twohead", "model.conditioning=native", iterations=1)
    with pytest.raises(IncompatibleComponentsError, match="unconditional"):
        train_discriminator_testbed(config, tmp_path / "run")


# -- PGGAN (the paper's architecture) ------------------------------------------------------------
def test_pggan_in_both_testbeds(tmp_path):
    small = ["fmaps_base=64", "fmaps_max=8"]
    g = gen_config("pggan", *(f"generator.{s}" for s in small), "generator.upsampling=zeros", iterations=3,
                   eval_every=3)
    assert g.generator.z_dim == 64 and g.generator.padding_mode == "reflect"  # the paper's testbed config
    train_generator_testbed(g, tmp_path / "g")
    d = disc_config("pggan", *(f"discriminator.{s}" for s in small), "discriminator.downsampling=blurpool",
                    iterations=3, eval_every=3)
    result = train_discriminator_testbed(d, tmp_path / "d")
    assert load_network(result.run_dir / "model.pt", which="D").mode == "native"


# -- configuration and CLI -----------------------------------------------------------------------
def test_config_errors_name_the_field():
    with pytest.raises(ConfigError, match=r"training.lrr: unknown option 'lrr'; did you mean 'lr'"):
        resolve_testbed_config("generator", sets=["training.lrr=1"])
    with pytest.raises(ConfigError, match=r"generator.upsampling"):
        resolve_testbed_config("generator", sets=["generator.upsampling=cubic"])
    with pytest.raises(UnknownComponentError, match="Available generators"):
        resolve_testbed_config("generator", sets=["generator.name=nope"])
    with pytest.raises(ConfigError, match="losses"):
        resolve_testbed_config("generator", sets=["training.losses={\"mse\": 0}"])
    cfg, applied = resolve_testbed_config("generator", sets=["generator.z_dim=32"])
    assert cfg.generator.z_dim == 32 and not any("z_dim" in line for line in applied)
    assert any("divide_channels_by" in line for line in applied)


def test_cli_testbeds_and_eval(tmp_path, cli, toy_plugins, third_party):
    common = ["--data", "photos", "--resolution", "8", "--subset", "2", "--iterations", "2", "--eval-every",
              "1", "--threads", "1", "--outdir", str(tmp_path)]
    result = cli(["testbed", "generator", "-G", "tp-upconv", *common, "--loss", "mse=1,spectrum=0.1"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "tp-upconv-photos"
    losses = json.loads((run / "config.json").read_text())["training"]["losses"]
    assert losses == {"mse": 1.0, "spectrum": 0.1}
    result = cli(["testbed", "eval", str(run)])
    assert result.exit_code == 0, result.output
    assert "Average PSNR" in result.output and len(list((run / "eval").glob("*.png"))) == 3
    result = cli(["testbed", "discriminator", "-D", "toy", *common, "--spectrum-disc", "--name", "d"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "d" / "model.pt").is_file()


def test_cli_user_errors_are_one_line(tmp_path, cli):
    result = cli(["testbed", "generator", "--set", "training.lrr=1", "--outdir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown option 'lrr'" in result.output
    assert "Traceback" not in result.output
    result = cli(["testbed", "discriminator", "--data", "no/such/thing", "--outdir", str(tmp_path)])
    assert result.exit_code == 2 and "neither an existing file" in result.output
    result = cli(["testbed", "eval", str(tmp_path)])
    assert result.exit_code == 2 and "not a testbed run folder" in result.output
    result = cli(["testbed", "generator", "--dry-run", "--data", "toyset"])
    assert result.exit_code == 0 and '"upsampling": "bilinear"' in result.output
