"""gan video (mp4 and the GIF fallback) and gan style-mix."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.core.checkpoint import NetworkBundle, save_network
from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan2.video import interpolator, keyframe_seeds
from tests.plugins.stylegan2.helpers import g_config, make_G, randomize


@pytest.fixture
def network(tmp_path):
    G = randomize(make_G(res=8)).eval()
    path = tmp_path / "net.pt"
    bundle = NetworkBundle(G_ema=G, info=DataInfo(8, 3, 0), config={"generator": g_config().model_dump(mode="json")})
    save_network(bundle, path)
    return path, G


def test_video_mp4(tmp_path, cli, network):
    path, _ = network
    out = tmp_path / "v.mp4"
    result = cli(["video", "--network", str(path), "--seeds", "0-7", "--grid", "4x2", "--w-frames", "3",
                  "--output", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    import imageio.v2 as imageio

    reader = imageio.get_reader(str(out))
    frames = [f for f in reader]
    reader.close()
    assert len(frames) == 1 * 3  # one keyframe per cell, wrapped: keyframes * w_frames
    assert frames[0].shape == (2 * 8, 4 * 8, 3)


def test_video_gif_fallback_without_imageio_ffmpeg(tmp_path, cli, network, monkeypatch):
    path, _ = network
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # import fails as if not installed
    result = cli(["video", "--network", str(path), "--seeds", "0-3", "--grid", "2x1", "--w-frames", "2",
                  "--loop", "none", "--output", str(tmp_path / "v.mp4"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "v.mp4").exists()
    with Image.open(tmp_path / "v.gif") as gif:
        assert gif.size == (16, 8) and gif.n_frames == (2 - 1) * 2 + 1  # first to last keyframe, once


def test_video_frames_pass_through_the_keyframes(tmp_path, network):
    from ganforge.plugins.stylegan2.video import render_video

    _, G = network
    frames = []

    class Writer:
        def append_data(self, frame):
            frames.append(frame)

        def close(self):
            pass

    import ganforge.plugins.stylegan2.video as video

    orig = video.open_writer
    video.open_writer = lambda *a, **k: (Writer(), tmp_path / "x.mp4", "mp4")
    try:
        render_video(G, tmp_path / "x.mp4", [5, 6], w_frames=4, trunc=0.5, loop="wrap")
    finally:
        video.open_writer = orig
    assert len(frames) == 8
    from ganforge.core.generate import seed_latents
    from ganforge.core.images import to_uint8

    with torch.no_grad():
        want = to_uint8(G(seed_latents([5, 6], G.z_dim), None, truncation_psi=0.5, noise_mode="const")).numpy()
    assert np.abs(frames[0].astype(int) - want[0]).max() <= 1  # frame 0 is keyframe 0 (seed 5)
    assert np.abs(frames[4].astype(int) - want[1]).max() <= 1  # frame w_frames is keyframe 1


def test_keyframes_and_loops():
    keys = keyframe_seeds(list(range(32)), (4, 2))
    assert keys.shape == (2, 4, 4) and list(keys[0, 0]) == [0, 1, 2, 3] and list(keys[1, 3]) == [28, 29, 30, 31]
    assert keyframe_seeds([1, 2], (2, 2), num_keyframes=3).reshape(-1).tolist() == [1, 2] * 6
    points = np.arange(4.0)[:, None] * np.ones([1, 3])
    f, length = interpolator(points, "cubic", "wrap")
    assert length == 4 and np.allclose(f(2.0), points[2]) and np.allclose(f(4.0), points[0])  # loops back
    f, length = interpolator(points, "linear", "pingpong")
    assert length == 6 and np.allclose(f(5.0), points[1]) and np.allclose(f(4.5), [1.5] * 3)
    f, length = interpolator(points, "linear", "none")
    assert length == 3 and np.allclose(f(1.5), [1.5] * 3)


def test_video_errors(tmp_path, cli, network):
    path, _ = network
    base = ["video", "--network", str(path), "--output", str(tmp_path / "v.mp4"), "--device", "cpu"]
    for extra, msg in ((["--seeds", "0-4", "--grid", "2x2"], "cannot be split evenly"),
                       (["--seeds", "0-3", "--grid", "2by2"], "--grid"),
                       (["--seeds", "0-3", "--kind", "spline"], "--kind"),
                       (["--seeds", "0-3", "--noise-mode", "loud"], "--noise-mode")):
        result = cli(base + extra)
        assert result.exit_code == 2 and msg in result.output, result.output


def test_style_mix_grid(tmp_path, cli, network):
    path, G = network
    out = tmp_path / "mix"
    result = cli(["style-mix", "--network", str(path), "--rows", "1,2,3", "--cols", "7,8", "--styles", "0-2",
                  "--trunc", "0.8", "--outdir", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (8 * 4, 8 * 3, 3)
    assert grid[:8, :8].max() == 0  # empty corner
    cell = lambda r, c: grid[8 * r: 8 * (r + 1), 8 * c: 8 * (c + 1)]  # noqa: E731
    assert np.array_equal(cell(0, 1), np.asarray(Image.open(out / "7-7.png")))
    assert np.array_equal(cell(2, 0), np.asarray(Image.open(out / "2-2.png")))
    assert np.array_equal(cell(3, 2), np.asarray(Image.open(out / "3-8.png")))
    # the mix: row 3's ws with ws 0-2 from seed 8, rendered directly
    from ganforge.core.generate import seed_latents
    from ganforge.core.images import to_uint8

    with torch.no_grad():
        ws = G.mapping(seed_latents([3, 8], G.z_dim), None, truncation_psi=0.8)
        w = ws[0].clone()
        w[[0, 1, 2]] = ws[1][[0, 1, 2]]
        want = to_uint8(G.synthesis(w[None], noise_mode="const")).numpy()[0]
    assert np.abs(cell(3, 2).astype(int) - want).max() <= 1
    assert not np.array_equal(cell(3, 2), cell(3, 0))


def test_style_mix_errors(tmp_path, cli, network):
    path, _ = network
    result = cli(["style-mix", "--network", str(path), "--rows", "1", "--cols", "2", "--styles", "0-9",
                  "--outdir", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 2 and "out of range" in result.output


def test_generate_projected_w(tmp_path, cli, network):
    path, G = network
    ws = np.random.RandomState(0).randn(2, G.num_ws, G.w_dim).astype(np.float32)
    np.savez(tmp_path / "projected_w.npz", w=ws)
    result = cli(["generate", "--network", str(path), "--projected-w", str(tmp_path / "projected_w.npz"),
                  "--outdir", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    from ganforge.core.images import to_uint8

    with torch.no_grad():
        want = to_uint8(G.synthesis(torch.from_numpy(ws), noise_mode="const")).numpy()
    for k in range(2):
        got = np.asarray(Image.open(tmp_path / "out" / f"proj{k:02d}.png"))
        assert np.abs(got.astype(int) - want[k]).max() <= 1
    np.savez(tmp_path / "bad.npz", w=ws[:, :2])
    result = cli(["generate", "--network", str(path), "--projected-w", str(tmp_path / "bad.npz"),
                  "--outdir", str(tmp_path / "out"), "--device", "cpu"])
    assert result.exit_code == 2 and "this network takes [N, 4, 16]" in result.output
    result = cli(["generate", "--network", str(path), "--outdir", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--seeds" in result.output
