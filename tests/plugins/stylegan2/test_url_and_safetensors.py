"""Networks by URL on every command that takes one, and pickle-free export: .pkl/.pt -> .safetensors -> .pt
gives the same pixels (an official-layout snapshot served by a local HTTP server)."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.core.checkpoint import load_bundle
from ganforge.core.errors import CheckpointError
from ganforge.core.safetensors_io import looks_like_safetensors, read_safetensors
from tests.plugins.stylegan2.helpers import (
    ada_layout_kwargs,
    d_config,
    d_kwargs,
    g_config,
    make_D,
    make_G,
    randomize,
    write_snapshot,
)

SEEDS = [0, 1, 2]


@pytest.fixture
def snapshot(tmp_path):
    """An official-layout StyleGAN2-ADA snapshot (G, D, G_ema), 16x16."""
    G, G_ema, D = (randomize(make_G(16), seed=1).eval(), randomize(make_G(16), seed=2).eval(),
                   randomize(make_D(16), seed=3).eval())
    path = tmp_path / "snap.pkl"
    write_snapshot(path, G, D, G_ema, ada_layout_kwargs(G, g_config()), d_kwargs(D, d_config()))
    return path


def _generate(cli, network, outdir, *extra):
    result = cli(["generate", "--network", str(network), "--seeds", "0-2", "--trunc", "0.7", "--outdir",
                  str(outdir), "--device", "cpu", *extra])
    assert result.exit_code == 0, result.output
    return np.stack([np.asarray(Image.open(outdir / f"seed{s:04d}.png")) for s in SEEDS])


def test_generate_from_a_url_is_the_same_as_from_the_file(tmp_path, cli, snapshot, http_server):
    data = snapshot.read_bytes()
    http_server.files["stylegan2-tiny.pkl"] = data
    url = http_server.url("stylegan2-tiny.pkl")
    want = _generate(cli, snapshot, tmp_path / "local")
    got = _generate(cli, url, tmp_path / "url", "--sha256", hashlib.sha256(data).hexdigest())
    assert np.array_equal(got, want) and http_server.count("stylegan2-tiny.pkl") == 1
    again = _generate(cli, url, tmp_path / "again")  # from the cache
    assert np.array_equal(again, want) and http_server.count("stylegan2-tiny.pkl") == 1
    G = ganforge.load_network(url)  # the Python API takes URLs too
    assert G.img_resolution == 16


def test_url_errors_on_the_command_line(tmp_path, cli, snapshot, http_server):
    http_server.status["missing.pkl"] = 404
    result = cli(["generate", "--network", http_server.url("missing.pkl"), "--seeds", "0", "--outdir",
                  str(tmp_path / "o")])
    assert result.exit_code == 2 and "HTTP 404" in result.output and "missing.pkl" in result.output
    assert "Traceback" not in result.output
    http_server.files["snap.pkl"] = snapshot.read_bytes()
    result = cli(["generate", "--network", http_server.url("snap.pkl"), "--seeds", "0", "--outdir",
                  str(tmp_path / "o"), "--sha256", "0" * 64])
    assert result.exit_code == 2 and "expected " + "0" * 64 in result.output
    assert not (tmp_path / "o").exists()


def test_a_url_goes_through_the_restricted_unpickler(tmp_path, cli, http_server):
    class Evil:
        def __reduce__(self):
            return (exec, ("open('PWNED', 'w').write('x')",))

    http_server.files["evil.pkl"] = pickle.dumps({"G": Evil()}, protocol=2)
    result = cli(["generate", "--network", http_server.url("evil.pkl"), "--seeds", "0", "--outdir",
                  str(tmp_path / "o")])
    assert result.exit_code == 2 and "refusing to load global __builtin__.exec" in result.output
    assert not (tmp_path / "PWNED").exists()


def test_video_style_mix_and_convert_take_urls(tmp_path, cli, snapshot, http_server):
    http_server.files["snap.pkl"] = snapshot.read_bytes()
    url = http_server.url("snap.pkl")
    result = cli(["style-mix", "--network", url, "--rows", "0,1", "--cols", "2", "--styles", "0-1",
                  "--outdir", str(tmp_path / "mix"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mix" / "grid.png").is_file()
    result = cli(["video", "--network", url, "--seeds", "0-1", "--w-frames", "2", "--loop", "none",
                  "--output", str(tmp_path / "v.gif"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    result = cli(["convert", url, str(tmp_path / "snap.pt")])
    assert result.exit_code == 0, result.output
    assert http_server.count("snap.pkl") == 1  # downloaded once for all three commands


def test_safetensors_round_trip_gives_the_same_pixels(tmp_path, cli, snapshot):
    want = _generate(cli, snapshot, tmp_path / "pkl")
    st = tmp_path / "snap.safetensors"
    result = cli(["convert", str(snapshot), str(st)])  # the format follows the suffix
    assert result.exit_code == 0, result.output
    assert "safetensors: G, D, G_ema" in result.output
    assert st.read_bytes()[:1] != b"\x80" or looks_like_safetensors(st)
    # a plain safetensors reader sees tensors and JSON metadata, nothing executable
    from safetensors import safe_open

    with safe_open(str(st), framework="pt") as f:
        meta = f.metadata()
        keys = list(f.keys())
    assert meta["format"] == "ganforge-safetensors"
    assert json.loads(meta["config"])["generator"]["name"] == "stylegan2"
    assert json.loads(meta["info"])["resolution"] == 16 and json.loads(meta["networks"]) == ["G", "D", "G_ema"]
    assert any(k.startswith("G_ema.mapping.") for k in keys) and any(k.startswith("D.") for k in keys)
    assert np.array_equal(_generate(cli, st, tmp_path / "st"), want)
    back = tmp_path / "back.pt"
    result = cli(["convert", str(st), str(back), "--to", "pt"])
    assert result.exit_code == 0, result.output
    assert np.array_equal(_generate(cli, back, tmp_path / "pt"), want)
    # and the .pt written from safetensors converts to the same tensors again
    assert cli(["convert", str(back), str(tmp_path / "again.safetensors"), "--to", "safetensors"]).exit_code == 0
    a, b = read_safetensors(st), read_safetensors(tmp_path / "again.safetensors")
    for name in ("G", "D", "G_ema"):
        assert a["networks"][name].keys() == b["networks"][name].keys()
        assert all(torch.equal(a["networks"][name][k], b["networks"][name][k]) for k in a["networks"][name])
    bundle = load_bundle(st)
    assert bundle.source == "ganforge-safetensors" and bundle.D is not None and bundle.info.resolution == 16


def test_convert_refuses_mismatched_format_and_foreign_safetensors(tmp_path, cli, snapshot):
    result = cli(["convert", str(snapshot), str(tmp_path / "x.pt"), "--to", "safetensors"])
    assert result.exit_code == 2 and "x.safetensors" in result.output
    result = cli(["convert", str(snapshot), str(tmp_path / "x.bin"), "--to", "onnx"])
    assert result.exit_code == 2 and "pt, safetensors" in result.output
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, str(tmp_path / "other.safetensors"), metadata={"a": "b"})
    with pytest.raises(CheckpointError, match="without ganforge's metadata"):
        load_bundle(tmp_path / "other.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1")
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        load_bundle(tmp_path / "broken.safetensors")
