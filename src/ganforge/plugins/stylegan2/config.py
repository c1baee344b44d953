"""Configuration models of the StyleGAN2 generator, discriminator and path-length regularizer.

Field names are ours (short, as the official ``train.py`` options where one exists); each description
names the upstream constructor argument it sets, so official configurations map one to one
(``docs/plugins/stylegan2.md`` has the table).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ganforge.core.config import ComponentConfig

__all__ = ["StyleGAN2GeneratorConfig", "StyleGAN2DiscriminatorConfig", "PathLengthConfig",
           "check_generator_run", "check_discriminator_run", "check_path_length_run", "channel_problems"]

Architecture = Literal["orig", "skip", "resnet"]


def _check_filter(value: tuple[float, ...]) -> tuple[float, ...]:
    if not value or sum(value) == 0:
        raise ValueError("resample_filter needs at least one tap and a non-zero sum")
    return value


class StyleGAN2GeneratorConfig(ComponentConfig):
    """StyleGAN2 generator (Karras et al., CVPR 2020) as in the official StyleGAN2-ADA / StyleGAN3 code."""

    name: Literal["stylegan2"] = "stylegan2"
    z_dim: int = Field(512, ge=1, description="Latent size (upstream z_dim).")
    w_dim: int = Field(512, ge=1, description="Intermediate latent size (upstream w_dim).")
    map_depth: int = Field(
        8, ge=1, description="Mapping layers (upstream mapping_kwargs.num_layers; train.py --map-depth: 8 "
        "for --cfg stylegan2, 2 for the StyleGAN2-ADA 'auto'/'cifar' configs).")
    map_lr_multiplier: float = Field(0.01, gt=0, description="Learning-rate multiplier of the mapping layers "
                                     "(upstream mapping_kwargs.lr_multiplier).")
    embed_features: int | None = Field(
        None, ge=1, description="Label embedding size of a conditional G (upstream "
        "mapping_kwargs.embed_features; default w_dim).")
    layer_features: int | None = Field(None, ge=1, description="Width of the hidden mapping layers (upstream "
                                       "mapping_kwargs.layer_features; default w_dim).")
    w_avg_beta: float = Field(
        0.998, gt=0, lt=1, description="Decay of the running mean of w used for truncation (upstream "
        "mapping_kwargs.w_avg_beta: 0.998 in StyleGAN3's code, 0.995 in StyleGAN2-ADA's).")
    cbase: int = Field(
        32768, ge=1, description="Channel budget: a block at resolution r has min(cbase // r, cmax) channels "
        "(upstream channel_base; train.py --cbase).")
    cmax: int = Field(
        512, ge=1, description="Maximum channels of a block (upstream channel_max; train.py --cmax).")
    architecture: Architecture = Field(
        "skip", description="Synthesis architecture: orig, skip (output skips, the StyleGAN2 default) or "
        "resnet (upstream architecture).")
    num_fp16_res: int = Field(
        4, ge=0, description="Blocks at the N highest resolutions (never below 8x8) compute in fp16 on CUDA; "
        "always fp32 on CPU (upstream num_fp16_res; --fp32 sets 0).")
    conv_clamp: float | None = Field(
        256, gt=0, description="Clamp convolution outputs to +-N (None: off; upstream conv_clamp; --fp32 "
        "sets None).")
    fused_modconv_default: bool | Literal["inference_only"] = Field(
        "inference_only", description="Modulated convolution as one grouped convolution (true), as scaling "
        "of the activations around a shared convolution (false), or fused in eval mode only "
        "(inference_only, what --cfg stylegan2 uses) (upstream fused_modconv_default).")
    use_noise: bool = Field(True, description="Per-pixel noise inputs in every synthesis layer (upstream "
                            "use_noise).")
    fp16_channels_last: bool = Field(False, description="channels_last layout for the fp16 blocks on CUDA "
                                     "(upstream fp16_channels_last; SG2-ADA --nhwc).")
    resample_filter: tuple[float, ...] = Field(
        (1, 3, 3, 1), description="1-D taps of the FIR upsampling filter (upstream resample_filter).")
    style_mixing_prob: float = Field(
        0.0, ge=0, le=1, description="Style mixing regularization in training: probability that the ws from "
        "a random layer onwards come from a second latent (upstream loss style_mixing_prob; 0.9 for --cfg "
        "stylegan2, set by the stylegan2 presets).")

    _check = field_validator("resample_filter")(_check_filter)


class StyleGAN2DiscriminatorConfig(ComponentConfig):
    """StyleGAN2 discriminator (also StyleGAN3's): minibatch std, projection conditioning, Freeze-D."""

    name: Literal["stylegan2"] = "stylegan2"
    architecture: Architecture = Field("resnet", description="orig, skip or resnet (the StyleGAN2 default; "
                                       "SG2-ADA's cifar config uses orig) (upstream architecture).")
    cbase: int = Field(
        32768, ge=1, description="Channel budget: a block at resolution r has min(cbase // r, cmax) channels "
        "(upstream channel_base; train.py --cbase).")
    cmax: int = Field(
        512, ge=1, description="Maximum channels of a block (upstream channel_max; train.py --cmax).")
    num_fp16_res: int = Field(
        4, ge=0, description="Blocks at the N highest resolutions (never below 8x8) compute in fp16 on CUDA; "
        "fp32 on CPU (upstream num_fp16_res).")
    conv_clamp: float | None = Field(
        256, gt=0, description="Clamp convolution outputs to +-N (None: off; upstream conv_clamp).")
    mbstd_group_size: int = Field(
        4, ge=1, description="Minibatch-std group size, clamped to the batch per pass, which it must divide "
        "(upstream epilogue_kwargs.mbstd_group_size; train.py --mbstd-group).")
    mbstd_num_channels: int = Field(
        1, ge=0, description="Minibatch-std statistics appended (0: no minibatch std; upstream "
        "epilogue_kwargs.mbstd_num_channels).")
    cmap_dim: int | None = Field(
        None, ge=1, description="Label embedding size of a conditional D (default: the channels at 4x4; "
        "upstream cmap_dim).")
    freeze_layers: int = Field(
        0, ge=0, description="Freeze-D: the first N convolution layers (from the input side) are not trained "
        "(upstream block_kwargs.freeze_layers; train.py --freezed).")
    map_depth: int = Field(8, ge=1, description="Layers of the label mapping of a conditional D (upstream "
                           "mapping_kwargs.num_layers).")
    map_lr_multiplier: float = Field(
        0.01, gt=0, description="Learning-rate multiplier of the label mapping (upstream "
        "mapping_kwargs.lr_multiplier).")
    fp16_channels_last: bool = Field(
        False, description="channels_last layout for the fp16 blocks on CUDA (upstream "
        "block_kwargs.fp16_channels_last).")
    resample_filter: tuple[float, ...] = Field(
        (1, 3, 3, 1), description="1-D taps of the FIR downsampling filter (upstream "
        "block_kwargs.resample_filter).")

    _check = field_validator("resample_filter")(_check_filter)


class PathLengthConfig(ComponentConfig):
    """Path-length regularization of G (StyleGAN2 section 3.2), lazy every ``interval`` minibatches."""

    name: Literal["path_length"] = "path_length"
    pl_weight: float = Field(2.0, ge=0, description="Weight of the penalty (upstream loss pl_weight; 2 for "
                             "--cfg stylegan2, 0 disables).")
    pl_batch_shrink: int = Field(2, ge=1, description="Compute the penalty on batch // N samples (upstream "
                                 "pl_batch_shrink).")
    pl_decay: float = Field(
        0.01, gt=0, le=1, description="Decay of the running mean of path lengths (upstream pl_decay).")
    pl_no_weight_grad: bool = Field(True, description="Skip the convolution weight gradients of the inner "
                                    "gradient (upstream pl_no_weight_grad; True for --cfg stylegan2).")
    interval: int | None = Field(
        4, ge=1, description="Lazy regularization interval (upstream G_reg_interval; 1 or None: every "
        "minibatch).")


def check_path_length_run(ctx: Any) -> list[str]:
    """Problems of a run with the path-length regularizer (the spec's ``check``).

    Skipping weight gradients in the inner gradient is only valid when the styles do not reach the
    convolution weights, i.e. when G does not fuse the modulated convolutions while training.
    """
    G = ctx.config.generator
    term = ctx.config.regularizers.get("path_length")
    if term is not None and term.pl_no_weight_grad and getattr(G, "fused_modconv_default", None) is True:
        return [f"regularizers.path_length.pl_no_weight_grad=true with generator {G.name!r} "
                "fused_modconv_default=true would drop the path-length gradient through the modulated "
                "weights; "
                "set generator.fused_modconv_default='inference_only' (as --cfg stylegan2) or "
                "regularizers.path_length.pl_no_weight_grad=false"]
    return []


def channel_problems(section: str, cfg: Any, resolution: int) -> list[str]:
    """A block at resolution r has ``min(cbase // r, cmax)`` channels; none may be 0."""
    if cfg.cbase // resolution >= 1:
        return []
    return [f"{section}.cbase={cfg.cbase} gives 0 channels at {resolution}x{resolution} (channels are "
            f"min(cbase // resolution, cmax)); use cbase >= {resolution}"]


def check_generator_run(ctx: Any) -> list[str]:
    """Problems of a run with the StyleGAN2 generator (the spec's ``check``)."""
    return channel_problems("generator", ctx.config.generator, ctx.info.resolution)


def mbstd_problems(group: int, batch_gpu: int) -> list[str]:
    """Minibatch std takes statistics over groups of ``min(group, batch_gpu)`` samples of a pass."""
    if group and batch_gpu % min(group, batch_gpu):
        return [f"discriminator.mbstd_group_size={group}: minibatch statistics are taken over groups of "
                f"min({group}, batch per pass); the batch per pass ({batch_gpu}, training.batch_gpu or batch / "
                f"processes) must be divisible by it"]
    return []


def check_discriminator_run(ctx: Any) -> list[str]:
    """Problems of a run with the StyleGAN2 discriminator (the spec's ``check``)."""
    D, info = ctx.config.discriminator, ctx.info
    problems = channel_problems("discriminator", D, info.resolution)
    if D.mbstd_num_channels > 0:
        problems += mbstd_problems(D.mbstd_group_size, ctx.batch_gpu)
    n_layers = _num_d_layers(info.resolution, D.architecture)
    if D.freeze_layers > n_layers:
        problems.append(f"discriminator.freeze_layers={D.freeze_layers} exceeds the {n_layers} layers a "
                        f"{info.resolution}x{info.resolution} {D.architecture} discriminator has")
    return problems


def _num_d_layers(resolution: int, architecture: str) -> int:
    """Layers of the blocks (fromrgb/conv0/conv1/skip) that Freeze-D counts."""
    blocks = max(resolution.bit_length() - 3, 0)  # b{res} ... b8
    per_block = {"orig": 2, "skip": 3, "resnet": 3}[architecture]
    first_extra = 0 if architecture == "skip" else 1  # fromrgb of the first block
    return blocks * per_block + first_extra
