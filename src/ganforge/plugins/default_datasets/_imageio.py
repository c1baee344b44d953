"""Reading image folders and zips: listing, decoding with the mode rules, transforms, checks.

Shared by the ``images`` dataset and by ``gan dataset convert|info``.

Images with an EXIF orientation tag (camera photos) are rotated/mirrored upright first, as image
viewers show them. Mode rules (what each PIL mode becomes; see ``docs/datasets.md``):

==========================  =====================================================================
PIL mode                    result
==========================  =====================================================================
``L``, ``RGB``              kept (1 or 3 channels)
``1``                       ``L`` (0 / 255)
``LA``, ``La``              ``L``: alpha composited over black (value * alpha / 255)
``RGBA``, ``RGBa``          ``RGB``: alpha composited over black
``P``, ``PA``               palette expanded to ``RGB`` (composited over black if transparent)
``CMYK``, ``YCbCr``,
``LAB``, ``HSV``            converted to ``RGB`` by Pillow
``I;16`` (and ``B/L/N``)    16-bit grey: ``L`` with value * 255 / 65535, rounded
``I``, ``F`` and others     refused: 32-bit integer or float data has no agreed 8-bit range
==========================  =====================================================================
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps

from ganforge.core.errors import DataError

__all__ = ["BadImage", "BadImagesWarning", "ImageSource", "ShapeCheck", "decode_image", "encode_png", "center_crop_resize",
           "transform_image", "is_pow2", "describe_bad", "map_chunked", "fmt_shape", "LABELS_FILE"]

LABELS_FILE = "dataset.json"
_ORIENTATION = 0x0112  # EXIF tag
# Formats Pillow can only identify (stubs), or that need external programs: never training images.
_EXCLUDED_EXTS = {".bufr", ".grib", ".h5", ".hdf", ".wmf", ".emf", ".eps", ".ps", ".pdf", ".mpeg", ".mpg",
                  ".fit", ".fits"}


class BadImage(Exception):
    """One file cannot be used; the message says why (without the file name)."""


class BadImagesWarning(UserWarning):
    """Files were left out of a dataset (``on_error='skip'``)."""


def is_pow2(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def image_extensions() -> set[str]:
    """Lower-case extensions (with dot) of the formats Pillow can read."""
    Image.init()
    return {ext for ext, fmt in Image.EXTENSION.items() if fmt in Image.OPEN} - _EXCLUDED_EXTS


def describe_bad(problems: list[tuple[str, str]], first: int = 5) -> str:
    """``"3 files: a.png (truncated), b.png (...), ..."``"""
    shown = ", ".join(f"{name} ({why})" for name, why in problems[:first])
    more = f", and {len(problems) - first} more" if len(problems) > first else ""
    return f"{len(problems)} file{'s' if len(problems) != 1 else ''}: {shown}{more}"


def fmt_shape(shape: tuple[int, ...]) -> str:
    """``[H, W, C]`` -> ``"64x48 RGB"``."""
    h, w, c = shape
    return f"{w}x{h} " + {1: "L", 3: "RGB"}.get(c, f"{c}-channel")


class ShapeCheck:
    """Training images must be square with a power-of-two side, 1 or 3 channels, all alike; the first
    good image sets the expected shape.

    Args:
        resize_hint: what to tell users whose images are not square (how to set a resolution).
    """

    def __init__(self, resize_hint: str):
        self.resize_hint = resize_hint
        self.expected: tuple[int, ...] | None = None
        self.first: str | None = None

    def problem(self, name: str, shape: tuple[int, ...]) -> str | None:
        """None if ``shape`` (``[H, W, C]``) is acceptable, else why not (without the file name)."""
        h, w, c = shape
        if c not in (1, 3):
            return f"has {c} channels; accepted are 1 (L) or 3 (RGB)"
        if h != w or not is_pow2(h):
            return (f"is {w}x{h}; training images must be square with a power-of-two side "
                    f"(4, 8, ..., 1024); {self.resize_hint}")
        if self.expected is None:
            self.expected, self.first = tuple(shape), name
            return None
        if tuple(shape) != self.expected:
            hint = f"; {self.resize_hint}" if shape[2] == self.expected[2] else ""
            return (f"is {fmt_shape(shape)}, but the dataset is {fmt_shape(self.expected)} (set by its first "
                    f"image {self.first}){hint}")
        return None


# ------------------------------------------------------------------------------------------------
# Decoding
# ------------------------------------------------------------------------------------------------

def _composite_black(img: Image.Image, mode: str) -> np.ndarray:
    arr = np.asarray(img.convert(mode + "A"), dtype=np.uint16)
    out = (arr[..., :-1] * arr[..., -1:] + 127) // 255
    return out.astype(np.uint8)


def to_array(img: Image.Image) -> np.ndarray:
    """Apply the mode rules: ``uint8 [H, W]`` (grey) or ``[H, W, 3]`` (colour); raise BadImage."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return np.asarray(img)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode in ("LA", "La"):
        return _composite_black(img.convert("LA"), "L")[..., 0]
    if mode in ("RGBA", "RGBa"):
        return _composite_black(img.convert("RGBA"), "RGB")
    if mode in ("P", "PA"):
        if mode == "PA" or "transparency" in img.info:
            return _composite_black(img.convert("RGBA"), "RGB")
        return np.asarray(img.convert("RGB"))
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return np.asarray(img.convert("RGB"))
    if mode.startswith("I;16"):
        arr = np.asarray(img).astype(np.float64)
        return np.round(arr * (255.0 / 65535.0)).astype(np.uint8)
    raise BadImage(f"has unsupported mode {mode!r}; accepted are 8-bit L/RGB (and 1, LA, RGBA, P, CMYK, "
                   f"16-bit grey, which are converted); convert it to 8-bit RGB or L first")


