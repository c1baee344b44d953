"""benchmarks/projected_fid_proxy.py: its curve reader and plot (the training itself is a benchmark)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "projected_fid_proxy.py"


@pytest.fixture
def script():
    spec = importlib.util.spec_from_file_location("projected_fid_proxy", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_curve_pairs_each_evaluation_with_its_tick_and_is_plotted(script, tmp_path):
    ticks = [0.008, 0.512, 1.016]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps({"Progress/kimg": {"mean": k}}) + "\n" for k in ticks))
    values = [211.3, 153.4, 140.0]
    (tmp_path / "metric-fd_effnet_proxy.jsonl").write_text(
        "".join(json.dumps({"results": {"fd_effnet_proxy": v}}) + "\n" for v in values))
    curve = script.read_curve(tmp_path, "fd_effnet_proxy")
    assert [k for k, _ in curve] == ticks and [r["fd_effnet_proxy"] for _, r in curve] == values
    png = script.plot_curve(curve, "fd_effnet_proxy", tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_config_uses_the_projected_pair_and_the_metric_options(script):
    args = script.parse_args(["--metric", "fd_effnet_proxy", "--metric-set", "num_gen=500", "--kimg", "2"])
    config = script.build_config(args)
    assert config["generator"]["name"] == "fastgan-lite" and config["discriminator"]["name"] == "projected"
    assert config["metrics"] == [{"name": "fd_effnet_proxy", "num_gen": 500}]
    assert config["dataset"]["resolution"] == 64 and config["training"]["kimg"] == 2.0
