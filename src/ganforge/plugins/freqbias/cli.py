"""``gan testbed generator|discriminator|eval`` and ``gan spectrum stats|calc|heatmap|slices``.

Thin commands: parse, resolve the configuration, call the library functions of this plugin. Every
user mistake is a :class:`~ganforge.core.errors.GanforgeError`, printed as one line (exit status 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from ganforge.core.errors import GanforgeError

__all__ = ["register", "testbed_app", "spectrum_app"]

testbed_app = typer.Typer(help="Frequency-bias testbeds (Schwarz et al., NeurIPS 2021) for any generator or "
                          "discriminator.", no_args_is_help=True, rich_markup_mode="rich")
spectrum_app = typer.Typer(help="Average 2-D power spectra of datasets and networks (StyleGAN3's "
                           "avg_spectra).", no_args_is_help=True, rich_markup_mode="rich")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _err(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False).print(f"[bold red]Error:[/] {escape(message)}", soft_wrap=True)


def _run_user_code(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; a GanforgeError becomes one red line and exit status 2 (as ``ganforge.cli``'s
    ``user_errors``, which plugins may not import)."""
    try:
        return fn(*args, **kwargs)
    except GanforgeError as exc:
        _err(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        _console().print("[yellow]Interrupted.[/]")
        raise typer.Exit(130) from None


def _complete(kind: str) -> Any:
    def complete(incomplete: str) -> list[str]:
        try:
            from ganforge.core.registry import get_registry

            return [n for n in get_registry().names(kind) if n.startswith(incomplete)]
        except Exception:  # completion must never crash the shell
            return []

    return complete


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


# ------------------------------------------------------------------------------------------------
# gan testbed
# ------------------------------------------------------------------------------------------------

Config = Annotated[Path | None, typer.Option(
    "--config", "-c", help="Testbed file (JSON/TOML; a run's config.json reproduces it).")]
Data = Annotated[str | None, typer.Option(
    help="Images: a dataset name (toyset, photos, ...), 'baboon', an image file, or a folder/zip of images.")]
Sets = Annotated[list[str] | None, typer.Option(
    "--set", help="Override any option: KEY=VALUE, e.g. generator.upsampling=zeros, data.subset=10 "
    "(repeatable).")]
Iterations = Annotated[int | None, typer.Option(help="Training length in iterations (default 10000 epochs).")]
EvalEvery = Annotated[int | None, typer.Option(help="Log spectra, PSNR, samples every N iterations (100).")]
Resolution = Annotated[int | None, typer.Option(help="Image size (data.resolution, default 64).")]
Subset = Annotated[int | None, typer.Option(help="Use the first N images (data.subset).")]
Outdir = Annotated[Path | None, typer.Option(
    help="Parent folder of runs (default: output/<testbed>_testbed).")]
Name = Annotated[str | None, typer.Option(
    help="Run folder name (default <network>-<data>); an existing run of the same configuration resumes.")]
Device = Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")]
Seed = Annotated[int | None, typer.Option(help="Random seed.")]
Threads = Annotated[int | None, typer.Option(min=1, help="CPU threads for torch (training.threads).")]
DryRun = Annotated[bool, typer.Option("--dry-run", "-n", help="Print the resolved configuration and exit.")]
Generator = Annotated[str | None, typer.Option(
    "--generator", "-G", help="Generator name (default pggan).", autocompletion=_complete("generator"))]
Disc = Annotated[str | None, typer.Option(
    "--disc", "--discriminator", "-D", help="Discriminator name (default pggan).",
    autocompletion=_complete("discriminator"))]
Loss = Annotated[str | None, typer.Option(
    help="Regression loss: mse, spectrum, or weights like mse=1,spectrum=0.1 (training.losses).")]
SpectrumDisc = Annotated[bool | None, typer.Option(
    "--spectrum-disc/--no-spectrum-disc", help="Add the spectrum discriminator (model.spectrum_disc).")]


def _testbed(testbed: str, opts: dict[str, Any]) -> None:
    import json

    from ganforge.core.registry import get_registry
    from ganforge.plugins.freqbias.config import resolve_testbed_config
    from ganforge.plugins.freqbias.data import data_source

    registry = get_registry()
    section = testbed
    overrides: dict[str, Any] = {
        f"{section}.name": opts["network"], "training.iterations": opts["iterations"],
        "training.eval_every": opts["eval_every"], "data.resolution": opts["resolution"],
        "data.subset": opts["subset"], "training.device": opts["device"], "training.seed": opts["seed"],
        "training.threads": opts["threads"],
        **opts.get("extra", {}),
    }
    if opts["data"] is not None:
        overrides["dataset"] = data_source(opts["data"], registry)
    config, applied = resolve_testbed_config(testbed, opts["config"], overrides=overrides,
                                             sets=opts["sets"] or (), registry=registry)
    console = _console()
    for line in applied:
        console.print(f"[cyan]default:[/] {line}", markup=True)
    if opts["dry_run"]:
        console.print_json(json.dumps(config.to_dict()))
        return
    name = opts["name"] or _slug(f"{config.network.name}-{config.dataset.name}")
    run_dir = Path(opts["outdir"] or Path("output") / f"{testbed}_testbed") / name
    console.print(f"Run folder: {run_dir}")
    if testbed == "generator":
        from ganforge.plugins.freqbias.testbed_generator import train_generator_testbed as train
    else:
        from ganforge.plugins.freqbias.testbed_discriminator import train_discriminator_testbed as train
    result = train(config, run_dir, log=lambda line: console.print(line, markup=False), registry=registry)
    psnr = f", PSNR {result.psnr:.2f} dB" if result.psnr is not None else ""
    console.print(f"[bold green]Done[/] after {result.iterations} iterations{psnr}. Figures: "
                  f"gan testbed eval {run_dir} --psnr --image-evolution --spectrum-evolution "
                  f"--spectrum-error-evolution")


@testbed_app.command("generator")
def testbed_generator(
    generator: Generator = None, data: Data = None, config: Config = None, sets: Sets = None,
    iterations: Iterations = None, eval_every: EvalEvery = None, resolution: Resolution = None,
    subset: Subset = None, loss: Loss = None, outdir: Outdir = None, name: Name = None, device: Device = None,
    seed: Seed = None, threads: Threads = None, dry_run: DryRun = False,
) -> None:
    """Train any registered generator to regress a fixed image set from fixed latents (generator testbed)."""
    extra = {}
    if loss is not None:
        extra["training.losses"] = _run_user_code(_parse_losses, loss)
    _run_user_code(_testbed, "generator", dict(locals(), network=generator, extra=extra))


def _parse_losses(text: str) -> dict[str, float]:
    from ganforge.core.errors import ConfigError

    out: dict[str, float] = {}
    for part in text.split(","):
        key, _, value = part.strip().partition("=")
        if key not in ("mse", "spectrum"):
            raise ConfigError(f"unknown loss {key!r}; use mse, spectrum, or weights like mse=1,spectrum=0.1",
                              "--loss")
        try:
            out[key] = float(value) if value else 1.0
        except ValueError:
            raise ConfigError(f"weight {value!r} of {key} is not a number", "--loss") from None
    return out


@testbed_app.command("discriminator")
def testbed_discriminator(
    disc: Disc = None, data: Data = None, config: Config = None, sets: Sets = None,
    iterations: Iterations = None, eval_every: EvalEvery = None, resolution: Resolution = None,
    subset: Subset = None, spectrum_disc: SpectrumDisc = None, outdir: Outdir = None, name: Name = None,
    device: Device = None, seed: Seed = None, threads: Threads = None, dry_run: DryRun = False,
) -> None:
    """Train any registered discriminator against a direct generator (a trainable image tensor)."""
    extra = {"model.spectrum_disc": spectrum_disc} if spectrum_disc is not None else {}
    _run_user_code(_testbed, "discriminator", dict(locals(), network=disc, extra=extra))


def _flag(name: str, help: str) -> Any:
    return Annotated[bool, typer.Option(name, help=help)]


@testbed_app.command("eval")
def testbed_eval(
    run: Annotated[Path, typer.Argument(help="A testbed run folder (or its model.pt).")],
    psnr: _flag("--psnr", "Print the average PSNR of the final predictions.") = False,
    image_evolution: _flag("--image-evolution", "Write eval/image_evolution.png.") = False,
    spectrum_evolution: _flag("--spectrum-evolution", "Write eval/spectrum_evolution.png.") = False,
    spectrum_error_evolution: _flag("--spectrum-error-evolution", "Write eval/spectrum_error_evolution.png.")
    = False,
    rows: Annotated[int, typer.Option(min=2, help="Iterations shown in the evolution figures.")] = 6,
    images: Annotated[int, typer.Option(min=1, max=8, help="Images per row of the image evolution.")] = 8,
) -> None:
    """Write the paper's figures of a testbed run to RUN/eval (all of them when no flag is given)."""
    from ganforge.plugins.freqbias.evaluate import evaluate_run

    flags = {"psnr": psnr, "image_evolution": image_evolution, "spectrum_evolution": spectrum_evolution,
             "spectrum_error_evolution": spectrum_error_evolution}
    if not any(flags.values()):
        flags = dict.fromkeys(flags, True)
    result = _run_user_code(evaluate_run, run, rows=rows, images=images, **flags)
    console = _console()
    if result.psnr is not None:
        console.print(f"Average PSNR: {result.psnr:.2f} dB (iteration {result.iteration})")
    for path in result.figures:
        console.print(f"Wrote {path}")


# ------------------------------------------------------------------------------------------------
# gan spectrum
# ------------------------------------------------------------------------------------------------

Source = Annotated[str, typer.Option(
    help="A network file (ganforge .pt, testbed model.pt, importable pickle) or data (dataset name, folder, "
    "zip, image file).")]
Num = Annotated[int | None, typer.Option(
    min=1, help="Number of images (default: all of a dataset; 1000 from a network).")]
SpecSeed = Annotated[int, typer.Option(help="First seed (networks) / subset seed (data).")]
SpecDevice = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]


