"""``gan metrics``: evaluate a network (``gan metrics --network X --metrics a,b``) or compare two image
sets (``gan metrics compare A B --metrics fid,kid``). Thin wrappers around :mod:`.runner`."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from ganforge.cli._common import NETWORK_HELP, SHA256_HELP
from ganforge.cli._common import console as _console
from ganforge.cli._common import err_console as _err
from ganforge.cli._common import user_errors as _user_errors

__all__ = ["make_metrics_app", "results_table"]


def _fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def results_table(records: list[dict[str, Any]]) -> Table:
    """One row per result value: metric, result, value, detector, real/generated counts, time."""
    table = Table(title="metrics")
    for col in ("metric", "result", "value", "detector", "real", "generated", "time"):
        table.add_column(col, justify="right" if col in ("value", "real", "generated", "time") else "left")
    for rec in records:
        prov = rec.get("provenance", {})
        for key, value in rec["results"].items():
            table.add_row(rec["metric"], key, _fmt(value), str(prov.get("detector", "")), str(prov.get("num_real", "")),
                          str(prov.get("num_gen", "")), f"{rec.get('total_time', 0):.1f}s")
    return table


def _emit(records: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(records, default=str, indent=1))
    else:
        _console.print(results_table(records))
        if any(str(r.get("provenance", {}).get("detector", "")).startswith("random-tiny") for r in records):
            _err.print("[yellow]warning: detector 'random-tiny' is a random network for tests; these numbers "
                       "are not FID/KID/PR values[/]")


_Detector = Annotated[str, typer.Option(help="'default' (the real network) or 'random-tiny' (tests only).")]
_Weights = Annotated[str | None, typer.Option(help="Detector weights file (see docs/metrics.md).")]
_Download = Annotated[bool, typer.Option(help="Download missing detector weights into the cache.")]
_Json = Annotated[bool, typer.Option("--json", help="Print the result records as JSON (for scripts).")]
_Seed = Annotated[int, typer.Option(help="Seed of latents, labels, noise and KID subsets.")]
_Device = Annotated[str, typer.Option(help="auto, cpu, cuda.")]
_Gpus = Annotated[int, typer.Option(min=1, help="Processes to start on this machine (one per GPU).")]
_Batch = Annotated[int | None, typer.Option(min=1, help="Images per detector call (default 64).")]


def make_metrics_app() -> typer.Typer:
    app = typer.Typer(help="Evaluate GAN metrics (FID, KID, precision/recall, IS, PPL) or compare image sets.",
                      invoke_without_command=True, no_args_is_help=False, rich_markup_mode="rich",
                      context_settings={"help_option_names": ["-h", "--help"]})

    @app.callback()
    def metrics(
        ctx: typer.Context,
        network: Annotated[str | None, typer.Option(help=NETWORK_HELP + " Or a run directory.")] = None,
        metrics: Annotated[str, typer.Option(help="Comma-separated metric names (gan list-plugins --kind metric).")]
        = "fid50k_full",
        data: Annotated[str | None, typer.Option(help="Real data (folder, zip or dataset name); default: the "
                                                 "dataset recorded with the network.")] = None,
        num_gen: Annotated[int | None, typer.Option(min=1, help="Override the number of generated images.")] = None,
        num_real: Annotated[int | None, typer.Option(min=2, help="Override the number of real images.")] = None,
        gpus: _Gpus = 1,
        seed: _Seed = 0,
        device: _Device = "auto",
        detector: _Detector = "default",
        detector_weights: _Weights = None,
        allow_download: _Download = False,
        batch: _Batch = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write cached real-data "
                                               "statistics.")] = False,
        as_json: _Json = False,
        sha256: Annotated[str | None, typer.Option(help=SHA256_HELP)] = None,
    ) -> None:
        """Evaluate metrics of a network: [bold]gan metrics --network X --metrics fid50k_full,kid50k_full[/]."""
        if ctx.invoked_subcommand is not None:
            return
        if network is None:
            _console.print(ctx.get_help())
            raise typer.Exit(0 if len(sys.argv) <= 2 else 2)
        from ganforge.plugins.default_metrics.runner import calc_metrics

        with _user_errors():
            records = calc_metrics(network, metrics, data=data, gpus=gpus, seed=seed, device=device,
                                   progress=_err.is_terminal and not as_json, num_gen=num_gen, num_real=num_real,
                                   detector=detector, detector_weights=detector_weights,
                                   allow_download=allow_download or None, batch_detector=batch,
                                   cache=False if no_cache else None, sha256=sha256)
        _emit(records, as_json)

    @app.command("compare")
    def compare(
        reference: Annotated[str, typer.Argument(help="Reference image set (folder or zip), e.g. real images.")],
        other: Annotated[str, typer.Argument(help="Image set to compare with it (folder or zip).")],
        metrics: Annotated[str, typer.Option(help="Comma-separated: fid, kid, pr, is (of OTHER), fd_effnet_proxy.")]
        = "fid",
        gpus: _Gpus = 1,
        seed: _Seed = 0,
        device: _Device = "auto",
        detector: _Detector = "default",
        detector_weights: _Weights = None,
        allow_download: _Download = False,
        batch: _Batch = None,
        as_json: _Json = False,
    ) -> None:
        """Compare two image sets: [bold]gan metrics compare real/ fakes.zip --metrics fid,kid[/]."""
        from ganforge.plugins.default_metrics.runner import compare_image_sets

        with _user_errors():
            records = compare_image_sets(reference, other, metrics, gpus=gpus, seed=seed, device=device,
                                         progress=_err.is_terminal and not as_json, detector=detector,
                                         detector_weights=detector_weights, allow_download=allow_download or None,
                                         batch_detector=batch)
        _emit(records, as_json)

    return app
