"""``gan video`` and ``gan style-mix``: thin commands over :mod:`.video` and :mod:`.style_mixing`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from ganforge.cli._common import NETWORK_HELP, SHA256_HELP, console, err_console, user_errors

__all__ = ["register"]

_NETWORK = NETWORK_HELP
_CLASS = "Class index (conditional networks)."


def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _parse_grid(text: str) -> tuple[int, int]:
    from ganforge.core.errors import ConfigError

    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(f"expected WxH with positive integers, like 4x2; got {text!r}", "--grid")
    return int(parts[0]), int(parts[1])


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not enabled, transient=True,
                  refresh_per_second=4) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def register(app: typer.Typer) -> None:
    @app.command("video")
    def video(
        network: Annotated[str, typer.Option(help=_NETWORK)],
        seeds: Annotated[str, typer.Option(help="Keyframe seeds, e.g. 0-31 (split over the grid cells).")],
        output: Annotated[Path, typer.Option(help="Output .mp4 (or .gif); an animated GIF is written instead "
                                             "when imageio-ffmpeg is not installed.")],
        grid: Annotated[str, typer.Option(help="Grid of videos, WxH.")] = "1x1",
        num_keyframes: Annotated[int | None, typer.Option(
            help="Keyframes per cell (default: seeds / cells; seeds are reused when fewer).")] = None,
        w_frames: Annotated[int, typer.Option(help="Frames between two keyframes.")] = 120,
        trunc: Annotated[float, typer.Option(help="Truncation psi.")] = 1.0,
        trunc_cutoff: Annotated[int | None, typer.Option(help="Truncate only the first N ws.")] = None,
        kind: Annotated[str, typer.Option(help="Interpolation: linear, quadratic or cubic.")] = "cubic",
        loop: Annotated[str, typer.Option(help="wrap (seamless loop, as upstream), pingpong (forth and back) "
                                          "or none (first to last keyframe once).")] = "wrap",
        shuffle_seed: Annotated[int | None, typer.Option(
            help="Shuffle the keyframe seeds with this seed.")] = None,
        class_idx: Annotated[int | None, typer.Option("--class", help=_CLASS)] = None,
        noise_mode: Annotated[str, typer.Option(help="const, random or none.")] = "const",
        fps: Annotated[float, typer.Option(help="Frames per second.")] = 60,
        bitrate: Annotated[str, typer.Option(help="mp4 bitrate.")] = "12M",
        batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 8,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
        sha256: Annotated[str | None, typer.Option(help=SHA256_HELP)] = None,
    ) -> None:
        """Interpolation video in W over seeds (a grid of loops), as the official gen_video.py."""
        with user_errors():
            from ganforge.core.checkpoint import load_network
            from ganforge.core.download import resolve_network
            from ganforge.core.generate import parse_range
            from ganforge.plugins.stylegan2.video import render_video

            seed_list = parse_range(seeds, "--seeds")
            grid_size = _parse_grid(grid)
            dev = _device(device)
            G = load_network(resolve_network(network, sha256), device=dev)
            with _progress("rendering", console.is_terminal) as update:
                path, fmt, frames = render_video(
                    G, output, seed_list, grid=grid_size, num_keyframes=num_keyframes, w_frames=w_frames,
                    trunc=trunc, trunc_cutoff=trunc_cutoff, kind=kind, loop=loop, shuffle_seed=shuffle_seed,
                    class_idx=class_idx, noise_mode=noise_mode, fps=fps, bitrate=bitrate, batch=batch,
                    device=dev, progress=update)
        if fmt == "gif" and path.suffix.lower() != Path(output).suffix.lower():
            err_console.print("[yellow]imageio-ffmpeg is not installed: wrote an animated GIF instead of mp4 "
                              "(pip install imageio-ffmpeg for mp4).[/]")
        console.print(f"Wrote {path} ({frames} frames, {fmt}).")

    @app.command("style-mix")
    def style_mix_cmd(
        network: Annotated[str, typer.Option(help=_NETWORK)],
        rows: Annotated[str, typer.Option(help="Row seeds (their ws are kept), e.g. 85,100,75.")],
        cols: Annotated[str, typer.Option(help="Column seeds (they give the styles listed in --styles).")],
        outdir: Annotated[Path, typer.Option(help="Where to write <row>-<col>.png and grid.png.")],
        styles: Annotated[str, typer.Option(help="Indices of the ws taken from the column seeds.")] = "0-6",
        trunc: Annotated[float, typer.Option(help="Truncation psi.")] = 1.0,
        class_idx: Annotated[int | None, typer.Option("--class", help=_CLASS)] = None,
        noise_mode: Annotated[str, typer.Option(help="const, random or none.")] = "const",
        batch: Annotated[int, typer.Option(min=1, help="Images per forward pass.")] = 8,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
        sha256: Annotated[str | None, typer.Option(help=SHA256_HELP)] = None,
    ) -> None:
        """Style-mixing grid: rows x columns of seeds, as the official style_mixing.py."""
        with user_errors():
            from ganforge.core.checkpoint import load_network
            from ganforge.core.download import resolve_network
            from ganforge.core.errors import ConfigError
            from ganforge.core.generate import parse_range
            from ganforge.plugins.stylegan2.style_mixing import style_mix

            if noise_mode not in ("const", "random", "none"):
                raise ConfigError(f"must be const, random or none, got {noise_mode!r}", "--noise-mode")
            row_seeds, col_seeds = parse_range(rows, "--rows"), parse_range(cols, "--cols")
            style_idx = parse_range(styles, "--styles")
            dev = _device(device)
            G = load_network(resolve_network(network, sha256), device=dev)
            with _progress("mixing", console.is_terminal) as update:
                path = style_mix(G, outdir, row_seeds, col_seeds, style_idx, trunc=trunc,
                                 noise_mode=noise_mode, class_idx=class_idx, batch=batch, device=dev,
                                 progress=update)
        console.print(f"Wrote {path} ({len(row_seeds)} rows x {len(col_seeds)} columns) and the single "
                      f"images to {outdir}.")
