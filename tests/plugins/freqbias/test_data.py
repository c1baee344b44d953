"""The photos dataset, the baboon photo lookup, --data resolution and the testbed image set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.core.errors import ConfigError, DataError
from ganforge.core.registry import get_registry
from ganforge.plugins.freqbias.config import PHOTOS, PhotosConfig, resolve_testbed_config
from ganforge.plugins.freqbias.data import (
    BABOON_ENV,
    PhotosDataset,
    data_source,
    load_testbed_data,
    resize_square,
)


def test_builtin_photos_and_their_licence_note():
    ds = PhotosDataset(PhotosConfig(resolution=32))
    assert len(ds) == len(PHOTOS) and ds.image_shape == [3, 32, 32]
    img, label = ds[0]
    assert img.dtype == np.uint8 and label.shape == (0,)
    assert img.std() > 10  # a real photo, not a blank
    from ganforge.plugins.freqbias import data

    readme = (data.PHOTOS_DIR / "README.md").read_text()
    for name in PHOTOS:
        assert (data.PHOTOS_DIR / f"{name}.png").is_file() and f"`{name}.png`" in readme
    assert "CC0" in readme and "public domain" in readme
    one = PhotosDataset(PhotosConfig(names=["coffee"], resolution=16, use_labels=True))
    assert len(one) == 1 and one[0][1].tolist() == [1.0]
    with pytest.raises(ValueError, match="unknown photo"):
        PhotosConfig(names=["mandrill"])


def test_photos_from_a_file_and_a_folder(tmp_path):
    rnd = np.random.default_rng()
    for i, (w, h) in enumerate([(40, 30), (30, 50)]):
        Image.fromarray(rnd.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"im{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    ds = PhotosDataset(PhotosConfig(path=str(tmp_path), resolution=16))
    assert len(ds) == 2 and ds.image_shape == [3, 16, 16]
    single = PhotosDataset(PhotosConfig(path=str(tmp_path / "im1.png"), resolution=30))
    # centre crop, no resize
    expected = np.asarray(Image.open(tmp_path / "im1.png"))[10:40].transpose(2, 0, 1)
    np.testing.assert_array_equal(single[0][0], expected)
    with pytest.raises(DataError, match="no such file"):
        PhotosDataset(PhotosConfig(path=str(tmp_path / "missing.png")))
    (tmp_path / "bad.png").write_text("garbage")
    with pytest.raises(DataError, match="bad.png"):
        PhotosDataset(PhotosConfig(path=str(tmp_path / "bad.png")))


def test_baboon_is_fetched_on_demand_and_checked(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="opencv-doc") as err:
        PhotosDataset(PhotosConfig(path="baboon"))
    assert "apt-get download opencv-doc" in str(err.value) and BABOON_ENV in str(err.value)
    fake = tmp_path / "baboon.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(fake)
    monkeypatch.setenv(BABOON_ENV, str(fake))
    with pytest.raises(DataError, match="SHA-256"):
        PhotosDataset(PhotosConfig(path="baboon"))


def test_data_argument_resolution(tmp_path):
    registry = get_registry()
    assert data_source("photos", registry) == {"name": "photos"}
    assert data_source("baboon", registry) == {"name": "photos", "path": "baboon"}
    img = tmp_path / "x.jpg"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(img)
    assert data_source(str(img), registry) == {"name": "photos", "path": str(img)}
    with pytest.raises(ConfigError, match="neither an existing file"):
        data_source(str(tmp_path / "nothing"), registry)


def test_resize_square_centre_crops_then_resizes():
    img = np.zeros((1, 10, 20), np.uint8)
    img[:, :, 5:15] = 200  # the centre 10x10 square is all 200
    out = resize_square(img, 5)
    assert out.shape == (1, 5, 5) and (out == 200).all()


def test_testbed_image_set_subset_resolution_and_range():
    config, _ = resolve_testbed_config("generator",
                                       sets=["dataset=photos", "data.subset=2", "data.resolution=16"])
    assert config.dataset.resolution == 16  # passed on to a dataset that has the option
    data = load_testbed_data(config)
    assert data.images.shape == (2, 3, 16, 16) and data.info.resolution == 16 and data.info.label_dim == 0
    assert data.images.min() >= -1 and data.images.max() <= 1
    raw = PhotosDataset(PhotosConfig(resolution=16))[0][0]
    torch.testing.assert_close(data.images[0], torch.from_numpy(raw).float() / 127.5 - 1)
