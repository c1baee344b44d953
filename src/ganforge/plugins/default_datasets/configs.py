"""Config models of the built-in datasets (light: pydantic only, imported by the plugin's hooks)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from ganforge.core.config import ComponentConfig

__all__ = ["ImagesConfig", "ShapesConfig", "ToysetConfig", "handles_path", "TRANSFORMS"]

#: Transforms of ``gan dataset convert`` (see ``convert.py``).
TRANSFORMS = ("center-crop", "center-crop-wide", "none")


def _pow2(value: int | None, what: str = "resolution") -> int | None:
    if value is not None and (value < 1 or value & (value - 1)):
        raise ValueError(f"{what} must be a power of two (4, 8, ..., 1024), got {value}")
    return value


def handles_path(path: str) -> bool:
    """True for an existing folder or ``.zip`` file (what the ``images`` dataset reads)."""
    path = os.fspath(path)
    return os.path.isdir(path) or (os.path.isfile(path) and path.lower().endswith(".zip"))


class ImagesConfig(ComponentConfig):
    """A folder (recursive) or zip of images, with optional labels in ``dataset.json``."""

    name: Literal["images"] = "images"
    path: str = Field(..., description="Folder of images (searched recursively) or .zip of images.")
    resolution: int | None = Field(
        None, ge=4, le=8192, description="None: use the native size, which must be square with a "
        "power-of-two side. N: centre-crop every image to a square and LANCZOS-resize it to NxN (N a power "
        "of two).")
    max_size: int | None = Field(None, ge=1, description="Use a random (seeded) subset of at most this many "
                                 "images, kept in sorted order.")
    use_labels: bool = Field(False, description="Return the labels of dataset.json (integers become one-hot "
                             "vectors, lists float vectors).")
    xflip: bool = Field(False, description="Double the dataset with horizontally mirrored copies.")
    random_seed: int = Field(0, description="Seed of the max_size subset.")
    on_error: Literal["raise", "skip"] = Field(
        "raise", description="'raise': a bad file stops with an error naming it (files are checked as they "
        "are read). 'skip': every file is checked when the dataset opens and bad ones are left out with one "
        "warning.")

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, value: int | None) -> int | None:
        return _pow2(value)


class ShapesConfig(ComponentConfig):
    """Procedural coloured circles, squares and triangles on gradient backgrounds (no files needed)."""

    name: Literal["shapes"] = "shapes"
    resolution: int = Field(32, ge=8, le=1024, description="Image side in pixels (a power of two).")
    size: int = Field(4096, ge=1, le=1_000_000, description="Number of images.")
    channels: Literal[1, 3] = Field(3, description="3: colour; 1: grey (luma of the colour images).")
    seed: int = Field(0, ge=0, description="Seed; image i depends only on (seed, i).")
    use_labels: bool = Field(False, description="Label each image with the class of its main shape "
                             "(0 circle, 1 square, 2 triangle), as a one-hot vector.")
    xflip: bool = Field(False, description="Double the dataset with horizontally mirrored copies.")

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, value: int) -> int:
        return _pow2(value)  # type: ignore[return-value]


class ToysetConfig(ComponentConfig):
    """The frequency-bias toy dataset: images whose spectrum has Gaussian peaks at chosen frequencies."""

    name: Literal["toyset"] = "toyset"
    resolution: int = Field(64, ge=4, le=1024, description="Image side in pixels (a power of two).")
    size: int = Field(100, ge=1, le=100_000, description="Number of images generated.")
    freqs: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.05, 0.15), (0.75, 0.85)],
        description="Frequency ranges [fmin, fmax] as fractions of the largest radial frequency (the "
                    "corner of the spectrum, sqrt(2) x Nyquist); each image gets one peak per range, at a "
                    "frequency drawn uniformly from it.")
    seed: int = Field(0, ge=0, description="Seed of torch's CPU generator (numbers drawn in the order of "
                      "upstream data/toyset.py --seed).")
    highpass: bool = Field(False, description="Apply the 2x2 [[1,-1],[-1,1]] high-pass filter (reflect "
                           "padding) to the image in [-1, 1] before it is quantised to uint8.")
    subset: int | None = Field(None, ge=1, description="Keep only the first N images.")
    use_labels: bool = Field(False, description="Label image i with class i (one-hot of size len(dataset)), "
                             "as the discriminator testbed replaces latents by image indices.")

    @field_validator("resolution")
    @classmethod
    def _check_resolution(cls, value: int) -> int:
        return _pow2(value)  # type: ignore[return-value]

    @field_validator("freqs")
    @classmethod
    def _check_freqs(cls, value: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if not value:
            raise ValueError("give at least one [fmin, fmax] range")
        for fmin, fmax in value:
            if not 0.0 <= fmin <= fmax <= 1.0:
                raise ValueError(f"each range needs 0 <= fmin <= fmax <= 1, got [{fmin}, {fmax}]")
        return value
