"""Latent interpolation videos (``gan video``), as the official ``gen_video.py``.

Seeds become keyframes ``z = RandomState(seed).randn(z_dim)``, mapped to W with truncation; each grid
cell interpolates its own keyframes in W (``scipy.interpolate.interp1d``) and the synthesis network
renders every frame with constant noise. Keyframe assignment follows upstream: the seed list is
repeated to ``num_keyframes * cells`` entries (optionally shuffled), reshaped to
``[grid_h, grid_w, num_keyframes]``, so with ``--grid 4x2 --seeds 0-31`` the first cell shows seeds 0-3.

Loops: ``wrap`` (upstream: the keyframes are tiled twice on each side, so the video loops seamlessly),
``pingpong`` (forth and back, also seamless), ``none`` (first to last keyframe, once). Videos are written
as H.264 mp4 through imageio-ffmpeg (60 fps, 12 Mbit/s by default, as upstream); without imageio-ffmpeg, or
for a ``.gif`` output, as an animated GIF.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core.errors import ConfigError
from ganforge.core.images import to_uint8

__all__ = ["LOOPS", "KINDS", "keyframe_seeds", "interpolator", "layout_grid", "open_writer", "render_video",
           "GifWriter"]

LOOPS = ("wrap", "pingpong", "none")
KINDS = ("linear", "quadratic", "cubic")
_WRAPS = 2


def keyframe_seeds(seeds: Sequence[int], grid: tuple[int, int], num_keyframes: int | None = None,
                   shuffle_seed: int | None = None) -> np.ndarray:
    """Seeds per cell and keyframe, ``[grid_h, grid_w, num_keyframes]``."""
    gw, gh = grid
    cells = gw * gh
    if num_keyframes is None:
        if len(seeds) % cells:
            raise ConfigError(f"{len(seeds)} seeds cannot be split evenly over a {gw}x{gh} grid; give a "
                              f"multiple of {cells} seeds or set --num-keyframes", "--seeds")
        num_keyframes = len(seeds) // cells
    if num_keyframes < 1:
        raise ConfigError("needs at least one keyframe per cell", "--num-keyframes")
    all_seeds = np.array([seeds[i % len(seeds)] for i in range(num_keyframes * cells)], dtype=np.int64)
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(all_seeds)
    return all_seeds.reshape(gh, gw, num_keyframes)


def interpolator(keys: np.ndarray, kind: str = "cubic",
                 loop: str = "wrap") -> tuple[Callable[[float], np.ndarray], float]:
    """An interpolating function over keyframes ``keys [K, ...]`` and the length of its domain.

    The function takes a position in keyframe units: ``f(0) = keys[0]``, ``f(1) = keys[1]``, ...
    """
    from scipy.interpolate import interp1d

    if kind not in KINDS:
        raise ConfigError(f"unknown interpolation {kind!r}; choose from {', '.join(KINDS)}", "--kind")
    if loop not in LOOPS:
        raise ConfigError(f"unknown loop {loop!r}; choose from {', '.join(LOOPS)}", "--loop")
    if loop == "pingpong" and len(keys) > 2:
        keys = np.concatenate([keys, keys[-2:0:-1]])
    k = len(keys)
    if loop == "none" or k == 1:
        if k == 1:
            return (lambda t: keys[0]), 1.0
        need = {"linear": 2, "quadratic": 3, "cubic": 4}[kind]
        kind_used = kind if k >= need else "linear"
        return interp1d(np.arange(k), keys, kind=kind_used, axis=0), float(k - 1)
    x = np.arange(-k * _WRAPS, k * (_WRAPS + 1))
    y = np.tile(keys, [_WRAPS * 2 + 1] + [1] * (keys.ndim - 1))
    return interp1d(x, y, kind=kind, axis=0), float(k)


def layout_grid(img: torch.Tensor, grid: tuple[int, int]) -> np.ndarray:
    """Images ``[gw*gh, C, H, W]`` float -> one uint8 frame ``[gh*H, gw*W, C]`` (row-major cells)."""
    gw, gh = grid
    u8 = to_uint8(img)  # [N, H, W, C]
    _, h, w, c = u8.shape
    frame = u8.reshape(gh, gw, h, w, c).permute(0, 2, 1, 3, 4).reshape(gh * h, gw * w, c)
    frame = frame.numpy()
    return np.repeat(frame, 3, axis=2) if c == 1 else frame


class GifWriter:
    """Animated GIF through Pillow (the fallback when imageio-ffmpeg is missing)."""

    def __init__(self, path: str | os.PathLike[str], fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self.frames: list[Any] = []

    def append_data(self, frame: np.ndarray) -> None:
        from PIL import Image

        self.frames.append(Image.fromarray(frame))

    def close(self) -> None:
        if self.frames:
            self.frames[0].save(self.path, save_all=True, append_images=self.frames[1:], loop=0,
                                duration=max(int(round(1000 / self.fps)), 20))


def _has_ffmpeg() -> bool:
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        return False
    return True


def open_writer(path: str | os.PathLike[str], fps: float = 60, bitrate: str = "12M") -> tuple[Any, Path, str]:
    """A writer with ``append_data(frame)`` / ``close()``: mp4 (imageio-ffmpeg) or GIF.

    Returns ``(writer, path actually written, format)``; an ``.mp4`` request without imageio-ffmpeg becomes
    a ``.gif`` next to it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        return GifWriter(path, fps), path, "gif"
    if not _has_ffmpeg():
        gif = path.with_suffix(".gif")
        return GifWriter(gif, fps), gif, "gif"
    import imageio.v2 as imageio

    writer = imageio.get_writer(str(path), mode="I", fps=fps, codec="libx264", bitrate=bitrate,
                                macro_block_size=1, ffmpeg_log_level="error")
    return writer, path, "mp4"


