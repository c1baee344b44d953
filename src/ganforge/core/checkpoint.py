"""ganforge's checkpoint format, atomic writes, and loading networks from any supported file.

A checkpoint is a plain dict saved with ``torch.save`` and loadable with
``torch.load(weights_only=True)``: state_dicts, the resolved run configuration (JSON), the data
info, versions, and for resumable checkpoints the optimiser states, loss and augmentation state,
counters and RNG states. Classes are never pickled. Files are written atomically (temporary file in
the same directory, fsync, rename), so a crash at any moment leaves either the old or the new file.

Two kinds share the format: ``"training"`` (``checkpoint.pt`` in a run directory: everything needed
to resume exactly) and ``"network"`` (``network-snapshot-<kimg>.pt``: networks, config, info).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganforge import __version__
from ganforge.core.errors import CheckpointError
from ganforge.core.specs import DataInfo

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NetworkBundle",
    "atomic_save",
    "read_checkpoint",
    "is_native_checkpoint",
    "load_native",
    "load_bundle",
    "load_network",
    "build_networks",
    "versions",
    "copy_params_and_buffers",
    "ImportedNetwork",
    "load_foreign_pickle",
    "save_network",
]

FORMAT = "ganforge-checkpoint"
FORMAT_VERSION = 1


@dataclass
class NetworkBundle:
    """Networks read from a file (ours or a foreign format), ready to use.

    ``G_ema`` is what generation and metrics use; ``G`` and ``D`` are present when the file has them.
    """

    G: torch.nn.Module | None = None
    D: torch.nn.Module | None = None
    G_ema: torch.nn.Module | None = None
    augment: torch.nn.Module | None = None
    aux: dict[str, torch.nn.Module] = field(default_factory=dict)
    info: DataInfo | None = None
    config: dict[str, Any] | None = None
    source: str = FORMAT
    path: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def generator(self) -> torch.nn.Module:
        G = self.G_ema if self.G_ema is not None else self.G
        if G is None:
            raise CheckpointError("holds no generator", self.path)
        return G


@dataclass
class ImportedNetwork:
    """What a plugin's ``ganforge_import_network`` returns for one pickled network.

    Attributes:
        module: our module with the pickled weights loaded (strictly).
        section: ``"generator"``, ``"discriminator"`` or ``"augment"``.
        config: the component config equivalent to the pickled constructor arguments (so the network
            can be saved in our format and rebuilt by the registry).
    """

    module: torch.nn.Module
    section: str
    config: Any


def versions() -> dict[str, Any]:
    from ganforge.core.plugins import plugin_info

    try:
        plugins = {p.name: p.version for p in plugin_info()}
    except Exception:  # versions are informative; never fail a save over them
        plugins = {}
    return {"ganforge": __version__, "torch": str(torch.__version__), "plugins": {k: str(v) for k, v in plugins.items()}}


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically: temp file in the same directory, fsync, rename, fsync dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # persist the rename (not supported on every platform)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def is_native_checkpoint(path: str | os.PathLike[str]) -> bool:
    """Cheap test: is ``path`` a zip-format torch file (what ``torch.save`` writes)?"""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a ganforge checkpoint dict safely (``weights_only=True``) and check its format."""
    path = str(path)
    if not os.path.isfile(path):
        raise CheckpointError("no such file", path)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot be read as a ganforge checkpoint ({type(exc).__name__}: {exc})", path) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError("is a torch file but not a ganforge checkpoint (no 'format' marker)", path)
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"was written by a newer ganforge (format version {data.get('format_version')}, this one reads "
            f"up to {FORMAT_VERSION}); upgrade ganforge", path)
    return data


