"""The whole pipeline: identity at p = 0, firing probabilities, gradients (R1), the adaptive controller."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.plugins.ada.augment import AugmentParams, AugmentPipe
from ganforge.plugins.ada.config import MULTIPLIERS, PRESETS, AdaConfig, module_kwargs


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_p_zero_is_the_identity(preset):
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset=preset, p=0)))
    for shape, dtype in (((4, 3, 16, 16), torch.float32), ((3, 1, 8, 8), torch.float32),
                         ((2, 3, 8, 8), torch.float64)):
        x = torch.randn(shape, dtype=dtype)
        assert torch.equal(pipe(x), x)


# ---------------------------------------------------------------------------------------------
# Firing probabilities
# ---------------------------------------------------------------------------------------------

N = 20000


def _assert_rate(mask: torch.Tensor, prob: float, what: str):
    rate = float(mask.float().mean())
    sigma = math.sqrt(max(prob * (1 - prob), 1e-12) / mask.numel())
    assert abs(rate - prob) < 5 * sigma + 1e-9, f"{what}: fired on {rate:.4f} of the images, not {prob:.4f}"


def test_each_transform_fires_with_multiplier_times_p():
    mult = {name: 0.3 + 0.05 * i for i, name in enumerate(MULTIPLIERS)}
    p = 0.7
    pipe = AugmentPipe(**mult, imgfilter_bands=[1, 0.5, 0, 1], p=p)
    fired = pipe.sample(N, 3, 16, 16).fired
    for name in MULTIPLIERS:
        if name in ("rotate", "imgfilter"):
            continue
        _assert_rate(fired[name], mult[name] * p, name)
    # independent per image and per transform: joint rate = product
    both = mult["xflip"] * mult["contrast"] * p * p
    _assert_rate(fired["xflip"] & fired["contrast"], both, "xflip & contrast")
    for band, strength in enumerate([1, 0.5, 0, 1]):
        _assert_rate(fired[f"imgfilter_{band}"], mult["imgfilter"] * p * strength, f"imgfilter band {band}")


def test_rotation_split_gives_any_rotation_with_rotate_times_p():
    rotate, p = 0.8, 0.6
    fired = AugmentPipe(rotate=rotate, p=p).sample(N, 3, 16, 16).fired
    each = 1 - math.sqrt(1 - rotate * p)
    _assert_rate(fired["rotate_pre"], each, "pre-rotation")
    _assert_rate(fired["rotate_post"], each, "post-rotation")
    _assert_rate(fired["rotate_pre"] | fired["rotate_post"], rotate * p, "any rotation")


def test_images_change_as_often_as_the_transform_fires():
    x = torch.randn(4000, 1, 4, 4)
    out = AugmentPipe(xflip=1, p=0.5)(x)
    mirrored = (out == x.flip(-1)).flatten(1).all(1) & ~(out == x).flatten(1).all(1)
    _assert_rate(mirrored, 0.5 * 0.5, "mirrored images")  # fires with p, then flips with probability 1/2
    out = AugmentPipe(brightness=1, p=0.3)(x)
    _assert_rate((out != x).flatten(1).any(1), 0.3, "brightened images")


def test_p_above_one_saturates():
    fired = AugmentPipe(xflip=0.5, rotate=1, cutout=1, p=3.0).sample(500, 3, 8, 8).fired
    for name in ("xflip", "rotate_pre", "rotate_post", "cutout"):
        assert bool(fired[name].all()), name


# ---------------------------------------------------------------------------------------------
# Gradients
# ---------------------------------------------------------------------------------------------


def _fixed(pipe: AugmentPipe, shape, dtype=torch.float64):
    params = pipe.sample(shape[0], shape[1], shape[2], shape[3], dtype=dtype)
    return params, (lambda x: pipe.apply(x, params))


def test_gradcheck_geometric_path():
    """Both executions: image 0 is a pure blit (flip, quarter turn, shift), image 1 a filtered warp."""
    from ganforge.plugins.ada import _geometry as geo

    m = {"n": 1, "device": torch.device("cpu"), "dtype": torch.float64}
    blit = geo.scale2d(-1, 1, **m) @ geo.rotate2d(math.pi / 2, **m) @ geo.translate2d(1, -2, **m)
    warp = geo.rotate2d(0.4, **m) @ geo.scale2d(0.8, 1.1, **m) @ geo.translate2d(0.3, 0.6, **m)
    params = AugmentParams(G_inv=torch.cat([blit, warp]))
    pipe = AugmentPipe(xflip=1)

    def f(x):
        return pipe.apply(x, params)

    x = torch.randn(2, 1, 6, 6, dtype=torch.float64, requires_grad=True)
    assert bool(geo.is_blit(params.G_inv, 6, 6)[0]) and not bool(geo.is_blit(params.G_inv, 6, 6)[1])
    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6)
    assert torch.autograd.gradgradcheck(f, (x,), eps=1e-6, atol=1e-6, fast_mode=True)


def test_gradcheck_full_pipeline():
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="bgcfnc", p=1)))
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64, requires_grad=True)
    params, _ = _fixed(pipe, x.shape)
    params.noise_std = None  # noise draws fresh values per call; the rest is a fixed function of x

    def f(inp):
        return pipe.apply(inp, params)

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-6, fast_mode=True)


def test_r1_double_backward_through_the_pipeline():
    """R1 = |d D(A x) / dx|^2 with a linear D(y) = <w, y>: its gradient w.r.t. w is 2 J J^T w, where J is the
    pipeline's Jacobian (the pipeline is affine in x for fixed parameters)."""
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="bgc", p=0.9)))
    shape = (2, 3, 6, 6)
    params, f = _fixed(pipe, shape)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    logits = (f(x) * w).flatten(1).sum(1)
    (grad,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    penalty = grad.square().sum()
    penalty.backward()
    J = torch.autograd.functional.jacobian(f, x.detach()).reshape(x.numel(), x.numel())  # d out / d in
    expected = 2 * J @ (J.T @ w.detach().flatten())
    assert torch.allclose(w.grad.flatten(), expected, atol=1e-8)
    assert w.grad.abs().sum() > 0


def test_r1_through_a_conv_discriminator():
    D = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Softplus(), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 16 * 16, 1))
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="bgcfnc", p=0.7)))
    real = torch.randn(4, 3, 16, 16, requires_grad=True)
    logits = D(pipe(real))
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    grad.square().sum().backward()
    for p in (D[0].weight, D[0].bias, D[3].weight):  # (the last bias does not change dD/dx)
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------
# The controller
# ---------------------------------------------------------------------------------------------


