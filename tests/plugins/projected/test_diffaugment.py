"""DiffAugment (default_augments plugin): each transform's defining property on fresh random images."""

from __future__ import annotations

import pytest
import torch

from ganforge.core.errors import ConfigError
from ganforge.plugins.default_augments.diffaugment import (
    DiffAugment,
    rand_brightness,
    rand_contrast,
    rand_cutout,
    rand_saturation,
    rand_translation,
)


def _images(n=16, c=3, h=16, w=16):
    return torch.rand(n, c, h, w) * 2 - 1 + 0.01  # no exact zeros, so zero fill is recognisable


def _find_shift(src: torch.Tensor, out: torch.Tensor, max_shift: int) -> tuple[int, int] | None:
    """The (ty, tx) with out[i, j] = src[i + ty, j + tx] (zero outside), if any."""
    h, w = src.shape[-2:]
    for ty in range(-max_shift, max_shift + 1):
        for tx in range(-max_shift, max_shift + 1):
            want = torch.zeros_like(src)
            ys, xs = slice(max(0, -ty), min(h, h - ty)), slice(max(0, -tx), min(w, w - tx))
            ys_src, xs_src = slice(ys.start + ty, ys.stop + ty), slice(xs.start + tx, xs.stop + tx)
            want[..., ys, xs] = src[..., ys_src, xs_src]
            if torch.equal(want, out):
                return ty, tx
    return None


def test_translation_shifts_by_integers_with_zero_fill():
    torch.manual_seed(1)
    x = _images(n=64)
    out = rand_translation(x, 0.125)
    shifts = [_find_shift(x[i], out[i], 2) for i in range(len(x))]  # round(0.125 * 16) = 2
    assert all(s is not None for s in shifts), "some output is not an integer shift of its input"
    assert len(set(shifts)) > 5  # per-sample parameters
    assert {s[0] for s in shifts} == set(range(-2, 3))  # the full range is reached, and no more
    assert {s[1] for s in shifts} == set(range(-2, 3))


def test_cutout_zeroes_one_square_of_the_right_size():
    torch.manual_seed(2)
    x = _images(n=64, h=20, w=20)
    out = rand_cutout(x, 0.2)  # side round(0.2 * 20) = 4
    full = 0
    for i in range(len(x)):
        zero = (out[i] == 0).all(dim=0)
        assert torch.equal(out[i][:, ~zero], x[i][:, ~zero])  # everything else untouched
        rows, cols = zero.any(dim=1).nonzero().flatten(), zero.any(dim=0).nonzero().flatten()
        assert zero.sum() == len(rows) * len(cols), "the zeroed pixels do not form a rectangle"
        assert len(rows) <= 4 and len(cols) <= 4
        for idx, n in ((rows, 20), (cols, 20)):  # shorter than 4 only where clipped by the border
            assert len(idx) == 4 or idx[0] == 0 or idx[-1] == n - 1
        full += len(rows) == 4 and len(cols) == 4
    assert full > 20


def test_color_keeps_shape_dtype_and_is_per_sample():
    torch.manual_seed(3)
    x = _images(n=8).double()
    for fn in (rand_brightness, rand_saturation, rand_contrast):
        out = fn(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert len({round(float((out[i] - x[i]).abs().mean()), 6) for i in range(8)}) == 8
    b = rand_brightness(x) - x
    assert torch.allclose(b, b[:, :1, :1, :1].expand_as(b)) and b.abs().max() <= 0.5  # one offset per image
    c = rand_contrast(x)
    assert torch.allclose(c.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))  # contrast keeps the image mean
    s = rand_saturation(x)
    assert torch.allclose(s.mean(dim=1), x.mean(dim=1))  # saturation keeps the per-pixel grey level


@pytest.mark.parametrize("policy", [("color",), ("translation",), ("cutout",),
                                    ("color", "translation", "cutout")])
def test_differentiable_also_twice(policy):
    x = _images(n=4).double().requires_grad_(True)
    aug = DiffAugment(policy)
    torch.manual_seed(4)
    out = aug(x)
    (g,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
    assert g.abs().sum() > 0
    (gg,) = torch.autograd.grad(g.sum(), x)  # second order (R1 through the augmentation)
    assert torch.isfinite(gg).all()


def test_gradcheck_with_fixed_randomness():
    x = _images(n=1, h=5, w=5).double().requires_grad_(True)
    aug = DiffAugment()

    def f(t):
        torch.manual_seed(5)
        return aug(t)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


def test_per_sample_parameters_differ():
    torch.manual_seed(6)
    x = _images(n=1).expand(16, -1, -1, -1)
    out = DiffAugment()(x)
    assert len({tuple(o.flatten()[:64].tolist()) for o in out}) == 16


def test_config_and_registry(toy_plugins):
    from ganforge.core.config import resolve_config
    from ganforge.core.registry import get_registry

    registry = get_registry()
    spec = registry.get("augment", "diffaugment")
    assert spec.config(policy="color, cutout").policy == ("color", "cutout")
    with pytest.raises(ValueError):
        spec.config(policy=["colour"])
    cfg, _ = resolve_config({"generator": "toy", "discriminator": "toy", "dataset": "toydata",
                             "augment": {"name": "diffaugment", "policy": "translation"}}, registry=registry)
    aug = spec.build(cfg.augment, None)
    assert aug.policy == ("translation",) and "translation_ratio=0.125" in repr(aug)
    with pytest.raises(ConfigError, match="augment.policy"):
        resolve_config({"generator": "toy", "discriminator": "toy", "dataset": "toydata",
                        "augment": {"name": "diffaugment", "policy": "rotate"}}, registry=registry)
