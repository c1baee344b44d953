"""Build our StyleGAN2 networks from official network pickles (``ganforge_import_network``).

The core's restricted unpickler (``ganforge.core.foreign_pickle``) gives inert records: nothing in the file
was executed. Here a record is recognised structurally (class name and children, never by running its
source), its constructor arguments (``init_kwargs``) are translated to our config, the network is first
built on the ``meta`` device to check every parameter and buffer name and shape against the pickled
tensors (so a crafted file cannot make us allocate anything it does not itself contain), then built for
real and loaded with ``strict=True``.

Two layouts exist upstream, with identical state-dict names:

* StyleGAN2-ADA (``training/networks.py``): ``Generator(..., mapping_kwargs, synthesis_kwargs)``; class
  defaults ``w_avg_beta=0.995``, ``num_fp16_res=0``, ``conv_clamp=None``.
* StyleGAN3 (``training/networks_stylegan2.py``): synthesis arguments flat; defaults ``w_avg_beta=0.998``,
  ``num_fp16_res=4``, ``conv_clamp=256``, ``fused_modconv_default=True``.

Values the objects recorded as attributes (``w_avg_beta``, ``conv_clamp``, ``use_fp16`` per block) take
precedence over the defaults, so both layouts import with the exact settings they were trained with. A
StyleGAN3 generator (its module defines ``SynthesisInput``) is left to the stylegan3 plugin; the
discriminator of a StyleGAN3 snapshot is this one and is imported whatever the generator is.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from pydantic import ValidationError

from ganforge.core.checkpoint import ImportedNetwork
from ganforge.core.errors import CheckpointError
from ganforge.core.foreign_pickle import PickledModule
from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan2.config import StyleGAN2DiscriminatorConfig, StyleGAN2GeneratorConfig
from ganforge.plugins.stylegan2.networks import build_discriminator, build_generator

__all__ = ["import_network", "is_stylegan2_generator", "is_stylegan2_discriminator"]

_G_TOP = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs"}
_SYNTHESIS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "resample_filter", "conv_clamp",
              "fp16_channels_last", "fused_modconv_default", "use_noise", "kernel_size", "activation"}
_MAPPING = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta",
            "freeze_layers", "freeze_embed"}
_D_TOP = {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base", "channel_max",
          "num_fp16_res", "conv_clamp", "cmap_dim", "block_kwargs", "mapping_kwargs", "epilogue_kwargs"}
_D_BLOCK = {"activation", "resample_filter", "fp16_channels_last", "freeze_layers"}
_D_EPILOGUE = {"mbstd_group_size", "mbstd_num_channels", "activation"}
# Arguments accepted only at their default value (our config has no field for them): name -> allowed values.
_FIXED = {"activation": ("lrelu",), "kernel_size": (3,)}
_FIXED_MAPPING = {"activation": ("lrelu",), "freeze_layers": (0,), "freeze_embed": (False,)}
_FIXED_D_MAPPING = {**_FIXED_MAPPING, "embed_features": (None,), "layer_features": (None,)}


def _child(record: Any, *path: str) -> PickledModule | None:
    for name in path:
        if not isinstance(record, PickledModule):
            return None
        record = record.children.get(name)
    return record if isinstance(record, PickledModule) else None


def is_stylegan2_generator(record: PickledModule) -> bool:
    """A StyleGAN2 ``Generator`` (either layout), not StyleGAN3's."""
    synthesis = _child(record, "synthesis")
    return (record.class_name == "Generator" and "SynthesisInput" not in record.module_classes
            and synthesis is not None and synthesis.class_name == "SynthesisNetwork"
            and _child(synthesis, "b4") is not None)


def is_stylegan2_discriminator(record: PickledModule) -> bool:
    """The StyleGAN2 ``Discriminator`` (also used by StyleGAN3 snapshots)."""
    epilogue = _child(record, "b4")
    return (record.class_name == "Discriminator" and epilogue is not None
            and epilogue.class_name == "DiscriminatorEpilogue")


def _fail(role: str, message: str) -> CheckpointError:
    return CheckpointError(f"{role}: {message}")


