"""``convert`` and ``info``: clean archives, round trips, transforms, errors naming files."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.datasets.dataset_helpers import png_bytes, write_tree
from ganforge.core.errors import ConfigError, DataError
from ganforge.plugins.default_datasets._imageio import BadImagesWarning
from ganforge.plugins.default_datasets.convert import convert, info
from ganforge.plugins.default_datasets.images import ImagesDataset
from ganforge.plugins.default_datasets.shapes import ShapesDataset


def all_items(path: Path, **kw: object) -> list[tuple[np.ndarray, np.ndarray]]:
    ds = ImagesDataset(str(path), **kw)  # type: ignore[arg-type]
    return [ds[i] for i in range(len(ds))]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for (ia, la), (ib, lb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(la, lb)


def test_round_trip_folder_zip_folder(photo_folder: Path, tmp_path: Path, registry) -> None:
    result = convert(photo_folder, tmp_path / "out.zip", registry=registry, progress=False)
    assert result["count"] == 8 and result["resolution"] == 32 and result["channels"] == 3
    assert result["labels"] == "class" and result["skipped"] == []
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = zf.namelist()
        assert names[:2] == ["00000/img00000000.png", "00000/img00000001.png"] and names[-1] == "dataset.json"
        assert all(i.compress_type == zipfile.ZIP_STORED for i in zf.infolist())
        labels = json.loads(zf.read("dataset.json"))["labels"]
    assert labels[3] == ["00000/img00000003.png", 0] and labels[4] == ["00000/img00000004.png", 1]
    source = all_items(photo_folder, use_labels=True)
    assert_same(all_items(tmp_path / "out.zip", use_labels=True), source)
    convert(tmp_path / "out.zip", tmp_path / "back", registry=registry, progress=False)
    assert_same(all_items(tmp_path / "back", use_labels=True), source)
    assert (tmp_path / "back" / "00000" / "img00000007.png").is_file()


def test_resize_center_crop_of_real_photos(tmp_path: Path, registry) -> None:
    from skimage import data

    photos = {"coffee.png": data.coffee(), "chelsea.png": data.chelsea()}  # 600x400 and 451x300
    src = write_tree(tmp_path / "src", {k: png_bytes(v) for k, v in photos.items()}, None)
    result = convert(src, tmp_path / "out.zip", resolution=64, registry=registry, progress=False)
    assert result["labels"] == "none" and result["resolution"] == 64
    got = all_items(tmp_path / "out.zip")
    for (img, _), name in zip(got, sorted(photos), strict=True):
        p = photos[name]
        h, w = p.shape[:2]
        s = min(h, w)
        want = Image.fromarray(p[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]).resize(
            (64, 64), Image.LANCZOS)
        np.testing.assert_array_equal(img, np.asarray(want).transpose(2, 0, 1))
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        assert json.loads(zf.read("dataset.json")) == {"labels": None}


def test_center_crop_wide_pads_and_drops_small_images(tmp_path: Path, registry) -> None:
    big = np.full([90, 160, 3], 200, np.uint8)  # 16:9
    small = np.full([30, 40, 3], 100, np.uint8)
    src = write_tree(tmp_path / "src", {"a.png": png_bytes(big), "b.png": png_bytes(small)})
    with pytest.warns(BadImagesWarning, match=r"dropped 1 image.*b\.png"):
        result = convert(src, tmp_path / "wide", resolution="64x48", transform="center-crop-wide",
                         registry=registry, progress=False)
    assert result["count"] == 1 and result["dropped"] == [f"{src}/b.png"]
    img = all_items(tmp_path / "wide")[0][0]
    assert img.shape == (3, 64, 64)
    assert (img[:, :8] == 0).all() and (img[:, 56:] == 0).all() and (img[:, 8:56] == 200).all()
    with pytest.raises(ConfigError, match="not square"):
        convert(src, tmp_path / "x", resolution="64x48", transform="none", registry=registry)


def test_bad_source_file_is_named_and_nothing_is_left_behind(photo_folder: Path, tmp_path: Path,
                                                             registry) -> None:
    good = (photo_folder / "a" / "img1.png").read_bytes()
    (photo_folder / "a" / "img4.png").write_bytes(good[: len(good) // 3])
    labels = json.loads((photo_folder / "dataset.json").read_text())["labels"] + [["a/img4.png", 2]]
    (photo_folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    dest = tmp_path / "out.zip"
    with pytest.raises(DataError) as err:
        convert(photo_folder, dest, registry=registry, progress=False)
    assert err.value.file == f"{photo_folder}/a/img4.png" and "truncated" in str(err.value)
    assert not dest.exists() and not list(tmp_path.glob(".out.zip*"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = convert(photo_folder, dest, on_error="skip", registry=registry, progress=False)
    assert len(caught) == 1 and "a/img4.png" in str(caught[0].message)
    assert result["count"] == 8 and result["skipped"][0]["file"] == f"{photo_folder}/a/img4.png"


def test_mismatched_and_non_square_sources(tmp_path: Path, photos: list[np.ndarray], registry) -> None:
    mixed = write_tree(tmp_path / "mixed", {"a.png": png_bytes(photos[0]),
                                            "b.png": png_bytes(photos[1][:, :, 0])})
    with pytest.raises(DataError, match=r"b\.png: is 32x32 L, but the dataset is 32x32 RGB"):
        convert(mixed, tmp_path / "o1", registry=registry, progress=False)
    rect = write_tree(tmp_path / "rect", {"a.png": png_bytes(photos[0][:, :20].copy())})
    with pytest.raises(DataError, match=r"a\.png: is 20x32; .*--resolution"):
        convert(rect, tmp_path / "o2", registry=registry, progress=False)
    assert convert(rect, tmp_path / "o3", resolution=16, registry=registry, progress=False)["count"] == 1


def test_max_images_and_existing_destination(photo_folder: Path, tmp_path: Path, registry) -> None:
    result = convert(photo_folder, tmp_path / "few", max_images=3, registry=registry, progress=False)
    assert result["count"] == 3
    assert_same(all_items(tmp_path / "few", use_labels=True), all_items(photo_folder, use_labels=True)[:3])
    with pytest.raises(DataError, match="already exists"):
        convert(photo_folder, tmp_path / "few", registry=registry, progress=False)
    (tmp_path / "empty").mkdir()
    assert convert(photo_folder, tmp_path / "empty", registry=registry, progress=False)["count"] == 8


def test_named_sources_render_natively(tmp_path: Path, registry) -> None:
    result = convert("shapes", tmp_path / "s.zip", resolution=16, overrides={"size": 20, "use_labels": True},
                     registry=registry, progress=False)
    assert result["count"] == 20 and result["resolution"] == 16 and result["labels"] == "class"
    want = ShapesDataset(resolution=16, size=20, use_labels=True)
    assert_same(all_items(tmp_path / "s.zip", use_labels=True), [want[i] for i in range(20)])
    with pytest.raises(ConfigError, match="unknown option of dataset 'shapes'"):
        convert("shapes", tmp_path / "t.zip", overrides={"sise": 3}, registry=registry)
    with pytest.raises(DataError, match="neither an existing folder or file nor a dataset name.*shapes"):
        convert("shapez", tmp_path / "t.zip", registry=registry)
    with pytest.raises(ConfigError, match="dataset options apply to dataset names"):
        convert(tmp_path / "s.zip", tmp_path / "u.zip", overrides={"size": 3}, registry=registry)


def test_info_summaries_and_checks(photo_folder: Path, tmp_path: Path, registry) -> None:
    summary = info(photo_folder, registry=registry)
    assert summary["kind"] == "folder" and summary["count"] == 8 and summary["resolution"] == 32
    assert summary["channels"] == 3 and summary["labels"] == "class" and summary["label_dim"] == 3
    assert summary["classes"] == {0: 3, 1: 3, 2: 2} and summary["bytes"] > 8 * 1000
    assert summary["problems"] == [] and not summary["checked"]
    (photo_folder / "b" / "img9.png").write_bytes(b"nope")
    (photo_folder / "b" / "img8.png").write_bytes(png_bytes(np.zeros([16, 16, 3], np.uint8)))
    summary = info(photo_folder, check=True, registry=registry)
    problems = {p["file"].removeprefix(f"{photo_folder}/"): p["problem"] for p in summary["problems"]}
    assert set(problems) == {"dataset.json", "b/img8.png", "b/img9.png"}
    assert "no label for 2 image(s)" in problems["dataset.json"]
    assert "not an image" in problems["b/img9.png"] and "is 16x16 RGB" in problems["b/img8.png"]
    shapes = info("shapes", overrides={"use_labels": True}, registry=registry)
    assert shapes["count"] == 4096 and shapes["label_dim"] == 3 and sum(shapes["classes"].values()) == 4096
    assert shapes["bytes"] is None
