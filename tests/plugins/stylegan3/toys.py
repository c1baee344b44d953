"""Constructed generators for the equivariance tests: exactly equivariant ones and broken ones."""

from __future__ import annotations

import math

import torch


class ToyInput(torch.nn.Module):
    """Holds the user transform, where StyleGAN3 keeps it (``G.synthesis.input.transform``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("transform", torch.eye(3))


class ToyMapping(torch.nn.Module):
    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        return z[:, None, :]


class ToySynthesis(torch.nn.Module):
    """``img(p) = sum_k mix_ck cos(2 pi f_k . q + phase_k(z))`` at the pixel centres ``p`` of a unit-wide
    image, with ``q = T p`` (exactly equivariant: the continuous image is evaluated on the transformed
    grid) or ``q = p`` for a part of the image (``sticky`` > 0: a pattern glued to the pixel grid, as the
    texture sticking of non-equivariant generators)."""

    def __init__(self, res: int, bandwidth: float, sticky: float = 0.0, translation_only: bool = False,
                 n: int = 12, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.res, self.sticky, self.translation_only = res, sticky, translation_only
        angle = torch.rand(n, generator=g) * 2 * math.pi
        radius = torch.rand(n, generator=g) * bandwidth  # cycles per image
        self.register_buffer("freqs", torch.stack([angle.cos(), angle.sin()], 1) * radius[:, None])
        self.register_buffer("mix", torch.randn(3, n, generator=g) / math.sqrt(n))
        self.input = ToyInput()

    def _image(self, q: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        arg = 2 * math.pi * torch.einsum("hwk,nk->hwn", q, self.freqs.double())
        feats = torch.cos(arg[None] + phase[:, None, None, :])
        return torch.einsum("nhwk,ck->nchw", feats, self.mix.double()) * 0.5

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", force_fp32: bool = False) -> torch.Tensor:
        phase = ws[:, 0, : self.freqs.shape[0]].double()
        c = (torch.arange(self.res, dtype=torch.float64) + 0.5) / self.res - 0.5
        y, x = torch.meshgrid(c, c, indexing="ij")
        p = torch.stack([x, y, torch.ones_like(x)], -1)
        T = self.input.transform.double()
        if self.translation_only:  # honours the translation column only (like a CNN with a shifted input)
            T = torch.eye(3, dtype=torch.float64).index_copy(1, torch.tensor([2]), T[:, 2:])
        q = p @ T.t()
        img = self._image(q[..., :2], phase)
        if self.sticky:
            img = (1 - self.sticky) * img + self.sticky * self._image(p[..., :2], phase)
        return img.float()


class ToyG(torch.nn.Module):
    """A generator with StyleGAN3's interface (mapping, synthesis, input transform) and a known answer."""

    def __init__(self, res: int = 32, bandwidth: float = 4, sticky: float = 0.0,
                 translation_only: bool = False, z_dim: int = 16) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, 0, res, 3
        self.mapping = ToyMapping()
        self.synthesis = ToySynthesis(res, bandwidth, sticky, translation_only)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, **_: object) -> torch.Tensor:
        return self.synthesis(self.mapping(z, c))
