"""The ``images`` dataset: folders and zips, labels, transforms, modes, workers."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.datasets.dataset_helpers import png_bytes, write_tree, zip_tree
from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets.configs import ImagesConfig, handles_path
from ganforge.plugins.default_datasets.images import ImagesDataset, make_images


def items(ds: ImagesDataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [ds[i] for i in range(len(ds))]


def test_folder_and_zip_give_identical_items(photo_folder: Path, tmp_path: Path) -> None:
    zipped = zip_tree(photo_folder, tmp_path / "photos.zip")
    deflated = zip_tree(photo_folder, tmp_path / "deflated.zip", zipfile.ZIP_DEFLATED)
    a, b, c = (ImagesDataset(str(p), use_labels=True) for p in (photo_folder, zipped, deflated))
    assert len(a) == len(b) == len(c) == 8
    assert a.name == b.name == "photos" and c.name == "deflated"
    for (ia, la), (ib, lb), (ic, lc) in zip(items(a), items(b), items(c), strict=True):
        assert ia.dtype == np.uint8 and ia.shape == (3, 32, 32)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ia, ic)
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(la, lc)


def test_recursive_listing_is_sorted_by_relative_path(photo_folder: Path, photos: list[np.ndarray]) -> None:
    ds = ImagesDataset(str(photo_folder), use_labels=True)
    assert ds.file_names == ["a/img1.png", "a/img3.png", "a/img5.png", "a/img7.png",
                             "b/img0.png", "b/img2.png", "b/img4.png", "b/img6.png"]
    # ds[3] = a/img7.png was written from photo 0, ds[4] = b/img0.png from the mirrored photo 3
    np.testing.assert_array_equal(ds[3][0], photos[0].transpose(2, 0, 1))
    np.testing.assert_array_equal(ds[4][0], photos[3][:, ::-1].transpose(2, 0, 1))


def test_integer_labels_become_one_hot(photo_folder: Path) -> None:
    ds = ImagesDataset(str(photo_folder), use_labels=True)
    assert ds.label_shape == [3] and ds.has_labels
    # ds[3] = a/img7.png was written first (class 0); ds[4] = b/img0.png last (class 7 % 3 = 1)
    np.testing.assert_array_equal(ds[3][1], [1, 0, 0])
    np.testing.assert_array_equal(ds[4][1], [0, 1, 0])
    assert ds[0][1].dtype == np.float32
    assert ImagesDataset(str(photo_folder)).label_dim == 0  # use_labels=False ignores them


def test_vector_labels_and_null_labels(tmp_path: Path, photos: list[np.ndarray]) -> None:
    files = {f"x{i}.png": png_bytes(photos[i]) for i in range(3)}
    vec = write_tree(tmp_path / "vec", files, [[f"x{i}.png", [i, 0.5, -1.0]] for i in range(3)])
    ds = ImagesDataset(str(vec), use_labels=True)
    assert ds.label_shape == [3]
    np.testing.assert_allclose(ds[2][1], [2, 0.5, -1.0])
    null = write_tree(tmp_path / "null", files, None)
    assert ImagesDataset(str(null)).label_dim == 0
    with pytest.raises(DataError, match="no labels"):
        ImagesDataset(str(null), use_labels=True).label_shape  # noqa: B018


def test_label_file_problems_name_the_file(tmp_path: Path, photos: list[np.ndarray]) -> None:
    files = {f"x{i}.png": png_bytes(photos[i]) for i in range(2)}
    missing = write_tree(tmp_path / "missing", files, [["x0.png", 1]])
    with pytest.raises(DataError, match=r"dataset\.json.*no label for 'x1\.png'"):
        ImagesDataset(str(missing), use_labels=True).label_shape  # noqa: B018
    broken = write_tree(tmp_path / "broken", files)
    (broken / "dataset.json").write_text("{labels: oops")
    with pytest.raises(DataError, match=r"dataset\.json: is not valid JSON"):
        ImagesDataset(str(broken), use_labels=True).label_shape  # noqa: B018
    mixed = write_tree(tmp_path / "mixed", files, [["x0.png", 1], ["x1.png", [1.0]]])
    with pytest.raises(DataError, match="all integers"):
        ImagesDataset(str(mixed), use_labels=True).label_shape  # noqa: B018


def test_resolution_center_crops_then_resizes(tmp_path: Path) -> None:
    # 48 wide, 24 tall: a red centred 24x24 square between blue side bands; then 24 wide, 48 tall
    wide = np.zeros([24, 48, 3], np.uint8)
    wide[:, :, 2] = 255
    wide[:, 12:36] = [255, 0, 0]
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    root = write_tree(tmp_path / "crop", {"a.png": png_bytes(wide), "b.png": png_bytes(tall)})
    ds = ImagesDataset(str(root), resolution=16)
    assert ds.image_shape == [3, 16, 16]
    for i in range(2):
        img = ds[i][0]
        assert (img[0] == 255).all() and (img[1:] == 0).all(), "the side bands must be cropped away"
    # against an independent computation on a real photo: crop the largest centred square, LANCZOS
    from skimage import data

    coffee = data.coffee()  # 400 x 600
    root = write_tree(tmp_path / "coffee", {"c.png": png_bytes(coffee)})
    got = ImagesDataset(str(root), resolution=64)[0][0]
    want = np.asarray(Image.fromarray(coffee[:, 100:500]).resize((64, 64), Image.LANCZOS))
    np.testing.assert_array_equal(got, want.transpose(2, 0, 1))


def test_max_size_subset_is_deterministic_and_sorted(tmp_path: Path) -> None:
    files = {f"{i:03d}.png": png_bytes(np.full([8, 8, 3], i, np.uint8)) for i in range(40)}
    root = write_tree(tmp_path / "many", files)
    values = lambda ds: [int(ds[i][0][0, 0, 0]) for i in range(len(ds))]  # noqa: E731
    a = values(ImagesDataset(str(root), max_size=10, random_seed=1))
    b = values(ImagesDataset(str(root), max_size=10, random_seed=1))
    c = values(ImagesDataset(str(root), max_size=10, random_seed=2))
    assert a == b and len(a) == 10 and a == sorted(a) and len(set(a)) == 10
    assert a != c
    assert values(ImagesDataset(str(root), max_size=100)) == list(range(40))


def test_xflip_appends_mirrored_copies(photo_folder: Path) -> None:
    plain = ImagesDataset(str(photo_folder), use_labels=True)
    flip = ImagesDataset(str(photo_folder), use_labels=True, xflip=True)
    assert len(flip) == 2 * len(plain)
    n = len(plain)
    for i in range(n):
        np.testing.assert_array_equal(flip[i][0], plain[i][0])
        np.testing.assert_array_equal(flip[n + i][0], plain[i][0][:, :, ::-1])
        np.testing.assert_array_equal(flip[n + i][1], plain[i][1])


def test_one_channel_images(tmp_path: Path) -> None:
    from skimage import data

    camera = np.asarray(Image.fromarray(data.camera()).resize((32, 32), Image.LANCZOS))
    files = {"a.png": png_bytes(camera), "b.png": png_bytes(camera[::-1].copy())}
    root = write_tree(tmp_path / "grey", files)
    ds = ImagesDataset(str(root))
    assert ds.num_channels == 1 and ds.image_shape == [1, 32, 32]
    np.testing.assert_array_equal(ds[0][0][0], camera)
    assert ImagesDataset(str(root), resolution=8)[1][0].shape == (1, 8, 8)


def test_mode_conversion_rules(tmp_path: Path) -> None:
    rgba = np.zeros([8, 8, 4], np.uint8)
    rgba[..., :3] = [200, 100, 50]
    rgba[..., 3] = 128  # half transparent over black
    pal = Image.fromarray(np.full([8, 8, 3], [10, 20, 30], np.uint8))
    pal = pal.convert("P", palette=Image.Palette.ADAPTIVE)
    grey16 = np.full([8, 8], 65535, np.uint16)
    grey16[0, 0] = 257 * 100
    root = write_tree(tmp_path / "modes", {"rgba.png": png_bytes(rgba)})
    pal.save(root / "p.png")
    Image.fromarray(np.full([8, 8, 3], 90, np.uint8)).convert("CMYK").save(root / "cmyk.jpg", quality=100)
    ds = ImagesDataset(str(root), on_error="raise")
    got = {name: ds[i][0] for i, name in enumerate(ds.file_names)}
    assert got["rgba.png"].shape == (3, 8, 8)
    np.testing.assert_array_equal(got["rgba.png"][:, 0, 0], [100, 50, 25])  # value * 128 / 255, rounded
    np.testing.assert_array_equal(got["p.png"][:, 0, 0], [10, 20, 30])
    assert np.abs(got["cmyk.jpg"].astype(int) - 90).max() <= 3
    g16 = write_tree(tmp_path / "g16", {"a.png": png_bytes(grey16)})
    assert Image.open(g16 / "a.png").mode == "I;16"
    img = ImagesDataset(str(g16))[0][0]
    assert img.shape == (1, 8, 8) and img[0, 0, 0] == 100 and img[0, 1, 1] == 255


def test_dataloader_workers_read_a_zip(photo_folder: Path, tmp_path: Path) -> None:
    zipped = zip_tree(photo_folder, tmp_path / "photos.zip")
    ds = make_images(ImagesConfig(path=str(zipped), use_labels=True, xflip=True))
    direct = torch.stack([torch.from_numpy(ds[i][0]) for i in range(len(ds))])  # opens the zip here first
    clone = pickle.loads(pickle.dumps(ds))  # picklable even with the zip open
    np.testing.assert_array_equal(clone[3][0], ds[3][0])
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    images = torch.cat([b[0] for b in batches])
    labels = torch.cat([b[1] for b in batches])
    assert images.dtype == torch.uint8 and images.shape == (16, 3, 32, 32)
    assert torch.equal(images, direct)
    assert labels.shape == (16, 3)
    ds.close()


def test_native_size_must_be_square_power_of_two(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "odd", {"a.png": png_bytes(np.zeros([24, 24, 3], np.uint8))})
    with pytest.raises(DataError, match=r"a\.png: is 24x24; .*power-of-two.*resolution"):
        ImagesDataset(str(root))
    assert ImagesDataset(str(root), resolution=16).resolution == 16


def test_missing_and_empty_sources(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ImagesDataset(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="no image files"):
        ImagesDataset(str(tmp_path / "empty"))


def test_hidden_files_and_macos_junk_are_ignored(photo_folder: Path, tmp_path: Path) -> None:
    (photo_folder / ".hidden.png").write_bytes(b"junk")
    (photo_folder / "__MACOSX").mkdir()
    (photo_folder / "__MACOSX" / "._a.png").write_bytes(b"junk")
    assert len(ImagesDataset(str(photo_folder))) == 8


def test_handles_path(photo_folder: Path, tmp_path: Path, registry) -> None:
    zipped = zip_tree(photo_folder, tmp_path / "p.zip")
    assert handles_path(str(photo_folder)) and handles_path(str(zipped))
    assert not handles_path(str(tmp_path / "missing.zip"))
    assert not handles_path(str(photo_folder / "a" / "img1.png"))
    spec = registry.get("dataset", "images")
    assert spec.priority < 0  # more specific readers (e.g. LMDB folders) win


def test_items_collate_without_warnings(tmp_path: Path, photos: list[np.ndarray]) -> None:
    """Arrays handed to torch must be writable (else torch warns on every collate)."""
    import warnings

    from ganforge.plugins.default_datasets.shapes import ShapesDataset
    from ganforge.plugins.default_datasets.toyset import ToysetDataset

    grey = write_tree(tmp_path / "grey",
                      {f"{i}.png": png_bytes(p[:, :, 0].copy()) for i, p in enumerate(photos)})
    rgb = write_tree(tmp_path / "rgb", {f"{i}.png": png_bytes(p) for i, p in enumerate(photos)})
    datasets = [ShapesDataset(size=4), ToysetDataset(resolution=16, size=4), ImagesDataset(str(grey)),
                ImagesDataset(str(rgb)), ImagesDataset(str(rgb), resolution=8)]
    assert all(ds[i][0].flags.writeable for ds in datasets for i in range(4))  # torch warns only once
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ds in datasets:
            images, labels = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
            assert images.dtype == torch.uint8 and images.shape[0] == 4 and labels.shape == (4, 0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros([16, 32, 3], np.uint8)
    arr[:, :16] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    root = tmp_path / "exif"
    root.mkdir()
    Image.fromarray(arr).save(root / "a.jpg", exif=exif.tobytes(), quality=95)
    img = ImagesDataset(str(root), resolution=16)[0][0]
    assert img.shape == (3, 16, 16)
    # displayed upright the image is 16 wide and 32 tall with the white half on top
    assert img[:, :6].mean() > 200 and img[:, 10:].mean() < 50
