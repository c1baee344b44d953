"""The training loop: smoke run, exact resume, multi-process equivalence, NaN guard, atomic checkpoints."""

from __future__ import annotations

import json
import os

import pytest
import torch

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import atomic_save, read_checkpoint
from ganforge.core.errors import CheckpointError, ConfigError, TrainingDivergedError
from ganforge.core.plugins import temporary_plugin
from tests.conftest import toy_config


def _weights(run_dir):
    data = read_checkpoint(run_dir / "checkpoint.pt")
    return data["networks"], data


def _max_diff(a, b):
    return max((a[n][k].double() - b[n][k].double()).abs().max().item() for n in a for k in a[n])


class StopAt:
    def __init__(self, tick):
        self.tick = tick

    @hookimpl
    def ganforge_run_should_stop(self, run, stats):
        return True if run.cur_tick == self.tick else None


def test_smoke_run_writes_run_directory(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, image_snapshot_ticks=2, network_snapshot_ticks=2, grid=[4, 2])
    result = ganforge.train(cfg)
    files = set(os.listdir(result.run_dir))
    assert {"config.json", "stats.jsonl", "reals.png", "fakes_init.png", "checkpoint.pt", "log.txt"} <= files
    assert any(f.startswith("fakes0") for f in files) and any(f.startswith("network-snapshot-") for f in files)
    rows = [json.loads(line) for line in open(result.run_dir / "stats.jsonl")]
    assert [r["Progress/tick"]["mean"] for r in rows] == list(range(len(rows)))
    assert rows[-1]["Progress/kimg"]["mean"] >= 0.2
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/scores/real", "Loss/r1_penalty", "Timing/sec_per_kimg"):
        assert key in rows[-1], key
    assert result.status == "done" and result.cur_nimg >= 200
    # the written config reproduces the run's configuration
    written = json.load(open(result.run_dir / "config.json"))
    assert written == result.config.to_dict()


def test_resume_is_bit_identical(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, deterministic=True, kimg=0.3)
    full = ganforge.train(cfg)
    with temporary_plugin(StopAt(2), "stopper"):
        part = ganforge.train(cfg)
    assert part.status == "stopped" and part.cur_nimg < full.cur_nimg
    resumed = ganforge.train(resume=str(part.run_dir))
    assert resumed.run_dir == part.run_dir and resumed.cur_nimg == full.cur_nimg
    a, da = _weights(full.run_dir)
    b, db = _weights(part.run_dir)
    assert _max_diff(a, b) == 0.0
    for name in ("G", "D"):  # optimiser states too
        for x, y in zip(da["optimizers"][name]["state"].values(), db["optimizers"][name]["state"].values()):
            assert torch.equal(x["exp_avg"], y["exp_avg"])
    ticks = [json.loads(line)["Progress/tick"]["mean"] for line in open(part.run_dir / "stats.jsonl")]
    assert ticks == list(range(len(ticks)))  # no tick lost or duplicated across the resume


def test_resume_latest_and_extend(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, kimg=0.1)
    first = ganforge.train(cfg)
    with pytest.raises(ConfigError, match="already reached"):
        ganforge.train(resume="latest", outdir=str(tmp_path))
    longer = ganforge.train(resume="latest", outdir=str(tmp_path), kimg=0.2)
    assert longer.run_dir == first.run_dir and longer.cur_nimg >= 200


def test_resume_errors_are_clear(toy_plugins, tmp_path):
    with pytest.raises(CheckpointError, match="no such run directory"):
        ganforge.train(resume=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        ganforge.train(resume=str(tmp_path / "empty"))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        ganforge.train(resume=str(junk))


def test_two_processes_match_one(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, batch=16, batch_gpu=8, kimg=0.1)
    one = ganforge.train(cfg, gpus=1)
    two = ganforge.train(cfg, gpus=2, plugins_dir=str(toy_plugins))
    assert "gpus2" in two.run_dir.name
    a, _ = _weights(one.run_dir)
    b, _ = _weights(two.run_dir)
    assert _max_diff(a, b) < 1e-5


class NaNAfter:
    """Make D's output NaN from a given number of images on."""

    def __init__(self, nimg):
        self.nimg = nimg

    @hookimpl
    def ganforge_run_start(self, run):
        limit = self.nimg

        def hook(module, args, output):
            return output * float("nan") if run_state["nimg"] >= limit else output

        run_state = {"nimg": 0}
        run.extra["nan_state"] = run_state
        run.D.register_forward_hook(hook)

    @hookimpl
    def ganforge_run_tick(self, run):
        run.extra["nan_state"]["nimg"] = run.cur_nimg


def test_nan_guard_stops_and_keeps_last_good_checkpoint(toy_plugins, tmp_path):
    cfg = toy_config(tmp_path, kimg=1)
    with temporary_plugin(NaNAfter(100), "nan"), pytest.raises(TrainingDivergedError) as err:
        ganforge.train(cfg)
    msg = str(err.value)
    assert "diverged" in msg and "Loss/" in msg and "--resume" in msg
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    nets, data = _weights(run_dir)
    assert data["progress"]["cur_nimg"] >= 100
    for state in nets.values():
        for tensor in state.values():
            if tensor.is_floating_point():
                assert torch.isfinite(tensor).all()


def test_atomic_save_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic_save({"format": "x", "value": torch.arange(3)}, path)

    def broken_save(obj, f):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save({"value": torch.arange(5)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["value"], torch.arange(3))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_incompatible_pairing_fails_before_allocation(toy_plugins, tmp_path):
    from ganforge.core.errors import IncompatibleComponentsError

    cfg = toy_config(tmp_path, batch=12, batch_gpu=8)
    with pytest.raises(IncompatibleComponentsError, match="batch_gpu=8 must divide"):
        ganforge.train(cfg)
    assert list(tmp_path.iterdir()) == []  # no run directory was created
