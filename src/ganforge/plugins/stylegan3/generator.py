"""The StyleGAN3 generator (mapping + synthesis) and its factory.

Karras et al., "Alias-Free Generative Adversarial Networks", NeurIPS 2021
(https://arxiv.org/abs/2106.12423). The constructor takes the official ``Generator``'s arguments
(``mapping_kwargs`` for the mapping network, the rest for the synthesis network and its layers), so a
network built from an official pickle's ``init_kwargs`` has the official parameter names.
"""

from __future__ import annotations

from typing import Any

import torch

from ganforge.nn.stylegan2_generator import StyleGAN2Generator
from ganforge.plugins.stylegan3.blur import BlurSchedule
from ganforge.plugins.stylegan3.layers import MappingNetwork
from ganforge.plugins.stylegan3.synthesis import SynthesisNetwork

__all__ = ["Generator", "build_generator", "config_to_init_kwargs"]


class Generator(StyleGAN2Generator):
    """``z [N, z_dim]``, ``c [N, c_dim]`` -> image ``[N, img_channels, res, res]`` (float32, about [-1, 1]).

    Args:
        z_dim, c_dim, w_dim: latent, label and intermediate latent sizes.
        img_resolution, img_channels: output size.
        mapping_kwargs: :class:`~.layers.MappingNetwork` options (``num_layers``, ``lr_multiplier``,
            ``w_avg_beta``).
        synthesis_kwargs: :class:`~.synthesis.SynthesisNetwork` and layer options.

    ``forward`` also accepts ``noise_mode`` (StyleGAN3 has no noise inputs; ignored), ``force_fp32``
    and ``update_emas`` (update ``w_avg`` and every layer's ``magnitude_ema``).
    """

    synthesis_class = SynthesisNetwork
    mapping_class = MappingNetwork
    #: StyleGAN3-R's blur of D's inputs early in training (set from the component config).
    blur = BlurSchedule()

    def d_input_transform(self, cur_nimg: int) -> Any:
        """The blur every image D sees gets at ``cur_nimg`` images (None when off or faded out)."""
        return self.blur.transform(cur_nimg)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_emas: bool = False, noise_mode: str = "const",
                force_fp32: bool = False) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        return self.synthesis(ws, force_fp32=force_fp32, update_emas=update_emas)


#: Config fields -> official constructor kwargs of the synthesis network and its layers.
SYNTHESIS_FIELDS = ("channel_base", "channel_max", "num_layers", "num_critical", "first_cutoff",
                    "first_stopband", "last_stopband_rel", "margin_size", "output_scale", "num_fp16_res",
                    "conv_kernel", "filter_size", "lrelu_upsampling", "use_radial_filters", "conv_clamp",
                    "magnitude_ema_beta")
#: Config fields -> official ``mapping_kwargs``.
MAPPING_FIELDS = {"map_depth": "num_layers", "map_lr_multiplier": "lr_multiplier", "w_avg_beta": "w_avg_beta"}


def config_to_init_kwargs(cfg: Any, info: Any) -> dict[str, Any]:
    """The official ``Generator`` constructor arguments equivalent to ``cfg`` on data ``info``."""
    kwargs: dict[str, Any] = {"z_dim": cfg.z_dim, "c_dim": info.label_dim, "w_dim": cfg.w_dim,
                              "img_resolution": info.resolution, "img_channels": info.channels,
                              "mapping_kwargs": {v: getattr(cfg, k) for k, v in MAPPING_FIELDS.items()}}
    kwargs.update({k: getattr(cfg, k) for k in SYNTHESIS_FIELDS})
    return kwargs


def build_generator(cfg: Any, info: Any) -> Generator:
    """The generator of ``cfg`` (a StyleGAN3 config) for data ``info``."""
    G = Generator(**config_to_init_kwargs(cfg, info))
    G.style_mixing_prob = cfg.style_mixing_prob
    G.blur = BlurSchedule(cfg.blur_init_sigma, cfg.blur_fade_kimg)
    return G