def test_adapt_moves_p_by_the_exact_step():
    pipe = AugmentPipe(p=0.3, target=0.6, interval=4, kimg=10)
    assert pipe.adapt_stat == "Loss/signs/real" and pipe.adapt_interval == 4
    step = 8 * 4 / (10 * 1000)
    pipe.adapt(0.9, 8 * 4)
    assert float(pipe.p) == pytest.approx(0.3 + step, abs=1e-7)
    pipe.adapt(0.1, 8 * 4)
    pipe.adapt(0.2, 8 * 4)
    assert float(pipe.p) == pytest.approx(0.3 - step, abs=1e-7)
    before = float(pipe.p)
    pipe.adapt(0.6, 32)  # exactly on target: sign 0
    pipe.adapt(float("nan"), 32)  # no statistic: no change
    assert float(pipe.p) == before


def test_p_never_goes_below_zero_and_has_no_upper_clamp():
    pipe = AugmentPipe(p=0.001, target=0.6, kimg=1)
    for _ in range(5):
        pipe.adapt(-1.0, 64)
        assert float(pipe.p) == 0.0
    for _ in range(20):
        pipe.adapt(1.0, 64)
    assert float(pipe.p) == pytest.approx(20 * 0.064, abs=1e-5) and float(pipe.p) > 1


def test_fixed_p_does_not_adapt():
    cfg = AdaConfig(target=None)
    pipe = AugmentPipe(**module_kwargs(cfg))
    assert pipe.adapt_stat is None and float(pipe.p) == pytest.approx(0.2)  # upstream --aug=fixed default --p
    pipe.adapt(1.0, 1000)
    assert float(pipe.p) == pytest.approx(0.2)
    assert float(AugmentPipe(**module_kwargs(AdaConfig())).p) == 0.0  # adaptive starts from 0
    assert float(AugmentPipe(**module_kwargs(AdaConfig(target=None, p=0.05))).p) == pytest.approx(0.05)


def test_extra_repr_and_bad_arguments():
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="blit")))
    text = repr(pipe)
    assert "xflip=1" in text and "target=0.6" in text and "scale" not in text
    with pytest.raises(TypeError, match="xflp"):
        AugmentPipe(xflp=1)
    with pytest.raises(ValueError, match="debug_percentile"):
        pipe(torch.zeros(1, 3, 8, 8), debug_percentile=1.0)
    with pytest.raises(ValueError, match="RGB"):
        AugmentPipe(brightness=1, p=1)(torch.zeros(2, 2, 8, 8))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu_and_supports_r1():
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="bgcf", p=0.8)))
    x = torch.randn(8, 3, 32, 32)
    params = pipe.sample(8, 3, 32, 32)
    expected = pipe.apply(x, params)
    pipe = pipe.cuda()
    on_gpu = AugmentParams(G_inv=params.G_inv.cuda(), C=params.C.cuda(), band_gains=params.band_gains.cuda())
    assert torch.allclose(pipe.apply(x.cuda(), on_gpu).cpu(), expected, atol=1e-4)
    real = x.cuda().requires_grad_(True)
    (grad,) = torch.autograd.grad(pipe(real).square().sum(), real, create_graph=True)
    grad.square().sum().backward()
    assert real.grad is not None and torch.isfinite(real.grad).all()
