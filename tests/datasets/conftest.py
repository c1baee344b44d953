"""Fixtures for the dataset plugin tests: a registry holding only this plugin, and real photos
(scikit-image's bundled public-domain images, loaded offline) written as small image files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge.plugins.default_datasets as plugin
from ganforge.core.plugins import make_plugin_manager
from ganforge.core.registry import Registry
from ganforge.plugins.default_datasets import convert as convert_mod

from tests.datasets.dataset_helpers import png_bytes, write_tree


@pytest.fixture(autouse=True)
def _terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # stable rich output
    monkeypatch.setenv("TERMINAL_WIDTH", "200")


@pytest.fixture(scope="session")
def registry() -> Registry:
    pm = make_plugin_manager(builtins=False, entry_points=False)
    pm.register(plugin, name="default_datasets")
    return Registry.from_plugin_manager(pm)


@pytest.fixture
def use_registry(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> Registry:
    """Make convert/info (and the CLI) use the test registry instead of the global one."""
    monkeypatch.setattr(convert_mod, "_get_registry", lambda: registry)
    return registry


def _photos() -> list[np.ndarray]:
    from skimage import data

    return [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]


@pytest.fixture(scope="session")
def photos() -> list[np.ndarray]:
    """Four real RGB photos (various sizes) made into 32x32 thumbnails, and the originals."""
    return [np.asarray(Image.fromarray(p).resize((32, 32), Image.LANCZOS)) for p in _photos()]


@pytest.fixture
def photo_folder(tmp_path: Path, photos: list[np.ndarray]) -> Path:
    """8 images in two sub-folders (names chosen so that sorting matters), integer labels."""
    files, labels = {}, []
    for i in range(8):
        name = f"{'b' if i % 2 else 'a'}/img{7 - i}.png"
        arr = photos[i % 4] if i < 4 else photos[i % 4][:, ::-1].copy()
        files[name] = png_bytes(arr)
        labels.append([name, i % 3])
    return write_tree(tmp_path / "photos", files, labels)


