"""Killing training at any moment never leaves a corrupt checkpoint, and the run resumes from it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ganforge.core.checkpoint import read_checkpoint
from tests.conftest import TOY_PLUGINS_DIR, toy_config

ROOT = Path(__file__).resolve().parents[2]


def _gan(*args: str, wait: bool = True, env_extra: dict | None = None):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "ganforge", "--plugins-dir", str(TOY_PLUGINS_DIR), *args]
    if wait:
        return subprocess.run(cmd, env=env, capture_output=True, text=True)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_at_random_moments_then_resume(tmp_path):
    cfg = toy_config(tmp_path / "runs", kimg=3, kimg_per_tick=0.02, deterministic=True)
    cfg_file = tmp_path / "run.json"
    cfg_file.write_text(json.dumps(cfg))
    proc = _gan("run", "--config", str(cfg_file), wait=False)
    rng = random.Random(0)
    run_dir = None
    kills = 0
    deadline = time.time() + 120
    while kills < 4 and time.time() < deadline:
        runs = list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []
        if runs and (runs[0] / "checkpoint.pt").exists():
            run_dir = runs[0]
            time.sleep(rng.uniform(0.05, 0.6))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            data = read_checkpoint(run_dir / "checkpoint.pt")  # must always load
            assert data["kind"] == "training" and data["progress"]["cur_nimg"] > 0
            proc = _gan("run", "--resume", str(run_dir), wait=False)
        else:
            time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert kills == 4 and run_dir is not None
    before = read_checkpoint(run_dir / "checkpoint.pt")["progress"]["cur_nimg"]
    done = _gan("run", "--resume", str(run_dir), "--kimg", str(before / 1000 + 0.1))
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_checkpoint(run_dir / "checkpoint.pt")["progress"]["cur_nimg"] >= before + 100
    ticks = [json.loads(line)["Progress/tick"]["mean"] for line in open(run_dir / "stats.jsonl")]
    assert ticks == sorted(set(ticks))  # no duplicated ticks after four crashes
    assert not list(run_dir.glob(".*.tmp"))  # half-written files of killed processes are cleaned up