@spectrum_app.command("stats")
def spectrum_stats_cmd(source: Source, num: Num = None, seed: SpecSeed = 0,
                       device: SpecDevice = "auto") -> None:
    """Mean and std over all pixels and channels (float64), for gan spectrum calc --mean/--std."""
    from ganforge.plugins.freqbias.avg_spectra import image_stats

    mean, std = _run_user_code(image_stats, source, num=num, seed=seed, device=device)
    _console().print(f"--mean={mean:g} --std={std:g}")


@spectrum_app.command("calc")
def spectrum_calc_cmd(
    source: Source,
    dest: Annotated[Path, typer.Option(help="Where to write the spectrum (.npz).")],
    mean: Annotated[float | None, typer.Option(help="Whitening mean (default: from SOURCE).")] = None,
    std: Annotated[float | None, typer.Option(help="Whitening std (default: from SOURCE).")] = None,
    num: Num = None, seed: SpecSeed = 0,
    beta: Annotated[float, typer.Option(help="Kaiser window shape parameter.")] = 8.0,
    interp: Annotated[int, typer.Option(min=1, help="Zero-pad to interp x the image size.")] = 4,
    batch: Annotated[int, typer.Option(min=1, help="Images per batch.")] = 32,
    device: SpecDevice = "auto",
) -> None:
    """Average 2-D power spectrum of whitened, Kaiser-windowed, zero-padded images, saved as .npz."""
    from ganforge.plugins.freqbias.avg_spectra import calc_spectrum, image_stats

    console = _console()
    if mean is None or std is None:
        m, s = _run_user_code(image_stats, source, num=num, seed=seed, device=device)
        mean = m if mean is None else mean
        std = s if std is None else std
        console.print(f"Whitening with --mean={mean:g} --std={std:g} (computed from the source)")
    path = _run_user_code(calc_spectrum, source, dest, mean=mean, std=std, num=num, seed=seed, beta=beta,
                          interp=interp, batch=batch, device=device, progress=True)
    console.print(f"Wrote {path}")