@torch.no_grad()
def render_video(G: torch.nn.Module, output: str | os.PathLike[str], seeds: Sequence[int], *,
                 grid: tuple[int, int] = (1, 1), num_keyframes: int | None = None, w_frames: int = 120,
                 trunc: float = 1.0, trunc_cutoff: int | None = None, kind: str = "cubic", loop: str = "wrap",
                 shuffle_seed: int | None = None, class_idx: int | None = None, noise_mode: str = "const",
                 fps: float = 60, bitrate: str = "12M", batch: int = 8, device: Any = "cpu",
                 progress: Callable[[int, int], None] | None = None) -> tuple[Path, str, int]:
    """Render an interpolation video of ``G`` (needs ``mapping``/``synthesis``).

    Returns ``(path written, "mp4" | "gif", number of frames)``.
    """
    from ganforge.core.generate import make_labels

    if not (hasattr(G, "mapping") and hasattr(G, "synthesis")):
        raise ConfigError(f"{type(G).__name__} has no mapping/synthesis networks; videos interpolate in W "
                          "and need a style-based generator", "--network")
    if w_frames < 1:
        raise ConfigError("must be at least 1", "--w-frames")
    if noise_mode not in ("const", "random", "none"):
        raise ConfigError(f"must be const, random or none, got {noise_mode!r}", "--noise-mode")
    device = torch.device(device)
    gw, gh = grid
    keys = keyframe_seeds(seeds, grid, num_keyframes, shuffle_seed)  # [gh, gw, K]
    flat = keys.reshape(-1)
    z = torch.from_numpy(np.stack([np.random.RandomState(int(s) % (1 << 32)).randn(G.z_dim) for s in flat]))
    c = make_labels(len(flat), G.c_dim, class_idx if G.c_dim else None)
    ws = torch.cat([G.mapping(zz.to(device), cc.to(device), truncation_psi=trunc,
                              truncation_cutoff=trunc_cutoff)
                    for zz, cc in zip(z.split(batch), c.split(batch), strict=True)])
    ws = ws.reshape(gh, gw, keys.shape[2], *ws.shape[1:]).cpu().numpy().astype(np.float64)
    cells = [interpolator(ws[y, x], kind, loop) for y in range(gh) for x in range(gw)]
    length = cells[0][1]
    num_frames = int(round(length * w_frames)) + (1 if loop == "none" else 0)
    writer, path, fmt = open_writer(output, fps=fps, bitrate=bitrate)
    try:
        for frame_idx in range(num_frames):
            t = frame_idx / w_frames
            frame_ws = torch.from_numpy(np.stack([f(min(t, span)) for f, span in cells]))
            frame_ws = frame_ws.to(device, torch.float32)
            img = torch.cat([G.synthesis(w, noise_mode=noise_mode).float().cpu()
                             for w in frame_ws.split(batch)])
            writer.append_data(layout_grid(img, grid))
            if progress is not None:
                progress(frame_idx + 1, num_frames)
    finally:
        writer.close()
    return path, fmt, num_frames
