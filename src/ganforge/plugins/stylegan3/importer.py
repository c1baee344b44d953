"""Build StyleGAN3 generators from official network pickles (read without executing them).

The core's restricted unpickler (:mod:`ganforge.core.foreign_pickle`) turns each pickled network into
an inert record; for a StyleGAN3 ``Generator`` (its embedded module defines ``SynthesisInput``) the
constructor arguments (``init_kwargs``) name our config, the config builds our network, and the
pickled parameters and buffers (``magnitude_ema``, ``w_avg``, the filters, the input's ``freqs``,
``phases`` and ``transform``) load with ``strict=True``. Layer names such as ``L7_276_323`` derive
from the arguments, so a mismatch means the arguments were read wrongly and is an error, never a
partial load.
"""

from __future__ import annotations

from typing import Any

from ganforge.core.errors import CheckpointError
from ganforge.core.specs import DataInfo
from ganforge.plugins.stylegan3.config import GENERATOR_CONFIGS
from ganforge.plugins.stylegan3.generator import MAPPING_FIELDS, SYNTHESIS_FIELDS, build_generator

__all__ = ["is_stylegan3_generator", "init_kwargs_to_config", "import_generator"]

_TOP = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
#: Official keyword arguments that do not change the network's function.
_IGNORED = ("fused_modconv_default",)


def is_stylegan3_generator(record: Any) -> bool:
    """Whether a pickled record is the official StyleGAN3 ``Generator``."""
    return getattr(record, "class_name", None) == "Generator" and "SynthesisInput" in getattr(
        record, "module_classes", ())


def init_kwargs_to_config(kwargs: dict[str, Any]) -> tuple[Any, DataInfo]:
    """The config (``stylegan3-r`` when radial filters or 1x1 convolutions, else ``stylegan3-t``) and
    data info equivalent to an official ``Generator``'s constructor arguments.

    Raises:
        CheckpointError: an argument we do not know (the network could differ from ours).
    """
    missing = [k for k in ("z_dim", "w_dim", "img_resolution", "img_channels") if k not in kwargs]
    if missing:
        raise CheckpointError(f"StyleGAN3 generator arguments lack {missing}")
    unknown = sorted(set(kwargs) - set(_TOP) - set(SYNTHESIS_FIELDS) - set(_IGNORED))
    mapping = dict(kwargs.get("mapping_kwargs") or {})
    mapping_names = {v: k for k, v in MAPPING_FIELDS.items()}
    unknown += [f"mapping_kwargs.{k}" for k in sorted(set(mapping) - set(mapping_names))]
    if unknown:
        raise CheckpointError(f"StyleGAN3 generator has constructor arguments this plugin does not know: "
                              f"{unknown}")
    values: dict[str, Any] = {k: kwargs[k] for k in SYNTHESIS_FIELDS if k in kwargs}
    values.update({mapping_names[k]: v for k, v in mapping.items()})
    values.update(z_dim=kwargs["z_dim"], w_dim=kwargs["w_dim"])
    radial = values.get("use_radial_filters", False) or values.get("conv_kernel", 3) == 1
    model = GENERATOR_CONFIGS["stylegan3-r" if radial else "stylegan3-t"]
    # Fields the pickle does not state take the official class defaults, not R's doubled ones.
    values.setdefault("channel_base", 32768)
    values.setdefault("channel_max", 512)
    values.setdefault("conv_kernel", 3)
    values.setdefault("use_radial_filters", False)
    values.setdefault("magnitude_ema_beta", 0.999)
    try:
        cfg = model(**values)
    except ValueError as exc:
        raise CheckpointError(f"StyleGAN3 generator arguments are not valid here: {exc}") from None
    info = DataInfo(resolution=int(kwargs["img_resolution"]), channels=int(kwargs["img_channels"]),
                    label_dim=int(kwargs.get("c_dim", 0)), name="imported")
    return cfg, info


def import_generator(record: Any) -> Any:
    """An :class:`~ganforge.core.checkpoint.ImportedNetwork` for a pickled StyleGAN3 generator."""
    from ganforge.core.checkpoint import ImportedNetwork

    cfg, info = init_kwargs_to_config(record.init_kwargs)
    G = build_generator(cfg, info)
    state = record.state_dict()
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        ours, theirs = set(G.state_dict()), set(state)
        detail = (f"missing {sorted(ours - theirs)[:6]}, unexpected {sorted(theirs - ours)[:6]}"
                  if ours != theirs else str(exc).splitlines()[-1].strip())
        raise CheckpointError(f"StyleGAN3 generator weights do not fit the network built from its arguments "
                              f"({detail})") from None
    return ImportedNetwork(module=G, section="generator", config=cfg)
