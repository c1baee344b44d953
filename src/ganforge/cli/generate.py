"""``gan generate``: images from a network, one PNG per seed, as the official gen_images.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ganforge.cli._common import NETWORK_HELP, SHA256_HELP, console, err_console, user_errors

__all__ = ["register", "generate_images", "generate_projected"]


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


def generate_projected(network: str, projected_w: str | Path, outdir: str | Path, *,
                       noise_mode: str = "const", device: str = "auto") -> list[Path]:
    """Write ``proj<k:02d>.png`` for every w in ``projected_w`` (``.npz`` with ``w [N, num_ws, w_dim]``,
    as the official projector writes it, rendered by ``G.synthesis``); returns the paths."""
    import numpy as np
    import torch

    from ganforge.core.checkpoint import load_network
    from ganforge.core.errors import ConfigError
    from ganforge.core.images import save_png, to_uint8

    if noise_mode not in ("const", "random", "none"):
        raise ConfigError(f"noise mode must be const, random or none, got {noise_mode!r}", "--noise-mode")
    try:
        with np.load(projected_w, allow_pickle=False) as data:
            ws = np.asarray(data["w"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read a 'w' array from {projected_w} ({type(exc).__name__}: {exc})",
                          "--projected-w") from None
    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                       ("cpu" if device == "auto" else device))
    G = load_network(network, device=dev)
    synthesis = getattr(G, "synthesis", None)
    num_ws, w_dim = getattr(G, "num_ws", None), getattr(G, "w_dim", None)
    if synthesis is None or num_ws is None:
        raise ConfigError(f"{type(G).__name__} has no synthesis network to take ws", "--projected-w")
    if ws.ndim != 3 or ws.shape[1:] != (num_ws, w_dim) or not np.issubdtype(ws.dtype, np.floating):
        raise ConfigError(f"w has shape {ws.shape} ({ws.dtype}); this network takes [N, {num_ws}, {w_dim}] "
                          "floats", "--projected-w")
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with torch.no_grad():
        for idx, w in enumerate(torch.from_numpy(ws)):
            img = synthesis(w.unsqueeze(0).to(dev, torch.float32), noise_mode=noise_mode)
            path = out / f"proj{idx:02d}.png"
            save_png(path, to_uint8(img.float().cpu()).numpy()[0])
            paths.append(path)
    return paths


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        network: Annotated[str, typer.Option(help=NETWORK_HELP)],
        outdir: Annotated[Path, typer.Option(help="Where to write seed<k>.png.")],
        seeds: Annotated[str | None, typer.Option(help="Seeds, e.g. 0-7 or 0,1,4-6.")] = None,
        projected_w: Annotated[Path | None, typer.Option(
            help="Render the ws of a projector .npz (key 'w', [N, num_ws, w_dim]) as proj<k>.png instead "
                 "of seeds.")] = None,
        trunc: Annotated[float, typer.Option(help="Truncation psi (style-based generators).")] = 1.0,
        trunc_cutoff: Annotated[int | None, typer.Option(help="Truncate only the first N ws.")] = None,
        class_idx: Annotated[int | None, typer.Option("--class", help="Class index (conditional networks).")] = None,
        noise_mode: Annotated[str, typer.Option(help="const, random or none.")] = "const",
        translate: Annotated[str | None, typer.Option(help="StyleGAN3 input translation X,Y.")] = None,
        rotate: Annotated[float, typer.Option(help="StyleGAN3 input rotation in degrees.")] = 0.0,
        batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 8,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
        sha256: Annotated[str | None, typer.Option(help=SHA256_HELP)] = None,
    ) -> None:
        """Generate one PNG per seed (z = RandomState(seed).randn(1, z_dim), as the official tools)."""
        with user_errors():
            from ganforge.core.download import resolve_network

            network = resolve_network(network, sha256)
            if projected_w is not None:
                if seeds is not None:
                    err_console.print("[yellow]warning: --seeds is ignored with --projected-w[/]")
                paths = generate_projected(network, projected_w, outdir, noise_mode=noise_mode, device=device)
                console.print(f"Wrote {len(paths)} images to {outdir}")
                return
            if seeds is None:
                from ganforge.core.errors import ConfigError

                raise ConfigError("give the seeds to generate (e.g. --seeds 0-7), or --projected-w FILE",
                                  "--seeds")
            paths = generate_images(network, seeds, outdir, trunc=trunc, trunc_cutoff=trunc_cutoff,
                                    class_idx=class_idx, noise_mode=noise_mode, translate=translate, rotate=rotate,
                                    batch=batch, device=device, progress=console.is_terminal)
        console.print(f"Wrote {len(paths)} images to {outdir}")
