"""StyleGAN2's fully connected layer with an equalized learning rate and a learning-rate multiplier.

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN", CVPR 2020
(https://arxiv.org/abs/1912.04958); equalized learning rate from Karras et al., ICLR 2018, section 4.1.

The stored weight is initialised as ``N(0, 1) / lr_multiplier`` and scaled at runtime by
``lr_multiplier / sqrt(in_features)``; the stored bias is initialised to ``bias_init`` (not divided,
unlike StyleGAN3's variant) and scaled at runtime by ``lr_multiplier``. Parameter names
(``weight`` ``[out, in]``, ``bias`` ``[out]``) are those of the official networks, so their state dicts
load unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.ops import bias_act

__all__ = ["FullyConnectedLayer", "set_weight_and_bias"]


def set_weight_and_bias(module: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None,
                        trainable: bool) -> None:
    """``module.weight``/``module.bias`` as parameters, or as buffers when not ``trainable`` (the
    official layers' ``trainable=False``: same state names, no gradients). ``bias`` None: no bias."""
    if trainable:
        module.weight = nn.Parameter(weight)
        module.bias = nn.Parameter(bias) if bias is not None else None
    else:
        module.register_buffer("weight", weight)
        module.register_buffer("bias", bias)  # a None buffer is absent from the state dict


class FullyConnectedLayer(nn.Module):
    """``y = act(x @ (W * lr_mul / sqrt(in)).T + b * lr_mul)``.

    Args:
        in_features: input size.
        out_features: output size.
        bias: add a learned bias before the activation.
        activation: a :data:`ganforge.ops.ACTIVATIONS` name (``'linear'``, ``'lrelu'``, ...); non-linear
            activations are applied with their default gain (``sqrt(2)`` for lrelu).
        lr_multiplier: learning-rate multiplier (the mapping network uses 0.01).
        bias_init: initial value of the stored bias (the affine layers of StyleGAN2 use 1).
        trainable: False registers weight and bias as buffers (frozen layers; same state-dict names).

    Shapes: ``[N, in_features] -> [N, out_features]``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0, trainable: bool = True) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.weight_gain = self.lr_multiplier / math.sqrt(self.in_features)
        weight = torch.randn([self.out_features, self.in_features]) / self.lr_multiplier
        bias_t = torch.full([self.out_features], float(bias_init), dtype=torch.float32) if bias else None
        set_weight_and_bias(self, weight, bias_t, trainable)

    def runtime_parameters(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The weight and bias the layer computes with, in ``dtype``: the stored tensors times their
        equalized-lr gains (``lr_multiplier / sqrt(in_features)`` and ``lr_multiplier``)."""
        weight = self.weight.to(dtype) * self.weight_gain
        if self.bias is None:
            return weight, None
        return weight, self.bias.to(dtype) * self.lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, in_features]
        weight, bias = self.runtime_parameters(x.dtype)
        if self.activation != "linear" or bias is None:
            return bias_act(F.linear(x, weight), bias, act=self.activation)
        # Linear with a bias: one GEMM that starts from the bias. The bias goes in as a [1, out] row:
        # on CUDA a 1-D bias can switch addmm to cuBLASLt's fused-bias epilogue, whose last bits may
        # differ from the official layer's.
        return torch.addmm(bias[None], x, weight.T)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"activation={self.activation}, lr_multiplier={self.lr_multiplier:g}")
