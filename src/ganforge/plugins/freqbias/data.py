"""Data of the testbeds: the ``photos`` dataset, the baboon photo, and the fixed image set of a run.

The testbeds regress a *fixed* set of images (``UPSTREAM.md`` §5.3): every image of the chosen
dataset (or its first ``subset``), centre-cropped to a square and LANCZOS-resized to
``data.resolution``, mapped to [-1, 1] with ``x / 127.5 - 1``, optionally high-pass filtered with the
depthwise 2x2 filter ``[[1, -1], [-1, 1]]`` after reflect padding (upstream's ``HighPass``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core.data import ImageDataset
from ganforge.core.errors import ConfigError, DataError
from ganforge.core.flags import cache_dir
from ganforge.core.specs import DataInfo
from ganforge.plugins.freqbias.config import PHOTOS, PhotosConfig

__all__ = ["IMAGE_SUFFIXES", "BABOON_SHA256", "BABOON_ENV", "PhotosDataset", "make_photos", "handles_path",
           "baboon_path", "data_source", "resize_square", "highpass", "TestbedData", "load_testbed_data"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PHOTOS_DIR = Path(__file__).parent / "photos"
#: SHA-256 of ``baboon.jpg`` in Debian's ``opencv-doc`` package (``OFFLINE.md``).
BABOON_SHA256 = "1a1dd18d78eec44420af3b0b7f08ee3d41c982916cae3ce203d7ff35d754cc0f"
BABOON_ENV = "GANFORGE_BABOON"
BABOON_RECIPE = (
    "apt-get download opencv-doc && dpkg-deb --fsys-tarfile opencv-doc_*.deb | "
    "tar -x ./usr/share/doc/opencv-doc/examples/data/baboon.jpg")


def handles_path(path: str) -> bool:
    """True for an existing single image file (what ``photos`` reads when given as ``--data FILE``)."""
    return os.path.isfile(path) and os.path.splitext(path)[1].lower() in IMAGE_SUFFIXES


def baboon_path() -> Path:
    """The paper's mandrill photo: ``$GANFORGE_BABOON`` or ``<cache>/data/baboon.jpg``, checksum-verified."""
    env = os.environ.get(BABOON_ENV)
    path = Path(env).expanduser() if env else cache_dir("data") / "baboon.jpg"
    if not path.is_file():
        where = f"{BABOON_ENV} points to a missing file" if env else "the baboon photo is not available"
        raise DataError(f"{where}. It is not shipped (unclear copyright); extract it from Debian's "
                        f"opencv-doc package with `{BABOON_RECIPE}`, then copy the jpg to "
                        f"{cache_dir('data') / 'baboon.jpg'} or set {BABOON_ENV}=/path/to/baboon.jpg. The "
                        "built-in CC0 photos (--data photos) are an alternative.", str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != BABOON_SHA256:
        raise DataError(f"has SHA-256 {digest[:16]}..., not that of opencv-doc's baboon.jpg "
                        f"({BABOON_SHA256[:16]}...); use that file, or give your own image as --data FILE",
                        str(path))
    return path


def resize_square(image: np.ndarray, resolution: int) -> np.ndarray:
    """uint8 ``[C, H, W]`` -> centre-cropped to the shorter side, LANCZOS-resized to ``[C, R, R]``."""
    from PIL import Image

    c, h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[:, top:top + side, left:left + side]
    if side == resolution:
        return np.ascontiguousarray(image)
    planes = [np.asarray(Image.fromarray(plane, "L").resize((resolution, resolution), Image.LANCZOS))
              for plane in image]
    return np.stack(planes)


def _read_image(path: Path, resolution: int | None) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"cannot be read as an image ({exc})", str(path)) from None
    return resize_square(array.transpose(2, 0, 1), resolution or min(array.shape[:2]))


def _photo_files(cfg: PhotosConfig) -> list[Path]:
    if cfg.path is None:
        return [PHOTOS_DIR / f"{name}.png" for name in (cfg.names or PHOTOS)]
    if cfg.names is not None:
        raise ConfigError("names selects built-in photos; it cannot be combined with path", "dataset.names")
    if cfg.path == "baboon":
        return [baboon_path()]
    path = Path(cfg.path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"has no image files ({', '.join(IMAGE_SUFFIXES)}) directly inside", str(path))
        return files
    raise DataError("no such file or folder", str(path))