def _check_keys(role: str, what: str, kwargs: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise _fail(role, f"{what} has constructor arguments this importer does not know: "
                          f"{', '.join(unknown)} (a modified network? supported: "
                          f"{', '.join(sorted(allowed))})")


def _check_fixed(role: str, what: str, kwargs: dict[str, Any],
                 rules: dict[str, tuple[Any, ...]] = _FIXED) -> None:
    for key, value in kwargs.items():
        rule = rules.get(key)
        if rule is not None and value not in rule:
            raise _fail(role, f"{what} {key}={value!r} is not supported (only {rule[0]!r})")


def _dict(role: str, value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(role, f"{what} is a {type(value).__name__}, expected a dict")
    return dict(value)


def _int(role: str, kwargs: dict[str, Any], key: str, lo: int, hi: int, default: Any = None) -> int:
    value = kwargs.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _fail(role, f"constructor argument {key}={value!r} is not an integer in [{lo}, {hi}]")
    return value


def _fp16_res_from_blocks(record: PickledModule | None, resolutions: list[int]) -> int | None:
    """``num_fp16_res`` equivalent to the blocks' recorded ``use_fp16`` flags (None if not recorded)."""
    if record is None:
        return None
    flags = {}
    for res in resolutions:
        block = _child(record, f"b{res}")
        if block is None or not isinstance(block.attribute("use_fp16"), bool):
            return None
        flags[res] = block.attribute("use_fp16")
    fp16 = [r for r, f in flags.items() if f]
    if not fp16:
        return 0
    return int(math.log2(max(resolutions))) + 1 - int(math.log2(min(fp16)))


def _recorded(record: PickledModule | None, name: str, default: Any) -> Any:
    if record is None or name not in record.state:
        return default
    return record.attribute(name)


def _generator(record: PickledModule, role: str) -> tuple[StyleGAN2GeneratorConfig, DataInfo]:
    kw = record.init_kwargs
    ada_layout = "synthesis_kwargs" in kw
    synthesis = _dict(role, kw.pop("synthesis_kwargs", None), "synthesis_kwargs") if ada_layout else \
        {k: kw.pop(k) for k in list(kw) if k not in _G_TOP}
    mapping = _dict(role, kw.get("mapping_kwargs"), "mapping_kwargs")
    _check_keys(role, "Generator", kw, _G_TOP | ({"synthesis_kwargs"} if ada_layout else set()))
    _check_keys(role, "Generator synthesis", synthesis, _SYNTHESIS)
    _check_keys(role, "Generator mapping", mapping, _MAPPING)
    _check_fixed(role, "Generator", synthesis)
    _check_fixed(role, "Generator mapping", mapping, _FIXED_MAPPING)
    res = _int(role, kw, "img_resolution", 4, 8192)
    if res & (res - 1):
        raise _fail(role, f"img_resolution={res} is not a power of two")
    info = DataInfo(resolution=res, channels=_int(role, kw, "img_channels", 1, 64),
                    label_dim=_int(role, kw, "c_dim", 0, 1 << 20, 0), name="imported")
    syn_rec, map_rec = _child(record, "synthesis"), _child(record, "mapping")
    resolutions = [2 ** i for i in range(2, int(math.log2(res)) + 1)]
    fp16 = synthesis.get("num_fp16_res", _fp16_res_from_blocks(syn_rec, [r for r in resolutions if r >= 8]))
    clamp_default = _recorded(_child(syn_rec, "b4", "conv1"), "conv_clamp", None if ada_layout else 256)
    w_avg_default = _recorded(map_rec, "w_avg_beta", 0.995 if ada_layout else 0.998)
    values = {
        "z_dim": _int(role, kw, "z_dim", 1, 1 << 16), "w_dim": _int(role, kw, "w_dim", 1, 1 << 16),
        "map_depth": mapping.get("num_layers", 8), "map_lr_multiplier": mapping.get("lr_multiplier", 0.01),
        "embed_features": mapping.get("embed_features"), "layer_features": mapping.get("layer_features"),
        "w_avg_beta": mapping.get("w_avg_beta", w_avg_default),
        "cbase": synthesis.get("channel_base", 32768), "cmax": synthesis.get("channel_max", 512),
        "architecture": synthesis.get("architecture", "skip"),
        "num_fp16_res": fp16 if fp16 is not None else (0 if ada_layout else 4),
        "conv_clamp": synthesis.get("conv_clamp", clamp_default),
        # SG2-ADA fuses the modulated convolutions in inference only (in fp32), which is 'inference_only'
        "fused_modconv_default": synthesis.get("fused_modconv_default",
                                               "inference_only" if ada_layout else True),
        "use_noise": synthesis.get("use_noise", True),
        "fp16_channels_last": synthesis.get("fp16_channels_last", False),
        "resample_filter": synthesis.get("resample_filter", (1, 3, 3, 1)),
    }
    try:
        cfg = StyleGAN2GeneratorConfig(**values)
    except ValidationError as exc:
        raise _fail(role, f"constructor arguments do not describe a valid StyleGAN2 generator: "
                          f"{_errors(exc)}") from None
    return cfg, info


def _discriminator(record: PickledModule, role: str) -> tuple[StyleGAN2DiscriminatorConfig, DataInfo]:
    kw = record.init_kwargs
    _check_keys(role, "Discriminator", kw, _D_TOP)
    block = _dict(role, kw.get("block_kwargs"), "block_kwargs")
    mapping = _dict(role, kw.get("mapping_kwargs"), "mapping_kwargs")
    epilogue = _dict(role, kw.get("epilogue_kwargs"), "epilogue_kwargs")
    _check_keys(role, "Discriminator block_kwargs", block, _D_BLOCK)
    _check_keys(role, "Discriminator mapping_kwargs", mapping, _MAPPING - {"w_avg_beta"})
    _check_keys(role, "Discriminator epilogue_kwargs", epilogue, _D_EPILOGUE)
    for what, part in (("block_kwargs", block), ("epilogue_kwargs", epilogue)):
        _check_fixed(role, f"Discriminator {what}", part)
    _check_fixed(role, "Discriminator mapping_kwargs", mapping, _FIXED_D_MAPPING)
    res = _int(role, kw, "img_resolution", 8, 8192)
    if res & (res - 1):
        raise _fail(role, f"img_resolution={res} is not a power of two")
    info = DataInfo(resolution=res, channels=_int(role, kw, "img_channels", 1, 64),
                    label_dim=_int(role, kw, "c_dim", 0, 1 << 20, 0), name="imported")
    resolutions = [2 ** i for i in range(3, int(math.log2(res)) + 1)]
    fp16 = kw.get("num_fp16_res", _fp16_res_from_blocks(record, resolutions))
    clamp = kw.get("conv_clamp", _recorded(_child(record, "b4", "conv"), "conv_clamp", 256))
    mbstd = _child(record, "b4", "mbstd")
    values = {
        "architecture": kw.get("architecture", "resnet"), "cbase": kw.get("channel_base", 32768),
        "cmax": kw.get("channel_max", 512), "num_fp16_res": fp16 if fp16 is not None else 4,
        "conv_clamp": clamp,
        "mbstd_group_size": epilogue.get("mbstd_group_size", _recorded(mbstd, "group_size", 4)),
        "mbstd_num_channels": epilogue.get("mbstd_num_channels",
                                           _recorded(mbstd, "num_channels", 1 if mbstd else 0)),
        "cmap_dim": kw.get("cmap_dim"), "freeze_layers": block.get("freeze_layers", 0),
        "map_depth": mapping.get("num_layers", 8), "map_lr_multiplier": mapping.get("lr_multiplier", 0.01),
        "fp16_channels_last": block.get("fp16_channels_last", False),
        "resample_filter": block.get("resample_filter", (1, 3, 3, 1)),
    }
    if values["mbstd_group_size"] is None:
        raise _fail(role, "mbstd_group_size=None (the whole minibatch as one group) is not supported")
    try:
        cfg = StyleGAN2DiscriminatorConfig(**values)
    except ValidationError as exc:
        raise _fail(role, f"constructor arguments do not describe a valid StyleGAN2 discriminator: "
                          f"{_errors(exc)}") from None
    return cfg, info


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                     for e in exc.errors(include_url=False))


def _check_structure(role: str, build: Any, cfg: Any, info: DataInfo,
                     tensors: dict[str, torch.Tensor]) -> None:
    """Compare names and shapes with a network built on the meta device (nothing allocated)."""
    with torch.device("meta"):
        skeleton = build(cfg, info)
    want = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in tensors.items()}
    missing = sorted(set(want) - set(have))
    unexpected = sorted(set(have) - set(want))
    wrong = sorted(f"{k} {have[k]} (expected {want[k]})" for k in set(want) & set(have) if want[k] != have[k])
    if missing or unexpected or wrong:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if names:
                more = " ..." if len(names) > 6 else ""
                parts.append(f"{label}: {', '.join(names[:6])}{more} ({len(names)})")
        raise _fail(role, "the pickled tensors do not match the network its constructor arguments describe; "
                          + "; ".join(parts))


def import_network(record: PickledModule, role: str) -> ImportedNetwork | None:
    """``ganforge_import_network`` for StyleGAN2 generators and discriminators (None for anything else)."""
    if is_stylegan2_generator(record):
        cfg, info = _generator(record, role)
        build, section = build_generator, "generator"
    elif is_stylegan2_discriminator(record):
        cfg, info = _discriminator(record, role)
        build, section = build_discriminator, "discriminator"
    else:
        return None
    tensors = record.state_dict()
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor) or not v.is_floating_point()]
    if bad:
        raise _fail(role, f"non-float tensors where weights are expected: {', '.join(sorted(bad)[:6])}")
    _check_structure(role, build, cfg, info, tensors)
    module = build(cfg, info)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:  # pragma: no cover - the structure check above catches these first
        raise _fail(role, f"weights do not load: {exc}") from None
    return ImportedNetwork(module=module, section=section, config=cfg)
