"""``gan convert``: any network file ganforge can read (official pickles included) -> our format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganforge.cli._common import console, user_errors

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert(
        source: Annotated[Path, typer.Argument(help="Network file: an official StyleGAN .pkl, or any importable format.")],
        dest: Annotated[Path, typer.Argument(help="Output .pt (ganforge network snapshot, weights_only-loadable).")],
        force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite DEST if it exists.")] = False,
    ) -> None:
        """Convert a network file to ganforge's checkpoint format (nothing in SOURCE is executed)."""
        with user_errors():
            from ganforge.core.checkpoint import load_bundle, save_network
            from ganforge.core.errors import CheckpointError

            if dest.exists() and not force:
                raise CheckpointError("exists; pass --force to overwrite it", str(dest))
            bundle = load_bundle(source)
            save_network(bundle, dest)
        parts = [name for name in ("G", "D", "G_ema", "augment") if getattr(bundle, name) is not None]
        console.print(f"Wrote {dest} ({', '.join(parts)}; {bundle.info.resolution}x{bundle.info.resolution}, "
                      f"{bundle.info.channels} channels, c_dim {bundle.info.label_dim}) from {bundle.source}.")
