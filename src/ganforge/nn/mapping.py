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

    #: The fully connected layer class of ``embed`` and ``fc{i}`` (StyleGAN3 swaps in its own).
    layer_class: type[nn.Module] = FullyConnectedLayer

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
        label_width = 0
        if self.c_dim > 0:
            label_width = self.w_dim if embed_features is None else int(embed_features)
            self.embed = self.layer_class(self.c_dim, label_width)
        hidden = self.w_dim if layer_features is None else int(layer_features)
        last = self.num_layers - 1
        for idx in range(self.num_layers):  # fc0 reads [z, embedded c]; the last layer writes w
            fan_in = self.z_dim + label_width if idx == 0 else hidden
            fan_out = self.w_dim if idx == last else hidden
            self.add_module(f"fc{idx}", self.layer_class(fan_in, fan_out, activation=activation,
                                                          lr_multiplier=lr_multiplier))
        if self.tracks_w_avg:
            self.register_buffer("w_avg", torch.zeros([self.w_dim]))

    @property
    def tracks_w_avg(self) -> bool:
        """Whether the network keeps the running mean ``w_avg`` (needs a broadcast and a decay)."""
        return self.num_ws is not None and self.w_avg_beta is not None

    def _embed_inputs(self, z: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor:
        """``[normalised z, normalised embed(c)]`` (either part absent when its size is 0)."""
        parts = []
        for name, value, size in (("z", z, self.z_dim), ("c", c, self.c_dim)):
            if size == 0:
                continue
            if value is None or value.ndim != 2 or value.shape[1] != size:
                raise ValueError(f"MappingNetwork: {name} must be [N, {size}], got "
                                 f"{None if value is None else tuple(value.shape)}")
            value = value.to(torch.float32)
            parts.append(normalize_2nd_moment(value if name == "z" else self.embed(value)))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    @torch.no_grad()
    def _update_w_avg(self, w: torch.Tensor) -> None:
        """EMA of the batch mean: ``w_avg <- lerp(mean_n(w), w_avg, w_avg_beta)``."""
        batch_mean = w.mean(dim=0)
        self.w_avg.copy_(torch.lerp(batch_mean, self.w_avg, self.w_avg_beta))

    def _truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
        """``lerp(w_avg, ws, psi)`` on the first ``cutoff`` ws (all when None), a new tensor.

        Done as one interpolation with a per-ws strength: ``psi`` for the truncated ws, 1 (which
        returns ``ws`` exactly) for the others.
        """
        if not hasattr(self, "w_avg"):
            raise ValueError("truncation needs a running mean of w (w_avg_beta is None)")
        if self.num_ws is None or cutoff is None:
            return torch.lerp(self.w_avg, ws, psi)
        strength = torch.ones([self.num_ws, 1], dtype=ws.dtype, device=ws.device)
        strength[:cutoff] = psi
        return torch.lerp(self.w_avg, ws, strength)

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
        w = self._embed_inputs(z, c)
        for idx in range(self.num_layers):
            w = getattr(self, f"fc{idx}")(w)
        if update_emas and self.tracks_w_avg:
            self._update_w_avg(w)
        ws = w if self.num_ws is None else w[:, None, :].expand(-1, self.num_ws, -1).contiguous()
        if truncation_psi != 1:
            ws = self._truncate(ws, truncation_psi, truncation_cutoff)
        return ws

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"num_layers={self.num_layers}, lr_multiplier={self.lr_multiplier:g}, "
                f"w_avg_beta={self.w_avg_beta}")