class PhotosDataset(ImageDataset):
    """A handful of photos as ``uint8 [3, R, R]`` (see
    :class:`~ganforge.plugins.freqbias.config.PhotosConfig`)."""

    def __init__(self, cfg: PhotosConfig):
        files = _photo_files(cfg)
        self.files = files
        images = [_read_image(f, cfg.resolution) for f in files]
        sizes = sorted({img.shape[-1] for img in images})
        if len(sizes) > 1:
            raise DataError(f"the images have different sizes after cropping to squares ({sizes}); set the "
                            f"dataset's resolution to resize them", str(cfg.path))
        self._images = np.stack(images)
        name = "baboon" if cfg.path == "baboon" else ("photos" if cfg.path is None else Path(cfg.path).stem)
        super().__init__(name=name, raw_shape=self._images.shape, use_labels=cfg.use_labels)

    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return self._images[raw_idx]

    def _load_raw_labels(self) -> np.ndarray:
        return np.arange(self._raw_shape[0], dtype=np.int64)


def make_photos(cfg: PhotosConfig) -> PhotosDataset:
    """Factory of the ``photos`` dataset."""
    return PhotosDataset(cfg)


def data_source(value: str, registry: Any, what: str = "--data") -> dict[str, Any]:
    """``--data VALUE`` -> a dataset config dict: an existing path goes to the dataset that reads it
    (a folder or zip: ``images``; one image file: ``photos``), ``baboon`` to the paper's photo, else a
    registered dataset name."""
    if registry.has("dataset", value):
        return {"name": value}
    if value == "baboon" and registry.has("dataset", "photos"):
        return {"name": "photos", "path": "baboon"}
    path = Path(value).expanduser()
    if path.exists():
        readers = [s for s in registry.specs("dataset") if s.reads(str(path))]
        if path.is_dir() and not readers and registry.has("dataset", "photos"):
            return {"name": "photos", "path": str(path)}
        if not readers:
            raise ConfigError(f"{value!r} exists but no dataset plugin reads it; give an image file, a "
                              "folder of images or a .zip", what)
        best = max(readers, key=lambda s: s.priority)
        return {"name": best.name, "path": str(path)}
    raise ConfigError(f"{value!r} is neither an existing file or folder nor a dataset name (datasets: "
                      f"{', '.join(registry.names('dataset'))}; 'baboon' for the paper's photo)", what)


def highpass(images: torch.Tensor) -> torch.Tensor:
    """Depthwise ``[[1, -1], [-1, 1]]`` after reflect padding by one, cropped back to ``[N, C, H, W]``.

    ``y[i, j] = p[i, j] - p[i, j+1] - p[i+1, j] + p[i+1, j+1]`` with ``p`` the padded image (gain 4 at
    the diagonal Nyquist frequency, 0 at DC), as upstream's ``HighPass`` on images in [-1, 1].
    """
    p = torch.nn.functional.pad(images, (1, 1, 1, 1), mode="reflect")
    y = p[..., :-1, :-1] - p[..., :-1, 1:] - p[..., 1:, :-1] + p[..., 1:, 1:]
    return y[..., : images.shape[-2], : images.shape[-1]].contiguous()


@dataclass
class TestbedData:
    """The fixed image set of a testbed run.

    Attributes:
        images: ``[N, C, R, R]`` float32 in [-1, 1] (beyond it after the high-pass filter).
        info: resolution and channels of the images (``label_dim`` 0; the testbeds set their own).
        name: the dataset's short name.
    """

    images: torch.Tensor
    info: DataInfo
    name: str

    def __len__(self) -> int:
        return int(self.images.shape[0])


def load_testbed_data(config: Any, registry: Any = None) -> TestbedData:
    """Build the dataset of ``config.dataset`` through the registry and turn it into the fixed image set."""
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    spec = registry.get("dataset", config.dataset.name)
    dataset = spec.build(config.dataset)
    try:
        count = len(dataset) if config.data.subset is None else min(len(dataset), config.data.subset)
        if count == 0:
            raise DataError("the dataset is empty", config.dataset.name)
        raw = np.stack([np.asarray(dataset[i][0]) for i in range(count)])
        name = str(getattr(dataset, "name", config.dataset.name))
    finally:
        close = getattr(dataset, "close", None)
        if callable(close):
            close()
    if raw.dtype != np.uint8 or raw.ndim != 4:
        raise DataError(f"dataset {config.dataset.name!r} must yield uint8 [C, H, W] images, got {raw.dtype} "
                        f"{list(raw.shape[1:])}", config.dataset.name)
    res = config.data.resolution
    if res is not None and raw.shape[2:] != (res, res):
        raw = np.stack([resize_square(img, res) for img in raw])
    if raw.shape[2] != raw.shape[3]:
        raise DataError(f"images are {raw.shape[3]}x{raw.shape[2]}; set data.resolution to make them square",
                        config.dataset.name)
    images = torch.from_numpy(raw).to(torch.float32) / 127.5 - 1
    if config.data.highpass:
        images = highpass(images)
    info = DataInfo(resolution=int(images.shape[-1]), channels=int(images.shape[1]), label_dim=0, name=name)
    return TestbedData(images=images, info=info, name=name)
