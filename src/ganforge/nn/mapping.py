"""StyleGAN2's mapping network: z (and an optional label c) to intermediate latents w.

Karras et al., "A Style-Based Generator Architecture for Generative Adversarial Networks", CVPR 2019
(https://arxiv.org/abs/1812.04948), section 2; StyleGAN2 (https://arxiv.org/abs/1912.04958) and
StyleGAN2-ADA (https://arxiv.org/abs/2006.06676) for the label embedding and the truncation cutoff.

Forward: ``z`` is normalised by its second moment, ``c`` is embedded by a fully connected layer and
normalised the same way, both are concatenated, then ``num_layers`` fully connected lrelu layers
(learning-rate multiplier 0.01) give ``w``. With ``update_emas`` the running mean ``w_avg`` moves towards
the batch mean (``w_avg <- lerp(mean(w), w_avg, w_avg_beta)``). ``w`` is broadcast to ``num_ws`` copies and
the truncation trick pulls the first ``truncation_cutoff`` of them towards ``w_avg``
(``w <- lerp(w_avg, w, psi)``). The discriminator's conditioning mapping uses ``z_dim=0``,
``num_ws=None`` and ``w_avg_beta=None`` (no broadcast, no running mean).
"""

from __future__ import annotations

import torch
from torch import nn

from ganforge.nn.fully_connected import FullyConnectedLayer

__all__ = ["MappingNetwork", "normalize_2nd_moment"]


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """``x / sqrt(mean(x^2) + eps)`` along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """Map ``z [N, z_dim]`` and ``c [N, c_dim]`` to ``w [N, num_ws, w_dim]`` (or ``[N, w_dim]``).

    Args:
        z_dim: latent size (0: no latent, as in the discriminator's label mapping).
        c_dim: label size (0: unconditional).
        w_dim: output size.
        num_ws: number of copies of w to output; None: no broadcast (``[N, w_dim]``).
        num_layers: number of fully connected layers (``fc0`` ... ``fc{n-1}``).
        embed_features: label embedding size (default ``w_dim``; 0 when unconditional).
        layer_features: width of the hidden layers (default ``w_dim``).
        activation: activation of the layers.
        lr_multiplier: learning-rate multiplier of the layers.
        w_avg_beta: decay of the running mean ``w_avg``; None: no running mean (no truncation).

    Attribute and buffer names (``embed``, ``fc{i}``, ``w_avg``) are those of the official networks.
    """

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 activation: str = "lrelu", lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.998) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"MappingNetwork needs at least one layer, got num_layers={num_layers}")
        if z_dim == 0 and c_dim == 0:
            raise ValueError("MappingNetwork needs a latent (z_dim > 0) or a label (c_dim > 0)")
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.num_ws = num_ws
        self.num_layers = int(num_layers)
        self.w_avg_beta = w_avg_beta
        self.lr_multiplier = float(lr_multiplier)
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=activation,
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False) -> torch.Tensor:
        """Args:
            z: ``[N, z_dim]`` (ignored when ``z_dim == 0``).
            c: ``[N, c_dim]`` (ignored when ``c_dim == 0``).
            truncation_psi: 1 = no truncation; 0 = every truncated w equals ``w_avg``.
            truncation_cutoff: truncate only ``ws[:, :cutoff]`` (None: all).
            update_emas: update ``w_avg`` from this batch.

        Returns:
            ``[N, num_ws, w_dim]`` (``[N, w_dim]`` when ``num_ws`` is None), float32.
        """
        x = None
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"MappingNetwork: z must be [N, {self.z_dim}], got "
                                 f"{None if z is None else tuple(z.shape)}")
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"MappingNetwork: c must be [N, {self.c_dim}], got "
                                 f"{None if c is None else tuple(c.shape)}")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        assert x is not None
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas and self.w_avg_beta is not None and hasattr(self, "w_avg"):
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if truncation_psi != 1:
            if not hasattr(self, "w_avg"):
                raise ValueError("truncation needs a running mean of w (w_avg_beta is None)")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"num_layers={self.num_layers}, lr_multiplier={self.lr_multiplier:g}, "
                f"w_avg_beta={self.w_avg_beta}")
