"""Built-in plugin: registers ganforge's compiled ops (``gan ops status`` lists them)."""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl


@hookimpl
def ganforge_register_ops() -> list[Any]:
    """One OpSpec per compiled op; ``status()`` never builds, ``build()`` builds or loads."""
    from ganforge.ops._build import op_specs

    return op_specs()
