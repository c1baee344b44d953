"""EQ-T, EQ-T (fractional) and EQ-R: the image operations, and the metrics on constructed generators."""

from __future__ import annotations

import json
import math

import pytest
import torch

from ganforge.core.errors import ConfigError
from ganforge.core.metrics import MetricContext, evaluate_metrics
from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan3 import equivariance as eq
from ganforge.plugins.stylegan3.config import METRIC_CONFIGS, StyleGAN3RConfig, StyleGAN3TConfig
from ganforge.plugins.stylegan3.generator import build_generator
from ganforge.plugins.stylegan3.metrics import make_metric
from tests.plugins.stylegan3.toys import ToyG


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sinusoids(res: int, shift=(0.0, 0.0), angle: float = 0.0, seed: int = 0, bandwidth: float = 4.0):
    """A band-limited test image (as ToyG), optionally translated (image units) or rotated."""
    G = ToyG(res=res, bandwidth=bandwidth)
    a = angle
    m = torch.tensor([[math.cos(a), math.sin(a), shift[0]], [-math.sin(a), math.cos(a), shift[1]],
                      [0, 0, 1.0]])
    G.synthesis.input.transform.copy_(torch.linalg.inv(m))
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(seed))
    return G(z)


def metric(name: str, G, n: int = 8, seed: int = 0) -> float:
    ctx = MetricContext(G=G, info=DataInfo(G.img_resolution), seed=seed)
    return make_metric(METRIC_CONFIGS[name](num_gen=n)).compute(ctx)["results"][name]


# ------------------------------------------------------------------------------------------------
# Image operations
# ------------------------------------------------------------------------------------------------

def test_integer_translation_shifts_and_masks():
    x = torch.randn(2, 3, 16, 16)
    z, m = eq.integer_translation(x, 3 / 16, -2 / 16)
    assert torch.equal(z[:, :, :14, 3:], x[:, :, 2:, :13])
    assert torch.equal(m[:, :, :14, 3:], torch.ones(2, 3, 14, 13)) and m.sum() == 2 * 3 * 14 * 13
    assert torch.equal(z * (1 - m), torch.zeros_like(z))
    z, m = eq.integer_translation(x, 0.49 / 16, 0)  # rounds to no shift
    assert torch.equal(z, x) and m.all()


def test_translation_out_of_the_image_and_the_masks_of_filtered_borders():
    x = torch.randn(1, 2, 8, 8)
    z, m = eq.integer_translation(x, 1.0, 0.0)  # a whole image width: nothing left
    assert not z.any() and not m.any()
    _, m = eq.pseudo_rotation(x, 0.4)  # a=3: 11 taps, 5 on each side, more than half of 8 pixels
    assert not m.any()
    _, m = eq.pseudo_rotation(torch.randn(1, 1, 16, 16), 0.4)
    valid = m[0, 0].nonzero()
    assert valid.min(0).values.tolist() == [5, 5] and valid.max(0).values.tolist() == [10, 10]
    assert m.sum() == 6 * 6


def test_fractional_translation_of_a_band_limited_image():
    x = sinusoids(32)
    for t in ((2.4 / 32, -1.7 / 32), (-0.125, 0.0625), (0.3 / 32, 0.0)):
        z, m = eq.fractional_translation(x, *t)
        want = sinusoids(32, shift=t)
        err = ((z - want).square() * m).sum() / m.sum()
        assert eq.psnr(float(err), 1.0) > 45, t
        ix = math.floor(t[0] * 32)
        cols = m[0, 0].any(0).nonzero().flatten()
        assert (cols.min().item(), cols.max().item()) == (max(ix + 3, 0), min(ix - 2, 0) + 31)
    z, m = eq.fractional_translation(x, 3 / 32, -2 / 32)  # whole pixels: an exact shift
    zi, _ = eq.integer_translation(x, 3 / 32, -2 / 32)
    assert torch.allclose(z * m, zi * m, atol=1e-6)


def test_bandlimited_affine_filter_normalisation_and_symmetry():
    for angle in (0.0, 0.3, -2.0):
        f = eq.bandlimited_affine_filter(eq.rotation_matrix(angle), a=3, amax=6, up=4)
        assert f.shape == (47, 47)
        assert torch.allclose(f, f.flip(0, 1), atol=1e-6)  # point symmetric: no shift
        # each of the 4x4 polyphase components sums to 1/16, so upsampling by 4 keeps DC exactly
        g = torch.nn.functional.pad(f, [0, 1, 0, 1]).reshape(12, 4, 12, 4)
        assert torch.allclose(g.sum(dim=[0, 2]), torch.full((4, 4), 1 / 16), atol=1e-6)
    f1 = eq.bandlimited_affine_filter(eq.rotation_matrix(0.7), a=3, amax=6, up=1)
    assert f1.shape == (11, 11) and f1.sum().item() == pytest.approx(1, abs=1e-5)


def test_fractional_rotation_of_a_band_limited_image():
    x = sinusoids(32)
    for angle in (0.0, math.pi / 2, 0.6, -2.5):
        z, m = eq.fractional_rotation(x, angle)
        want = sinusoids(32, angle=angle)
        err = ((z - want).square() * m).sum() / m.sum()
        assert eq.psnr(float(err), 1.0) > 35, angle
        assert m[0, 0, 16, 16] == pytest.approx(1, abs=1e-5)  # the centre stays valid
        if angle == 0.6:
            assert m[0, 0, 0, 0] < 0.01  # corners rotate out of the image
    y, m = eq.pseudo_rotation(x, 0.6)
    err = ((y - x).square() * m).sum() / m.sum()
    assert eq.psnr(float(err), 1.0) > 35  # keeps the low band of the image


