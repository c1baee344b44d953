"""Feature detectors behind one interface, loaded once per process and device.

A :class:`Detector` turns uint8-range images ``[N, C, H, W]`` (any size; it resizes as its
network requires) into features, class probabilities or LPIPS features, and describes itself for
provenance (id, SHA-256, resize method, dtype).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.nn.inception import tf_bilinear_resize

__all__ = ["Detector", "TinyDetector", "get_detector", "clear_detectors"]


class TinyDetector(nn.Module):
    """A small random CNN with a fixed seed: features, 10-way logits and LPIPS-style features in a
    few milliseconds. For tests and smoke runs only; its numbers carry no meaning.

    Input: ``[N, C, H, W]`` uint8 range, resized (TF1 bilinear) to 32x32.
    """

    def __init__(self, feature_dim: int = 32, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.feature_dim = feature_dim
        self.conv1 = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, feature_dim, 3, stride=2, padding=1)
        self.fc = nn.Linear(feature_dim, 10)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * (0.5 if p.ndim > 1 else 0.1))

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = tf_bilinear_resize(x, (32, 32)) / 127.5 - 1
        a = F.relu(self.conv1(x))
        return a, F.relu(self.conv2(a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._maps(x)[1].mean(dim=(2, 3))

    def logits(self, features: torch.Tensor, output_bias: bool = False) -> torch.Tensor:
        out = features @ self.fc.weight.t()
        return out + self.fc.bias if output_bias else out

    def lpips_features(self, x: torch.Tensor) -> torch.Tensor:
        out = []
        for f in self._maps(x):
            f = f / (f.square().sum(1, keepdim=True).sqrt() + 1e-10)
            out.append(f.flatten(1) / (f.shape[2] * f.shape[3]) ** 0.5)
        return torch.cat(out, 1)

    def extra_repr(self) -> str:
        return f"feature_dim={self.feature_dim}, input=32x32, random (tests only)"


@dataclass
class Detector:
    """A loaded detector and what identifies it.

    Attributes:
        kind: ``inception``, ``vgg16`` or ``effnet-lite0``.
        net: the module (eval mode, frozen).
        id: stable identifier (part of cache keys and provenance).
        sha256: checksum of the weights file (``random-init`` for random detectors).
        path: weights file.
        resize: how images are resized before the network.
        dtype: ``float32`` or ``float16``.
    """

    kind: str
    net: nn.Module
    id: str
    sha256: str
    path: str
    resize: str
    dtype: str = "float32"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    extra: dict[str, Any] = field(default_factory=dict)

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """uint8-range images ``[N, C, H, W]`` -> features ``[N, D]`` float32."""
        return self.net(images.to(self.device)).float()

    @torch.no_grad()
    def probs(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax of the classifier without its output bias ``[N, classes]`` (for IS)."""
        return torch.softmax(self.net.logits(self.features(images), output_bias=False), dim=1)

    def lpips_features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net.lpips_features(images.to(self.device)).float()

    def provenance(self) -> dict[str, Any]:
        return {"detector": self.id, "detector_sha256": self.sha256, "detector_path": self.path,
                "resize": self.resize, "dtype": self.dtype, **self.extra}


_LOADED: dict[tuple[Any, ...], Detector] = {}


def clear_detectors() -> None:
    """Forget loaded detectors (tests)."""
    _LOADED.clear()


def _dtype(cfg: Any, device: torch.device) -> str:
    return "float16" if getattr(cfg, "dtype", "float32") == "float16" and device.type == "cuda" else "float32"


def _build(kind: str, cfg: Any, device: torch.device, need_logits: bool, need_lpips: bool) -> Detector:
    dtype = _dtype(cfg, device)
    if cfg.detector == "random-tiny":
        net = TinyDetector().eval().requires_grad_(False).to(device)
        return Detector(kind, net, f"random-tiny/{kind}", "random-init", "", "tf1-bilinear-32", "float32", device)
    if kind == "inception":
        from ganforge.nn.inception_weights import load_inception

        tdtype = torch.float16 if dtype == "float16" else torch.float32
        net, w = load_inception(cfg.detector_weights, cfg.allow_download, need_logits, device=device, dtype=tdtype)
        return Detector(kind, net, w.detector_id, w.sha256, w.path, net.resize_method, dtype, device,
                        {"detector_source": w.source})
    if kind == "vgg16":
        from ganforge.nn.vgg import load_vgg16

        net, v = load_vgg16(cfg.detector_weights, getattr(cfg, "lpips_weights", None), need_lpips=need_lpips,
                            allow_download=cfg.allow_download, device=device)
        extra = {"lpips_heads": v.lpips_path, "lpips_heads_sha256": v.lpips_sha256} if need_lpips else {}
        return Detector(kind, net, v.detector_id, v.sha256, v.path, net.resize_method, "float32", device, extra)
    if kind == "effnet-lite0":
        from ganforge.plugins.default_metrics.proxy import load_effnet_detector

        return load_effnet_detector(cfg, device)
    raise ValueError(f"unknown detector kind {kind!r}")


def get_detector(kind: str, cfg: Any, device: Any = "cpu", need_logits: bool = False,
                 need_lpips: bool = False) -> Detector:
    """The detector of ``kind`` for metric config ``cfg`` on ``device`` (loaded once per process)."""
    device = torch.device(device)
    key = (kind, cfg.detector, cfg.detector_weights, getattr(cfg, "lpips_weights", None), str(device),
           _dtype(cfg, device), need_logits, need_lpips, getattr(cfg, "resolution", None))
    if key not in _LOADED:
        _LOADED[key] = _build(kind, cfg, device, need_logits, need_lpips)
    return _LOADED[key]
