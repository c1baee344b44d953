"""Forward options: what a network accepts besides its inputs, declared instead of guessed.

Networks differ in their options (``noise_mode``, ``truncation_psi``, ``update_emas``, ``heatmap``,
``shift``, ``features``, ...). Each network declares the options its ``forward`` accepts, in its spec
(``GeneratorSpec.options`` / ``DiscriminatorSpec.options``, stamped on the module when the core builds
it) or as a ``forward_options`` attribute of its class. Callers pass options through
:func:`call_network`: an option the network declared is passed, one it did not is left out (so the
training loop can ask every generator for ``noise_mode="const"``), and a name no network anywhere
declares is a typo and fails loudly, naming the close matches.

Example::

    img = call_network(G, z, c, noise_mode="const", truncation_psi=0.7)
    if not accepts(G, "truncation_psi"):
        raise ConfigError("this generator has no truncation", "--trunc")
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

import torch

from ganforge.core.errors import PluginError, close_matches

__all__ = ["STANDARD_OPTIONS", "known_options", "register_options", "forward_options", "accepts", "declare_options",
           "call_network"]

#: Options the core and the built-in tools use, with what they mean.
STANDARD_OPTIONS: dict[str, str] = {
    "update_emas": "update running averages (w_avg, magnitude EMA, ...) during training passes",
    "truncation_psi": "truncation of the intermediate latent towards its average (style-based generators)",
    "truncation_cutoff": "truncate only the first N intermediate latents",
    "noise_mode": "per-pixel noise: 'random', 'const' (stored buffers) or 'none'",
    "force_fp32": "run in float32 even where the network would use float16",
    "fused_modconv": "StyleGAN2 modulated-convolution implementation choice",
    "features": "a discriminator returns (logits, {name: feature}) for the named intermediate features",
}

_extra: dict[str, str] = {}


def register_options(options: Iterable[str], where: str = "") -> None:
    """Add option names to the vocabulary (the registry does this for every spec's ``options``)."""
    for name in options:
        _extra.setdefault(name, where)


def known_options() -> set[str]:
    """Every option name any network may declare: the standard ones and those registered specs add."""
    return set(STANDARD_OPTIONS) | set(_extra)


def forward_options(net: Any) -> frozenset[str]:
    """Options ``net`` declared (instance attribute, else class attribute; none when undeclared)."""
    return frozenset(getattr(net, "forward_options", ()) or ())


def accepts(net: Any, option: str) -> bool:
    """True when ``net`` declared ``option``."""
    return option in forward_options(net)


def declare_options(net: torch.nn.Module, options: Iterable[str], owner: str = "") -> torch.nn.Module:
    """Stamp ``options`` (a spec's) on ``net``, adding to what its class declares, and check that its
    ``forward`` really takes each one (a declared option the signature lacks is a plugin bug)."""
    declared = forward_options(net) | frozenset(options)
    try:
        params = inspect.signature(net.forward).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        params = {}
    if params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        missing = sorted(o for o in declared if o not in params)
        if missing:
            raise PluginError(f"{owner or type(net).__name__} declares forward options {missing} that "
                              f"{type(net).__name__}.forward does not take")
    net.forward_options = declared
    return net


def _check_known(options: Iterable[str]) -> None:
    known = known_options()
    for name in options:
        if name not in known:
            hint = close_matches(name, known, n=1)
            raise TypeError(f"unknown network option {name!r}"
                            + (f"; did you mean {hint[0]!r}?" if hint else "")
                            + f" (known options: {', '.join(sorted(known))})")


def call_network(net: Any, *args: Any, **options: Any) -> Any:
    """Call ``net(*args, **options)`` passing only the options it declared.

    Raises:
        TypeError: an option name no network declares (a typo at the call site).
    """
    if not options:
        return net(*args)
    _check_known(options)
    declared = forward_options(net)
    return net(*args, **{k: v for k, v in options.items() if k in declared})
