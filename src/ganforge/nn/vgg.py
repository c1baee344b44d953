"""VGG16 detectors: fc7 features for precision/recall and LPIPS-VGG distances for PPL.

- Improved precision and recall (Kynkäänniemi et al., NeurIPS 2019, arXiv:1904.06991) measure
  k-NN manifolds in the 4096-d fc7 feature space of VGG16 (Simonyan & Zisserman, ICLR 2015,
  arXiv:1409.1556).
- Perceptual path length (Karras et al., StyleGAN, CVPR 2019, arXiv:1812.04948) uses the LPIPS
  distance (Zhang et al., CVPR 2018, arXiv:1801.03924) on VGG16: unit-normalised activations of
  relu1_2, relu2_2, relu3_3, relu4_3, relu5_3, squared differences weighted per channel by learned
  linear heads, averaged over space and summed over layers.

Real weights come from local files (nothing here downloads unless asked):

- NVIDIA's TorchScript ``vgg16.pt`` (StyleGAN2-ADA metrics): run as is through its own calling
  convention (:class:`TorchScriptVGG16`), so results equal upstream's by construction;
- or a torchvision-layout state dict (``vgg16-397923af.pth``: ``features.N`` / ``classifier.N``)
  loaded into :class:`VGG16`, plus, for LPIPS, the linear heads of the ``lpips`` package
  (``weights/v0.1/vgg.pth``: ``lin{k}.model.1.weight``).

``random_init=True`` builds an untrained VGG16 with unit heads: for tests only, never for results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import CheckpointError
from ganforge.core.weights import WeightsNotFoundError, WeightsSource, resolve_weights, sha256_of
from ganforge.nn.inception import tf_bilinear_resize
from ganforge.nn.inception_weights import is_torchscript

__all__ = ["VGG16", "TorchScriptVGG16", "VGGWeights", "NVIDIA_VGG16", "TORCHVISION_VGG16", "LPIPS_VGG_HEADS",
           "VGG16_ENV", "LPIPS_ENV", "load_vgg16", "map_lpips_heads"]

VGG16_ENV = "GANFORGE_VGG16_WEIGHTS"
LPIPS_ENV = "GANFORGE_LPIPS_HEADS"

NVIDIA_VGG16 = WeightsSource(
    name="VGG16 with LPIPS heads (TorchScript, NVIDIA StyleGAN2-ADA metrics)",
    filename="vgg16.pt",
    sha256=None,  # not verifiable offline: left unchecked rather than invented
    urls=("https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt",),
)
TORCHVISION_VGG16 = WeightsSource(
    name="VGG16 ImageNet (torchvision state dict)",
    filename="vgg16-397923af.pth",
    sha256=None,  # not verifiable offline; the "-397923af" suffix is torch.hub's SHA-256 prefix, checked on load
    urls=("https://download.pytorch.org/models/vgg16-397923af.pth",),
)
LPIPS_VGG_HEADS = WeightsSource(
    name="LPIPS v0.1 linear heads for VGG16 (lpips package)",
    filename="lpips-vgg-v0.1.pth",
    sha256=None,  # not verifiable offline
    package="lpips",
    package_path="weights/v0.1/vgg.pth",
    pip_name="--no-deps lpips",
)

_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
#: Indices (in ``features``) of the ReLUs LPIPS taps: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_LPIPS_TAPS = (3, 8, 15, 22, 29)
_LPIPS_CHANNELS = (64, 128, 256, 512, 512)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# LPIPS' input scaling layer (on images in [-1, 1]), a fact of the lpips package.
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


def _rgb(x: torch.Tensor) -> torch.Tensor:
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected images [N, 1 or 3, H, W], got {tuple(x.shape)}")
    x = x.to(torch.float32)
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


class VGG16(nn.Module):
    """VGG16 (configuration D) in torchvision's layout, with LPIPS linear heads.

    Input everywhere: images ``[N, C, H, W]``, C in {1, 3}, uint8 or float in [0, 255].
    """

    feature_dim = 4096
    resize_method = "tf1-bilinear-224"

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in _CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU()]
                cin = int(v)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(0.5),
                                        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000))
        for k, ch in enumerate(_LPIPS_CHANNELS):
            self.register_buffer(f"lpips{k}", torch.ones(ch))
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images (uint8 range, any size) -> fc7 features after ReLU ``[N, 4096]``.

        Resized to 224x224 (TF1 bilinear, as NVIDIA's detector) and normalised with the ImageNet
        mean/std of torchvision's weights.
        """
        x = tf_bilinear_resize(_rgb(x), (224, 224)) / 255
        x = (x - self.mean) / self.std
        x = F.adaptive_avg_pool2d(self.features(x), 7).flatten(1)
        return self.classifier[:5](x)

    def lpips_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images (uint8 range, not resized) -> ``[N, D]`` with ``LPIPS(a, b) = ||f(a) - f(b)||²``.

        Each tapped activation is unit-normalised over channels (eps 1e-10), multiplied by the square
        root of its head weights and divided by the square root of its number of positions, so the
        squared distance of two rows is the weighted, spatially averaged LPIPS sum.
        """
        x = (_rgb(x) / 127.5 - 1 - self.shift) / self.scale
        out = []
        k = 0
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _LPIPS_TAPS:
                f = x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10)
                w = getattr(self, f"lpips{k}").clamp(min=0).sqrt().view(1, -1, 1, 1)
                out.append((f * w).flatten(1) / (f.shape[2] * f.shape[3]) ** 0.5)
                k += 1
                if k == len(_LPIPS_TAPS):
                    break
        return torch.cat(out, 1)

    def lpips(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS distance ``[N]`` between two image batches (uint8 range)."""
        fa, fb = self.lpips_features(torch.cat([a, b])).chunk(2)
        return (fa - fb).square().sum(1)

    def extra_repr(self) -> str:
        return f"features=fc7 ({self.feature_dim}), resize={self.resize_method}, lpips_taps={_LPIPS_TAPS}"


