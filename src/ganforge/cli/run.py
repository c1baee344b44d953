"""``gan run``: train a generator/discriminator pair."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ganforge.cli._common import complete_names, console, err_console, user_errors
from ganforge.core.errors import ConfigError

__all__ = ["register", "dataset_from_data", "QUICKSTART"]

#: Preset used by ``gan run`` with no configuration, preset, components or data.
QUICKSTART = "quickstart"

# flag -> dotted config key (for flags that map one-to-one)
_FLAG_KEYS = {
    "kimg": "training.kimg", "batch": "training.batch", "batch_gpu": "training.batch_gpu", "glr": "training.glr",
    "dlr": "training.dlr", "gamma": "regularizers.r1.gamma", "mirror": "dataset.xflip", "cond": "dataset.use_labels",
    "seed": "training.seed", "tick": "training.kimg_per_tick", "device": "training.device",
    "workers": "training.workers", "outdir": "outdir", "desc": "desc",
}


def dataset_from_data(value: str, registry: Any) -> dict[str, Any]:
    """``--data``: an existing path goes to the dataset that reads it; otherwise a dataset name."""
    path = Path(value).expanduser()
    if path.exists():
        readers = [s for s in registry.specs("dataset") if s.reads(str(path))]
        if not readers:
            raise ConfigError(f"{value!r} exists but no dataset plugin reads it; give a folder of images or a .zip "
                              f"(see `gan list-plugins --kind dataset`)", "--data")
        best = max(readers, key=lambda s: s.priority)
        return {"name": best.name, "path": str(path)}
    if registry.has("dataset", value):
        return {"name": value}
    raise ConfigError(f"{value!r} is neither an existing file or folder nor a dataset name "
                      f"(datasets: {', '.join(registry.names('dataset'))})", "--data")


def register(app: typer.Typer) -> None:
    @app.command("run")
    def run(
        config: Annotated[Path | None, typer.Option("--config", "-c", help="Run file (TOML or JSON; a run's "
                                                    "config.json reproduces it).")] = None,
        preset: Annotated[str | None, typer.Option(help="Start from a named preset.",
                                                   autocompletion=complete_names("preset"))] = None,
        generator: Annotated[str | None, typer.Option("--generator", "-G", help="Generator name.",
                                                      autocompletion=complete_names("generator"))] = None,
        disc: Annotated[str | None, typer.Option("--disc", "--discriminator", "-D", help="Discriminator name.",
                                                 autocompletion=complete_names("discriminator"))] = None,
        loss: Annotated[str | None, typer.Option(help="Base loss name.", autocompletion=complete_names("loss"))] = None,
        aug: Annotated[str | None, typer.Option(help="Augmentation name, or 'none'.",
                                                autocompletion=complete_names("augment"))] = None,
        reg: Annotated[list[str] | None, typer.Option(help="Add a regularizer (repeatable).",
                                                      autocompletion=complete_names("regularizer"))] = None,
        data: Annotated[str | None, typer.Option(help="Dataset: a folder or zip of images, or a dataset name.")] = None,
        kimg: Annotated[float | None, typer.Option(help="Training length in kimg (also extends a resumed run).")] = None,
        batch: Annotated[int | None, typer.Option(help="Total batch size.")] = None,
        batch_gpu: Annotated[int | None, typer.Option(help="Batch per process per pass (gradient accumulation).")] = None,
        glr: Annotated[float | None, typer.Option(help="G learning rate.")] = None,
        dlr: Annotated[float | None, typer.Option(help="D learning rate.")] = None,
        gamma: Annotated[float | None, typer.Option(help="R1 weight gamma (regularizers.r1.gamma; adds the r1 "
                                                    "regularizer).")] = None,
        mirror: Annotated[bool | None, typer.Option(help="Add x-flipped copies of the data.")] = None,
        cond: Annotated[bool | None, typer.Option(help="Train conditionally on the dataset's labels.")] = None,
        metrics: Annotated[str | None, typer.Option(help="Metrics after each snapshot: a,b,c or none.")] = None,
        seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
        tick: Annotated[float | None, typer.Option(help="Tick length in kimg.")] = None,
        snap: Annotated[int | None, typer.Option(help="Snapshot interval in ticks (images and networks).")] = None,
        device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N.")] = None,
        workers: Annotated[int | None, typer.Option(help="DataLoader worker processes.")] = None,
        outdir: Annotated[str | None, typer.Option(help="Parent directory of run directories.")] = None,
        desc: Annotated[str | None, typer.Option(help="Text appended to the run directory name.")] = None,
        sets: Annotated[list[str] | None, typer.Option("--set", help="Override any option: KEY=VALUE, e.g. "
                                                        "generator.fmaps_max=256 (repeatable).")] = None,
        gpus: Annotated[int, typer.Option(min=1, help="Processes to start on this machine (one per GPU; "
                                          "CPU processes when there is no GPU).")] = 1,
        resume: Annotated[str | None, typer.Option(help="Continue a run exactly: its directory, its "
                                                   "checkpoint.pt, or 'latest'.")] = None,
        resume_from: Annotated[str | None, typer.Option(help="Start a new run from the weights of a network file "
                                                        "(ours or an importable foreign format), or an http(s) "
                                                        "URL of one (downloaded once into the cache).")] = None,
        sha256: Annotated[str | None, typer.Option(help="Expected SHA-256 of the --resume-from file.")] = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Resolve and check, print the "
                                              "configuration, and exit.")] = False,
    ) -> None:
        """Train a GAN. With no options: the built-in quickstart (small PGGAN on generated shapes, CPU-friendly)."""
        with user_errors():
            _run(locals())


def _run(opts: dict[str, Any]) -> None:
    from ganforge.core.registry import get_registry
    from ganforge.core.training import prepare, train

    registry = get_registry()
    overrides: dict[str, Any] = {}
    for name in opts["reg"] or ():  # first, so --gamma and --set refine a regularizer added here
        overrides[f"regularizers.{name}"] = {}
    for flag, key in _FLAG_KEYS.items():
        if opts[flag] is not None:
            overrides[key] = opts[flag]
    if opts["snap"] is not None:
        overrides["training.network_snapshot_ticks"] = opts["snap"]
        overrides["training.image_snapshot_ticks"] = opts["snap"]
    for flag, section in (("generator", "generator"), ("disc", "discriminator"), ("loss", "loss")):
        if opts[flag] is not None:
            overrides[f"{section}.name"] = opts[flag]
    if opts["aug"] is not None:  # as a section name, so --set augment.<option> can refine it
        none = opts["aug"].lower() in ("none", "noaug")
        overrides["augment" if none else "augment.name"] = opts["aug"]
    if opts["metrics"] is not None:
        overrides["metrics"] = opts["metrics"]
    if opts["data"] is not None:
        for key, value in dataset_from_data(opts["data"], registry).items():
            overrides[f"dataset.{key}"] = value

    if opts["resume"] is not None:
        extra = [k for k in overrides if k != "training.kimg"] + (["--set"] if opts["sets"] else []) + \
                (["--config"] if opts["config"] else []) + (["--preset"] if opts["preset"] else [])
        if extra:
            raise ConfigError("a resumed run keeps its configuration (only --kimg may change); remove "
                              f"{', '.join(extra)}, or start a new run from its weights with --resume-from",
                              "--resume")
        if opts["dry_run"]:
            cfg, _, info, ckpt = prepare(resume=opts["resume"], kimg=opts["kimg"])
            console.print(f"Would resume {ckpt.parent} ({info.resolution}x{info.resolution}).")
            return
        result = train(resume=opts["resume"], kimg=opts["kimg"], gpus=opts["gpus"])
        _finish(result)
        return

    preset = opts["preset"]
    if (opts["config"] is None and preset is None and opts["generator"] is None and opts["disc"] is None
            and opts["data"] is None and registry.has("preset", QUICKSTART)):
        preset = QUICKSTART
        err_console.print(f"[dim]No configuration given: using the built-in '{QUICKSTART}' preset "
                          f"(`gan info preset {QUICKSTART}` shows it).[/]")
    from ganforge.core.config import resolve_config

    config, applied = resolve_config(opts["config"], preset=preset, overrides=overrides, sets=opts["sets"] or (),
                                     registry=registry)
    if applied:
        err_console.print("[cyan]Defaults suggested by the chosen components (set them yourself to change):[/]")
        for line in applied:
            err_console.print(f"  {line}", markup=False)
    if opts["dry_run"]:
        config, _, info, _ = prepare(config, gpus=opts["gpus"])
        console.print_json(json.dumps(config.to_dict()))
        console.print(f"Data: {info.resolution}x{info.resolution}, {info.channels} channels, "
                      f"label_dim {info.label_dim}. Checks passed; not training (--dry-run).")
        return
    resume_from = opts["resume_from"]
    if resume_from is not None:  # a URL becomes the cached file once, before any training process starts
        from ganforge.core.download import resolve_network

        resume_from = resolve_network(resume_from, opts["sha256"])
    elif opts["sha256"] is not None:
        raise ConfigError("pins the file given with --resume-from; there is none", "--sha256")
    result = train(config, gpus=opts["gpus"], resume_from=resume_from)
    _finish(result)


def _finish(result: Any) -> None:
    from ganforge.core.training.loop import format_kimg

    snapshots = sorted(Path(result.run_dir).glob("network-snapshot-*.pt"))
    latest = snapshots[-1] if snapshots else None
    console.print(f"[bold green]{result.status}[/] at {format_kimg(result.cur_nimg)} kimg. "
                  f"Run directory: {result.run_dir}")
    if latest is not None:
        console.print(f"Generate images:  gan generate --network {latest} --seeds 0-7 --outdir out")
    console.print(f"Resume or extend: gan run --resume {result.run_dir} [--kimg N]")
