"""Each ADA transform alone (p = 1 or a debug percentile) against a direct expectation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.plugins.ada.augment import AugmentParams, AugmentPipe
from ganforge.plugins.ada.filters import EXPECTED_POWER, filter_bank


def erfinv(x: float) -> float:
    return float(torch.erfinv(torch.tensor(x, dtype=torch.float64)))


# ---------------------------------------------------------------------------------------------
# Pixel blitting: exact
# ---------------------------------------------------------------------------------------------


def test_xflip_mirrors_exactly():
    x = torch.randn(64, 3, 16, 16)
    out = AugmentPipe(xflip=1, p=1)(x)
    same = [torch.equal(o, i) for o, i in zip(out, x)]
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    assert all(a != b for a, b in zip(same, mirrored))  # each image is one or the other, exactly
    assert 12 <= sum(mirrored) <= 52  # fires on every image, then mirrors with probability 1/2


def test_rotate90_rotates_by_quarter_turns_exactly():
    x = torch.randn(64, 3, 12, 12)
    out = AugmentPipe(rotate90=1, p=1)(x)
    turns = []
    for o, i in zip(out, x):
        ks = [k for k in range(4) if torch.equal(o, torch.rot90(i, k, dims=(1, 2)))]
        assert len(ks) == 1
        turns.append(ks[0])
    assert set(turns) == {0, 1, 2, 3}


def _reflect_shift(img: torch.Tensor, dx: int, dy: int, pad: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    padded = F.pad(img[None], [pad] * 4, mode="reflect")[0]
    return padded[:, pad - dy: pad - dy + h, pad - dx: pad - dx + w]


def test_integer_translation_shifts_with_reflect_padding():
    x = torch.randn(64, 3, 16, 16)
    out = AugmentPipe(xint=1, xint_max=0.125, p=1)(x)  # shifts of at most round(0.125 * 16) = 2 pixels
    shifts = set()
    for o, i in zip(out, x):
        found = [(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)
                 if torch.equal(o, _reflect_shift(i, dx, dy, 2))]
        assert len(found) == 1, found
        shifts.add(found[0])
    assert len(shifts) > 5 and any(dx != 0 for dx, _ in shifts) and any(dy != 0 for _, dy in shifts)


def test_blits_compose_exactly():
    x = torch.randn(32, 1, 10, 10)
    out = AugmentPipe(xflip=1, rotate90=1, xint=1, p=1)(x)
    for o, i in zip(out, x):  # outputs hold exactly the input's pixel values (permuted and reflected)
        assert set(o.flatten().tolist()) <= set(i.flatten().tolist())


# ---------------------------------------------------------------------------------------------
# Continuous geometric transforms: compare with the transform applied to a smooth image
# ---------------------------------------------------------------------------------------------

RES = 32
RNG = np.random.default_rng()


def _smooth(rng: np.random.Generator):
    """A random band-limited function of centred pixel coordinates (x, y) -> [3] values (float64)."""
    freq = rng.uniform(0.12, 0.35, size=(3, 3, 2)) * rng.choice([-1, 1], size=(3, 3, 2))  # rad per pixel
    phase = rng.uniform(0, 2 * np.pi, size=(3, 3))

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        waves = np.cos(freq[..., 0, None, None] * x + freq[..., 1, None, None] * y + phase[..., None, None])
        return waves.mean(axis=1)  # [3 channels, ...]
    return f


def _image(f) -> torch.Tensor:
    c = np.arange(RES) - (RES - 1) / 2
    y, x = np.meshgrid(c, c, indexing="ij")
    return torch.from_numpy(f(x, y))[None]  # [1, 3, H, W] float64


def _expected(f, inverse) -> np.ndarray:
    """``f`` at the input positions ``inverse(x, y)`` of every output pixel."""
    c = np.arange(RES) - (RES - 1) / 2
    y, x = np.meshgrid(c, c, indexing="ij")
    return f(*inverse(x, y))


def _check_close(out: torch.Tensor, expected: np.ndarray, untouched: torch.Tensor, margin: int = 7):
    inner = (slice(None), slice(margin, RES - margin), slice(margin, RES - margin))
    err = np.abs(out[0].numpy() - expected)[inner].max()
    moved = np.abs(untouched[0].numpy() - expected)[inner].max()
    assert err < 0.02, err  # interpolation error of the 2x-oversampled bilinear resampling
    assert moved > 10 * err  # and the transform really moved the image


def _rotation(theta: float):
    c, s = math.cos(theta), math.sin(theta)
    return lambda x, y: (c * x - s * y, s * x + c * y)


@pytest.mark.parametrize("dp", [0.15, 0.8])
def test_scale(dp):
    f = _smooth(RNG)
    img = _image(f)
    s = 2 ** (erfinv(2 * dp - 1) * 0.2)
    out = AugmentPipe(scale=1)(img, debug_percentile=dp)
    _check_close(out, _expected(f, lambda x, y: (x / s, y / s)), img)


@pytest.mark.parametrize("dp", [0.3, 0.85])
def test_rotate_applies_pre_and_post_rotation(dp):
    f = _smooth(RNG)
    img = _image(f)
    theta = 2 * (2 * dp - 1) * math.pi  # both rotations fire in debug mode: twice (2 dp - 1) pi
    out = AugmentPipe(rotate=1)(img, debug_percentile=dp)
    errors = [np.abs(out[0].numpy() - _expected(f, _rotation(sign * theta)))[:, 7:-7, 7:-7].max()
              for sign in (1, -1)]
    # the angle distribution is symmetric, so either orientation convention is right; one must fit
    assert min(errors) < 0.02 and max(errors) > 0.1, errors


@pytest.mark.parametrize("dp", [0.2, 0.9])
def test_anisotropic_scale(dp):
    f = _smooth(RNG)
    img = _image(f)
    s = 2 ** (erfinv(2 * dp - 1) * 0.2)
    out = AugmentPipe(aniso=1)(img, debug_percentile=dp)
    _check_close(out, _expected(f, lambda x, y: (x / s, y * s)), img)


@pytest.mark.parametrize("dp", [0.25, 0.7])
def test_fractional_translation(dp):
    f = _smooth(RNG)
    img = _image(f)
    t = erfinv(2 * dp - 1) * 0.125 * RES
    out = AugmentPipe(xfrac=1)(img, debug_percentile=dp)
    _check_close(out, _expected(f, lambda x, y: (x - t, y - t)), img)


def test_random_composition_follows_the_sampled_matrix():
    f = _smooth(RNG)
    img = _image(f).expand(8, 3, RES, RES).contiguous()
    pipe = AugmentPipe(scale=1, rotate=1, aniso=1, xfrac=1, scale_std=0.1, aniso_std=0.1, xfrac_std=0.02, p=1)
    params = pipe.sample(8, 3, RES, RES, dtype=torch.float64)
    out = pipe.apply(img, params)
    for i in range(8):
        G = params.G_inv[i].numpy()
        expected = _expected(f, lambda x, y, G=G: (G[0, 0] * x + G[0, 1] * y + G[0, 2],
                                                   G[1, 0] * x + G[1, 1] * y + G[1, 2]))
        err = np.abs(out[i].numpy() - expected)[:, 10:-10, 10:-10].max()
        assert err < 0.02, (i, err)


# ---------------------------------------------------------------------------------------------
# Colour: against the formulas
# ---------------------------------------------------------------------------------------------


def _rgb(n=4, res=8):
    return torch.rand(n, 3, res, res, dtype=torch.float64) * 2 - 1


def _luma(x):
    return x.mean(dim=1, keepdim=True)


@pytest.mark.parametrize("dp", [0.1, 0.75])
def test_brightness_and_contrast(dp):
    x = _rgb()
    z = erfinv(2 * dp - 1)
    assert torch.allclose(AugmentPipe(brightness=1)(x, debug_percentile=dp), x + z * 0.2, atol=1e-6)
    assert torch.allclose(AugmentPipe(contrast=1)(x, debug_percentile=dp), x * 2 ** (z * 0.5), atol=1e-6)
    # brightness first, then contrast
    both = AugmentPipe(brightness=1, contrast=1)(x, debug_percentile=dp)
    assert torch.allclose(both, (x + z * 0.2) * 2 ** (z * 0.5), atol=1e-6)


def test_lumaflip_reflects_about_the_luma_axis():
    x = _rgb()
    assert torch.equal(AugmentPipe(lumaflip=1)(x, debug_percentile=0.3), x)  # fired, drew "no flip"
    out = AugmentPipe(lumaflip=1)(x, debug_percentile=0.7)
    assert torch.allclose(out, x - 2 * _luma(x), atol=1e-6)  # luma negated, chroma kept


@pytest.mark.parametrize("dp", [0.2, 0.6, 0.95])
def test_hue_rotates_chroma_about_the_luma_axis(dp):
    x = _rgb(2, 6)
    theta = (2 * dp - 1) * math.pi
    out = AugmentPipe(hue=1)(x, debug_percentile=dp)
    assert torch.allclose(_luma(out), _luma(x), atol=1e-6)
    a, b = x - _luma(x), out - _luma(out)
    assert torch.allclose(a.norm(dim=1), b.norm(dim=1), atol=1e-6)
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    assert torch.allclose(cos, torch.full_like(cos, math.cos(theta)), atol=1e-5)
    turn = torch.linalg.cross(a, b, dim=1).sum(1)  # along +-(1, 1, 1): the same sense for every pixel
    assert (torch.sign(turn) == torch.sign(turn.flatten()[0])).all()


@pytest.mark.parametrize("dp", [0.1, 0.8])
def test_saturation_scales_chroma(dp):
    x = _rgb()
    s = 2 ** erfinv(2 * dp - 1)
    out = AugmentPipe(saturation=1)(x, debug_percentile=dp)
    assert torch.allclose(out, _luma(x) + s * (x - _luma(x)), atol=1e-6)


def test_color_chain_order():
    x = _rgb()
    dp = 0.8
    z = erfinv(2 * dp - 1)
    y = (x + z * 0.2) * 2 ** (z * 0.5)  # brightness, contrast
    y = y - 2 * _luma(y)  # lumaflip (fires and flips at dp >= 0.5)
    y = _luma(y) + 2 ** z * (y - _luma(y))  # saturation
    out = AugmentPipe(brightness=1, contrast=1, lumaflip=1, saturation=1)(x, debug_percentile=dp)
    assert torch.allclose(out, y, atol=1e-6)


@pytest.mark.parametrize("dp", [0.3, 0.85])
def test_grayscale_is_the_mean_of_the_rgb_result(dp):
    gray = torch.rand(4, 1, 8, 8, dtype=torch.float64) * 2 - 1
    pipe = AugmentPipe(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1)
    rgb_result = pipe(gray.expand(4, 3, 8, 8), debug_percentile=dp)
    assert torch.allclose(pipe(gray, debug_percentile=dp), rgb_result.mean(1, keepdim=True), atol=1e-6)
    # hue and saturation do nothing to gray images
    assert torch.equal(AugmentPipe(hue=1, saturation=1, p=1)(gray), gray)


# ---------------------------------------------------------------------------------------------
# Filtering, noise, cutout
# ---------------------------------------------------------------------------------------------


def test_imgfilter_matches_a_direct_separable_convolution():
    x = torch.randn(6, 3, 32, 32, dtype=torch.float64)
    pipe = AugmentPipe(imgfilter=1, p=1)
    params = pipe.sample(6, 3, 32, 32, dtype=torch.float64)
    out = pipe.apply(x, params).numpy()
    bank = filter_bank()
    for i in range(6):
        taps = params.band_gains[i].numpy() @ bank
        for c in range(3):
            img = np.pad(x[i, c].numpy(), 21, mode="reflect")
            rows = np.stack([np.convolve(r, taps, mode="valid") for r in img])
            ref = np.stack([np.convolve(col, taps, mode="valid") for col in rows.T]).T
            assert np.allclose(out[i, c], ref, atol=1e-5)


def test_imgfilter_dc_gain_is_band0_gain_and_identity_when_idle():
    const = torch.full((5, 3, 16, 16), 0.7, dtype=torch.float64)  # 16 < 22: padding reflects repeatedly
    pipe = AugmentPipe(imgfilter=1, p=1)
    params = pipe.sample(5, 3, 16, 16, dtype=torch.float64)
    g0 = params.band_gains[:, 0].reshape(5, 1, 1, 1)
    # bands 1-3 carry no DC, so the 1-D filter's DC gain is g0, applied along x and along y
    assert torch.allclose(pipe.apply(const, params), 0.7 * g0**2, atol=1e-6)
    # equal gains: the bands add up to an impulse (the 1 + 1e-9 keeps apply from skipping the filter)
    x = torch.randn(5, 3, 16, 16, dtype=torch.float64)
    flat = AugmentParams(band_gains=torch.full((5, 4), 1 + 1e-9, dtype=torch.float64))
    assert torch.allclose(pipe.apply(x, flat), x, atol=1e-6)
    x = torch.randn(5, 3, 16, 16)
    assert torch.equal(AugmentPipe(imgfilter=1, p=0)(x), x)


def test_imgfilter_gains_follow_the_power_normalisation():
    dp = 0.8
    pipe = AugmentPipe(imgfilter=1, imgfilter_bands=[1, 0, 1, 1])
    gains = pipe.sample(2, 3, 32, 32, dtype=torch.float64, debug_percentile=dp).band_gains[0].numpy()
    t_gain = 2 ** erfinv(2 * dp - 1)
    expected = np.ones(4)
    for band in (0, 2, 3):  # band 1 has strength 0: never amplified
        t = np.ones(4)
        t[band] = t_gain
        expected *= t / np.sqrt(np.dot(EXPECTED_POWER, t**2))
    assert np.allclose(gains, expected, atol=1e-12)


def test_noise_std():
    x = torch.zeros(256, 3, 32, 32)
    pipe = AugmentPipe(noise=1, p=1)
    params = pipe.sample(256, 3, 32, 32)
    measured = pipe.apply(x, params).std(dim=(1, 2, 3))
    assert torch.allclose(measured, params.noise_std, rtol=0.1)
    # sigma = |N(0, 1)| * noise_std: mean 0.1 * sqrt(2 / pi)
    assert abs(float(measured.mean()) - 0.1 * math.sqrt(2 / math.pi)) < 0.02
    out = AugmentPipe(noise=1, noise_std=0.3)(torch.zeros(4, 3, 64, 64), debug_percentile=0.7)
    assert torch.allclose(out.std(dim=(1, 2, 3)), torch.full([4], erfinv(0.7) * 0.3), rtol=0.05)


def test_cutout_area():
    ones = torch.ones(1, 3, 16, 16)
    out = AugmentPipe(cutout=1)(ones, debug_percentile=0.5)  # centred square of side 8
    expected = torch.ones(16, 16)
    expected[4:12, 4:12] = 0
    assert torch.equal(out[0, 0], expected) and torch.equal(out[0], out[0, :1].expand(3, 16, 16))
    # random centres: a side-1/2 square clipped by the border covers E = (7/16)^2 of the image
    out = AugmentPipe(cutout=1, p=1)(torch.ones(4000, 1, 16, 16))
    assert abs(float(1 - out.mean()) - (7 / 16) ** 2) < 0.01
