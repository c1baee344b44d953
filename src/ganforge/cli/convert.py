"""``gan convert``: any network file ganforge can read (official pickles included, or a URL of one) -> our
``.pt`` format or ``.safetensors`` (weights without any pickle)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganforge.cli._common import NETWORK_HELP, SHA256_HELP, console, user_errors

__all__ = ["register", "FORMATS"]

#: ``--to`` choices and the file suffix each one implies.
FORMATS = {"pt": ".pt", "safetensors": ".safetensors"}


def _target_format(dest: Path, to: str | None) -> str:
    from ganforge.core.errors import ConfigError

    by_suffix = {suffix: name for name, suffix in FORMATS.items()}
    if to is None:
        return by_suffix.get(dest.suffix.lower(), "pt")
    to = to.lower()
    if to not in FORMATS:
        raise ConfigError(f"unknown format {to!r}; choose one of {', '.join(FORMATS)}", "--to")
    implied = by_suffix.get(dest.suffix.lower())
    if implied is not None and implied != to:
        raise ConfigError(f"{dest} ends in {dest.suffix} but --to is {to}; name it {dest.with_suffix(FORMATS[to])}",
                          "--to")
    return to


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert(
        source: Annotated[str, typer.Argument(help=NETWORK_HELP)],
        dest: Annotated[Path, typer.Argument(help="Output file: .pt (ganforge network snapshot, loadable with "
                                             "torch.load(weights_only=True)) or .safetensors.")],
        to: Annotated[str | None, typer.Option(
            "--to", help="Output format: pt or safetensors (tensors only, the configuration in the header's "
                         "metadata). Default: from DEST's suffix, else pt.")] = None,
        force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite DEST if it exists.")] = False,
        sha256: Annotated[str | None, typer.Option(help=SHA256_HELP)] = None,
    ) -> None:
        """Convert a network file to ganforge's .pt or to .safetensors (nothing in SOURCE is executed).

        Examples: [bold]gan convert ffhq.pkl ffhq.safetensors[/bold];
        [bold]gan convert https://host/net.pkl net.pt[/bold]; [bold]gan convert net.safetensors net.pt[/bold].
        """
        with user_errors():
            from ganforge.core.checkpoint import load_bundle, save_network
            from ganforge.core.download import resolve_network
            from ganforge.core.errors import CheckpointError
            from ganforge.core.safetensors_io import save_safetensors

            fmt = _target_format(dest, to)
            if dest.exists() and not force:
                raise CheckpointError("exists; pass --force to overwrite it", str(dest))
            bundle = load_bundle(resolve_network(source, sha256))
            if fmt == "safetensors":
                save_safetensors(bundle, dest)
            else:
                save_network(bundle, dest)
        parts = [name for name in ("G", "D", "G_ema", "augment") if getattr(bundle, name) is not None]
        console.print(f"Wrote {dest} ({fmt}: {', '.join(parts)}; {bundle.info.resolution}x{bundle.info.resolution}, "
                      f"{bundle.info.channels} channels, c_dim {bundle.info.label_dim}) from {bundle.source}.")
