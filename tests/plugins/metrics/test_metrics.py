"""Metric runs: caching, provenance, reproducibility, PPL, processes, the training loop."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch

from ganforge.core.errors import ConfigError
from ganforge.core.metrics import MetricContext
from ganforge.core.registry import get_registry
from ganforge.core.specs import DataInfo
from ganforge.plugins.default_metrics.configs import METRIC_CONFIGS
from ganforge.plugins.default_metrics.detectors import get_detector
from ganforge.plugins.default_metrics.metrics import make_metric
from ganforge.plugins.default_metrics.ppl import slerp
from ganforge.plugins.default_metrics.runner import calc_metrics, compare_image_sets
from ganforge.plugins.default_metrics.sources import real_stats
from tests.plugins.metrics.conftest import TinyStyleG, write_images

TINY = {"detector": "random-tiny", "data_workers": 0}
PROVENANCE = ("detector", "detector_sha256", "resize", "dtype", "num_real", "num_gen", "dataset_hash", "seed",
              "network", "time", "ganforge")


def _images_config(path, **kw):
    return get_registry().get("dataset", "images").config(path=str(path), **kw)


def test_real_stats_cache_is_keyed_by_content_detector_and_options(tmp_path):
    folder = write_images(tmp_path / "real", 12)
    cfg = METRIC_CONFIGS["fid50k_full"](**TINY)
    det = get_detector("inception", cfg)
    data = _images_config(folder)

    def run(det=det, data=data, **kw):
        stats, prov = real_stats(data, det, det.features, cfg, keep_moments=True, **kw)
        return stats, prov["stats_cache"], prov["dataset_hash"]

    first, state, digest = run()
    assert state == "miss" and first.count == 12
    again, state, digest2 = run()
    assert state == "hit" and digest2 == digest
    np.testing.assert_array_equal(again.gaussian()[1], first.gaussian()[1])
    time.sleep(0.01)
    write_images(folder, 1, seed=99)  # rewrite img0000.png: new content, size/mtime
    changed, state, digest3 = run()
    assert state == "miss" and digest3 != digest
    assert not np.allclose(changed.gaussian()[0], first.gaussian()[0])
    assert run()[1] == "hit"
    other = type(det)(**{**det.__dict__, "sha256": "0" * 64})  # same network, different weights checksum
    assert run(det=other)[1] == "miss"
    assert run(max_items=5)[1] == "miss" and run(max_items=5)[1] == "hit"
    assert run(data=_images_config(folder, xflip=True))[1] == "miss"
    no_cache = METRIC_CONFIGS["fid50k_full"](**TINY, cache=False)
    assert real_stats(data, det, det.features, no_cache, keep_moments=True)[1]["stats_cache"] == "off"


def test_metric_results_are_reproducible_for_a_seed_and_carry_provenance(toy_network):
    opts = dict(num_gen=24, **TINY)
    a = calc_metrics(toy_network, "fid50k_full,kid50k_full,is50k", seed=3, device="cpu", num_subsets=4, **opts)
    b = calc_metrics(toy_network, "fid50k_full,kid50k_full,is50k", seed=3, device="cpu", num_subsets=4, **opts)
    c = calc_metrics(toy_network, "fid50k_full", seed=4, device="cpu", **opts)
    assert [r["results"] for r in a] == [r["results"] for r in b]
    assert a[0]["results"] != c[0]["results"]
    for rec in a:
        prov = rec["provenance"]
        missing = [k for k in PROVENANCE if k not in prov]
        assert not missing, (rec["metric"], missing)
        assert prov["seed"] == 3 and prov["network"] == str(toy_network) and prov["num_gen"] == 24
        assert prov["detector"].startswith("random-tiny")
    assert a[0]["provenance"]["num_real"] == 64 and a[0]["provenance"]["dataset"] == "toydata"
    # the network sits in a run directory: results were appended to its jsonl files
    lines = (toy_network.parent / "metric-fid50k_full.jsonl").read_text().splitlines()
    assert len(lines) >= 3 and json.loads(lines[-1])["results"] == c[0]["results"]


def test_fid_of_an_image_set_with_itself_is_zero_and_a_shifted_set_is_far(tmp_path):
    a = write_images(tmp_path / "a", 40, size=[(16, 16), (20, 24)])
    b = write_images(tmp_path / "b", 40, seed=1, scale=120, offset=100)
    same = compare_image_sets(a, a, "fid", device="cpu", **TINY)[0]["results"]["fid"]
    far = compare_image_sets(a, b, "fid,kid", device="cpu", **TINY)
    assert abs(same) < 1e-6
    assert far[0]["results"]["fid"] > 1e-3 and far[1]["results"]["kid"] > 0


def test_two_processes_gather_the_same_features_as_one(tmp_path):
    a = write_images(tmp_path / "a", 13, size=[(16, 16), (12, 12)])
    b = write_images(tmp_path / "b", 11, seed=1)
    one = compare_image_sets(a, b, "fid,pr", device="cpu", **TINY, cache=False)
    two = compare_image_sets(a, b, "fid,pr", gpus=2, device="cpu", **TINY, cache=False)
    assert two[0]["provenance"]["num_processes"] == 2 and two[0]["provenance"]["num_real"] == 13
    for x, y in zip(one, two, strict=True):
        assert x["results"] == pytest.approx(y["results"], rel=1e-5)


def test_ppl_on_a_style_generator_is_finite_reproducible_and_grows_with_the_mapping_scale():
    G = TinyStyleG()
    cfg = METRIC_CONFIGS["ppl2_wend"](num_gen=40, sampling="full", epsilon=1e-2, **TINY)

    def ppl(seed=0):
        ctx = MetricContext(G=G, info=DataInfo(resolution=16), seed=seed)
        return make_metric(cfg).compute(ctx)

    first = ppl()
    assert np.isfinite(first["results"]["ppl2_wend"]) and first["results"]["ppl2_wend"] > 0
    assert ppl()["results"] == first["results"]
    assert ppl(seed=1)["results"] != first["results"]
    assert first["provenance"]["num_gen"] == 40 and first["provenance"]["epsilon"] == 1e-2
    with torch.no_grad():
        G.to_img.weight.mul_(4)  # a more sensitive synthesis gives longer paths
    assert ppl()["results"]["ppl2_wend"] > first["results"]["ppl2_wend"]


def test_ppl_needs_a_style_generator(toy_plugins):
    class Plain(torch.nn.Module):
        z_dim, c_dim, img_resolution = 4, 0, 8

    with pytest.raises(ConfigError, match="mapping"):
        make_metric(METRIC_CONFIGS["ppl2_wend"](**TINY)).compute(MetricContext(G=Plain(), info=DataInfo(8)))


def test_slerp_keeps_unit_norm_and_endpoints():
    a, b = torch.randn(5, 8, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    torch.testing.assert_close(slerp(a, b, torch.zeros(5, 1, dtype=torch.float64)), a / a.norm(dim=1, keepdim=True))
    torch.testing.assert_close(slerp(a, b, torch.ones(5, 1, dtype=torch.float64)), b / b.norm(dim=1, keepdim=True))
    torch.testing.assert_close(slerp(a, b, torch.rand(5, 1, dtype=torch.float64)).norm(dim=1),
                               torch.ones(5, dtype=torch.float64))


def test_metrics_without_data_or_network_fail_clearly(toy_plugins, tmp_path):
    ctx = MetricContext(G=TinyStyleG(), info=DataInfo(16))
    with pytest.raises(ConfigError, match="--data"):
        make_metric(METRIC_CONFIGS["fid50k_full"](**TINY)).compute(ctx)
    with pytest.raises(ConfigError, match="does not exist"):
        calc_metrics(tmp_path / "nope.pt", "fid50k_full")
    with pytest.raises(Exception, match="num_gen"):
        calc_metrics(tmp_path / "nope.pt", "fid50k_full", num_gen=0)


def test_metric_configs_document_every_field():
    for name, model in METRIC_CONFIGS.items():
        assert get_registry().get("metric", name).config is model
        for field, info in model.model_fields.items():
            assert field == "name" or info.description, (name, field)
    assert METRIC_CONFIGS["fid10k_full"]().num_gen == 10000
    assert METRIC_CONFIGS["fid50k"]().real_xflip is None and METRIC_CONFIGS["fid50k"]().num_real == 50000
    assert METRIC_CONFIGS["kid50k_full"]().num_real == 1_000_000 and METRIC_CONFIGS["pr50k3_full"]().num_real == 200000


def test_env_is_clean():
    assert "GANFORGE_INCEPTION_WEIGHTS" not in os.environ
