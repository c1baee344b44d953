"""The ``images`` dataset: a folder or zip of images, optionally labelled by ``dataset.json``.

Layout and label format follow StyleGAN2-ADA/StyleGAN3's ``dataset_tool.py`` (``docs/datasets.md``).
"""

from __future__ import annotations

import warnings

import numpy as np

from ganforge.core.data import ImageDataset, labels_to_array
from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets._imageio import (
    BadImage,
    BadImagesWarning,
    ImageSource,
    ShapeCheck,
    center_crop_resize,
    decode_image,
    describe_bad,
    is_pow2,
    map_chunked,
)
from ganforge.plugins.default_datasets.configs import ImagesConfig

__all__ = ["ImagesDataset", "make_images"]

_RESIZE_HINT = "set the dataset's resolution option to centre-crop and resize every image"


class ImagesDataset(ImageDataset):
    """Images of a folder (recursive) or zip, as ``uint8 [C, H, W]``.

    Args:
        path: folder or ``.zip``.
        resolution: None keeps the native size (square, power of two, the same for all files); an int
            centre-crops each image to a square and LANCZOS-resizes it to ``resolution``.
        max_size, use_labels, xflip, random_seed: see :class:`~ganforge.core.data.ImageDataset`.
        on_error: ``'raise'`` reads only the first file when opening and raises a DataError naming
            any bad file when it is read; ``'skip'`` checks every file now and leaves bad ones out
            with one warning.
    """

    def __init__(self, path: str, resolution: int | None = None, max_size: int | None = None,
                 use_labels: bool = False, xflip: bool = False, random_seed: int = 0,
                 on_error: str = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if resolution is not None and not is_pow2(resolution):
            raise DataError(f"resolution must be a power of two, got {resolution}", path)
        self._source = ImageSource(path)
        self._target = resolution
        self._check = ShapeCheck(_RESIZE_HINT)
        names = self._source.names
        if not names:
            raise DataError("contains no image files (any format Pillow reads: .png, .jpg, .webp, ...)", path)
        if on_error == "skip":
            names = self._scan(names)
        else:  # the fast path: the first file tells the shape, the others are checked as they are read
            self._load(names[0])
        self._names = names
        h, w, c = self._check.expected  # type: ignore[misc]
        super().__init__(name=self._source.name, raw_shape=[len(names), c, h, w], max_size=max_size,
                         use_labels=use_labels, xflip=xflip, random_seed=random_seed)

    def _transform(self, arr: np.ndarray) -> np.ndarray:
        if self._target is None or arr.shape[2] not in (1, 3):
            return arr
        return center_crop_resize(arr, self._target)

    def _load(self, name: str) -> np.ndarray:
        """Decode, resize and check one file: ``uint8 [H, W, C]``; DataError names the file."""
        try:
            arr = self._transform(self._source.load(name))
            problem = self._check.problem(name, arr.shape)
        except BadImage as exc:
            problem = str(exc)
        if problem:
            raise DataError(f"{problem} (on_error='skip' leaves bad files out)", self._source.display(name))
        return arr

    def _scan(self, names: list[str]) -> list[str]:
        """Decode every file (on_error='skip'); keep the good ones; warn once about the rest."""
        good: list[str] = []
        bad: list[tuple[str, str]] = []
        for name, result in map_chunked(lambda data: self._transform(decode_image(data)).shape,
                                        self._source, names):
            problem = str(result) if isinstance(result, BadImage) else self._check.problem(name, result)
            if problem:
                bad.append((name, problem))
            else:
                good.append(name)
        if not good:
            raise DataError(f"has no usable image: {describe_bad(bad)}", self._source.path)
        if bad:
            warnings.warn(f"{self._source.path}: skipped {describe_bad(bad)}", BadImagesWarning, stacklevel=3)
        return good

    # -- ImageDataset interface -----------------------------------------------------------------
    def _load_raw_image(self, raw_idx: int) -> np.ndarray:
        return self._load(self._names[raw_idx]).transpose(2, 0, 1)

    def _load_raw_labels(self) -> np.ndarray | None:
        labels = self._source.labels_for(self._names)
        where = self._source.display("dataset.json")
        if labels is None:
            raise DataError("use_labels is true but the dataset has no labels (no dataset.json at its root, "
                            "or \"labels\": null); add labels or set use_labels=false", where)
        return labels_to_array(labels, len(self._names), source=where)

    def close(self) -> None:
        self._source.close()

    # -- extras -----------------------------------------------------------------------------------
    @property
    def source(self) -> ImageSource:
        return self._source

    @property
    def file_names(self) -> list[str]:
        """Member names of the raw images (relative, ``/``-separated), in raw index order."""
        return list(self._names)


def make_images(cfg: ImagesConfig) -> ImagesDataset:
    """Factory of the ``images`` dataset."""
    return ImagesDataset(path=cfg.path, resolution=cfg.resolution, max_size=cfg.max_size,
                         use_labels=cfg.use_labels, xflip=cfg.xflip, random_seed=cfg.random_seed,
                         on_error=cfg.on_error)
