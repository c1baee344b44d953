"""Every kind of bad file: a DataError naming it (on_error='raise'), or one warning and the good
files kept (on_error='skip')."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.datasets.dataset_helpers import png_bytes, write_tree, zip_tree
from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets._imageio import BadImagesWarning
from ganforge.plugins.default_datasets.images import ImagesDataset


def _jpeg(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _float_tiff() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).random([32, 32]).astype(np.float32)).save(buf, format="TIFF")
    return buf.getvalue()


def _bad_cases(photo: np.ndarray) -> dict[str, tuple[str, bytes, str]]:
    """case -> (file name, bytes, expected message fragment)."""
    png, jpg = png_bytes(photo), _jpeg(photo)
    return {
        "unreadable": ("m_text.png", b"this is not an image at all", "not an image Pillow can read"),
        "truncated-png": ("m_cut.png", png[: len(png) // 2], "is truncated"),
        "truncated-jpeg": ("m_cut.jpg", jpg[: len(jpg) // 2], "is truncated"),
        "wrong-size": ("m_small.png", png_bytes(photo[:16, :16].copy()),
                       "is 16x16 RGB, but the dataset is 32x32 RGB"),
        "wrong-channels": ("m_grey.png", png_bytes(photo[:, :, 0].copy()),
                           "is 32x32 L, but the dataset is 32x32 RGB"),
        "unsupported-mode": ("m_float.tif", _float_tiff(), "unsupported mode 'F'"),
    }


CASES = ["unreadable", "truncated-png", "truncated-jpeg", "wrong-size", "wrong-channels", "unsupported-mode"]


def _folder(tmp_path: Path, photos: list[np.ndarray], bad: list[str]) -> Path:
    cases = _bad_cases(photos[0])
    files = {f"{c}.png": png_bytes(photos[i]) for i, c in enumerate("abz")}  # good files around the bad
    for case in bad:
        name, data, _ = cases[case]
        files[name] = data
    return write_tree(tmp_path / "data", files)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("container", ["folder", "zip"])
def test_raise_names_the_bad_file(case: str, container: str, tmp_path: Path,
                                  photos: list[np.ndarray]) -> None:
    name, _, fragment = _bad_cases(photos[0])[case]
    root = _folder(tmp_path, photos, [case])
    path = root if container == "folder" else zip_tree(root, tmp_path / "data.zip")
    ds = ImagesDataset(str(path))  # fast path: only the first file is read here
    assert len(ds) == 4
    with pytest.raises(DataError) as info:
        for i in range(len(ds)):
            ds[i]
    assert info.value.file == f"{path}/{name}"
    assert fragment in str(info.value)
    assert str(info.value).startswith(f"{path}/{name}: ")


@pytest.mark.parametrize("case", CASES)
def test_skip_leaves_the_bad_file_out_with_one_warning(case: str, tmp_path: Path,
                                                      photos: list[np.ndarray]) -> None:
    name, _, fragment = _bad_cases(photos[0])[case]
    root = _folder(tmp_path, photos, [case])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImagesDataset(str(root), on_error="skip")
    ours = [w for w in caught if issubclass(w.category, BadImagesWarning)]
    assert len(ours) == 1
    assert f"1 file: {name} (" in str(ours[0].message) and fragment in str(ours[0].message)
    assert ds.file_names == ["a.png", "b.png", "z.png"]
    for i, c in enumerate("abz"):
        np.testing.assert_array_equal(ds[i][0], photos[i].transpose(2, 0, 1))


def test_skip_lists_many_bad_files_in_one_warning(tmp_path: Path, photos: list[np.ndarray]) -> None:
    root = _folder(tmp_path, photos, CASES)
    with pytest.warns(BadImagesWarning) as record:
        ds = ImagesDataset(str(root), on_error="skip", use_labels=False)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(f"{root}: skipped 6 files: ") and "and 1 more" in message
    assert len(ds) == 3


def test_bad_first_file_raises_when_opening(tmp_path: Path, photos: list[np.ndarray]) -> None:
    root = write_tree(tmp_path / "d", {"0.png": b"garbage", "1.png": png_bytes(photos[0])})
    with pytest.raises(DataError, match=r"/0\.png: is not an image"):
        ImagesDataset(str(root))
    with pytest.warns(BadImagesWarning, match=r"0\.png"):
        assert len(ImagesDataset(str(root), on_error="skip")) == 1


def test_skip_with_resolution_keeps_other_sizes(tmp_path: Path, photos: list[np.ndarray]) -> None:
    root = _folder(tmp_path, photos, ["wrong-size", "truncated-png"])
    with pytest.warns(BadImagesWarning, match="1 file: m_cut.png"):
        ds = ImagesDataset(str(root), resolution=16, on_error="skip")
    assert len(ds) == 4 and ds.image_shape == [3, 16, 16]  # the 16x16 file is fine once everything is resized


def test_no_usable_image(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "d", {"a.png": b"x", "b.png": b"y"})
    with pytest.raises(DataError, match="has no usable image: 2 files"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ImagesDataset(str(root), on_error="skip")
