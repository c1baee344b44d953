"""Global switches, read from the environment once, with setters and context managers for tests.

==============================  ===============================================================
variable                        meaning
==============================  ===============================================================
``GANFORGE_OPS``                ``auto`` (default): compiled ops on CUDA when they build, else the
                                reference path; ``cuda``: a failed build is an error; ``ref``: never
                                build, always the reference path.
``GANFORGE_STRICT_PLUGINS``     ``1``: a third-party plugin that fails to load raises instead of
                                being skipped with a warning.
``GANFORGE_LOAD_PLUGINS``       comma-separated allowlist of distributions whose entry points load;
                                set but empty loads none.
``GANFORGE_DISABLE_PLUGINS``    comma-separated plugin names to skip (built-ins cannot be disabled).
``GANFORGE_TRACE_PLUGINS``      ``1``: print every hook call to stderr.
``GANFORGE_PLUGINS_DIR``        a directory of one-file plugins (``*.py``), like ``--plugins-dir``.
``GANFORGE_CACHE_DIR``          root of ganforge's caches (built ops, downloads, dataset statistics);
                                default ``$XDG_CACHE_HOME/ganforge`` or ``~/.cache/ganforge``.
``GANFORGE_OFFLINE``            ``1``: never download; a network URL must already be cached (read by
                                :mod:`ganforge.core.download`, which also reads ``DNNLIB_CACHE_DIR``).
``GANFORGE_CPU_ALLOCATOR``      ``default``: leave glibc's allocator as it is (by default ``gan`` and
                                CPU training keep large freed blocks for reuse; see
                                :mod:`ganforge.core.allocator`).
==============================  ===============================================================
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "OPS_MODES",
    "ops_mode",
    "set_ops_mode",
    "use_ops_mode",
    "strict_plugins",
    "cache_dir",
    "env_list",
]

OPS_MODES = ("auto", "cuda", "ref")
_ops_mode: str | None = None


def ops_mode() -> str:
    """The ops mode: ``auto``, ``cuda`` or ``ref`` (``GANFORGE_OPS``, read once)."""
    global _ops_mode
    if _ops_mode is None:
        value = os.environ.get("GANFORGE_OPS", "auto").strip().lower() or "auto"
        if value not in OPS_MODES:
            from ganforge.core.errors import ConfigError

            raise ConfigError(f"GANFORGE_OPS={value!r} is not one of {', '.join(OPS_MODES)}")
        _ops_mode = value
    return _ops_mode


def set_ops_mode(mode: str | None) -> None:
    """Set the ops mode (None: re-read ``GANFORGE_OPS`` on next use)."""
    global _ops_mode
    if mode is not None and mode not in OPS_MODES:
        raise ValueError(f"ops mode must be one of {OPS_MODES}, got {mode!r}")
    _ops_mode = mode


@contextlib.contextmanager
def use_ops_mode(mode: str) -> Iterator[None]:
    """Temporarily set the ops mode (tests)."""
    global _ops_mode
    old = _ops_mode
    set_ops_mode(mode)
    try:
        yield
    finally:
        _ops_mode = old


def strict_plugins() -> bool:
    return os.environ.get("GANFORGE_STRICT_PLUGINS", "").strip().lower() in ("1", "true", "yes", "on")


def env_list(name: str) -> list[str] | None:
    """A comma-separated environment variable as a list; None when unset."""
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def cache_dir(*parts: str) -> Path:
    """ganforge's cache directory (created), optionally a sub-directory of it."""
    root = os.environ.get("GANFORGE_CACHE_DIR")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) / "ganforge" if xdg else Path.home() / ".cache" / "ganforge"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
