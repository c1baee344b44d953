"""``gan dataset convert|info`` on what dataset_tool.py reads: CIFAR-10's python tarball, MNIST's IDX
gzip files and LSUN LMDB folders (files made by the tests), and dataset_tool's --source/--dest spellings."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ganforge.cli.dataset import app
from ganforge.core.errors import DataError
from ganforge.plugins.default_datasets.convert import convert, info
from ganforge.plugins.default_datasets.images import ImagesDataset
from ganforge.plugins.default_datasets.sources import SourceReader, find_reader, readers
from tests.datasets.archive_helpers import encoded, write_cifar10, write_lsun, write_mnist

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def items(path: Path, **kw: object) -> tuple[np.ndarray, list]:
    ds = ImagesDataset(str(path), **kw)  # type: ignore[arg-type]
    pairs = [ds[i] for i in range(len(ds))]
    return np.stack([img for img, _ in pairs]), [lab for _, lab in pairs]


# ------------------------------------------------------------------------------------------------
# CIFAR-10
# ------------------------------------------------------------------------------------------------

def test_cifar10_tarball_to_zip_with_labels(tmp_path: Path, registry) -> None:
    tar = tmp_path / "cifar-10-python.tar.gz"
    images, labels = write_cifar10(tar, per_batch=3)
    result = convert(tar, tmp_path / "cifar.zip", registry=registry, progress=False)
    assert (result["count"], result["resolution"], result["channels"], result["labels"]) == (15, 32, 3, "class")
    got, got_labels = items(tmp_path / "cifar.zip", use_labels=True)
    np.testing.assert_array_equal(got.transpose(0, 2, 3, 1), images)  # the five training batches, in order
    assert [int(np.argmax(v)) for v in got_labels] == labels
    summary = info(tar, check=True, registry=registry)
    assert (summary["dataset"], summary["kind"], summary["count"], summary["resolution"], summary["labels"]) == \
        ("cifar10", "tarball", 15, 32, "class")
    assert summary["problems"] == [] and sum(summary["classes"].values()) == 15


def test_cifar10_renamed_tarball_extracted_folder_and_max_images(tmp_path: Path, registry) -> None:
    tar = tmp_path / "mydata.tgz"
    images, _ = write_cifar10(tar, per_batch=2)
    assert find_reader(tar).kind == "cifar10"  # found by its members, not its name
    import tarfile

    with tarfile.open(tar) as t:
        t.extractall(tmp_path / "x", filter="data")
    convert(tmp_path / "x" / "cifar-10-batches-py", tmp_path / "out", max_images=4, resolution=16,
            registry=registry, progress=False)
    got, _ = items(tmp_path / "out")
    assert got.shape == (4, 3, 16, 16)


def test_cifar10_pickles_are_never_executed(tmp_path: Path, registry) -> None:
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    def evil_batch(planes, labels, *_):
        return pickle.dumps({"data": Evil(), "labels": labels}, protocol=2)

    tar = tmp_path / "cifar-10-python.tar.gz"
    write_cifar10(tar, per_batch=1, batch_bytes=evil_batch)
    with pytest.raises(DataError, match=r"data_batch_1: unsafe pickle: refusing to load global .*open"):
        convert(tar, tmp_path / "o.zip", registry=registry, progress=False)
    assert not marker.exists() and not (tmp_path / "o.zip").exists()


def test_cifar10_python3_pickles_and_damaged_batches(tmp_path: Path, registry) -> None:
    def py3_batch(planes, labels, *_):
        return pickle.dumps({b"data": planes, b"labels": labels}, protocol=4)

    tar = tmp_path / "cifar-10-python.tar.gz"
    images, _ = write_cifar10(tar, per_batch=1, batch_bytes=py3_batch)
    convert(tar, tmp_path / "a.zip", registry=registry, progress=False)
    np.testing.assert_array_equal(items(tmp_path / "a.zip")[0].transpose(0, 2, 3, 1), images)

    def wrong_shape(planes, labels, *_):
        return pickle.dumps({"data": planes[:, :100], "labels": labels}, protocol=2)

    write_cifar10(tar, per_batch=1, batch_bytes=wrong_shape)
    with pytest.raises(DataError, match=r"data_batch_1: 'data' must be a uint8 array \[N, 3072\].*\[1, 100\]"):
        convert(tar, tmp_path / "b.zip", registry=registry, progress=False)
    write_cifar10(tar, per_batch=1, batches=3)
    with pytest.raises(DataError, match="is missing data_batch_4, data_batch_5"):
        info(tar, registry=registry)


# ------------------------------------------------------------------------------------------------
# MNIST
# ------------------------------------------------------------------------------------------------

def test_mnist_is_padded_to_32_and_says_so(tmp_path: Path, registry) -> None:
    images_path, imgs, labs = write_mnist(tmp_path / "mnist", n=5)
    result = convert(images_path, tmp_path / "mnist.zip", registry=registry, progress=False)
    assert (result["count"], result["resolution"], result["channels"]) == (5, 32, 1)
    assert any("padded" in n and "28x28" in n and "32x32" in n for n in result["notes"])
    got, got_labels = items(tmp_path / "mnist.zip", use_labels=True)
    assert got.shape == (5, 1, 32, 32)
    np.testing.assert_array_equal(got[:, 0, 2:30, 2:30], imgs)
    assert not got[:, :, :2].any() and not got[:, :, 30:].any() and not got[:, :, :, :2].any()
    assert [int(np.argmax(v)) for v in got_labels] == labs
    out = invoke("convert", "--source", images_path, "--dest", tmp_path / "cli.zip")
    assert out.exit_code == 0, out.output
    assert "padded with black borders to 32x32" in out.output and "Wrote 5 images (32x32 L, class labels)" in out.output


def test_mnist_uncompressed_and_errors(tmp_path: Path, registry) -> None:
    images_path, imgs, _ = write_mnist(tmp_path / "raw", n=3, prefix="t10k", compress=False)
    summary = info(images_path, check=True, registry=registry)
    assert (summary["dataset"], summary["count"], summary["resolution"], summary["channels"]) == ("mnist", 3, 32, 1)
    lonely, _, _ = write_mnist(tmp_path / "nolabels", n=2, labels=False)
    with pytest.raises(DataError, match="needs its labels file train-labels-idx1-ubyte.gz"):
        convert(lonely, tmp_path / "x.zip", registry=registry, progress=False)
    bad = tmp_path / "bad" / "train-images-idx3-ubyte"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    (bad.parent / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: is not an IDX file of images .*0x00000801"):
        convert(bad, tmp_path / "y.zip", registry=registry, progress=False)
    short = tmp_path / "short"
    path, _, _ = write_mnist(short, n=4)
    import gzip

    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    with pytest.raises(DataError, match="header says 4 x 28 x 28 = 3136 bytes of data, the file holds 3036"):
        convert(path, tmp_path / "z.zip", registry=registry, progress=False)


# ------------------------------------------------------------------------------------------------
# LSUN LMDB
# ------------------------------------------------------------------------------------------------

def test_lsun_lmdb_webp_and_jpeg(tmp_path: Path, registry) -> None:
    pytest.importorskip("lmdb")
    folder = tmp_path / "bedroom_train_lmdb"
    images = write_lsun(folder, n=4, size=(48, 32))
    summary = info(folder, registry=registry)
    assert (summary["dataset"], summary["count"], summary["size"], summary["resolution"]) == ("lmdb", 4, [48, 32], None)
    assert summary["name"] == "bedroom_train"
    with pytest.raises(DataError, match="is 48x32; training images must be square.*--resolution"):
        convert(folder, tmp_path / "a.zip", registry=registry, progress=False)
    result = convert(folder, tmp_path / "b.zip", resolution=32, registry=registry, progress=False)
    assert (result["count"], result["resolution"], result["labels"]) == (4, 32, "none")
    got, _ = items(tmp_path / "b.zip")
    np.testing.assert_array_equal(got[0].transpose(1, 2, 0), images[0][:, 8:40])  # lossless WebP: exact crop
    assert np.abs(got[1].transpose(1, 2, 0).astype(int) - images[1][:, 8:40]).mean() < 3  # JPEG: close
    result = convert(folder, tmp_path / "c", resolution=16, max_images=2, registry=registry, progress=False)
    assert result["count"] == 2


def test_lsun_bad_entry_is_named_and_skippable(tmp_path: Path, registry) -> None:
    pytest.importorskip("lmdb")
    folder = tmp_path / "church_outdoor_train_lmdb"
    write_lsun(folder, n=3, size=(32, 32), bad={1: b"not an image"})
    key = f"{1:040x}"
    with pytest.raises(DataError, match=f"church_outdoor_train_lmdb/{key}: is not an image"):
        convert(folder, tmp_path / "a.zip", registry=registry, progress=False)
    with pytest.warns(UserWarning, match=key):
        result = convert(folder, tmp_path / "b.zip", on_error="skip", registry=registry, progress=False)
    assert result["count"] == 2
    assert [p["file"].endswith(key) for p in info(folder, check=True, registry=registry)["problems"]] == [True]


def test_lmdb_missing_package_is_a_clear_error(tmp_path: Path, monkeypatch, registry) -> None:
    folder = tmp_path / "cat_lmdb"
    folder.mkdir()
    (folder / "data.mdb").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "lmdb", None)  # import fails as if not installed
    result = invoke("info", folder)
    assert result.exit_code == 2
    assert "pip install 'ganforge[lmdb]'" in result.output and "cat_lmdb" in result.output
    empty = tmp_path / "dog_lmdb"
    empty.mkdir()
    monkeypatch.delitem(sys.modules, "lmdb")
    pytest.importorskip("lmdb")
    with pytest.raises(DataError, match="has no data.mdb"):
        info(empty, registry=registry)


# ------------------------------------------------------------------------------------------------
# The command line and the reader interface
# ------------------------------------------------------------------------------------------------

def test_source_dest_aliases_and_their_errors(tmp_path: Path, use_registry) -> None:
    tar = tmp_path / "cifar-10-python.tar.gz"
    write_cifar10(tar, per_batch=1)
    result = invoke("convert", "--source", tar, "--dest", tmp_path / "c.zip", "--max-images", "3",
                    "--resolution", "16x16", "--transform", "center-crop")
    assert result.exit_code == 0, result.output
    assert "Wrote 3 images (16x16 RGB, class labels)" in result.output
    both = invoke("convert", tar, tmp_path / "d.zip", "--source", tar)
    assert both.exit_code == 2 and "give SOURCE once" in both.output
    neither = invoke("convert", "--dest", tmp_path / "e.zip")
    assert neither.exit_code == 2 and "--source" in neither.output
    opts = invoke("convert", tar, tmp_path / "f.zip", "--set", "size=3")
    assert opts.exit_code == 2 and "cifar10 source" in opts.output


def test_a_new_reader_slots_in(tmp_path: Path, registry, monkeypatch) -> None:
    from ganforge.plugins.default_datasets import sources

    class Stripes(SourceReader):
        kind = "stripes"

        @classmethod
        def accepts(cls, path: str) -> bool:
            return path.endswith(".stripes")

        def __len__(self) -> int:
            return 3

        def labels(self):
            return [[0.5], [1.5], [2.5]]

        def records(self):
            for i in range(3):
                img = np.zeros((8, 8, 3), np.uint8)
                img[:, i::3] = 255
                yield sources.Record(f"{self.path}[{i}]", encoded(img, "PNG") if i else img, [i + 0.5])

    monkeypatch.setattr(sources, "_READERS", list(readers()))
    sources.register_reader(Stripes, first=True)
    (tmp_path / "a.stripes").write_text("")
    result = convert(tmp_path / "a.stripes", tmp_path / "s.zip", registry=registry, progress=False)
    assert (result["count"], result["labels"], result["resolution"]) == (3, "vector", 8)
    got, labels = items(tmp_path / "s.zip", use_labels=True)
    assert got[1, 0, 0, 1] == 255 and [float(v[0]) for v in labels] == [0.5, 1.5, 2.5]
