"""Options of the built-in augmentations (no torch import)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ganforge.core.config import ComponentConfig

__all__ = ["DiffAugmentConfig", "DIFFAUGMENT_POLICIES"]

DIFFAUGMENT_POLICIES = ("color", "translation", "cutout")


class DiffAugmentConfig(ComponentConfig):
    name: Literal["diffaugment"] = "diffaugment"
    policy: tuple[Literal["color", "translation", "cutout"], ...] = Field(
        DIFFAUGMENT_POLICIES, description="Transforms applied in order, each to every image: 'color' "
        "(brightness, saturation, contrast), 'translation', 'cutout'. A list or a comma-separated string.")
    translation_ratio: float = Field(0.125, ge=0, le=0.5, description="Largest shift as a fraction of the "
                                     "image size (integer shifts up to round(ratio * size), zero fill).")
    cutout_ratio: float = Field(0.2, ge=0, le=1, description="Side of the zeroed square as a fraction of the "
                                "image size.")

    @field_validator("policy", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value