def decode_image(data: bytes) -> np.ndarray:
    """Decode file bytes to ``uint8 [H, W, C]`` (C = 1 or 3); raise BadImage saying what is wrong."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # somebody else's global; we never accept broken files
        raise BadImage("cannot be checked: PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set in this process")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.getexif().get(_ORIENTATION, 1) != 1:  # camera photos: show them the way viewers do
                img = ImageOps.exif_transpose(img)
            arr = to_array(img)
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise BadImage(f"is too large to decode safely ({exc})") from None
    except Image.UnidentifiedImageError:
        raise BadImage("is not an image Pillow can read (unknown format or corrupt header)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        what = "is truncated" if "truncat" in str(exc).lower() else "is corrupt"
        raise BadImage(f"{what} ({type(exc).__name__}: {exc})") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.array(arr, copy=True)  # writable (Pillow's arrays are read-only views) and contiguous


def encode_png(arr: np.ndarray) -> bytes:
    """``uint8 [H, W, C]`` (C = 1 or 3) as a PNG without compression (fast to decode while training)."""
    buf = io.BytesIO()
    Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).save(buf, format="PNG", compress_level=0)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Transforms
# ------------------------------------------------------------------------------------------------

def _resize(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """LANCZOS-resize ``uint8 [H, W, C]``; a no-op when the size already matches."""
    if arr.shape[0] == height and arr.shape[1] == width:
        return arr
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(img.resize((width, height), Image.LANCZOS))
    return out[:, :, None] if out.ndim == 2 else out


def center_crop(arr: np.ndarray, width: int, height: int) -> np.ndarray:
    """Crop the largest centred square, then LANCZOS-resize it to ``width x height``."""
    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return _resize(arr[top:top + s, left:left + s], width, height)


def center_crop_resize(arr: np.ndarray, resolution: int) -> np.ndarray:
    """Crop the largest centred square, then LANCZOS-resize it to ``resolution x resolution``."""
    return center_crop(arr, resolution, resolution)


def center_crop_wide(arr: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """Crop the largest centred region of aspect ``width:height``, resize it to ``width x height`` and
    paste it in the middle of a black square of side ``max(width, height)``. Images smaller than the
    target return None (dropped)."""
    h, w = arr.shape[:2]
    if w < width or h < height:
        return None
    crop_h, crop_w = h, int(round(h * width / height))
    if crop_w > w:
        crop_w, crop_h = w, int(round(w * height / width))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    out = _resize(arr[top:top + crop_h, left:left + crop_w], width, height)
    side = max(width, height)
    canvas = np.zeros([side, side, arr.shape[2]], dtype=np.uint8)
    y, x = (side - height) // 2, (side - width) // 2
    canvas[y:y + height, x:x + width] = out
    return canvas


def transform_image(arr: np.ndarray, transform: str, width: int | None,
                    height: int | None) -> np.ndarray | None:
    """``transform`` is ``'none'`` (plain resize when a size is given), ``'center-crop'`` or
    ``'center-crop-wide'``; returns None when the image is dropped (too small for center-crop-wide)."""
    if width is None or height is None:
        return arr
    if transform == "none":
        return _resize(arr, width, height)
    if transform == "center-crop":
        return center_crop(arr, width, height)
    if transform == "center-crop-wide":
        return center_crop_wide(arr, width, height)
    raise ValueError(f"unknown transform {transform!r}")


# ------------------------------------------------------------------------------------------------
# Sources: a folder or a zip
# ------------------------------------------------------------------------------------------------

class ImageSource:
    """The image files of a folder (recursive) or a zip, sorted by relative path (``/``-separated).

    Hidden files and folders (names starting with ``.``) and ``__MACOSX/`` are ignored. The zip is
    opened lazily, once per process, so the object can be pickled and used in DataLoader workers.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = os.fspath(path)
        if not os.path.exists(self.path):
            raise DataError("does not exist; give a folder of images or a .zip of images", self.path)
        if os.path.isdir(self.path):
            self.kind = "folder"
            all_names = self._walk()
        elif zipfile.is_zipfile(self.path):
            self.kind = "zip"
            all_names = [n for n in self._zip().namelist() if not n.endswith("/")]
        else:
            raise DataError("is neither a folder nor a zip file", self.path)
        exts = image_extensions()
        self.has_labels_file = LABELS_FILE in all_names
        self.names = sorted(n for n in all_names if os.path.splitext(n)[1].lower() in exts
                            and not _hidden(n))

    def _walk(self) -> list[str]:
        out = []
        for root, dirs, files in os.walk(self.path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = os.path.relpath(root, self.path)
            for f in files:
                out.append(f if rel == "." else Path(rel, f).as_posix())
        return out

    # -- zip handle, one per process ----------------------------------------------------------------
    _zipfile: zipfile.ZipFile | None = None
    _zip_pid: int | None = None

    def _zip(self) -> zipfile.ZipFile:
        if self._zipfile is None or self._zip_pid != os.getpid():
            # after a fork the parent's handle shares its file offset: never reuse it
            self._zipfile = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zipfile

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_zipfile": None, "_zip_pid": None}

    def close(self) -> None:
        if self._zipfile is not None and self._zip_pid == os.getpid():
            self._zipfile.close()
        self._zipfile = self._zip_pid = None

    # -- reading ----------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        p = Path(os.path.abspath(self.path))
        return p.stem if self.kind == "zip" else p.name

    def display(self, name: str) -> str:
        """How a member is named in messages: ``data.zip/00000/img00000000.png`` or ``dir/a.png``."""
        return f"{self.path.rstrip('/')}/{name}"

    def read(self, name: str) -> bytes:
        try:
            if self.kind == "zip":
                return self._zip().read(name)
            with open(os.path.join(self.path, name), "rb") as f:
                return f.read()
        except (OSError, zipfile.BadZipFile, RuntimeError, NotImplementedError) as exc:
            raise BadImage(f"cannot be read ({type(exc).__name__}: {exc})") from None

    def load(self, name: str) -> np.ndarray:
        """Read and decode one member: ``uint8 [H, W, C]``; raise BadImage."""
        return decode_image(self.read(name))

    def size_on_disk(self) -> int:
        if self.kind == "zip":
            return os.path.getsize(self.path)
        return sum(os.path.getsize(os.path.join(self.path, n)) for n in self.names)

    def raw_labels(self) -> dict[str, Any] | None:
        """``{member name: label}`` from ``dataset.json``, or None (no file, or ``"labels": null``)."""
        if not self.has_labels_file:
            return None
        where = self.display(LABELS_FILE)
        try:
            data = json.loads(self.read(LABELS_FILE).decode("utf-8"))
        except BadImage as exc:
            raise DataError(str(exc), where) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(f"is not valid JSON ({exc})", where) from None
        if not isinstance(data, dict) or "labels" not in data:
            raise DataError('must be an object with a "labels" key: '
                            '{"labels": [["00000/img00000000.png", 6], ...]} or {"labels": null}', where)
        labels = data["labels"]
        if labels is None:
            return None
        if isinstance(labels, dict):
            return {str(k).replace("\\", "/"): v for k, v in labels.items()}
        pairs = isinstance(labels, list) and all(
            isinstance(p, list | tuple) and len(p) == 2 and isinstance(p[0], str) for p in labels)
        if pairs:
            return {p[0].replace("\\", "/"): p[1] for p in labels}
        raise DataError('"labels" must be a list of [file name, label] pairs, a {file name: label} object, '
                        'or null', where)

    def labels_for(self, names: Iterable[str]) -> list[Any] | None:
        """Labels of ``names`` in order (None without labels); DataError names a file without one."""
        table = self.raw_labels()
        if table is None:
            return None
        out = []
        for n in names:
            if n not in table:
                raise DataError(f"has no label for {n!r} (every image needs one, or set \"labels\": null)",
                                self.display(LABELS_FILE))
            out.append(table[n])
        return out

    def __repr__(self) -> str:
        return f"ImageSource({self.path!r}, {self.kind}, {len(self.names)} images)"


def _hidden(name: str) -> bool:
    parts = name.split("/")
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts)


def map_chunked(fn: Callable[[bytes], Any], source: ImageSource, names: list[str],
                chunk: int = 64, workers: int | None = None) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, fn(bytes) or BadImage)`` in order; files are read in this thread and ``fn`` runs
    in a thread pool (Pillow releases the GIL while decoding)."""
    workers = workers or min(8, os.cpu_count() or 1)

    def call(item: tuple[str, bytes | BadImage]) -> Any:
        data = item[1]
        if isinstance(data, BadImage):
            return data
        try:
            return fn(data)
        except BadImage as exc:
            return exc

    def read(n: str) -> bytes | BadImage:
        try:
            return source.read(n)
        except BadImage as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(names), chunk):
            batch = [(n, read(n)) for n in names[start:start + chunk]]
            yield from zip((n for n, _ in batch), pool.map(call, batch), strict=True)
