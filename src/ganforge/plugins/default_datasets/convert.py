"""``gan dataset convert`` and ``gan dataset info``: clean training sets and their summaries.

A *source* is an existing path in a format an archive reader reads (``sources/``: CIFAR-10's
``cifar-10-python.tar.gz``, MNIST's ``*-images-idx3-ubyte.gz``, an LSUN LMDB folder), another existing path
(read by the dataset whose ``handles_path`` accepts it, highest ``priority`` first: a folder or ``.zip``
goes to ``images``) or the name of a registered dataset (``shapes``, ``toyset``) with options given as
``overrides``.

``convert`` writes a zip (``ZIP_STORED``) or folder of ``NNNNN/imgNNNNNNNN.png`` (PNG
``compress_level=0``; ``toyset`` uses its upstream names ``%08d.png``) and a ``dataset.json`` holding the
labels, or ``{"labels": null}``. Every written image is square with a power-of-two side, RGB or L, and
the same as the others; anything else is an error naming the file (or, with ``on_error='skip'``, is
left out and listed in one warning).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from ganforge.core.errors import ConfigError, DataError
from ganforge.plugins.default_datasets._imageio import (
    LABELS_FILE,
    BadImage,
    BadImagesWarning,
    ImageSource,
    ShapeCheck,
    decode_image,
    describe_bad,
    encode_png,
    map_chunked,
    transform_image,
)
from ganforge.plugins.default_datasets.configs import TRANSFORMS
from ganforge.plugins.default_datasets.sources import convert_reader, find_reader, reader_info

__all__ = ["convert", "info", "write_dataset", "resolve_source", "open_dataset", "parse_resolution",
           "archive_name", "TRANSFORMS", "Source"]

_HINT = "pass a resolution (gan dataset convert --resolution N) to centre-crop and resize"


def archive_name(idx: int) -> str:
    """``NNNNN/imgNNNNNNNN.png``: the first five digits of the 8-digit index name the folder."""
    return f"{idx // 1000:05d}/img{idx:08d}.png"


def parse_resolution(value: int | str | None) -> tuple[int, int] | None:
    """``None``, ``256``, ``"256"`` or ``"512x384"`` -> ``(width, height)`` or None."""
    if value is None:
        return None
    text = str(value).lower().strip()
    try:
        w, _, h = text.partition("x")
        size = (int(w), int(h or w))
    except ValueError:
        raise ConfigError(f"expected N or WxH (e.g. 256 or 512x384), got {value!r}", "resolution") from None
    if min(size) < 1:
        raise ConfigError(f"must be positive, got {value!r}", "resolution")
    return size


# ------------------------------------------------------------------------------------------------
# Sources
# ------------------------------------------------------------------------------------------------

def _get_registry() -> Any:
    from ganforge.core.registry import get_registry

    return get_registry()


@dataclass(frozen=True)
class Source:
    """A resolved source: the dataset spec, its validated config, and the path (None for a name)."""

    text: str
    spec: Any
    config: BaseModel
    path: str | None

    @property
    def is_image_files(self) -> bool:
        """Read file by file (the ``images`` dataset), so sizes may differ before convert transforms."""
        return self.path is not None and self.spec.name == "images"


def _make_config(spec: Any, values: Mapping[str, Any]) -> BaseModel:
    try:
        return spec.config(**values)
    except ValidationError as exc:
        fields = sorted(f for f in spec.config.model_fields if f != "name")
        lines = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                lines.append(f"{key}: unknown option of dataset {spec.name!r} (options: {', '.join(fields)})")
            else:
                lines.append(f"{key}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("; ".join(lines), f"dataset {spec.name}") from None


def resolve_source(source: str | os.PathLike[str], *, overrides: Mapping[str, Any] | None = None,
                   registry: Any = None) -> Source:
    """Find the dataset that reads ``source`` (an existing path, else a registered dataset name)."""
    text = os.fspath(source)
    overrides = dict(overrides or {})
    registry = registry if registry is not None else _get_registry()
    specs = registry.specs("dataset")
    if os.path.exists(text):
        takers = [s for s in specs if s.reads(text)]
        if not takers:
            raise DataError("no dataset plugin reads this path; give a folder or .zip of images, "
                            "cifar-10-python.tar.gz, MNIST's *-images-idx3-ubyte.gz or an LSUN LMDB folder", text)
        spec = max(takers, key=lambda s: s.priority)
        return Source(text, spec, _make_config(spec, {**overrides, "path": text}), text)
    names = [s.name for s in specs]
    if text in names:
        spec = registry.get("dataset", text)
        return Source(text, spec, _make_config(spec, overrides), None)
    raise DataError(f"is neither an existing folder or file nor a dataset name "
                    f"(datasets: {', '.join(names)})", text)


def open_dataset(src: Source) -> Any:
    return src.spec.build(src.config)


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

class _Writer:
    """Writes a zip or a folder under a temporary name and renames it on success."""

    def __init__(self, dest: str | os.PathLike[str]):
        self.dest = Path(dest)
        if self.dest.exists() and not (self.dest.is_dir() and not any(self.dest.iterdir())):
            raise DataError("already exists; remove it or choose another destination", str(self.dest))
        self.is_zip = self.dest.suffix.lower() == ".zip"
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.dest.with_name(f".{self.dest.name}.partial-{os.getpid()}")
        self._zip = zipfile.ZipFile(self.tmp, "w", zipfile.ZIP_STORED) if self.is_zip else None
        if not self.is_zip:
            self.tmp.mkdir()

    def add(self, name: str, data: bytes) -> None:
        if self._zip is not None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))  # reproducible archives
            info.external_attr = 0o644 << 16
            self._zip.writestr(info, data, compress_type=zipfile.ZIP_STORED)
        else:
            path = self.tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def commit(self) -> Path:
        if self._zip is not None:
            self._zip.close()
        elif self.dest.is_dir():
            self.dest.rmdir()  # empty (checked above)
        os.replace(self.tmp, self.dest)
        return self.dest

    def abort(self) -> None:
        if self._zip is not None:
            self._zip.close()
        if self.tmp.is_dir():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress(enabled: bool, total: int, what: str) -> Iterator[Callable[[], None]]:
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, refresh_per_second=4) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


# An item: (name in messages, label getter, outcome); outcome is (shape, png bytes), None (dropped by
# center-crop-wide), a problem text (bad file) or a DataError (raised by a dataset object). Labels are
# looked up only for images that are written, so a skipped file needs none.
_Item = tuple[str, Any, Any]


def _message(exc: DataError) -> str:
    return str(exc).removeprefix(f"{exc.file}: ") if exc.file else str(exc)


def _file_items(source: ImageSource, size: tuple[int, int] | None, transform: str) -> Iterator[_Item]:
    table = source.raw_labels()

    def work(data: bytes) -> tuple[tuple[int, ...], bytes] | None:
        arr = transform_image(decode_image(data), transform, *(size or (None, None)))
        return None if arr is None else (arr.shape, encode_png(arr))

    def label_of(name: str) -> Any:
        if table is None:
            return None
        if name not in table:
            raise DataError(f"has no label for {name!r} (every image needs one, or set \"labels\": null)",
                            source.display(LABELS_FILE))
        return table[name]

    for name, result in map_chunked(work, source, source.names):
        yield (source.display(name), lambda n=name: label_of(n),
               (str(result) if isinstance(result, BadImage) else result))


def _dataset_items(ds: Any, size: tuple[int, int] | None, transform: str) -> Iterator[_Item]:
    labelled = bool(getattr(ds, "has_labels", False))
    for i in range(len(ds)):
        where = f"{getattr(ds, 'name', 'dataset')}[{i}]"
        try:
            image, _ = ds[i]
        except DataError as exc:
            yield where, lambda: None, exc
            continue
        arr = transform_image(np.asarray(image).transpose(1, 2, 0), transform, *(size or (None, None)))
        label = None
        if labelled:
            cls = ds.class_index(i)
            label = cls if cls is not None else [float(v) for v in ds.get_label(i)]
        outcome = None if arr is None else (arr.shape, encode_png(np.ascontiguousarray(arr)))
        yield where, lambda v=label: v, outcome


def _write(items: Iterator[_Item], dest: str | os.PathLike[str], *, total: int, name_of: Callable[[int], str],
           max_images: int | None, on_error: str, progress: bool, what: str) -> dict[str, Any]:
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    check = ShapeCheck(_HINT)
    writer = _Writer(dest)
    labels: list[list[Any]] = []
    bad: list[tuple[str, str]] = []
    dropped: list[str] = []
    count = 0
    try:
        with _progress(progress, min(total, max_images or total), what) as advance:
            for where, label, outcome in items:
                if max_images is not None and count >= max_images:
                    break
                if outcome is None:
                    dropped.append(where)
                    continue
                if isinstance(outcome, DataError):
                    if on_error == "raise":
                        raise outcome
                    bad.append((outcome.file or where, _message(outcome)))
                    continue
                problem = outcome if isinstance(outcome, str) else check.problem(where, outcome[0])
                if problem:
                    if on_error == "raise":
                        raise DataError(problem, where)
                    bad.append((where, problem))
                    continue
                name = name_of(count)
                labels.append([name, label()])
                writer.add(name, outcome[1])
                count += 1
                advance()
        if count == 0:
            why = describe_bad(bad) if bad else f"{len(dropped)} images dropped as smaller than the target"
            raise DataError(f"no image could be converted: {why}", what)
        has_labels = any(label is not None for _, label in labels)
        doc = {"labels": labels if has_labels else None}
        writer.add(LABELS_FILE, json.dumps(doc).encode("utf-8"))
        out = writer.commit()
    except BaseException:
        writer.abort()
        raise
    if bad:
        warnings.warn(f"{what}: skipped {describe_bad(bad)}", BadImagesWarning, stacklevel=3)
    if dropped:
        warnings.warn(f"{what}: center-crop-wide dropped {len(dropped)} image(s) smaller than the target "
                      f"(first: {dropped[0]})", BadImagesWarning, stacklevel=3)
    h, w, c = check.expected  # type: ignore[misc]
    return {"dest": str(out), "count": count, "resolution": h, "channels": c,
            "labels": "none" if not has_labels else ("class" if isinstance(labels[0][1], int) else "vector"),
            "skipped": [{"file": f, "problem": p} for f, p in bad], "dropped": dropped}


def write_dataset(ds: Any, dest: str | os.PathLike[str], *, max_images: int | None = None,
                  on_error: str = "raise", progress: bool = False) -> Path:
    """Write the items of a dataset object (``uint8 [C, H, W]``) to a zip or folder; returns the path."""
    name_of = getattr(ds, "archive_name", archive_name)
    result = _write(_dataset_items(ds, None, "none"), dest, total=len(ds), name_of=name_of,
                    max_images=max_images, on_error=on_error, progress=progress,
                    what=str(getattr(ds, "name", ds)))
    return Path(result["dest"])


def convert(source: str | os.PathLike[str], dest: str | os.PathLike[str], resolution: int | str | None = None,
            transform: str = "center-crop", max_images: int | None = None, on_error: str = "raise", *,
            overrides: Mapping[str, Any] | None = None, registry: Any = None,
            progress: bool = True) -> dict[str, Any]:
    """Convert a folder, zip or named dataset into a clean training set (module docstring).

    Args:
        source: folder, ``.zip``, an archive a reader in ``sources/`` reads (CIFAR-10 tarball, MNIST IDX
            gzip, LSUN LMDB folder), another path a dataset plugin reads, or a dataset name.
        dest: ``*.zip`` for a zip archive, anything else for a folder (must not exist, or be empty).
        resolution: ``N`` or ``"WxH"``. For a named dataset with a ``resolution`` option, ``N`` sets
            that option (rendered natively); otherwise images are transformed to this size.
        transform: ``'center-crop'`` (largest centred square, then resize), ``'center-crop-wide'``
            (centred ``W:H`` crop resized to ``WxH`` in the middle of a black ``WxW`` square; smaller
            images are dropped) or ``'none'`` (plain resize to ``WxH``).
        max_images: write at most this many images (the first ones, in order).
        on_error: ``'raise'`` stops at the first bad image with a DataError naming it; ``'skip'``
            leaves bad images out and warns once (they are listed in the result's ``skipped``).
        overrides: options of a named dataset (``{"size": 1000}``).
        registry: the component registry (default: the global one).
        progress: show a progress bar on a terminal.

    Returns:
        ``{dest, count, resolution, channels, labels, skipped, dropped}`` (and ``notes`` for archive
        readers: what was done to the images, e.g. MNIST's padding).
    """
    if transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}",
                          "transform")
    size = parse_resolution(resolution)
    if size is not None and size[0] != size[1] and transform != "center-crop-wide":
        raise ConfigError(f"{size[0]}x{size[1]} is not square; training images must be square (use "
                          f"--transform center-crop-wide to pad a wide crop to {max(size)}x{max(size)})",
                          "resolution")
    overrides = dict(overrides or {})
    reader = find_reader(source)
    if reader is not None:  # CIFAR-10, MNIST, LSUN LMDB, ... (sources/)
        if overrides:
            raise ConfigError(f"dataset options apply to dataset names; a {reader.kind} source takes the "
                              "resolution, transform and max-images options", "--set")
        with reader:
            return convert_reader(reader, dest, size, transform, max_images, on_error, progress)
    src = resolve_source(source, registry=registry)
    what = os.fspath(source)
    if src.is_image_files:
        if overrides:
            raise ConfigError("dataset options apply to dataset names (shapes, toyset); for a folder or zip "
                              "use the resolution, transform and max-images options", "--set")
        files = ImageSource(src.path)  # type: ignore[arg-type]
        if not files.names:
            raise DataError("contains no image files", src.path)
        items = _file_items(files, size, transform)
        return _write(items, dest, total=len(files.names), name_of=archive_name, max_images=max_images,
                      on_error=on_error, progress=progress, what=what)
    src = resolve_source(source, overrides=overrides, registry=registry)
    fields = type(src.config).model_fields
    values = src.config.model_dump()
    if size is not None and size[0] == size[1] and "resolution" in fields and "resolution" not in overrides:
        values["resolution"], size = size[0], None  # render natively at the requested size
    if "on_error" in fields and "on_error" not in overrides:
        values["on_error"] = on_error
    ds = src.spec.build(_make_config(src.spec, values))
    try:
        return _write(_dataset_items(ds, size, transform), dest, total=len(ds),
                      name_of=getattr(ds, "archive_name", archive_name), max_images=max_images,
                      on_error=on_error, progress=progress, what=what)
    finally:
        with contextlib.suppress(Exception):
            ds.close()


# ------------------------------------------------------------------------------------------------
# Info
# ------------------------------------------------------------------------------------------------

def _label_summary(labels: list[Any] | None) -> dict[str, Any]:
    if labels is None:
        return {"labels": "none", "label_dim": 0, "classes": None}
    if labels and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        hist = np.bincount(np.asarray(labels, dtype=np.int64).clip(0)) if labels else np.zeros(0, int)
        return {"labels": "class", "label_dim": int(hist.size),
                "classes": {int(k): int(v) for k, v in enumerate(hist) if v}}
    dims = {len(v) for v in labels if isinstance(v, list | tuple)}
    return {"labels": "vector", "label_dim": dims.pop() if len(dims) == 1 else None, "classes": None}


def _info_files(files: ImageSource, check: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"source": files.path, "kind": files.kind, "dataset": "images", "name": files.name,
                           "count": len(files.names), "resolution": None, "size": None, "channels": None,
                           "bytes": files.size_on_disk()}
    first_problems: list[dict[str, str]] = []
    label_problems: list[dict[str, str]] = []
    if not files.names:
        first_problems.append({"file": files.path, "problem": "contains no image files"})
    for name in files.names[:16]:  # the first readable image describes the set
        try:
            arr = files.load(name)
        except BadImage as exc:
            first_problems.append({"file": files.display(name), "problem": str(exc)})
            continue
        h, w, c = arr.shape
        square = ShapeCheck("").problem(name, arr.shape) is None
        out.update(size=[w, h], channels=c, resolution=h if square else None)
        break
    try:
        table = files.raw_labels()
        labels = None if table is None else [table.get(n) for n in files.names]
        if labels is not None and None in labels:
            missing = [n for n, v in zip(files.names, labels, strict=True) if v is None]
            why = f"has no label for {len(missing)} image(s), e.g. {missing[0]!r}"
            label_problems.append({"file": files.display(LABELS_FILE), "problem": why})
            labels = [v for v in labels if v is not None]
        out.update(_label_summary(labels))
    except DataError as exc:
        label_problems.append({"file": exc.file or files.path, "problem": _message(exc)})
        out.update(_label_summary(None))
    problems = label_problems + (first_problems if not check or not files.names else [])
    if check:
        shapes = ShapeCheck("gan dataset convert --resolution N centre-crops and resizes")
        for name, result in map_chunked(lambda data: decode_image(data).shape, files, files.names):
            why = str(result) if isinstance(result, BadImage) else shapes.problem(name, result)
            if why:
                problems.append({"file": files.display(name), "problem": why})
    out["checked"] = check
    out["problems"] = problems
    return out


def _info_dataset(src: Source, check: bool) -> dict[str, Any]:
    ds = open_dataset(src)
    problems: list[dict[str, str]] = []
    try:
        n = len(ds)
        if not ds.has_labels:
            labels = _label_summary(None)
        elif ds.class_index(0) is not None:
            labels = _label_summary([ds.class_index(i) for i in range(n)])
        else:
            labels = {"labels": "vector", "label_dim": ds.label_dim, "classes": None}
        kind = "dataset" if src.path is None else ("folder" if os.path.isdir(src.path) else "file")
        out = {"source": src.text, "kind": kind, "dataset": src.spec.name, "name": ds.name, "count": n,
               "resolution": ds.resolution, "size": [ds.resolution, ds.resolution],
               "channels": ds.num_channels, "bytes": None, **labels}
        if check:
            for i in range(n):
                try:
                    ds[i]
                except DataError as exc:
                    problems.append({"file": exc.file or f"{ds.name}[{i}]", "problem": _message(exc)})
    finally:
        with contextlib.suppress(Exception):
            ds.close()
    out["checked"] = check
    out["problems"] = problems
    return out


def info(path_or_name: str | os.PathLike[str], check: bool = False, *,
         overrides: Mapping[str, Any] | None = None, registry: Any = None) -> dict[str, Any]:
    """Summary of a dataset: ``{source, kind, dataset, name, count, resolution, size ([W, H] of the
    first image), channels, labels ('none'|'class'|'vector'), label_dim, classes ({class: count}),
    bytes (size on disk), checked, problems ([{file, problem}])}``.

    Without ``check`` only the first image is decoded; with it every image is, and unreadable,
    truncated, unsupported, non-square or mismatched files are listed in ``problems``.
    """
    reader = find_reader(path_or_name)
    if reader is not None:
        with reader:
            return reader_info(reader, check)
    src = resolve_source(path_or_name, overrides=overrides, registry=registry)
    if src.is_image_files:
        return _info_files(ImageSource(src.path), check)  # type: ignore[arg-type]
    return _info_dataset(src, check)
