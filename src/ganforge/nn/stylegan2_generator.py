"""The StyleGAN2 generator: a mapping network followed by a synthesis network.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958). Attribute names (``mapping``, ``synthesis``) and the constructor
(``mapping_kwargs`` plus synthesis keyword arguments, as StyleGAN3's ``networks_stylegan2.Generator``)
follow the official code, so official state dicts load with ``strict=True``.

Training passes go through :meth:`StyleGAN2Generator.forward_train`, which adds style mixing
regularization (the paper's section on mixing regularization, StyleGAN1 section 3.1): with probability
``style_mixing_prob`` the intermediate latents from a random layer onwards come from a second latent.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ganforge.core.loss import GeneratorOutput
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
    #: Probability of style mixing in training passes (set from the component config; 0: off).
    style_mixing_prob: float = 0.0

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

    def forward_train(self, z: torch.Tensor, c: torch.Tensor, *, update_emas: bool = False) -> GeneratorOutput:
        """A training pass: ``mapping`` -> style mixing -> ``synthesis``; returns the images and the ws
        the synthesis network saw (the path-length regularizer differentiates w.r.t. them)."""
        ws = self.mapping(z, c, update_emas=update_emas)  # [N, num_ws, w_dim]
        if self.style_mixing_prob > 0:
            ws = self._mix_styles(ws, z, c)
        return GeneratorOutput(img=self.synthesis(ws, update_emas=update_emas), ws=ws)

    def _mix_styles(self, ws: torch.Tensor, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Replace ws from a layer drawn from 1..num_ws-1 onwards by the ws of a fresh latent, with
        probability ``style_mixing_prob`` (one draw per batch)."""
        num_ws = ws.shape[1]
        first_mixed = torch.randint(1, num_ws, (), device=ws.device)
        mixing = torch.rand((), device=ws.device) < self.style_mixing_prob
        second = self.mapping(torch.randn_like(z), c, update_emas=False)
        boundary = torch.where(mixing, first_mixed, torch.full_like(first_mixed, num_ws))
        from_first = (torch.arange(num_ws, device=ws.device) < boundary).view(1, num_ws, 1)
        return torch.where(from_first, ws, second)

    def extra_repr(self) -> str:
        return (f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}, "
                f"img_resolution={self.img_resolution}, img_channels={self.img_channels}")