def build_networks(data: dict[str, Any], device: Any = "cpu", which: tuple[str, ...] = ("G", "D", "G_ema"),
                   path: str = "") -> NetworkBundle:
    """Construct the networks of a native checkpoint from its config and load their weights strictly."""
    from ganforge.core.config import resolve_config
    from ganforge.core.registry import get_registry

    registry = get_registry()
    config, _ = resolve_config(data["config"], registry=registry)
    info = DataInfo(**data["info"])
    nets = data.get("networks", {})
    bundle = NetworkBundle(info=info, config=data["config"], path=path, source=FORMAT,
                           meta={"kind": data.get("kind"), "progress": data.get("progress", {}),
                                 "versions": data.get("versions", {})})
    for name in which:
        if name not in nets or name not in ("G", "D", "G_ema"):
            continue
        section = "discriminator" if name == "D" else "generator"
        cfg = getattr(config, section)
        spec = registry.get(section, cfg.name)
        module = spec.build(cfg, info)
        try:
            module.load_state_dict(nets[name], strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"weights of {name} do not fit {section} {cfg.name!r}: {exc}", path) from None
        module.eval().requires_grad_(False).to(device)
        setattr(bundle, name, module)
    if data.get("augment") is not None and config.augment is not None and "augment" in which:
        spec = registry.get("augment", config.augment.name)
        aug = spec.build(config.augment, info)
        aug.load_state_dict(data["augment"])
        bundle.augment = aug.to(device)
    if nets.get("aux") and "aux" in which:
        bundle.aux = _build_aux(config, info, registry, nets["aux"], bundle, path, device)
    return bundle


def _build_aux(config: Any, info: DataInfo, registry: Any, states: dict[str, Any], bundle: NetworkBundle,
               path: str, device: Any) -> dict[str, torch.nn.Module]:
    """Auxiliary networks of the loss terms (G-LIS's reverser), rebuilt as the run built them."""
    from ganforge.core.training.setup import build_loss

    G = bundle.G_ema if bundle.G_ema is not None else bundle.G
    if G is None or bundle.D is None:
        return {}
    loss = build_loss(config, info, registry, G, bundle.D, None, torch.device("cpu"))
    out = {}
    for name, net in loss.aux_networks().items():
        if name not in states:
            raise CheckpointError(f"has no weights of the auxiliary network {name!r}", path)
        net.module.load_state_dict(states[name], strict=True)
        out[name] = net.module.eval().requires_grad_(False).to(device)
    return out


def load_native(path: str, device: Any = "cpu") -> NetworkBundle:
    """Load a native checkpoint into a :class:`NetworkBundle`."""
    data = read_checkpoint(path)
    return build_networks(data, device=device, which=("G", "D", "G_ema", "augment", "aux"), path=path)


def load_bundle(path: str | os.PathLike[str], device: Any = "cpu") -> NetworkBundle:
    """Load networks from any supported file, or an http(s) URL (downloaded once into a cache, see
    :mod:`ganforge.core.download`), through the ``ganforge_load_checkpoint`` hook."""
    from ganforge.core.download import resolve_network
    from ganforge.core.plugins import get_plugin_manager

    path = resolve_network(path)
    if not os.path.exists(path):
        raise CheckpointError("no such file", path)
    if os.path.isdir(path):
        candidates = sorted(Path(path).glob("network-snapshot-*.pt"))
        if not candidates:
            raise CheckpointError("is a directory without network-snapshot-*.pt files", path)
        path = str(candidates[-1])
    device = torch.device(device)
    bundle = get_plugin_manager().hook.ganforge_load_checkpoint(path=path, device=device)
    if bundle is None:
        raise CheckpointError("is not in a format any installed plugin can read "
                              "(ganforge .pt checkpoints; official StyleGAN .pkl files need the stylegan2 plugin)", path)
    return bundle


def load_network(path: str | os.PathLike[str], which: str = "G_ema", device: Any = "cpu") -> torch.nn.Module:
    """Load one network (``G_ema`` by default; ``G`` or ``D``) from any supported file, in eval mode.

    Example::

        G = ganforge.load_network("runs/00000-pggan-shapes/network-snapshot-000010.pt")
        img = G(torch.randn(1, G.z_dim), torch.zeros(1, G.c_dim))
    """
    bundle = load_bundle(path, device=device)
    if which == "G_ema":
        return bundle.generator()
    net = getattr(bundle, which, None)
    if net is None:
        raise CheckpointError(f"holds no {which!r} network", os.fspath(path))
    return net


@torch.no_grad()
def copy_params_and_buffers(src: torch.nn.Module, dst: torch.nn.Module) -> dict[str, list[str]]:
    """Copy parameters and buffers from ``src`` to ``dst`` by name where shapes match.

    Returns ``{"copied": [...], "missing": [...], "mismatched": [...]}`` (names in ``dst``).
    """
    source = dict(src.named_parameters())
    source.update(dict(src.named_buffers()))
    report: dict[str, list[str]] = {"copied": [], "missing": [], "mismatched": []}
    for name, tensor in list(dst.named_parameters()) + list(dst.named_buffers()):
        other = source.get(name)
        if other is None:
            report["missing"].append(name)
        elif other.shape != tensor.shape:
            report["mismatched"].append(f"{name} {tuple(other.shape)}->{tuple(tensor.shape)}")
        else:
            tensor.copy_(other.to(tensor.device, tensor.dtype))
            report["copied"].append(name)
    return report


