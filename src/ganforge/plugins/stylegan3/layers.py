"""StyleGAN3's fully connected layer and mapping network.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423). They differ from StyleGAN2's in details that matter for loading
official weights and for reproducing training:

* :class:`FullyConnectedLayer` takes ``weight_init`` (the initial standard deviation of the runtime
  weight) and a per-output ``bias_init``, and stores the bias *pre-divided* by ``lr_multiplier``
  (StyleGAN2 stores ``bias_init`` as is). Runtime gains are the usual equalized-lr ones:
  ``W * lr_multiplier / sqrt(in_features)`` and ``b * lr_multiplier``.
* :class:`MappingNetwork` has 2 layers by default, an embedding exactly ``w_dim`` wide, always
  normalises ``z`` (and the embedded label) by its second moment, and truncates the first
  ``truncation_cutoff`` ws (all by default).

Parameter and buffer names are the official ones (``fc0.weight``, ``embed.bias``, ``w_avg``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ganforge.nn.fully_connected import FullyConnectedLayer as _EqualizedLinear

__all__ = ["FullyConnectedLayer", "MappingNetwork", "normalize_2nd_moment"]


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``x * rsqrt(mean(x^2) + eps)`` over dim 1; ``[N, F] -> [N, F]``."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(_EqualizedLinear):
    """Equalized-lr linear layer with StyleGAN3's initialisation.

    Args:
        in_features, out_features: sizes; ``[N, in_features] -> [N, out_features]``.
        activation: a :func:`ganforge.ops.bias_act` activation (``linear``, ``lrelu``, ...).
        bias: learn a bias.
        lr_multiplier: learning-rate multiplier (0.01 in the mapping network).
        weight_init: standard deviation of the runtime weight at initialisation (0 for the
            Fourier-feature affine, so every image starts untransformed).
        bias_init: initial runtime bias, a scalar or one value per output.
    """

    def __init__(self, in_features: int, out_features: int, activation: str = "linear", bias: bool = True,
                 lr_multiplier: float = 1.0, weight_init: float = 1.0,
                 bias_init: float | Sequence[float] = 0.0) -> None:
        torch.nn.Module.__init__(self)  # our own initialisation below; forward is StyleGAN2's
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        weight = torch.randn([out_features, in_features]) * (weight_init / lr_multiplier)
        self.weight = torch.nn.Parameter(weight)
        init = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
        self.bias = torch.nn.Parameter(torch.from_numpy(init.astype(np.float32))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier


class MappingNetwork(torch.nn.Module):
    """z (and label c) to ``num_ws`` copies of w, with the running mean ``w_avg`` for truncation.

    Args:
        z_dim: latent size (0 allowed only with labels).
        c_dim: label size (0: unconditional).
        w_dim: intermediate latent size.
        num_ws: number of ws to broadcast to (``num_layers + 2`` of the synthesis network).
        num_layers: fully connected layers (``--map-depth``; 2 in StyleGAN3).
        lr_multiplier: learning-rate multiplier of the layers.
        w_avg_beta: decay of the running mean of w (updated only with ``update_emas``).

    Shapes: ``z [N, z_dim]``, ``c [N, c_dim]`` -> ``[N, num_ws, w_dim]``.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = int(z_dim), int(c_dim), int(w_dim), int(num_ws)
        self.num_layers = int(num_layers)
        self.w_avg_beta = float(w_avg_beta)
        self.embed = FullyConnectedLayer(self.c_dim, self.w_dim) if self.c_dim > 0 else None
        features = [self.z_dim + (self.w_dim if self.c_dim > 0 else 0)] + [self.w_dim] * self.num_layers
        for idx in range(self.num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([self.w_dim]))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        if truncation_cutoff is None:
            truncation_cutoff = self.num_ws
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"mapping: z must be [N, {self.z_dim}], got {tuple(z.shape)}")
        x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"mapping: c must be [N, {self.c_dim}], got "
                                 f"{None if c is None else tuple(c.shape)}")
            assert self.embed is not None
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"num_layers={self.num_layers}, w_avg_beta={self.w_avg_beta}")
