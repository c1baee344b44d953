"""Shared custom ops: FIR resampling, fused bias/activation, StyleGAN3's filtered leaky ReLU,
resampling convolution, fused multiply-add and gradient-fixed convolution and grid sampling.

Every op with a compiled kernel (``upfirdn2d``, ``bias_act``, ``filtered_lrelu``) takes
``impl='auto'|'cuda'|'ref'`` and has a pure-PyTorch ``_<op>_ref`` with the same arguments (minus
``impl``) in its module. ``auto`` runs the CUDA kernel for CUDA tensors when it builds (lazily, once,
cached; see :mod:`ganforge.ops._build` and ``gan ops status``) and the reference path otherwise.
``GANFORGE_OPS=ref`` never builds; ``GANFORGE_OPS=cuda`` turns a failed build into an error.
The reference paths are fast (polyphase, separable, channels_last on CPU) and have gradients of
any order. See ``docs/ops.md``.
"""

from __future__ import annotations

from . import conv2d_gradfix, grid_sample_gradfix
from .bias_act import ACTIVATIONS, Activation, bias_act
from .conv2d_gradfix import conv2d, conv_transpose2d, no_weight_gradients
from .conv2d_resample import conv2d_resample
from .filtered_lrelu import filtered_lrelu
from .fma import fma
from .grid_sample_gradfix import grid_sample
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    "upfirdn2d",
    "setup_filter",
    "filter2d",
    "upsample2d",
    "downsample2d",
    "bias_act",
    "ACTIVATIONS",
    "Activation",
    "filtered_lrelu",
    "conv2d_resample",
    "fma",
    "conv2d_gradfix",
    "conv2d",
    "conv_transpose2d",
    "no_weight_gradients",
    "grid_sample_gradfix",
    "grid_sample",
]
