"""``gan metrics`` / ``gan metrics compare`` and ``gan run`` with metrics, through the CLI."""

from __future__ import annotations

import json

from tests.conftest import toy_config
from tests.plugins.metrics.conftest import write_images


def test_gan_metrics_network_json_and_table(cli, toy_network):
    args = ["metrics", "--network", str(toy_network), "--metrics", "fid50k_full,kid50k_full,pr50k3_full",
            "--detector", "random-tiny", "--num-gen", "24", "--seed", "5"]
    result = cli([*args, "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["metric"] for r in records] == ["fid50k_full", "kid50k_full", "pr50k3_full"]
    assert set(records[2]["results"]) == {"pr50k3_full_precision", "pr50k3_full_recall"}
    assert all(r["provenance"]["num_gen"] == 24 and r["provenance"]["seed"] == 5 for r in records)
    table = cli(args)
    assert table.exit_code == 0, table.output
    assert "fid50k_full" in table.stdout and "pr50k3_full_recall" in table.stdout
    assert f"{records[0]['results']['fid50k_full']:.6g}" in table.stdout  # same seed, same number


def test_gan_metrics_compare_folders_and_zips(cli, tmp_path):
    import zipfile

    a = write_images(tmp_path / "a", 10, size=[(16, 16), (24, 18)])
    b = write_images(tmp_path / "b", 9, seed=3)
    zpath = tmp_path / "b.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(b.iterdir()):
            z.write(f, f"sub/{f.name}")
    out = []
    for other in (b, zpath):
        result = cli(["metrics", "compare", str(a), str(other), "--metrics", "fid,kid,is", "--detector",
                      "random-tiny", "--json"])
        assert result.exit_code == 0, result.output
        out.append({k: v for r in json.loads(result.stdout) for k, v in r["results"].items()})
    assert set(out[0]) == {"fid", "kid", "is_mean", "is_std"}
    assert out[0] == out[1]  # the zip holds the same images


def test_user_mistakes_are_one_line_with_status_2(cli, tmp_path, toy_network):
    a = write_images(tmp_path / "a", 3)
    cases = [
        (["metrics", "compare", str(a), str(tmp_path / "missing")], "does not exist"),
        (["metrics", "compare", str(a), str(a), "--metrics", "fud"], "unknown metric 'fud'"),
        (["metrics", "--network", str(toy_network), "--metrics", "fid50k_fulll"], "Did you mean 'fid50k_full'"),
        (["metrics", "--network", str(tmp_path / "none.pt")], "does not exist"),
        (["metrics", "compare", str(a), str(tmp_path)], "contains no images"),
    ]
    (tmp_path / "empty").mkdir()
    cases[-1] = (["metrics", "compare", str(a), str(tmp_path / "empty")], "contains no images")
    for args, message in cases:
        result = cli(args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output


def test_gan_run_with_metrics_writes_metric_jsonl(cli, toy_plugins, tmp_path):
    cfg = toy_config(tmp_path / "runs", kimg=0.05, network_snapshot_ticks=1)
    cfg["metrics"] = [{"name": "fid50k_full", "num_gen": 16, "detector": "random-tiny", "data_workers": 0},
                      {"name": "is50k", "num_gen": 16, "detector": "random-tiny", "num_splits": 2}]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg))
    result = cli(["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    run_dir = next((tmp_path / "runs").iterdir())
    for name in ("fid50k_full", "is50k"):
        lines = (run_dir / f"metric-{name}.jsonl").read_text().splitlines()
        assert lines, name
        rec = json.loads(lines[-1])
        assert rec["metric"] == name and rec["provenance"]["network"].endswith(".pt")
        assert rec["provenance"]["detector"] == "random-tiny/inception"


def test_ppl_with_a_generator_without_mapping_is_refused_before_training(cli, toy_plugins, tmp_path):
    cfg = toy_config(tmp_path / "runs")
    cfg["metrics"] = ["ppl2_wend"]
    path = tmp_path / "run.json"
    path.write_text(json.dumps(cfg))
    result = cli(["run", "--config", str(path)])
    assert result.exit_code == 2 and "needs a generator that provides 'mapping'" in result.output


def test_gan_metrics_network_by_url(cli, toy_network, http_server):
    import hashlib

    data = toy_network.read_bytes()
    http_server.files["toy.pt"] = data
    args = ["--metrics", "kid50k_full", "--detector", "random-tiny", "--num-gen", "16", "--seed", "1", "--json"]
    local = cli(["metrics", "--network", str(toy_network), *args])
    remote = cli(["metrics", "--network", http_server.url("toy.pt"), "--sha256", hashlib.sha256(data).hexdigest(),
                  *args])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    value = json.loads(remote.stdout)[0]["results"]["kid50k_full"]
    assert value == json.loads(local.stdout)[0]["results"]["kid50k_full"]
    assert http_server.count("toy.pt") == 1
