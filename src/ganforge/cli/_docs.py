"""Render the CLI reference (``docs/cli.md``) from the click command tree.

Regenerate with ``python -m ganforge.cli._docs > docs/cli.md``; a test fails when the file is stale.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import typer

__all__ = ["render"]

_CTX: Any = None

HEADER = """# CLI reference

Generated from the command definitions by `python -m ganforge.cli._docs > docs/cli.md` (a test keeps
it current). Every command also has `--help` (`-h`). Plugins can add commands; this page lists those
of the built-in plugins.
"""


def _plain(text: str | None) -> str:
    text = re.sub(r"\[/?[a-z ]+\]", "", text or "")  # rich markup
    return " ".join(text.split())


def _option_row(param: Any) -> str:
    if getattr(param, "param_type_name", "") == "argument":
        name = f"`{param.name.upper()}`"
    else:
        name = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
        name = name or param.name
    try:
        kind = "flag" if getattr(param, "is_flag", False) else param.display_type(_CTX).strip("<>")
    except Exception:  # an unusual parameter type: say nothing rather than guess
        kind = ""
    default = getattr(param, "default", None)
    shown = "" if default in (None, False, ()) or callable(default) else f" (default: `{default}`)"
    help_text = _plain(getattr(param, "help", "") or "")
    return f"| {name} | {kind} | {help_text}{shown} |"


def _walk(command: Any, path: list[str], out: list[str]) -> None:
    if hasattr(command, "commands"):
        if path:
            out.append(f"## `gan {' '.join(path)}`\n\n{_plain(command.help)}\n")
        for name in sorted(command.commands):
            _walk(command.commands[name], [*path, name], out)
        if not path or getattr(command, "invoke_without_command", False):
            _params(command, path, out, header=bool(path))
        return
    out.append(f"## `gan {' '.join(path)}`\n\n{_plain(command.help)}\n")
    _params(command, path, out, header=False)


def _params(command: Any, path: list[str], out: list[str], header: bool) -> None:
    params = [p for p in command.params if p.name not in ("help",) and not getattr(p, "hidden", False)]
    if not params:
        return
    if header:
        out.append(f"Options of `gan {' '.join(path)}` itself:\n")
    out.append("| argument / option | type | meaning |\n| --- | --- | --- |")
    out.extend(_option_row(p) for p in params)
    out.append("")


def render(app: typer.Typer | None = None) -> str:
    """The markdown reference of ``app`` (default: the full ``gan`` app with built-in plugins)."""
    if app is None:
        from ganforge.cli import make_app
        from ganforge.core.plugins import make_plugin_manager

        app = make_app(make_plugin_manager(entry_points=False))
    global _CTX
    command: Any = typer.main.get_command(app)
    _CTX = command.make_context("gan", ["--help"], resilient_parsing=True)
    out = [HEADER, "## `gan`\n", _plain(command.help), ""]
    _params(command, [], out, header=False)
    for name in sorted(command.commands):
        _walk(command.commands[name], [name], out)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
