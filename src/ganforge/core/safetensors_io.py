"""Networks as ``.safetensors``: weights shared without any pickle (``gan convert --to safetensors``).

A ganforge safetensors file holds the state_dict tensors of each network under a prefix (``G.``, ``D.``,
``G_ema.``, ``augment.``) and, in the header's ``__metadata__`` (string values only), everything else a
network snapshot carries, as JSON text:

=================  ==================================================================================
key                value
=================  ==================================================================================
``format``         ``"ganforge-safetensors"``
``format_version`` ``"1"``
``kind``           ``"network"``
``networks``       JSON list of the networks stored (``["G", "D", "G_ema", "augment"]``, those present)
``config``         JSON of the resolved run configuration (component configs rebuild the networks)
``info``           JSON of the data info (resolution, channels, label_dim, name)
``versions``       JSON of the ganforge, torch and plugin versions that wrote it
``source``         JSON ``{"path", "format"}`` of the file it was converted from
=================  ==================================================================================

Why the metadata rather than a JSON file beside it: one file is what people share and upload; a sidecar
gets lost, renamed apart or paired with the wrong weights, and the header is still plain JSON that any
safetensors reader (``safe_open(path, "pt").metadata()``) shows without loading a tensor. Reading never
executes anything: the format has no code, and the networks are built by the registry from ``config``.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

from ganforge.core.errors import CheckpointError

__all__ = ["FORMAT", "FORMAT_VERSION", "looks_like_safetensors", "save_safetensors", "read_safetensors",
           "load_safetensors"]

FORMAT = "ganforge-safetensors"
FORMAT_VERSION = 1
_NETWORKS = ("G", "D", "G_ema", "augment")
_MAX_HEADER = 100 << 20


def looks_like_safetensors(path: str | os.PathLike[str]) -> bool:
    """Cheap test: an 8-byte little-endian header length that fits the file, then a JSON object."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(size - 8, _MAX_HEADER) and head[8:9] == b"{"


def _import() -> Any:
    try:
        import safetensors.torch
    except ImportError:
        raise CheckpointError("reading and writing .safetensors needs the safetensors package: "
                              "pip install safetensors") from None
    return safetensors


def save_safetensors(bundle: Any, path: str | os.PathLike[str]) -> Path:
    """Write a :class:`~ganforge.core.checkpoint.NetworkBundle` (from any loadable file) as safetensors,
    atomically (temporary file in the same folder, fsync, rename)."""
    from ganforge.core.checkpoint import versions
    from ganforge.core.config import resolve_config

    st = _import()
    if bundle.info is None or bundle.config is None:
        raise CheckpointError("cannot be converted: the importer gave no data info or configuration", bundle.path)
    config, _ = resolve_config(dict(bundle.config))
    tensors: dict[str, torch.Tensor] = {}
    present = []
    for name in _NETWORKS:
        module = getattr(bundle, name)
        if module is None:
            continue
        present.append(name)
        for key, value in module.state_dict().items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{name}.{key} is a {type(value).__name__}, not a tensor; safetensors "
                                      "holds tensors only (convert to .pt instead)", bundle.path)
            tensors[f"{name}.{key}"] = value.detach().to("cpu").contiguous().clone()  # no shared storage
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "kind": "network",
            "networks": json.dumps(present), "config": json.dumps(config.to_dict()),
            "info": json.dumps(bundle.info.to_dict()), "versions": json.dumps(versions()),
            "source": json.dumps({"path": str(bundle.path), "format": bundle.source})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        st.torch.save_file(tensors, str(tmp), metadata=meta)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ganforge safetensors file as the dict layout of a native network snapshot."""
    st = _import()
    path = os.fspath(path)
    try:
        with st.safe_open(path, framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as exc:  # SafetensorError, OSError: a damaged or foreign file
        raise CheckpointError(f"cannot be read as safetensors ({type(exc).__name__}: {exc})", path) from None
    if meta.get("format") != FORMAT:
        raise CheckpointError("is a safetensors file without ganforge's metadata (format, config, info): only "
                              "files written by `gan convert --to safetensors` say how to build the networks; "
                              f"found metadata keys {sorted(meta) or 'none'}", path)
    try:
        version = int(meta.get("format_version", "0"))
        fields = {k: json.loads(meta[k]) for k in ("networks", "config", "info")}
        extra = {k: json.loads(meta[k]) for k in ("versions", "source") if k in meta}
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"has damaged ganforge metadata ({type(exc).__name__}: {exc}); expected JSON "
                              "values under networks, config and info", path) from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"was written by a newer ganforge (safetensors format version {version}, this one "
                              f"reads up to {FORMAT_VERSION}); upgrade ganforge", path)
    nets: dict[str, dict[str, torch.Tensor]] = {name: {} for name in fields["networks"]}
    for key, value in tensors.items():
        name, _, rest = key.partition(".")
        if name not in nets or not rest:
            raise CheckpointError(f"holds tensor {key!r} outside the networks it lists ({fields['networks']})", path)
        nets[name][rest] = value
    return {"format": "ganforge-checkpoint", "kind": meta.get("kind", "network"), "config": fields["config"],
            "info": fields["info"], "networks": {k: v for k, v in nets.items() if k != "augment"},
            "augment": nets.get("augment"), "versions": extra.get("versions", {}), "progress": {},
            "source": extra.get("source")}


def load_safetensors(path: str, device: Any = "cpu") -> Any:
    """Load a ganforge safetensors file into a :class:`~ganforge.core.checkpoint.NetworkBundle`."""
    from ganforge.core.checkpoint import build_networks

    bundle = build_networks(read_safetensors(path), device=device, which=("G", "D", "G_ema", "augment"), path=path)
    bundle.source = FORMAT
    return bundle
