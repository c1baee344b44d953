"""Configuration models of the PGGAN generator and discriminator (``[generator]`` / ``[discriminator]``
sections with ``name = "pggan"``). Field descriptions are what ``gan info pggan`` shows."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ganforge.core.config import ComponentConfig

__all__ = ["PGGANGeneratorConfig", "PGGANDiscriminatorConfig", "check_run"]

PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


class _PGGANCommon(ComponentConfig):
    """Options shared by both networks."""

    fmaps_base: int = Field(16384, ge=1, description="Channel budget: a layer at resolution r has "
                            "min(fmaps_base / r, fmaps_max) / divide_channels_by channels.")
    fmaps_max: int = Field(512, ge=1, description="Maximum number of channels of a layer (before dividing).")
    divide_channels_by: int = Field(1, ge=1, description="Divide every layer's channels by this (the "
                                    "frequency-bias testbeds use 8, and 12 for pixel shuffle).")
    padding_mode: PaddingMode = Field("zeros", description="Padding of the 3x3 convolutions: zeros, reflect, "
                                      "replicate or circular.")
    use_wscale: bool = Field(True, description="Equalized learning rate (runtime He scaling of the weights); "
                             "False uses a plain He initialisation.")
    progressive: bool = Field(False, description="Progressive growing: start at 4x4 and fade in each higher "
                              "resolution following the lod schedule (outputs stay at full resolution).")
    lod_training_kimg: float = Field(600, ge=0, description="Progressive growing: thousands of real images "
                                     "shown at each resolution before the next one fades in.")
    lod_transition_kimg: float = Field(600, ge=0, description="Progressive growing: thousands of real images "
                                       "over which a new resolution fades in (0: switch at once).")


class PGGANGeneratorConfig(_PGGANCommon):
    """PGGAN generator (Karras et al., ICLR 2018) with the frequency-bias upsampling variants."""

    name: Literal["pggan"] = "pggan"
    z_dim: int = Field(512, ge=1, description="Latent size (the frequency-bias testbeds use 64).")
    upsampling: Literal["nearest", "bilinear", "zeros", "shuffle"] = Field(
        "nearest", description="Upsampling between resolutions: nearest (PGGAN), bilinear, zeros (zero "
        "insertion) or shuffle (pixel shuffle; the convolution before it has 4x the channels).")
    final_tanh: bool = Field(False, description="Squash the output with tanh (default: linear output).")
    fused_scale: bool = Field(False, description="Fuse nearest upsampling and the following 3x3 convolution "
                              "into one transposed convolution (same function, fewer operations). "
                              "Needs upsampling='nearest' and padding_mode='zeros'.")

    @model_validator(mode="after")
    def _check_fused_scale(self) -> PGGANGeneratorConfig:
        if self.fused_scale and (self.upsampling != "nearest" or self.padding_mode != "zeros"):
            raise ValueError("fused_scale=true computes nearest upsampling + a zero-padded 3x3 convolution; "
                             f"it cannot be combined with upsampling={self.upsampling!r}, "
                             f"padding_mode={self.padding_mode!r}")
        return self


class PGGANDiscriminatorConfig(_PGGANCommon):
    """PGGAN discriminator (Karras et al., ICLR 2018) with the frequency-bias downsampling variants."""

    name: Literal["pggan"] = "pggan"
    downsampling: Literal["avg", "stride", "blurpool"] = Field(
        "avg", description="Downsampling after each block: avg (2x2 mean, PGGAN), stride (keep every 2nd "
        "pixel) or blurpool (reflect-pad, [1,3,1]x[1,3,1]/25 blur, then 2x2 mean).")
    mbstd_group_size: int = Field(16, ge=0, description="Minibatch-stddev group size, clamped to the batch; "
                                  "the batch must be divisible by it. 0 disables the layer.")


def check_run(ctx: Any) -> list[str]:
    """Problems of a run using the PGGAN discriminator (the spec's ``check``).

    * The minibatch-stddev group (clamped to the batch per pass, ``training.batch_gpu`` or else
      ``training.batch`` / processes) must divide that batch.
    * With the PGGAN generator too, both networks must follow the same progressive schedule.
    """
    problems: list[str] = []
    run_config = ctx.config
    D = run_config.discriminator
    batch = ctx.batch_gpu
    if batch and D.mbstd_group_size > 0:
        group = min(D.mbstd_group_size, batch)
        if batch % group:
            problems.append(f"discriminator.mbstd_group_size={D.mbstd_group_size} does not divide the batch "
                            f"per pass ({batch}); use a batch that is a multiple of {group}, or another "
                            f"group size (0 disables the layer)")
    G = run_config.generator
    if getattr(G, "name", None) == "pggan":
        keys = ("progressive", "lod_training_kimg", "lod_transition_kimg")
        differ = [k for k in keys if getattr(G, k) != getattr(D, k)]
        if differ:
            values = ", ".join(f"{k}: generator {getattr(G, k)} vs discriminator {getattr(D, k)}"
                               for k in differ)
            problems.append(f"the PGGAN generator and discriminator must grow together; set the same "
                            f"progressive schedule on both ({values})")
    return problems