class TorchScriptVGG16(nn.Module):
    """NVIDIA's TorchScript ``vgg16.pt`` behind :class:`VGG16`'s interface.

    Called as upstream calls it: ``net(img, return_features=True)`` for fc features (it resizes to
    224 itself) and ``net(img, resize_images=False, return_lpips=True)`` for LPIPS features.
    """

    feature_dim = 4096
    resize_method = "nvidia-vgg16.pt (internal)"

    def __init__(self, module: torch.jit.ScriptModule):
        super().__init__()
        self.net = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_rgb(x), return_features=True).float()

    def lpips_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_rgb(x), resize_images=False, return_lpips=True).float()

    def lpips(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = self.lpips_features(torch.cat([a, b])).chunk(2)
        return (fa - fb).square().sum(1)


@dataclass(frozen=True)
class VGGWeights:
    """Where loaded VGG16 weights came from (recorded in metric results)."""

    path: str
    sha256: str
    layout: str  # torchscript, state_dict, random
    lpips_path: str | None = None
    lpips_sha256: str | None = None

    @property
    def detector_id(self) -> str:
        return f"vgg16/{self.layout}"


def map_lpips_heads(state: dict[str, torch.Tensor], file: str = "") -> dict[str, torch.Tensor]:
    """lpips package heads (``lin{k}.model.1.weight`` ``[1, C, 1, 1]``) -> ``{"lpips{k}": [C]}``."""
    out = {}
    for k, ch in enumerate(_LPIPS_CHANNELS):
        key = next((n for n in (f"lin{k}.model.1.weight", f"lin{k}.model.0.weight", f"lpips{k}") if n in state), None)
        if key is None:
            raise CheckpointError(f"has no LPIPS head for layer {k} (expected lin{k}.model.1.weight)", file)
        value = state[key].reshape(-1)
        if value.numel() != ch:
            raise CheckpointError(f"LPIPS head {key} has {value.numel()} weights, expected {ch}", file)
        out[f"lpips{k}"] = value.float()
    return out


def _explicit_or_env(path: str | os.PathLike[str] | None, env: str) -> Path | None:
    raw = path if path is not None else os.environ.get(env)
    if raw is None or raw == "":
        return None
    p = Path(raw).expanduser()
    if not p.is_file():
        raise CheckpointError("VGG16/LPIPS weights file not found" + ("" if path is not None else f" ({env})"), str(p))
    return p


def _find_vgg(path: str | os.PathLike[str] | None, allow_download: bool) -> Path:
    p = _explicit_or_env(path, VGG16_ENV)
    if p is not None:
        return p
    for source in (NVIDIA_VGG16, TORCHVISION_VGG16):
        try:
            return resolve_weights(source, allow_download=allow_download)
        except WeightsNotFoundError:
            continue
    raise WeightsNotFoundError(
        f"no VGG16 weights found (precision/recall and PPL need them). Give a file: NVIDIA's "
        f"{NVIDIA_VGG16.filename} (TorchScript, includes the LPIPS heads) or torchvision's "
        f"{TORCHVISION_VGG16.filename} (+ the lpips package's weights/v0.1/vgg.pth for PPL), via "
        f"detector_weights / --detector-weights, {VGG16_ENV}=..., or by putting it into <cache>/weights/; "
        "or allow a download (allow_download / --allow-download).")


def load_vgg16(path: str | os.PathLike[str] | None = None, lpips_path: str | os.PathLike[str] | None = None, *,
               need_lpips: bool = False, allow_download: bool = False, random_init: bool = False,
               device: Any = "cpu") -> tuple[nn.Module, VGGWeights]:
    """Load a VGG16 detector (see module docstring). Returns ``(module in eval mode, VGGWeights)``."""
    if random_init:
        net = VGG16()
        return net.eval().requires_grad_(False).to(device), VGGWeights(path="", sha256="random-init", layout="random")
    file = _find_vgg(path, allow_download)
    digest = sha256_of(file)
    if is_torchscript(file):
        try:
            module = torch.jit.load(str(file), map_location="cpu")
        except Exception as exc:
            raise CheckpointError(f"cannot be loaded as TorchScript ({type(exc).__name__}: {exc})", str(file)) from None
        net: nn.Module = TorchScriptVGG16(module.eval())
        return net.to(device).requires_grad_(False), VGGWeights(str(file), digest, "torchscript")
    if file.name == TORCHVISION_VGG16.filename and not digest.startswith("397923af"):
        raise CheckpointError(f"has SHA-256 {digest[:16]}..., but its name says it starts with 397923af", str(file))
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"is neither TorchScript nor a state dict ({type(exc).__name__}: {exc})",
                              str(file)) from None
    vgg = VGG16()
    state = {k: v for k, v in state.items() if k.startswith(("features.", "classifier."))}
    missing, unexpected = vgg.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.startswith("lpips")]
    if missing or unexpected:
        raise CheckpointError(f"does not fit VGG16 (torchvision layout): missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}", str(file))
    heads_path = heads_sha = None
    heads_file = _explicit_or_env(lpips_path, LPIPS_ENV)
    if heads_file is None and need_lpips:
        try:
            heads_file = resolve_weights(LPIPS_VGG_HEADS)
        except WeightsNotFoundError as exc:
            raise WeightsNotFoundError(f"PPL needs LPIPS heads with torchvision-layout VGG16 weights: {exc} "
                                       f"Or set {LPIPS_ENV} / lpips_weights.") from None
    if heads_file is not None:
        heads = torch.load(str(heads_file), map_location="cpu", weights_only=True)
        for name, value in map_lpips_heads(heads, str(heads_file)).items():
            getattr(vgg, name).copy_(value)
        heads_path, heads_sha = str(heads_file), sha256_of(heads_file)
    vgg = vgg.eval().requires_grad_(False).to(device)
    return vgg, VGGWeights(str(file), digest, "state_dict", heads_path, heads_sha)