@spectrum_app.command("heatmap")
def spectrum_heatmap_cmd(
    npz: Annotated[Path, typer.Argument(help="A spectrum written by gan spectrum calc.")],
    save: Annotated[Path | None, typer.Option(help="PNG to write (default: <npz>-heatmap.png).")] = None,
    dpi: Annotated[int, typer.Option(min=10, help="Resolution of the PNG.")] = 100,
    smooth: Annotated[float, typer.Option(
        min=0, help="Gaussian blur, in units of the image's frequency spacing (0: none).")] = 1.25,
) -> None:
    """Filled-contour heatmap of a spectrum in dB (levels -40..20 dB, Blues)."""
    from ganforge.plugins.freqbias.avg_spectra import plot_heatmap

    target = save or npz.with_name(npz.stem + "-heatmap.png")
    path = _run_user_code(plot_heatmap, npz, target, dpi=dpi, smooth=smooth)
    _console().print(f"Wrote {path}")


@spectrum_app.command("slices")
def spectrum_slices_cmd(
    npz: Annotated[list[Path], typer.Argument(help="Spectra of gan spectrum calc (same resolution).")],
    save: Annotated[Path | None, typer.Option(help="PNG to write (default: <first npz>-slices.png).")] = None,
    dpi: Annotated[int, typer.Option(min=10, help="Resolution of the PNG.")] = 100,
    smooth: Annotated[float, typer.Option(min=0, help="Gaussian blur as for heatmap (0: none).")] = 0.0,
) -> None:
    """Radial slices at 0 and 45 degrees of one or more spectra, in dB (-50..30 dB)."""
    from ganforge.plugins.freqbias.avg_spectra import plot_slices

    target = save or npz[0].with_name(npz[0].stem + "-slices.png")
    path = _run_user_code(plot_slices, npz, target, dpi=dpi, smooth=smooth)
    _console().print(f"Wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``gan testbed`` and ``gan spectrum`` to the CLI."""
    app.add_typer(testbed_app, name="testbed")
    app.add_typer(spectrum_app, name="spectrum")
