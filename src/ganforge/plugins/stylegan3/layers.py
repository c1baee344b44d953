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

import math
from collections.abc import Sequence

import numpy as np
import torch

from ganforge.nn.fully_connected import FullyConnectedLayer as _EqualizedLinear
from ganforge.nn.fully_connected import set_weight_and_bias
from ganforge.nn.mapping import MappingNetwork as _MappingNetwork

__all__ = ["FullyConnectedLayer", "MappingNetwork", "stored_bias"]


def stored_bias(bias_init: float | Sequence[float], out_features: int, lr_multiplier: float) -> torch.Tensor:
    """The stored bias ``[out_features]`` float32 whose runtime value (``* lr_multiplier``) is
    ``bias_init``: one value for every output or one per output, divided in float32."""
    runtime = np.full([out_features], bias_init, dtype=np.float32)
    return torch.from_numpy(runtime / np.float32(lr_multiplier))


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
        torch.nn.Module.__init__(self)  # StyleGAN3's initial values below; forward is StyleGAN2's
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.weight_gain = self.lr_multiplier / math.sqrt(self.in_features)
        # the stored weight has std weight_init / lr_multiplier: the runtime weight has std weight_init
        weight = torch.randn([self.out_features, self.in_features]) * (weight_init / self.lr_multiplier)
        bias_t = stored_bias(bias_init, self.out_features, self.lr_multiplier) if bias else None
        set_weight_and_bias(self, weight, bias_t, trainable=True)


class MappingNetwork(_MappingNetwork):
    """z (and label c) to ``num_ws`` copies of w, with the running mean ``w_avg`` for truncation.

    StyleGAN3's configuration of :class:`ganforge.nn.mapping.MappingNetwork`: StyleGAN3's layers,
    an embedding and hidden layers exactly ``w_dim`` wide, always a running mean.

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

    layer_class = FullyConnectedLayer

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 2,
                 lr_multiplier: float = 0.01, w_avg_beta: float = 0.998) -> None:
        super().__init__(z_dim, c_dim, w_dim, int(num_ws), num_layers=num_layers, embed_features=w_dim,
                         layer_features=w_dim, lr_multiplier=lr_multiplier, w_avg_beta=float(w_avg_beta))
