"""The ``gan`` command line: a typer app built by :func:`make_app`, with plugin commands added.

Commands are thin: they parse, resolve the configuration and call a library function
(``ganforge.train``, ``ganforge.load_network``, ...).
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from ganforge import __version__

__all__ = ["make_app", "main"]


def _version_callback(value: bool) -> None:
    if value:
        import torch

        typer.echo(f"ganforge {__version__} (torch {torch.__version__}, Python {sys.version.split()[0]})")
        raise typer.Exit()


def make_app(pm: Any = None) -> typer.Typer:
    """Build the CLI; plugins add commands through ``ganforge_register_commands(app)``."""
    app = typer.Typer(
        name="gan",
        help="ganforge: train, evaluate and inspect GANs built from plugins.",
        no_args_is_help=True,
        rich_markup_mode="rich",
        pretty_exceptions_show_locals=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                              help="Print the version and exit.")] = False,
        plugins_dir: Annotated[str | None, typer.Option("--plugins-dir", help="Also load one-file plugins (*.py) "
                                                         "from this directory.")] = None,
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks of plugin failures.")] = False,
    ) -> None:
        """ganforge: train, evaluate and inspect GANs built from plugins."""
        if verbose:
            os.environ["GANFORGE_VERBOSE"] = "1"

    from ganforge.cli import convert, dataset, generate, ops, plugins, run

    run.register(app)
    plugins.register(app)
    generate.register(app)
    convert.register(app)
    app.add_typer(dataset.app, name="dataset", help="Convert and inspect datasets.")
    app.add_typer(ops.app, name="ops", help="Status and build of the compiled ops.")

    if pm is None:
        from ganforge.core.plugins import get_plugin_manager

        pm = get_plugin_manager()
    pm.hook.ganforge_register_commands(app=app)
    return app


def _early_plugins_dir(argv: list[str]) -> None:
    """Apply --plugins-dir before the app is built, so plugin commands from that dir exist."""
    for i, arg in enumerate(argv):
        value = None
        if arg == "--plugins-dir" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith("--plugins-dir="):
            value = arg.split("=", 1)[1]
        if value:
            from ganforge.core.plugins import set_plugins_dir

            set_plugins_dir(value)
            return


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gan`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    from ganforge.cli._common import user_errors

    from ganforge.core.allocator import tune_cpu_allocator

    tune_cpu_allocator()  # CPU work reuses large tensors' memory (GANFORGE_CPU_ALLOCATOR=default: off)
    try:
        with user_errors():
            _early_plugins_dir(argv)
            app = make_app()
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    app(args=argv, prog_name="gan")
