"""Contract checks every generator and discriminator must pass (see docs/writing-plugins.md)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import torch

from ganforge.core.specs import DataInfo

__all__ = ["info_for", "check_generator", "check_discriminator", "CHECKS", "contract_cases",
           "parametrize_with_checks"]


def info_for(spec: Any, label_dim: int = 0) -> DataInfo:
    """A small DataInfo the spec accepts (lowest power-of-two resolution >= max(min_resolution, 16))."""
    res = max(getattr(spec, "min_resolution", 4), 16)
    if getattr(spec, "power_of_two", True):
        res = 1 << (res - 1).bit_length()
    channels = spec.channels[0] if getattr(spec, "channels", None) else 3
    return DataInfo(resolution=res, channels=channels, label_dim=label_dim if spec.conditional else 0, name="check")


def _config_checks(spec: Any) -> None:
    config = spec.config()
    assert config.name == spec.name, f"{spec.name}: config default name is {config.name!r}"
    missing = [n for n, f in spec.config.model_fields.items() if n != "name" and not f.description]
    assert not missing, f"{spec.kind} {spec.name!r}: config fields without a description (shown by gan info): {missing}"


def check_generator(spec: Any, info: DataInfo | None = None, batch: int = 4) -> None:
    """Build, run forward/backward, and round-trip the state dict of a generator."""
    _config_checks(spec)
    for label_dim in ((0, 3) if spec.conditional else (0,)):
        inf = info or info_for(spec, label_dim)
        G = spec.build(spec.tiny_config(), inf)
        assert isinstance(G, torch.nn.Module), f"generator {spec.name!r} factory must return an nn.Module"
        for attr, want in (("z_dim", None), ("c_dim", inf.label_dim), ("img_resolution", inf.resolution),
                           ("img_channels", inf.channels)):
            assert hasattr(G, attr), f"generator {spec.name!r} lacks attribute {attr!r}"
            if want is not None:
                assert getattr(G, attr) == want, f"generator {spec.name!r}: {attr}={getattr(G, attr)}, expected {want}"
        z = torch.randn(batch, G.z_dim)
        c = torch.nn.functional.one_hot(torch.arange(batch) % max(inf.label_dim, 1), max(inf.label_dim, 1)).float()
        c = c[:, : inf.label_dim]
        img = G(z, c)
        want_shape = (batch, inf.channels, inf.resolution, inf.resolution)
        assert tuple(img.shape) == want_shape, f"generator {spec.name!r}: output {tuple(img.shape)}, expected {want_shape}"
        assert img.dtype == torch.float32 and torch.isfinite(img).all()
        img.square().mean().backward()
        grads = [p.grad for p in G.parameters() if p.requires_grad]
        assert grads and any(g is not None and g.abs().sum() > 0 for g in grads), \
            f"generator {spec.name!r}: no parameter received a gradient"
        G_ema = copy.deepcopy(G).eval()
        fresh = spec.build(spec.tiny_config(), inf).eval()
        fresh.load_state_dict(G_ema.state_dict(), strict=True)
        torch.manual_seed(0)
        a = G_ema(z, c)
        torch.manual_seed(0)
        b = fresh(z, c)
        assert torch.allclose(a, b, atol=1e-5), f"generator {spec.name!r}: state_dict round trip changes the output"


def check_discriminator(spec: Any, info: DataInfo | None = None, batch: int = 4) -> None:
    """Build, run forward, and take the R1 double backward through a discriminator."""
    _config_checks(spec)
    for label_dim in ((0, 3) if spec.conditional else (0,)):
        inf = info or info_for(spec, label_dim)
        D = spec.build(spec.tiny_config(), inf)
        assert isinstance(D, torch.nn.Module)
        img = torch.randn(batch, inf.channels, inf.resolution, inf.resolution, requires_grad=True)
        c = torch.nn.functional.one_hot(torch.arange(batch) % max(inf.label_dim, 1), max(inf.label_dim, 1)).float()
        c = c[:, : inf.label_dim]
        logits = D(img, c)
        assert logits.shape[0] == batch and logits.ndim in (1, 2), \
            f"discriminator {spec.name!r}: logits shape {tuple(logits.shape)}, expected [N] or [N, K]"
        assert torch.isfinite(logits).all()
        (grad,) = torch.autograd.grad(logits.sum(), img, create_graph=True)
        grad.square().sum().backward()
        trainable = [p for p in D.parameters() if p.requires_grad]
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in trainable), \
            f"discriminator {spec.name!r}: R1 (double backward) reached no parameter"
        fresh = spec.build(spec.tiny_config(), inf)
        fresh.load_state_dict(D.state_dict(), strict=True)


CHECKS: dict[str, Callable[..., None]] = {"generator": check_generator, "discriminator": check_discriminator}


def contract_cases(kinds: Iterable[str] = ("generator", "discriminator"), names: Iterable[str] | None = None,
                   registry: Any = None) -> list[tuple[Any, Callable[..., None]]]:
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    wanted = set(names) if names is not None else None
    return [(spec, CHECKS[kind]) for kind in kinds for spec in registry.specs(kind)
            if wanted is None or spec.name in wanted]


def parametrize_with_checks(kinds: Iterable[str] = ("generator", "discriminator"), names: Iterable[str] | None = None):
    """``pytest.mark.parametrize("spec, check", ...)`` over the registry, with readable ids."""
    import pytest

    cases = contract_cases(kinds, names)
    return pytest.mark.parametrize("spec, check", cases, ids=[f"{s.kind}-{s.name}" for s, _ in cases])
