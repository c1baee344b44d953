"""ADA in real runs: the controller in the loop, p across an exact resume, any G/D pair, the CLI."""

from __future__ import annotations

import json

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import read_checkpoint
from ganforge.core.plugins import temporary_plugin
from tests.conftest import toy_config


class StopAt:
    def __init__(self, tick):
        self.tick = tick

    @hookimpl
    def ganforge_run_should_stop(self, run, stats):
        return True if run.cur_tick == self.tick else None


def _augment_trace(run_dir):
    return [json.loads(line)["Progress/augment"]["mean"] for line in open(run_dir / "stats.jsonl")]


def test_controller_in_the_loop_and_p_survives_resume(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, deterministic=True, kimg=0.3)
    cfg["augment"] = {"name": "ada", "kimg": 1, "interval": 2}  # one step: 16 * 2 / 1000 = 0.032
    full = ganforge.train(cfg)
    trace = _augment_trace(full.run_dir)
    assert max(trace) > 0
    for p in trace:  # p only ever moves by whole controller steps
        assert abs(p / 0.032 - round(p / 0.032)) < 1e-3, trace
    final = read_checkpoint(full.run_dir / "checkpoint.pt")["augment"]["p"]
    assert float(final) > 0 and set(read_checkpoint(full.run_dir / "checkpoint.pt")["augment"]) == \
        {"p", "Hz_geom", "Hz_fbank"}

    with temporary_plugin(StopAt(2), "stopper"):
        part = ganforge.train(cfg)
    assert part.status == "stopped"
    saved = read_checkpoint(part.run_dir / "checkpoint.pt")["augment"]["p"]
    assert float(saved) == _augment_trace(part.run_dir)[-1]
    resumed = ganforge.train(resume=str(part.run_dir))
    assert resumed.cur_nimg == full.cur_nimg
    # an exact resume restores p (and the controller's partial statistics): same trajectory, same end
    assert _augment_trace(part.run_dir) == trace
    assert float(read_checkpoint(part.run_dir / "checkpoint.pt")["augment"]["p"]) == float(final)


def test_fixed_p_with_toy_pair(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, kimg=0.05)
    cfg["augment"] = {"name": "ada", "preset": "bgcfnc", "target": None}
    result = ganforge.train(cfg)
    assert result.status == "done"
    assert set(_augment_trace(result.run_dir)) == {0.20000000298023224}  # float32 0.2, never adapted
    rows = [json.loads(line) for line in open(result.run_dir / "stats.jsonl")]
    assert any("Loss/r1_penalty" in row for row in rows)  # R1 differentiated through the augmentation


def test_pggan_pair_through_the_cli(cli, tmp_path):
    result = cli(["run", "--generator", "pggan", "--disc", "pggan", "--data", "shapes", "--aug", "ada",
                  "--kimg", "0.032", "--batch", "8", "--tick", "0.016", "--outdir", str(tmp_path),
                  "--set", "dataset.resolution=16", "--set", "dataset.size=64",
                  "--set", "generator.fmaps_base=256", "--set", "generator.fmaps_max=16",
                  "--set", "discriminator.fmaps_base=256", "--set", "discriminator.fmaps_max=16",
                  "--set", "discriminator.mbstd_group_size=4", "--set", "augment.p=0.5",
                  "--set", "augment.preset=bgcfnc", "--set", "training.progress=false",
                  "--set", "training.tensorboard=false", "--set", "training.image_snapshot_ticks=null"])
    assert result.exit_code == 0, result.output
    run_dir = next(tmp_path.iterdir())
    config = json.load(open(run_dir / "config.json"))
    assert config["augment"]["name"] == "ada" and config["augment"]["preset"] == "bgcfnc"
    rows = [json.loads(line) for line in open(run_dir / "stats.jsonl")]
    assert rows[0]["Progress/augment"]["mean"] == 0.5 and any("Loss/r1_penalty" in row for row in rows)
    assert "augment" in result.output  # the tick line shows p