def test_psnr_formula():
    assert eq.psnr(1.0, 1.0) == pytest.approx(20 * math.log10(2))
    assert eq.psnr(0.01, 1.0) == pytest.approx(20 * math.log10(2) + 20)
    assert eq.psnr(0.0, 5.0) == float("inf") and math.isnan(eq.psnr(1.0, 0.0))


# ------------------------------------------------------------------------------------------------
# Metrics on constructed generators
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["eqt50k_int", "eqt50k_frac", "eqr50k"])
def test_equivariant_toy_scores_high_and_sticky_toy_low(name):
    exact = metric(name, ToyG(res=32, bandwidth=4))
    sticky = metric(name, ToyG(res=32, bandwidth=4, sticky=1.0))
    half = metric(name, ToyG(res=32, bandwidth=4, sticky=0.3))
    floor = {"eqt50k_int": 100, "eqt50k_frac": 50, "eqr50k": 50}[name]
    assert exact > floor, exact
    assert sticky < 20, sticky
    assert sticky < half < exact
    print(f"{name}: equivariant toy {exact:.1f} dB, 30% sticky {half:.1f} dB, sticky toy {sticky:.1f} dB")


def test_translation_equivariant_toy_scores_low_on_rotation():
    G = ToyG(res=32, translation_only=True)
    assert metric("eqt50k_int", G) > 100 and metric("eqt50k_frac", G) > 50
    assert metric("eqr50k", G) < 25


def test_small_random_stylegan3_scores(capsys):
    # Untrained networks at 32x32. T is translation equivariant by construction; R also rotation
    # equivariant; dropping T's oversampled nonlinearity (lrelu_upsampling=1) costs EQ-T.
    values = {}
    for label, cls, kw in (("T", StyleGAN3TConfig, {}), ("R", StyleGAN3RConfig, {}),
                           ("T, lrelu_upsampling=1", StyleGAN3TConfig, {"lrelu_upsampling": 1})):
        torch.manual_seed(0)
        cfg = cls(z_dim=32, w_dim=32, channel_base=1024, channel_max=32, **kw)
        G = build_generator(cfg, DataInfo(32)).eval()
        names = ("eqt50k_int", "eqr50k") if label != "R" else ("eqt50k_int", "eqt50k_frac", "eqr50k")
        values[label] = {n: metric(n, G, n=8) for n in names}
    with capsys.disabled():
        print("\nEQ on random 32x32 StyleGAN3:", json.dumps({k: {n: round(v, 1) for n, v in d.items()}
                                                          for k, d in values.items()}))
    assert values["T"]["eqt50k_int"] > 50 and values["R"]["eqt50k_int"] > 50
    assert values["R"]["eqr50k"] > values["T"]["eqr50k"] + 20
    assert values["T"]["eqt50k_int"] > values["T, lrelu_upsampling=1"]["eqt50k_int"] + 5


def test_metric_runs_through_the_registry_is_reproducible_and_restores_the_transform(tmp_path):
    from ganforge.core.registry import get_registry

    G = ToyG(res=32, sticky=0.2)
    G.synthesis.input.transform[0, 2] = 0.25  # a user transform set before the metric
    before = G.synthesis.input.transform.clone()
    registry = get_registry()
    configs = [registry.get("metric", n).config(num_gen=8) for n in ("eqt50k_int", "eqt50k_frac", "eqr50k")]
    ctx = MetricContext(G=G, info=DataInfo(32), run_dir=tmp_path, seed=3)
    first = evaluate_metrics(configs, ctx, registry)
    again = evaluate_metrics(configs, ctx, registry)
    other = evaluate_metrics(configs, MetricContext(G=G, info=DataInfo(32), seed=4), registry)
    assert torch.equal(G.synthesis.input.transform, before)
    for a, b, c in zip(first, again, other, strict=True):
        assert a["results"] == b["results"] and a["results"] != c["results"]
        assert a["provenance"]["num_gen"] == 8 and a["provenance"]["detector"] == "none"
        line = json.loads((tmp_path / f"metric-{a['metric']}.jsonl").read_text().splitlines()[0])
        assert line["results"] == a["results"]


def test_batches_are_split_over_processes():
    # each of two processes evaluates every other batch; the all-reduced sums give the same PSNR
    G = ToyG(res=32, sticky=0.2)
    m = make_metric(METRIC_CONFIGS["eqt50k_frac"](num_gen=16, batch_gen=4))
    whole = m.compute(MetricContext(G=G, info=DataInfo(32)))["results"]["eqt50k_frac"]
    M, cpu = G.synthesis.input.transform, torch.device("cpu")
    parts = [m._batch(G, M, i, 0, cpu) for rank in range(2) for i in range(rank, 4, 2)]
    assert eq.psnr(sum(p[0] for p in parts), sum(p[1] for p in parts)) == pytest.approx(whole, rel=1e-9)


def test_metric_needs_an_input_transform():
    class Plain(torch.nn.Module):
        z_dim, c_dim, img_resolution = 4, 0, 16

        def forward(self, z, c):
            return torch.zeros(z.shape[0], 3, 16, 16)

    G = Plain()
    with pytest.raises(ConfigError, match="input transform"):
        make_metric(METRIC_CONFIGS["eqr50k"](num_gen=4)).compute(MetricContext(G=G, info=DataInfo(16)))
