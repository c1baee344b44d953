"""``gan generate``: images from a network, one PNG per seed, as the official gen_images.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ganforge.cli._common import console, err_console, user_errors

__all__ = ["register", "generate_images"]


def generate_images(network: str, seeds: str | list[int], outdir: str | Path, *, trunc: float = 1.0,
                    trunc_cutoff: int | None = None, class_idx: int | None = None, noise_mode: str = "const",
                    translate: str | None = None, rotate: float = 0.0, batch: int = 8, device: str = "auto",
                    progress: bool = False) -> list[Path]:
    """Write ``seed<k:04d>.png`` for every seed; returns the paths."""
    import torch

    from ganforge.core.checkpoint import load_network
    from ganforge.core.generate import (
        make_labels,
        parse_range,
        parse_vec2,
        seed_latents,
        set_input_transform,
        synthesize,
    )
    from ganforge.core.images import save_png, to_uint8

    seed_list = parse_range(seeds, "--seeds")
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    G = load_network(network, device=dev)
    if translate is not None or rotate:
        set_input_transform(G, parse_vec2(translate or "0,0", "--translate"), rotate)
    if class_idx is not None and G.c_dim == 0:
        err_console.print("[yellow]warning: --class is ignored by an unconditional network[/]")
    labels = make_labels(len(seed_list), G.c_dim, class_idx if G.c_dim else None)
    z = seed_latents(seed_list, G.z_dim)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    columns = (TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not progress, transient=True) as bar:
        task = bar.add_task("generate", total=len(seed_list))
        for start in range(0, len(seed_list), batch):
            chunk = slice(start, start + batch)
            img = synthesize(G, z[chunk], labels[chunk], truncation_psi=trunc, truncation_cutoff=trunc_cutoff,
                             noise_mode=noise_mode, batch=batch, device=dev)
            for seed, arr in zip(seed_list[chunk], to_uint8(img).numpy(), strict=True):
                path = out / f"seed{seed:04d}.png"
                save_png(path, arr)
                paths.append(path)
            bar.advance(task, len(img))
    return paths


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        network: Annotated[str, typer.Option(help="Network file: a ganforge .pt or an importable foreign format.")],
        seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0-7 or 0,1,4-6.")],
        outdir: Annotated[Path, typer.Option(help="Where to write seed<k>.png.")],
        trunc: Annotated[float, typer.Option(help="Truncation psi (style-based generators).")] = 1.0,
        trunc_cutoff: Annotated[int | None, typer.Option(help="Truncate only the first N ws.")] = None,
        class_idx: Annotated[int | None, typer.Option("--class", help="Class index (conditional networks).")] = None,
        noise_mode: Annotated[str, typer.Option(help="const, random or none.")] = "const",
        translate: Annotated[str | None, typer.Option(help="StyleGAN3 input translation X,Y.")] = None,
        rotate: Annotated[float, typer.Option(help="StyleGAN3 input rotation in degrees.")] = 0.0,
        batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 8,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    ) -> None:
        """Generate one PNG per seed (z = RandomState(seed).randn(1, z_dim), as the official tools)."""
        with user_errors():
            paths = generate_images(network, seeds, outdir, trunc=trunc, trunc_cutoff=trunc_cutoff,
                                    class_idx=class_idx, noise_mode=noise_mode, translate=translate, rotate=rotate,
                                    batch=batch, device=device, progress=console.is_terminal)
        console.print(f"Wrote {len(paths)} images to {outdir}")
