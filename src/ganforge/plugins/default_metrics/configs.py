"""Config models of the built-in metrics (pydantic only; imported by the plugin's hooks).

Every metric has its own model (``name`` is a Literal of the metric name) built from a family
base with the metric's defaults, so ``gan info fid50k_full`` shows the real defaults.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model
from pydantic.fields import FieldInfo

from ganforge.core.config import ComponentConfig

__all__ = ["MetricConfig", "RealMetricConfig", "KIDConfig", "PRConfig", "ISConfig", "PPLConfig", "ProxyConfig",
           "METRIC_CONFIGS", "DETECTORS"]

#: ``detector`` values: the real network of the metric, or a tiny random CNN for tests and smoke runs.
DETECTORS = ("default", "random-tiny")


class MetricConfig(ComponentConfig):
    """Options shared by every sample-based metric."""

    name: str
    num_gen: int = Field(50000, ge=1, description="Number of generated images.")
    batch_gen: int = Field(4, ge=1, description="Images per generator call (upstream: 4).")
    batch_detector: int = Field(64, ge=1, description="Images per detector call (upstream: 64).")
    detector: Literal["default", "random-tiny"] = Field(
        "default", description="'default': the metric's real network (Inception-v3, VGG16, EfficientNet-Lite0). "
        "'random-tiny': a small randomly initialised CNN with a fixed seed, for tests and smoke runs only; its "
        "numbers mean nothing and are labelled so in the provenance.")
    detector_weights: str | None = Field(None, description="Weights file of the detector (see docs/metrics.md for "
                                         "the accepted files). None: found automatically (installed package, "
                                         "environment variable, ganforge's weights cache).")
    allow_download: bool = Field(False, description="Download missing detector weights from their public URL "
                                 "(checksummed where the checksum is published) into the weights cache.")
    dtype: Literal["float32", "float16"] = Field("float32", description="Detector precision; float16 only on "
                                                 "CUDA (falls back to float32 on CPU).")
    cache: bool = Field(True, description="Cache feature statistics of real data, keyed by dataset content, "
                        "detector checksum and options. Generated images are never cached.")
    data_workers: int = Field(2, ge=0, description="DataLoader worker processes reading real images.")


class RealMetricConfig(MetricConfig):
    """Options of metrics that compare generated with real images (FID)."""

    num_real: int | None = Field(None, ge=2, description="Real images used: None = all of them (the '_full' "
                                 "metrics); N = the first N of the dataset (the legacy metrics: 50000).")
    real_xflip: bool | None = Field(False, description="Mirror augmentation of the real images: false = off (the "
                                    "'_full' metrics); null = as in the dataset config (the legacy metrics).")


class KIDConfig(RealMetricConfig):
    """Options of KID."""

    num_subsets: int = Field(100, ge=1, description="Random subsets averaged (upstream: 100).")
    max_subset_size: int = Field(1000, ge=2, description="Samples per subset, at most (upstream: 1000).")


class PRConfig(RealMetricConfig):
    """Options of improved precision and recall."""

    nhood_size: int = Field(3, ge=1, description="k of the k-NN radii (upstream: 3).")
    row_batch_size: int = Field(10000, ge=1, description="Rows per distance block (upstream: 10000).")
    col_batch_size: int = Field(10000, ge=1, description="Columns per distance block (upstream: 10000).")
    distance_dtype: Literal["auto", "float16", "float32"] = Field(
        "auto", description="Precision of the pairwise distances: 'auto' = float16 on CUDA (as upstream), float32 "
        "on CPU (CPU float16 matrix products are slow and less exact).")


class ISConfig(MetricConfig):
    """Options of the Inception score."""

    num_splits: int = Field(10, ge=1, description="Splits of the generated set (mean and std over them).")


class PPLConfig(MetricConfig):
    """Options of perceptual path length."""

    num_gen: int = Field(50000, ge=1, description="Number of sampled path segments.")
    batch_gen: int = Field(2, ge=1, description="Segments per generator call (upstream: 2).")
    epsilon: float = Field(1e-4, gt=0, description="Step along the path (upstream ppl2: 1e-4).")
    space: Literal["w", "z"] = Field("w", description="Interpolate in W (lerp) or Z (slerp).")
    sampling: Literal["end", "full"] = Field("end", description="'end': t = 0 (path endpoints); 'full': t ~ U(0, 1).")
    crop: bool = Field(False, description="Crop to the central face region (FFHQ-style data) before LPIPS.")
    lpips_weights: str | None = Field(None, description="LPIPS linear heads (the lpips package's "
                                      "weights/v0.1/vgg.pth) when detector_weights is a torchvision-layout VGG16; "
                                      "NVIDIA's vgg16.pt includes them.")


class ProxyConfig(RealMetricConfig):
    """Options of the EfficientNet-Lite0 Fréchet-distance proxy."""

    num_gen: int = Field(5000, ge=1, description="Number of generated images.")
    num_real: int | None = Field(5000, ge=2, description="Real images used (None = all).")
    resolution: int = Field(224, ge=32, le=1024, description="Images are resized (bilinear) to this size before "
                            "EfficientNet-Lite0.")


def _named(name: str, base: type[MetricConfig], doc: str, **defaults: Any) -> type[MetricConfig]:
    fields: dict[str, Any] = {"name": (Literal[name], name)}  # type: ignore[valid-type]
    for key, value in defaults.items():
        info = base.model_fields[key]
        fields[key] = (info.annotation, FieldInfo.merge_field_infos(info, default=value))
    model = create_model(f"{name.title().replace('_', '')}Config", __base__=base, __doc__=doc, **fields)
    model.__module__ = __name__
    return model


METRIC_CONFIGS: dict[str, type[MetricConfig]] = {
    "fid50k_full": _named("fid50k_full", RealMetricConfig, "FID: 50k generated vs all real images (no x-flip)."),
    "fid10k_full": _named("fid10k_full", RealMetricConfig, "FID: 10k generated vs all real images (Projected GAN's "
                          "default).", num_gen=10000),
    "fid50k": _named("fid50k", RealMetricConfig, "Legacy FID: 50k generated vs the first 50k real images (x-flip "
                     "as configured).", num_real=50000, real_xflip=None),
    "kid50k_full": _named("kid50k_full", KIDConfig, "KID: 50k generated vs up to 1M real images (no x-flip).",
                          num_real=1000000),
    "kid50k": _named("kid50k", KIDConfig, "Legacy KID: 50k generated vs 50k real images (x-flip as configured).",
                     num_real=50000, real_xflip=None),
    "pr50k3_full": _named("pr50k3_full", PRConfig, "Improved precision/recall, k=3: 50k generated vs 200k real.",
                          num_real=200000),
    "pr50k3": _named("pr50k3", PRConfig, "Legacy precision/recall, k=3: 50k generated vs 50k real (x-flip as "
                     "configured).", num_real=50000, real_xflip=None),
    "is50k": _named("is50k", ISConfig, "Inception score of 50k generated images, 10 splits."),
    "ppl2_wend": _named("ppl2_wend", PPLConfig, "Perceptual path length in W at path endpoints, epsilon 1e-4."),
    "fd_effnet_proxy": _named("fd_effnet_proxy", ProxyConfig, "PROXY, not FID: Fréchet distance in "
                              "EfficientNet-Lite0 feature space (fast, for small machines and tests)."),
}
