"""Reading a testbed's ``model.pt`` as networks (``ganforge.load_network``, ``gan spectrum calc``).

A generator testbed file gives ``G`` (the regressing generator; its fixed latents are in
``meta["latents"]``); a discriminator testbed file gives ``D`` (the index-conditioned discriminator),
``G`` (the direct generator) and ``G_ema`` (its evaluated EMA copy). Networks are rebuilt through the
registry from the saved configuration, then their state dicts are loaded strictly.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ganforge.core.checkpoint import NetworkBundle, is_native_checkpoint
from ganforge.core.errors import CheckpointError
from ganforge.core.specs import DataInfo

__all__ = ["is_testbed_file", "build_from_model", "load_testbed_bundle"]


def is_testbed_file(path: str | os.PathLike[str]) -> bool:
    """Cheap test: a torch zip file whose pickled dict names the testbed format (no full load)."""
    import zipfile

    from ganforge.plugins.freqbias._run import TESTBED_FORMAT

    if not is_native_checkpoint(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith("/data.pkl")), None)
            return name is not None and TESTBED_FORMAT.encode() in zf.read(name)
    except (OSError, zipfile.BadZipFile):
        return False


def build_from_model(data: dict[str, Any], registry: Any = None, path: str = "") -> NetworkBundle:
    """Networks of a testbed ``model.pt`` dict (see module docstring), in eval mode on the CPU."""
    from ganforge.plugins.freqbias.config import resolve_testbed_config
    from ganforge.plugins.freqbias.networks import DirectGenerator, build_discriminator, build_generator

    testbed = data["testbed"]
    config, _ = resolve_testbed_config(testbed, data["config"], registry=registry, paper_defaults=False)
    info = DataInfo(**data["info"])
    num = int(data["num_images"])
    bundle = NetworkBundle(info=info, config=data["config"], source="freqbias-testbed", path=path,
                           meta={"testbed": testbed, "progress": data.get("progress", {}),
                                 "latents": data.get("latents")})
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    if testbed == "generator":
        nets = {"G": build_generator(config, info, registry)}
    else:
        nets = {"G": DirectGenerator(num, info.channels, info.resolution),
                "G_ema": DirectGenerator(num, info.channels, info.resolution),
                "D": build_discriminator(config, info, num, registry)}
        # the direct generator's labels are the image indices
        bundle.info = DataInfo(info.resolution, info.channels, num, info.name)
    for name, net in nets.items():
        try:
            net.load_state_dict(data["networks"][name], strict=True)
        except (KeyError, RuntimeError) as exc:
            raise CheckpointError(f"weights of {name} do not fit the saved configuration: {exc}",
                                  path) from None
        setattr(bundle, name, net.eval().requires_grad_(False))
    return bundle


def load_testbed_bundle(path: str, device: Any) -> NetworkBundle | None:
    """The ``ganforge_load_checkpoint`` implementation: None for files that are not testbed ``model.pt``."""
    if not is_testbed_file(path):
        return None
    from ganforge.plugins.freqbias._run import read_model

    bundle = build_from_model(read_model(path), path=str(path))
    for name in ("G", "D", "G_ema"):
        net = getattr(bundle, name)
        if net is not None:
            setattr(bundle, name, net.to(torch.device(device)))
    return bundle
