"""``gan ops``: inspect and build the compiled ops.

``gan ops status`` reports each compiled op (mode, build state, cache directory) and the toolchain
(torch, CUDA, GPU, nvcc, ninja) without building anything. ``gan ops build [OP...]`` builds (or
loads from the cache) the named ops, or all of them.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ganforge.core import flags
from ganforge.core.errors import GanforgeError, OpsError, UnknownComponentError

app = typer.Typer(
    name="ops",
    help="Inspect and build ganforge's compiled CUDA ops (upfirdn2d, bias_act, filtered_lrelu).",
    rich_markup_mode="rich",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)


def _op_specs() -> list[Any]:
    from ganforge.core import registry

    return registry.get_registry().specs("op")


def _fail(console: Console, exc: GanforgeError) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(exc.exit_code)


@app.command()
def status(
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (for scripts).")] = False,
) -> None:
    """Show each op's mode, build state and cache directory, and the toolchain. Never builds."""
    from ganforge.ops import _build

    rows = [dict(spec.status()) if spec.status else {"op": spec.name, "state": "unknown"} for spec in _op_specs()]
    tools = _build.toolchain()
    if as_json:
        typer.echo(json.dumps({"mode": flags.ops_mode(), "ops": rows, "toolchain": tools}, indent=2, default=str))
        return
    console = Console()
    table = Table(title=f"ganforge ops (GANFORGE_OPS={flags.ops_mode()})")
    for column in ("op", "mode", "build state", "cache dir"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = row.get("state", "?")
        style = {"loaded": "green", "cached": "green", "failed": "red"}.get(state, "yellow")
        detail = f"\n[dim]{row['error']}[/]" if row.get("error") else ""
        table.add_row(row.get("op", "?"), row.get("mode", ""), f"[{style}]{state}[/]{detail}", row.get("cache_dir", ""))
    console.print(table)
    tool_table = Table(title="toolchain", show_header=False)
    tool_table.add_column("what")
    tool_table.add_column("value", overflow="fold")
    labels = [("python", "python"), ("torch", "torch"), ("torch CUDA", "torch_cuda"),
              ("CUDA available", "cuda_available"), ("GPU", "gpu"), ("CUDA_HOME", "cuda_home"), ("nvcc", "nvcc"),
              ("ninja", "ninja"), ("TORCH_CUDA_ARCH_LIST", "torch_cuda_arch_list"), ("cache", "cache_root")]
    for label, key in labels:
        value = tools.get(key)
        tool_table.add_row(label, "-" if value is None else str(value))
    console.print(tool_table)
    if tools.get("problem"):
        console.print(f"[yellow]{tools['problem']}[/]: the reference (pure PyTorch) implementations are used.",
                      highlight=False)


@app.command()
def build(
    names: Annotated[list[str] | None, typer.Argument(help="Ops to build (default: all).", show_default=False)] = None,
    *,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the compiler output.")] = False,
) -> None:
    """Build the compiled ops now (or load them from the cache) and report the result."""
    from ganforge.ops import _build

    console = Console()
    specs = {spec.name: spec for spec in _op_specs()}
    for name in names or []:
        if name not in specs:
            raise _fail(console, UnknownComponentError("op", name, list(specs)))
    selected = [specs[name] for name in (names or list(specs))]
    mode = flags.ops_mode()
    if mode == "ref":
        console.print("GANFORGE_OPS=ref: compiled ops are never built; the reference implementations run.")
        return
    problem = _build._toolchain_problem()
    if problem is not None:
        console.print(f"[yellow]{problem}.[/] Nothing was built: ganforge runs the reference (pure PyTorch) "
                      f"implementations of {', '.join(s.name for s in selected)}.", highlight=False)
        if mode == "cuda":
            raise _fail(console, OpsError("GANFORGE_OPS=cuda requires the compiled ops, and they cannot be built "
                                          "here"))
        return

    table = Table(title="gan ops build")
    for column in ("op", "result", "seconds", "cache dir / log"):
        table.add_column(column, overflow="fold")
    failed = 0
    old_verbosity = _build._verbosity
    _build.set_verbosity("full" if verbose else "none")
    try:
        for spec in selected:
            start = time.perf_counter()
            with console.status(f"building {spec.name} (first builds take a minute or two) ..."):
                try:
                    spec.build()
                    info = dict(spec.status()) if spec.status else {}
                    table.add_row(spec.name, "[green]ok[/]", f"{time.perf_counter() - start:.1f}",
                                  info.get("cache_dir", ""))
                except OpsError as exc:
                    failed += 1
                    table.add_row(spec.name, "[red]failed[/]", f"{time.perf_counter() - start:.1f}", str(exc))
    finally:
        _build.set_verbosity(old_verbosity)
    console.print(table)
    if failed:
        raise typer.Exit(1)
