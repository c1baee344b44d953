"""The StyleGAN2 generator: a mapping network followed by a synthesis network.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958). Attribute names (``mapping``, ``synthesis``) and the constructor
(``mapping_kwargs`` plus synthesis keyword arguments, as StyleGAN3's ``networks_stylegan2.Generator``)
follow the official code, so official state dicts load with ``strict=True``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.nn.mapping import MappingNetwork
from ganforge.nn.stylegan2_synthesis import SynthesisNetwork

__all__ = ["StyleGAN2Generator"]


class StyleGAN2Generator(nn.Module):
    """``G(z, c) = synthesis(mapping(z, c))``.

    Args:
        z_dim: latent size.
        c_dim: label size (0: unconditional).
        w_dim: intermediate latent size.
        img_resolution: output resolution.
        img_channels: output channels.
        mapping_kwargs: :class:`~ganforge.nn.mapping.MappingNetwork` arguments (``num_layers``,
            ``lr_multiplier``, ``w_avg_beta``, ...).
        **synthesis_kwargs: :class:`~ganforge.nn.stylegan2_synthesis.SynthesisNetwork` and block arguments
            (``channel_base``, ``channel_max``, ``num_fp16_res``, ``architecture``, ``conv_clamp``,
            ``fused_modconv_default``, ...).
    """

    #: The networks it is made of (StyleGAN3's generator reuses this constructor with its own).
    synthesis_class: type[nn.Module] = SynthesisNetwork
    mapping_class: type[nn.Module] = MappingNetwork

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict[str, Any] | None = None, **synthesis_kwargs: Any) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = int(z_dim), int(c_dim), int(w_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        # synthesis first, then mapping: the registration order of the official class
        self.synthesis = self.synthesis_class(w_dim=w_dim, img_resolution=img_resolution,
                                              img_channels=img_channels, **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = self.mapping_class(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws,
                                          **(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False, noise_mode: str = "random",
                force_fp32: bool = False, fused_modconv: bool | str | None = None) -> torch.Tensor:
        """``z [N, z_dim]``, ``c [N, c_dim]`` -> images ``[N, img_channels, res, res]`` float32."""
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, fused_modconv=fused_modconv,
                              update_emas=update_emas)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, img_channels={self.img_channels}")
