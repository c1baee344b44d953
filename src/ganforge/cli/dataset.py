"""``gan dataset``: prepare and inspect training data (thin wrappers of ``default_datasets.convert``)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ganforge.core.errors import ConfigError, GanforgeError
from ganforge.plugins.default_datasets.configs import TRANSFORMS

__all__ = ["app"]

app = typer.Typer(
    help="Prepare and inspect training data: convert folders, zips and built-in datasets into clean "
         "training sets; summarise and check them.",
    rich_markup_mode="rich",
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _complete_transform(incomplete: str) -> list[str]:
    return [t for t in TRANSFORMS if t.startswith(incomplete)]


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Print GanforgeError as one red line on stderr and exit with its status (2); show warnings in yellow."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except GanforgeError as exc:
            _show_warnings(caught)
            _err().print(f"[red]Error:[/red] {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
    _show_warnings(caught)


def _show_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        _err().print(f"[yellow]Warning:[/yellow] {escape(str(w.message))}", soft_wrap=True)


def _overrides(items: list[str] | None) -> dict[str, Any]:
    from ganforge.core.config import parse_set

    out: dict[str, Any] = {}
    for item in items or []:
        key, value = parse_set(item)
        if "." in key:
            raise ConfigError(f"dataset options are flat (e.g. size=1000), got {key!r}", "--set")
        out[key] = value
    return out


_SET_HELP = "Option of a named dataset, KEY=VALUE (JSON values), repeatable: [bold]--set size=1000[/bold]."


@app.command()
def convert(
    source: Annotated[str | None, typer.Argument(
        help="Folder or .zip of images; cifar-10-python.tar.gz; MNIST's train-images-idx3-ubyte.gz (labels file "
             "beside it); an LSUN LMDB folder (*_lmdb); or a dataset name (shapes, toyset).",
        show_default=False)] = None,
    dest: Annotated[Path | None, typer.Argument(help="Output: NAME.zip writes a zip, anything else a folder "
                                                     "(must not exist, or be empty).", show_default=False)] = None,
    *,
    source_opt: Annotated[str | None, typer.Option(
        "--source", help="SOURCE as an option (dataset_tool.py's spelling).", show_default=False)] = None,
    dest_opt: Annotated[Path | None, typer.Option(
        "--dest", help="DEST as an option (dataset_tool.py's spelling).", show_default=False)] = None,
    resolution: Annotated[str | None, typer.Option(
        "--resolution", "-r", help="Output size N (or WxH with center-crop-wide). Default: keep the size, "
                                   "which must then be square with a power-of-two side.")] = None,
    transform: Annotated[str, typer.Option(
        help="center-crop (largest centred square, then LANCZOS resize), center-crop-wide (W:H crop padded "
             "to a black WxW square; smaller images dropped) or none (plain resize).",
        autocompletion=_complete_transform)] = "center-crop",
    max_images: Annotated[int | None, typer.Option(min=1, help="Write at most this many images.")] = None,
    skip_bad: Annotated[bool, typer.Option(
        "--skip-bad", help="Leave unreadable, truncated or mismatched images out (listed in one warning) "
                           "instead of stopping at the first.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help=_SET_HELP)] = None,
) -> None:
    """Write a clean training set: [bold]NNNNN/imgNNNNNNNN.png[/bold] files and [bold]dataset.json[/bold].

    Reads what the official dataset_tool.py reads (folders, zips, CIFAR-10, MNIST, LSUN LMDB) and the
    built-in datasets. Examples: [bold]gan dataset convert ~/photos ffhq256.zip --resolution 256[/bold];
    [bold]gan dataset convert --source cifar-10-python.tar.gz --dest cifar10.zip[/bold].
    """
    from ganforge.plugins.default_datasets.convert import convert as run_convert

    with _user_errors():
        source = _one_of(source, source_opt, "SOURCE", "--source")
        dest = _one_of(dest, dest_opt, "DEST", "--dest")
        result = run_convert(source, dest, resolution=resolution, transform=transform, max_images=max_images,
                             on_error="skip" if skip_bad else "raise", overrides=_overrides(set_))
    for note in result.get("notes", []):
        _err().print(f"[cyan]Note:[/cyan] {escape(note)}", soft_wrap=True)
    res, mode = result["resolution"], "RGB" if result["channels"] == 3 else "L"
    labels = "" if result["labels"] == "none" else f", {result['labels']} labels"
    skipped = f"; skipped {len(result['skipped'])}" if result["skipped"] else ""
    typer.echo(f"Wrote {result['count']} images ({res}x{res} {mode}{labels}) to {result['dest']}{skipped}")


def _one_of(positional: Any, option: Any, arg: str, flag: str) -> Any:
    """The argument given either way (``SOURCE`` or ``--source``), and only once."""
    if positional is not None and option is not None:
        raise ConfigError(f"give {arg} once: as an argument or as {flag}, not both", flag)
    if positional is None and option is None:
        raise ConfigError(f"missing: give {arg} as an argument or with {flag} "
                          "(gan dataset convert SOURCE DEST, or --source SOURCE --dest DEST)", flag)
    return positional if positional is not None else option


@app.command()
def info(
    path_or_name: Annotated[str, typer.Argument(
        help="Folder, .zip, CIFAR-10 tarball, MNIST IDX file, LSUN LMDB folder, or dataset name (shapes, toyset).")],
    *,
    check: Annotated[bool, typer.Option(
        "--check", help="Decode every image and list problems (exit status 1 if any).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help=_SET_HELP)] = None,
) -> None:
    """Summarise a dataset: images, resolution, channels, labels, size on disk.

    [bold]--check[/bold] decodes every image and lists each problem with its file.
    """
    from ganforge.plugins.default_datasets.convert import info as run_info

    with _user_errors():
        summary = run_info(path_or_name, check=check, overrides=_overrides(set_))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _print_info(summary)
    if check and summary["problems"]:
        raise typer.Exit(1)


def _human_bytes(n: int | None) -> str:
    if n is None:
        return "- (generated in memory)"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _print_info(s: dict[str, Any]) -> None:
    console = Console(highlight=False)
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column()
    size = s["size"]
    shape = "-" if size is None else f"{size[0]}x{size[1]}"
    if s["resolution"] is None and size is not None:
        shape += " [red](not square with a power-of-two side)[/red]"
    mode = {1: "1 (L)", 3: "3 (RGB)"}.get(s["channels"], str(s["channels"]))
    labels = s["labels"] if s["labels"] == "none" else f"{s['labels']}, dim {s['label_dim']}"
    rows = [("source", s["source"]), ("reader", f"{s['dataset']} ({s['kind']})"), ("name", s["name"]),
            ("images", str(s["count"])), ("resolution", shape), ("channels", mode), ("labels", labels)]
    if s["classes"]:
        items = sorted(s["classes"].items())
        text = ", ".join(f"{k}: {v}" for k, v in items[:20])
        rows.append(("classes", text + (f", ... ({len(items)} classes)" if len(items) > 20 else "")))
    rows.append(("on disk", _human_bytes(s["bytes"])))
    rows.append(("checked", "every image" if s["checked"] else "first image only (use --check)"))
    for key, value in rows:
        table.add_row(key, value if key in ("resolution",) else escape(value))
    console.print(table)
    for note in s.get("notes") or []:
        console.print(f"[cyan]Note:[/cyan] {escape(note)}", soft_wrap=True)
    problems = s["problems"]
    if problems:
        ptable = Table(title=f"[red]{len(problems)} problem(s)[/red]", title_justify="left")
        ptable.add_column("file", overflow="fold")
        ptable.add_column("problem", overflow="fold")
        for p in problems[:50]:
            ptable.add_row(escape(p["file"]), escape(p["problem"]))
        console.print(ptable)
        if len(problems) > 50:
            console.print(f"... and {len(problems) - 50} more (use --json for all)")
    elif s["checked"]:
        console.print("[green]No problems found.[/green]")
