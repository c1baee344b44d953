"""FastGAN generators (``fastgan``, ``fastgan-lite``) as used by Projected GAN.

Liu et al., "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image Synthesis",
ICLR 2021 (arXiv:2101.04775); configurations of Sauer et al., "Projected GANs Converge Faster",
NeurIPS 2021 (arXiv:2111.01007).

Structure (facts in ``UPSTREAM.md`` §4.3): z is normalised by its second moment; ``init`` is a
spectrally normalised 4x4 transposed convolution to ``2 * nfc[4]`` channels, BatchNorm and GLU; then
one up-block per octave (``feat_8`` ... ``feat_1024``): nearest 2x upsampling, SN conv3x3 to twice the
channels, [noise], BN, GLU, and for the full variant a second conv/noise/BN/GLU. Skip-layer excitation
(``se_64``, ``se_128``, ``se_256``, ``se_512``) gates a high-resolution feature channel-wise with a
function of a low-resolution one (4->64, 8->128, 16->256, 32->512). ``to_big`` is an SN conv3x3 with
bias to the image channels, without output activation.

State names follow upstream (``synthesis.init.init.0.weight_orig``, ``synthesis.feat_8.1.weight_orig``,
``synthesis.se_64.main.1.weight_orig``, ``synthesis.to_big.bias``, ...). Differences: resolutions below
128 are supported (blocks and excitations are built only up to the output size; upstream supports
128-1024 and builds ``feat_256``/``se_256`` even at 128 without using them), the conditional embedding
has one row per dataset class (upstream: 1000), and the conditional 512/1024 blocks receive the
embedding size (an upstream bug).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganforge.plugins.projected._layers import CCBN, GLU, NoiseInjection, SNConv2d, SNConvTranspose2d, Swish

__all__ = ["NFC_MULTIPLIERS", "fastgan_channels", "FastGANGenerator", "FastGANSynthesis", "SEBlock",
           "build_fastgan"]

#: Channel multiplier per resolution: ``nfc[res] = int(mult * ngf)``.
NFC_MULTIPLIERS: dict[int, float] = {2: 16, 4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25,
                                     1024: 0.125}
#: Skip-layer excitations: high resolution -> low resolution it is gated by.
SE_SOURCES: dict[int, int] = {64: 4, 128: 8, 256: 16, 512: 32}


def fastgan_channels(ngf: int) -> dict[int, int]:
    """The channel table ``{resolution: channels}`` for width ``ngf`` (ngf=128: 4x4 has 2048)."""
    return {res: int(mult * ngf) for res, mult in NFC_MULTIPLIERS.items()}


def normalize_second_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class InitLayer(nn.Module):
    """``z [N, z_dim] -> [N, channels, 4, 4]``: SN transposed conv 4x4 (no bias), BN, GLU."""

    def __init__(self, z_dim: int, channels: int):
        super().__init__()
        self.init = nn.Sequential(SNConvTranspose2d(z_dim, channels * 2, 4, 1, 0, bias=False),
                                  nn.BatchNorm2d(channels * 2), GLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.init(z.view(z.shape[0], -1, 1, 1))


class _NoiseSequential(nn.Sequential):
    """A Sequential that hands ``noise_mode`` to its noise layers."""

    def forward(self, x: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        for layer in self:
            x = layer(x, noise_mode) if isinstance(layer, NoiseInjection) else layer(x)
        return x


def up_block(cin: int, cout: int, big: bool) -> nn.Sequential:
    """Unconditional up-block ``[N, cin, H, W] -> [N, cout, 2H, 2W]`` (upstream UpBlockBig / UpBlockSmall).

    Small: upsample, SN conv3x3 (cin -> 2 cout), BN, GLU. Big: upsample, SN conv3x3, noise, BN, GLU,
    SN conv3x3 (cout -> 2 cout), noise, BN, GLU.
    """
    layers: list[nn.Module] = [nn.Upsample(scale_factor=2, mode="nearest"),
                               SNConv2d(cin, cout * 2, 3, 1, 1, bias=False)]
    if big:
        layers += [NoiseInjection(), nn.BatchNorm2d(cout * 2), GLU(),
                   SNConv2d(cout, cout * 2, 3, 1, 1, bias=False), NoiseInjection()]
    layers += [nn.BatchNorm2d(cout * 2), GLU()]
    return _NoiseSequential(*layers)


class UpBlockCond(nn.Module):
    """Conditional up-block: BN replaced by class-conditional BN of the embedding (upstream names:
    small ``conv``/``bn``; big ``conv1``/``bn1``/``conv2``/``bn2`` and one shared ``noise``)."""

    def __init__(self, cin: int, cout: int, embed_dim: int, big: bool):
        super().__init__()
        self.big = big
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.act = GLU()
        if big:
            self.conv1 = SNConv2d(cin, cout * 2, 3, 1, 1, bias=False)
            self.conv2 = SNConv2d(cout, cout * 2, 3, 1, 1, bias=False)
            self.bn1 = CCBN(cout * 2, embed_dim)
            self.bn2 = CCBN(cout * 2, embed_dim)
            self.noise = NoiseInjection()
        else:
            self.conv = SNConv2d(cin, cout * 2, 3, 1, 1, bias=False)
            self.bn = CCBN(cout * 2, embed_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.up(x)
        if not self.big:
            return self.act(self.bn(self.conv(x), c))
        x = self.act(self.bn1(self.noise(self.conv1(x), noise_mode), c))
        return self.act(self.bn2(self.noise(self.conv2(x), noise_mode), c))


class SEBlock(nn.Module):
    """Skip-layer excitation: ``feat_big * sigmoid(conv1x1(swish(conv4x4(avgpool4(feat_small)))))``.

    ``feat_small [N, ch_in, h, w]`` gates ``feat_big [N, ch_out, H, W]`` per channel.
    """

    def __init__(self, ch_in: int, ch_out: int):
        super().__init__()
        self.ch_in, self.ch_out = ch_in, ch_out
        self.main = nn.Sequential(nn.AdaptiveAvgPool2d(4), SNConv2d(ch_in, ch_out, 4, 1, 0, bias=False),
                                  Swish(), SNConv2d(ch_out, ch_out, 1, 1, 0, bias=False), nn.Sigmoid())

    def extra_repr(self) -> str:
        return f"ch_in={self.ch_in}, ch_out={self.ch_out}"

    def forward(self, feat_small: torch.Tensor, feat_big: torch.Tensor) -> torch.Tensor:
        return feat_big * self.main(feat_small)


class FastGANSynthesis(nn.Module):
    """z ``[N, z_dim]`` (or ``[N, 1, z_dim]``) -> image ``[N, img_channels, res, res]``.

    Args:
        ngf: width (channel table :func:`fastgan_channels`).
        z_dim: latent size.
        img_channels, img_resolution: output shape (resolution a power of two, 8..1024).
        lite: small up-blocks (one conv, no noise) instead of big ones.
        num_classes: > 0 builds the conditional variant (embedding of ``argmax(c)``, conditional BN).
    """

    def __init__(self, ngf: int, z_dim: int, img_channels: int, img_resolution: int, lite: bool,
                 num_classes: int = 0):
        super().__init__()
        self.ngf, self.z_dim, self.img_resolution, self.lite = ngf, z_dim, img_resolution, lite
        self.num_classes = num_classes
        nfc = fastgan_channels(ngf)
        self.init = InitLayer(z_dim, nfc[4])
        self.resolutions = [2 ** k for k in range(3, int(math.log2(img_resolution)) + 1)]
        for res in self.resolutions:
            block: nn.Module
            if num_classes:
                block = UpBlockCond(nfc[res // 2], nfc[res], z_dim, big=not lite)
            else:
                block = up_block(nfc[res // 2], nfc[res], big=not lite)
            setattr(self, f"feat_{res}", block)
        for res in self.resolutions:
            if res in SE_SOURCES:
                setattr(self, f"se_{res}", SEBlock(nfc[SE_SOURCES[res]], nfc[res]))
        self.to_big = SNConv2d(nfc[img_resolution], img_channels, 3, 1, 1, bias=True)
        if num_classes:
            self.embed = nn.Embedding(num_classes, z_dim)

    def extra_repr(self) -> str:
        return (f"ngf={self.ngf}, z_dim={self.z_dim}, img_resolution={self.img_resolution}, "
                f"lite={self.lite}, num_classes={self.num_classes}")

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                noise_mode: str = "random") -> torch.Tensor:
        if z.ndim == 3:  # ws-style [N, 1, z_dim]
            z = z[:, 0]
        emb = self.embed(c.argmax(1)) if self.num_classes else None
        feats = {4: self.init(normalize_second_moment(z))}
        x = feats[4]
        for res in self.resolutions:
            block = getattr(self, f"feat_{res}")
            x = block(x, emb, noise_mode) if emb is not None else block(x, noise_mode)
            if res in SE_SOURCES:
                x = getattr(self, f"se_{res}")(feats[SE_SOURCES[res]], x)
            feats[res] = x
        return self.to_big(x)


class FastGANGenerator(nn.Module):
    """A FastGAN generator with the ganforge generator contract.

    ``forward(z [N, z_dim], c [N, c_dim], noise_mode="random") -> [N, C, H, W]`` (not squashed; images
    live in about [-1, 1] as the data). It has no mapping network (upstream's is the identity), so
    style mixing and truncation do not apply.
    """

    def __init__(self, z_dim: int, c_dim: int, img_resolution: int, img_channels: int, ngf: int = 128,
                 lite: bool = False):
        super().__init__()
        self.z_dim, self.c_dim = z_dim, c_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = FastGANSynthesis(ngf, z_dim, img_channels, img_resolution, lite, num_classes=c_dim)

    def forward(self, z: torch.Tensor, c: torch.Tensor, noise_mode: str = "random",
                update_emas: bool = False) -> torch.Tensor:
        """``z [N, z_dim]``, ``c [N, c_dim]`` -> ``[N, C, H, W]``. No ``**kwargs`` on purpose: options this
        generator lacks (``truncation_psi``) are refused by ``gan generate`` instead of ignored."""
        return self.synthesis(z, c, noise_mode=noise_mode)


def build_fastgan(cfg: Any, info: Any) -> FastGANGenerator:
    """Factory of the ``fastgan`` and ``fastgan-lite`` specs."""
    return FastGANGenerator(z_dim=cfg.z_dim, c_dim=info.label_dim, img_resolution=info.resolution,
                            img_channels=info.channels, ngf=cfg.ngf, lite=cfg.name == "fastgan-lite")
