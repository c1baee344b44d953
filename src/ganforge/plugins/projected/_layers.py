"""Layers shared by the projected discriminator and the FastGAN generators.

Spectral normalisation (Miyato et al., "Spectral Normalization for Generative Adversarial Networks",
ICLR 2018) is written as layer classes rather than ``torch.nn.utils.spectral_norm`` hooks: the state
keys are the same (``weight_orig`` parameter, ``weight_u``/``weight_v`` buffers, no ``weight``), so
Projected GAN / FastGAN weights map one-to-one, but the normalised weight is computed inside
``forward`` (no attribute holding a non-leaf tensor), so modules deep-copy at any time (G_ema) and
double backward (R1) works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SNConv2d", "SNConvTranspose2d", "SNLinear", "GLU", "Swish", "NoiseInjection", "CCBN",
           "spectral_weight"]


def spectral_weight(module: nn.Module, dim: int = 0) -> torch.Tensor:
    """``weight_orig / sigma`` with sigma from one power iteration (stored u, v when not training).

    As ``torch.nn.utils.spectral_norm``: in training mode ``v = normalize(W^T u)``, ``u =
    normalize(W v)`` update the buffers in place (no gradient), then ``sigma = u . W v`` with the
    updated vectors treated as constants. ``W`` is ``weight_orig`` with ``dim`` moved first and the
    rest flattened (``dim=1`` for transposed convolutions).
    """
    w = module.weight_orig
    mat = (w.movedim(dim, 0) if dim != 0 else w).reshape(w.shape[dim], -1)
    u, v = module.weight_u, module.weight_v
    if module.training:
        with torch.no_grad():
            v = F.normalize(torch.mv(mat.t(), u), dim=0, eps=1e-12, out=module.weight_v)
            u = F.normalize(torch.mv(mat, v), dim=0, eps=1e-12, out=module.weight_u)
        u, v = u.clone(), v.clone()
    sigma = torch.dot(u, torch.mv(mat, v))
    return w / sigma


def _init_sn(module: nn.Module, dim: int) -> None:
    weight = module.weight
    del module.weight
    module.weight_orig = nn.Parameter(weight.detach())
    h = weight.shape[dim]
    w = weight.numel() // h
    module.register_buffer("weight_u", F.normalize(weight.new_empty(h).normal_(0, 1), dim=0, eps=1e-12))
    module.register_buffer("weight_v", F.normalize(weight.new_empty(w).normal_(0, 1), dim=0, eps=1e-12))


class SNConv2d(nn.Conv2d):
    """Spectrally normalised ``Conv2d`` (keys ``weight_orig``, ``weight_u``, ``weight_v``, ``bias``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _init_sn(self, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, Cin, H, W] -> [N, Cout, H', W']
        return self._conv_forward(x, spectral_weight(self, 0), self.bias)


class SNConvTranspose2d(nn.ConvTranspose2d):
    """Spectrally normalised ``ConvTranspose2d`` (normalised over output channels, ``dim=1``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _init_sn(self, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, spectral_weight(self, 1), self.bias, self.stride, self.padding,
                                  self.output_padding, self.groups, self.dilation)


class SNLinear(nn.Linear):
    """Spectrally normalised ``Linear``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _init_sn(self, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, spectral_weight(self, 0), self.bias)


class GLU(nn.Module):
    """Gated linear unit over channels: ``a * sigmoid(b)`` for ``[a, b] = x`` (``[N, 2C] -> [N, C]``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


class Swish(nn.Module):
    """``x * sigmoid(x)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


class NoiseInjection(nn.Module):
    """Adds ``weight * n`` with fresh per-pixel noise ``n ~ N(0, 1)`` ``[N, 1, H, W]`` (weight starts at 0).

    ``noise_mode``: ``"random"`` (default, as upstream), or ``"const"``/``"none"``: no noise (FastGAN
    keeps no stored noise, so the deterministic choice is none).
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode != "random":
            return x
        noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.weight * noise


class CCBN(nn.Module):
    """Class-conditional BatchNorm (BigGAN): ``bn(x) * (1 + gain(y)) + bias(y)``.

    Statistics are kept in the buffers ``stored_mean``/``stored_var`` (upstream names); ``gain`` and
    ``bias`` are spectrally normalised linear layers of the embedding ``y`` ``[N, input_size]``.
    """

    def __init__(self, channels: int, input_size: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.channels, self.input_size, self.eps, self.momentum = channels, input_size, eps, momentum
        self.gain = SNLinear(input_size, channels)
        self.bias = SNLinear(input_size, channels)
        self.register_buffer("stored_mean", torch.zeros(channels))
        self.register_buffer("stored_var", torch.ones(channels))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, input_size={self.input_size}, eps={self.eps}"

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # x [N, C, H, W], y [N, input_size]
        gain = (1 + self.gain(y)).view(y.shape[0], -1, 1, 1)
        bias = self.bias(y).view(y.shape[0], -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, self.momentum,
                           self.eps)
        return out * gain + bias
