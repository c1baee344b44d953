"""Helpers shared by the dataset tests (imported as a plain module: tests/datasets is on sys.path)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image


def png_bytes(arr: np.ndarray, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=kw.pop("format", "PNG"), **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def write_tree(root: Path, files: dict[str, bytes], labels: object = "absent") -> Path:
    """Write ``{relative name: bytes}`` (and dataset.json unless labels == 'absent') under ``root``."""
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if labels != "absent":
        (root / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def zip_tree(folder: Path, dest: Path, compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(dest, "w", compression) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return dest


def reduced_spectrum(images: np.ndarray) -> np.ndarray:
    """Azimuthal average of the 2-D power spectrum, averaged over images and channels.

    ``images``: ``[N, C, H, W]`` (H == W, even) floats. Bin ``k`` holds the frequencies whose radius
    from DC (in cycles per image) lies in ``[k, k + 1)``; its length is ``floor(sqrt(2) * H / 2) + 1``.
    """
    n = images.shape[-1]
    maps = images.reshape(-1, n, n).astype(np.float64)
    power = np.abs(np.fft.fftshift(np.fft.fft2(maps), axes=(-2, -1))) ** 2
    power = power.mean(axis=0)
    yy, xx = np.indices(power.shape)
    radius = np.floor(np.hypot(yy - n // 2, xx - n // 2)).astype(np.int64).ravel()
    return np.bincount(radius, power.ravel()) / np.bincount(radius)
