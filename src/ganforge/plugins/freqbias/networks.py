"""The modules the testbeds put around the network under test.

* :class:`DirectGenerator`: the discriminator testbed's "generator", a trainable image tensor
  (Schwarz et al., NeurIPS 2021, section 4.2: with no architecture of its own, any spectral bias of
  the images it converges to comes from the discriminator's gradients).
* :class:`SpectrumDiscriminator`: the optional MLP on the log reduced spectrum (paper, section 5).
* :class:`IndexConditionedDiscriminator`: makes any registered discriminator class-conditional on the
  image index without editing its architecture, and appends the spectrum discriminator's logits.

Network factories of the registry are called here, so every registered generator and discriminator
(built-in or third-party) can be put in a testbed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.core.errors import IncompatibleComponentsError
from ganforge.core.specs import DataInfo
from ganforge.plugins.freqbias.spectrum import reduced_spectrum, spectrum_length

__all__ = ["DirectGenerator", "SpectrumDiscriminator", "IndexConditionedDiscriminator", "conditioning_mode",
           "build_generator", "build_discriminator", "one_hot", "update_ema"]


def one_hot(index: torch.Tensor, num: int) -> torch.Tensor:
    """``[B]`` int64 -> ``[B, num]`` float32."""
    return F.one_hot(index, num).to(torch.float32)


class DirectGenerator(nn.Module):
    """``num_images`` trainable images, selected by a one-hot label: no architecture, no latent.

    Follows the generator contract (``z_dim = 0``, ``c_dim = num_images``), so ``gan spectrum calc``
    and ``ganforge.load_network`` can use it like any conditional generator.

    Args:
        num_images: N, the number of images (and classes).
        channels, resolution: image shape ``[channels, resolution, resolution]``.
    """

    def __init__(self, num_images: int, channels: int, resolution: int) -> None:
        super().__init__()
        self.z_dim = 0
        self.c_dim = int(num_images)
        self.img_channels = int(channels)
        self.img_resolution = int(resolution)
        self.images = nn.Parameter(torch.empty(num_images, channels, resolution, resolution))
        nn.init.kaiming_normal_(self.images)  # fan_in = C * R * R: std sqrt(2 / (C R^2)), as upstream

    def forward(self, z: torch.Tensor | None, c: torch.Tensor, **opts: Any) -> torch.Tensor:
        """Images ``[B, C, R, R]`` for one-hot (or mixing) labels ``c [B, N]``; ``z [B, 0]`` is ignored."""
        return torch.einsum("bn,nchw->bchw", c.to(self.images.dtype), self.images)

    def extra_repr(self) -> str:
        return f"num_images={self.c_dim}, channels={self.img_channels}, resolution={self.img_resolution}"


class SpectrumDiscriminator(nn.Module):
    """MLP on ``log(1 + reduced spectrum)`` ('ortho' FFT, channel mean) with one logit per image.

    Layers: ``(Linear(L, L) -> LeakyReLU(0.2)) x (1 + hidden) -> Linear(L, N)``, ``L`` the reduced
    spectrum length; the logit of the image's own index is returned (``[B]``).
    """

    def __init__(self, resolution: int, num_images: int, hidden: int = 0) -> None:
        super().__init__()
        length = spectrum_length(resolution)
        layers: list[nn.Module] = []
        for _ in range(1 + hidden):
            layers += [nn.Linear(length, length), nn.LeakyReLU(0.2)]
        layers.append(nn.Linear(length, num_images))
        self.net = nn.Sequential(*layers)
        self.length, self.num_images, self.hidden = length, num_images, hidden

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # img: [B, C, R, R]; c: [B, N] one-hot
        spec = torch.log1p(reduced_spectrum(img, normalize=True)).to(img.dtype)  # [B, L]
        return (self.net(spec) * c).sum(dim=1)  # [B]

    def extra_repr(self) -> str:
        return f"length={self.length}, num_images={self.num_images}, hidden={self.hidden}"


def conditioning_mode(requested: str, spec: Any, channels: int, num_images: int) -> str:
    """Resolve ``auto`` to ``native``, ``input`` or ``logit`` (see ``DiscriminatorModel.conditioning``)."""
    if requested == "native" and not spec.conditional:
        raise IncompatibleComponentsError([f"discriminator {spec.name!r} is unconditional; use "
                                           "model.conditioning=input or logit (or auto)"])
    if requested == "input" and spec.channels is not None and channels + num_images not in spec.channels:
        raise IncompatibleComponentsError([f"discriminator {spec.name!r} accepts {spec.channels} channels, "
                                           f"not {channels} + {num_images} index planes; use "
                                           "model.conditioning=logit"])
    if requested != "auto":
        return requested
    if spec.conditional:
        return "native"
    if spec.channels is None or channels + num_images in spec.channels:
        return "input"
    return "logit"


class IndexConditionedDiscriminator(nn.Module):
    """A registered discriminator made conditional on the image index, without editing it.

    Modes (the network is built by its own factory in every case):

    * ``native``: built with ``label_dim = N``; ``c`` is the one-hot index (the discriminator's own
      conditioning, e.g. PGGAN's projection head: ``N`` extra outputs, the index's one is used).
    * ``input``: built with ``C + N`` input channels; the one-hot index enters as ``N`` constant
      planes concatenated to the image (input-concatenation conditioning, Mirza & Osindero 2014).
      The planes are constant, so gradients to the image are those of the image channels.
    * ``logit``: built unconditional; logits become ``scale[index] * logits + offset[index]``
      with learned ``scale`` (init 1) and ``offset`` (init 0).

    ``forward`` returns all logits flattened (``[B * K]``, K heads of the discriminator), followed by
    the spectrum discriminator's ``[B]`` when it is enabled, so one BCE target covers both (upstream
    concatenates the two along the batch axis).
    """

    def __init__(self, D: nn.Module, mode: str, num_images: int,
                 spectrum_disc: SpectrumDiscriminator | None = None) -> None:
        super().__init__()
        if mode not in ("native", "input", "logit"):
            raise ValueError(f"unknown conditioning mode {mode!r}")
        self.D = D
        self.mode = mode
        self.num_images = int(num_images)
        self.spec_disc = spectrum_disc
        if mode == "logit":
            self.scale = nn.Parameter(torch.ones(num_images))
            self.offset = nn.Parameter(torch.zeros(num_images))

    def forward(self, img: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # img: [B, C, R, R]; c: [B, N] one-hot index
        B = img.shape[0]
        empty = c.new_zeros(B, 0)
        if self.mode == "native":
            out = self.D(img, c)
        elif self.mode == "input":
            planes = c[:, :, None, None].expand(B, self.num_images, *img.shape[-2:]).to(img.dtype)
            out = self.D(torch.cat([img, planes], dim=1), empty)
        else:
            out = self.D(img, empty)
        out = out.reshape(B, -1)  # [B, K]
        if self.mode == "logit":
            out = out * (c @ self.scale)[:, None] + (c @ self.offset)[:, None]
        logits = [out.flatten()]
        if self.spec_disc is not None:
            logits.append(self.spec_disc(img, c))
        return torch.cat(logits)

    def extra_repr(self) -> str:
        return f"mode={self.mode}, num_images={self.num_images}"


def build_generator(config: Any, info: DataInfo, registry: Any) -> nn.Module:
    """The generator under test, built by its registered factory for unconditional data of ``info``."""
    spec = registry.get("generator", config.generator.name)
    problems = spec.data_problems(info)
    if problems:
        raise IncompatibleComponentsError(problems)
    return spec.build(config.generator, info)


def build_discriminator(config: Any, info: DataInfo, num_images: int,
                        registry: Any) -> IndexConditionedDiscriminator:
    """The discriminator under test, conditioned on the image index (``config.model.conditioning``)."""
    spec = registry.get("discriminator", config.discriminator.name)
    mode = conditioning_mode(config.model.conditioning, spec, info.channels, num_images)
    if mode == "native":
        d_info = DataInfo(info.resolution, info.channels, num_images, info.name)
    elif mode == "input":
        d_info = DataInfo(info.resolution, info.channels + num_images, 0, info.name)
    else:
        d_info = info
    problems = spec.data_problems(d_info)
    if problems:
        raise IncompatibleComponentsError(problems)
    spec_disc = None
    if config.model.spectrum_disc:
        spec_disc = SpectrumDiscriminator(info.resolution, num_images, config.model.spectrum_disc_hidden)
    D = spec.build(config.discriminator, d_info)
    return IndexConditionedDiscriminator(D, mode, num_images, spec_disc)


@torch.no_grad()
def update_ema(ema: nn.Module, source: nn.Module, beta: float) -> None:
    """``p_ema = beta * p_ema + (1 - beta) * p`` for every parameter; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), source.parameters(), strict=True):
        p_ema.lerp_(p.detach(), 1 - beta)
    for b_ema, b in zip(ema.buffers(), source.buffers(), strict=True):
        b_ema.copy_(b)