def load_foreign_pickle(path: str, device: Any = "cpu") -> NetworkBundle:
    """Import an official StyleGAN2/3 snapshot (``G``, ``D``, ``G_ema``, ``augment_pipe``) without executing it.

    Each pickled network becomes an inert record (``ganforge.core.foreign_pickle``) and is built by the
    plugin whose ``ganforge_import_network`` recognises it.
    """
    from ganforge.core.foreign_pickle import PickledModule, safe_load
    from ganforge.core.plugins import get_plugin_manager

    data = safe_load(path)
    roles = ("G", "D", "G_ema", "augment_pipe")
    if not isinstance(data, dict) or not any(isinstance(data.get(k), PickledModule) for k in roles[:3]):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"is a pickle but not a network snapshot (expected keys G, D, G_ema; found {keys})", path)
    from ganforge.core.options import declare_options
    from ganforge.core.registry import get_registry

    pm = get_plugin_manager()
    registry = get_registry()
    imported: dict[str, ImportedNetwork] = {}
    for role in roles:
        record = data.get(role)
        if record is None:
            continue
        if not isinstance(record, PickledModule):
            raise CheckpointError(f"{role} is a {type(record).__name__}, not a persistent network", path)
        result = pm.hook.ganforge_import_network(record=record, role=role)
        if result is None:
            defined = ", ".join(sorted(record.module_classes)[:8])
            raise CheckpointError(f"{role} is a {record.class_name!r} from a module defining [{defined}]; no installed "
                                  "plugin can import it (StyleGAN2/3 networks need the stylegan2/stylegan3 plugins)", path)
        if result.section in ("generator", "discriminator") and registry.has(result.section, result.config.name):
            declare_options(result.module, registry.get(result.section, result.config.name).options)
        imported[role] = result
    G = imported.get("G_ema") or imported.get("G")
    if G is None:
        raise CheckpointError("holds no generator", path)
    gmod = G.module
    info = DataInfo(resolution=int(gmod.img_resolution), channels=int(gmod.img_channels), label_dim=int(gmod.c_dim),
                    name="imported")
    config: dict[str, Any] = {"generator": G.config.model_dump(mode="json")}
    if "D" in imported:
        config["discriminator"] = imported["D"].config.model_dump(mode="json")
    if "augment_pipe" in imported:
        config["augment"] = imported["augment_pipe"].config.model_dump(mode="json")
    kwargs = data.get("training_set_kwargs") or {}
    meta = {"training_set_kwargs": dict(kwargs) if isinstance(kwargs, dict) else None, "format": "nvidia-pickle"}
    bundle = NetworkBundle(info=info, config=config, path=path, source="nvidia-pickle", meta=meta)
    for role, attr in (("G", "G"), ("D", "D"), ("G_ema", "G_ema"), ("augment_pipe", "augment")):
        if role in imported:
            module = imported[role].module.to(device)
            if attr != "augment":
                module.eval().requires_grad_(False)
            setattr(bundle, attr, module)
    return bundle


def save_network(bundle: NetworkBundle, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` (from any loadable file) as a native network snapshot (``gan convert``)."""
    from ganforge.core.config import resolve_config

    if bundle.info is None or bundle.config is None:
        raise CheckpointError("cannot be converted: the importer gave no data info or configuration", bundle.path)
    config, _ = resolve_config(dict(bundle.config))
    nets: dict[str, Any] = {name: getattr(bundle, name).state_dict() for name in ("G", "D", "G_ema")
                            if getattr(bundle, name) is not None}
    if bundle.aux:
        nets["aux"] = {name: module.state_dict() for name, module in bundle.aux.items()}
    data = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": "network", "config": config.to_dict(),
        "info": bundle.info.to_dict(), "versions": versions(), "networks": nets,
        "augment": bundle.augment.state_dict() if bundle.augment is not None else None,
        "progress": {}, "source": {"path": str(bundle.path), "format": bundle.source},
    }
    path = Path(path)
    atomic_save(data, path)
    return path
