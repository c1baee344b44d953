"""Gradient penalties on a discriminator's inputs, shared by regularizers and testbeds.

* R1 (Mescheder et al., "Which Training Methods for GANs do actually Converge?", ICML 2018):
  ``||d sum(D(x)) / dx||^2`` per real sample; StyleGAN2/3 weight it by ``gamma / 2``.
* The WGAN-GP penalty (Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017):
  ``(||dD(x_hat)/dx_hat|| - target)^2`` on points between real and fake samples.

The functions keep the graph (``create_graph=True``) so the penalty can be backpropagated into D.
"""

from __future__ import annotations

import torch

__all__ = ["input_gradient", "r1_penalty", "gradient_norm_penalty"]


def input_gradient(outputs: torch.Tensor, inputs: torch.Tensor, create_graph: bool = True) -> torch.Tensor:
    """``d sum(outputs) / d inputs``, shaped like ``inputs`` (which must require grad)."""
    (grad,) = torch.autograd.grad(outputs=outputs.sum(), inputs=inputs, create_graph=create_graph,
                                  only_inputs=True)
    return grad


def r1_penalty(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per-sample squared gradient norm ``[N]`` of D's ``outputs`` w.r.t. its image ``inputs [N, C, H, W]``."""
    return input_gradient(outputs, inputs).square().sum(dim=[1, 2, 3])


def gradient_norm_penalty(outputs: torch.Tensor, inputs: torch.Tensor, target: float = 1.0) -> torch.Tensor:
    """Per-sample ``(||d outputs / d inputs|| - target)^2`` ``[N]`` (WGAN-GP's two-sided penalty)."""
    norms = input_gradient(outputs, inputs).flatten(1).norm(dim=1)
    return (norms - target).square()
