"""Shared CLI helpers: consoles, user-error handling, shell completion of component names."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console

from ganforge.core.errors import GanforgeError

__all__ = ["console", "err_console", "user_errors", "handle_errors", "complete_names", "fail", "NETWORK_HELP",
           "SHA256_HELP"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])

#: Help of every option that takes a network, and of the ``--sha256`` that pins it.
NETWORK_HELP = ("Network: a ganforge .pt or .safetensors, an official StyleGAN .pkl, or an http(s) URL of one "
                "(downloaded once into the cache; dnnlib's cache is used too).")
SHA256_HELP = "Expected SHA-256 of the network file (a download or cached copy with another one is refused)."


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``Error: message`` in red on stderr and return the Exit to raise."""
    err_console.print(f"[bold red]Error:[/] {message}", soft_wrap=True, markup=True, highlight=False)
    return typer.Exit(code)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn GanforgeError (a user mistake) into one clear message and an exit status; no traceback."""
    try:
        yield
    except GanforgeError as exc:
        from rich.markup import escape

        raise fail(escape(str(exc)), exc.exit_code) from None
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/]")
        raise typer.Exit(130) from None


def handle_errors(fn: F) -> F:
    """Decorator form of :func:`user_errors` for command functions."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def complete_names(kind: str) -> Callable[[str], list[str]]:
    """Shell completion of registered component names of ``kind``."""

    def complete(incomplete: str) -> list[str]:
        try:
            from ganforge.core.registry import get_registry

            return [n for n in get_registry().names(kind) if n.startswith(incomplete)]
        except Exception:  # completion must never crash the shell
            return []

    return complete

