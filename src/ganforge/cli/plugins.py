"""``gan list-plugins`` and ``gan info KIND NAME``."""

from __future__ import annotations

import json
import os
import typing
from typing import Annotated, Any

import typer
from rich.table import Table

from ganforge.cli._common import console, user_errors
from ganforge.core.errors import UnknownComponentError
from ganforge.core.specs import SPEC_KINDS

__all__ = ["register", "plugins_report", "component_info", "KIND_ALIASES"]

KIND_ALIASES = {
    "gen": "generator", "g": "generator", "generators": "generator",
    "disc": "discriminator", "d": "discriminator", "discriminators": "discriminator",
    "losses": "loss", "regularizers": "regularizer", "reg": "regularizer", "aug": "augment",
    "augments": "augment", "augmentation": "augment", "metrics": "metric", "datasets": "dataset", "data": "dataset",
    "presets": "preset", "ops": "op",
}


def _kind(name: str) -> str:
    kind = KIND_ALIASES.get(name.lower(), name.lower())
    if kind not in SPEC_KINDS:
        raise UnknownComponentError("component kind", name, list(SPEC_KINDS))
    return kind


def plugins_report(kind: str | None = None, hook: str | None = None) -> dict[str, Any]:
    """Every plugin (name, version, source, hooks, components by kind) and every failure, as plain data."""
    from ganforge.core.plugins import get_plugin_manager, plugin_failures, plugin_info
    from ganforge.core.registry import get_registry

    pm = get_plugin_manager()
    registry = get_registry()
    components = registry.by_plugin()
    rows = []
    for info in plugin_info(pm):
        plugin = pm.get_plugin(info.name)
        hooks = sorted(impl.name for impl in pm.get_hookcallers(plugin) or []) if plugin is not None else []
        comps = components.get(info.name, {})
        if kind is not None and kind not in comps:
            continue
        if hook is not None and hook not in hooks:
            continue
        rows.append({"name": info.name, "version": info.version, "source": info.source, "module": info.module,
                     "dist": info.dist, "hooks": hooks, "components": comps})
    failures = [{"name": f.name, "source": f.source, "dist": f.dist, "version": f.version, "error": f.error,
                 **({"traceback": f.traceback} if os.environ.get("GANFORGE_VERBOSE") else {})}
                for f in plugin_failures(pm)]
    return {"plugins": rows, "failed": failures}


def _field_type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not typing.get_args(annotation) else None
    if text is None:
        text = str(annotation).replace("typing.", "")
    return text


def component_info(kind: str, name: str) -> dict[str, Any]:
    """Summary, paper, provider, capabilities and config fields of one component."""
    from ganforge.core.registry import get_registry

    registry = get_registry()
    kind = _kind(kind)
    spec = registry.get(kind, name)
    out: dict[str, Any] = {"kind": kind, "name": spec.name, "plugin": registry.provider(kind, name),
                           "summary": getattr(spec, "summary", ""), "paper": getattr(spec, "paper", "")}
    for attr in ("provides", "requires"):
        if hasattr(spec, attr):
            out[attr] = sorted(getattr(spec, attr))
    if getattr(spec, "suggests", None):
        out["suggests"] = dict(spec.suggests)
    for attr in ("min_resolution", "max_resolution", "power_of_two", "channels", "conditional", "player"):
        if hasattr(spec, attr):
            out[attr] = getattr(spec, attr)
    if kind == "preset":
        out["config"] = dict(spec.config)
    fields = []
    config = getattr(spec, "config", None)
    if isinstance(config, type) and hasattr(config, "model_fields"):
        for fname, finfo in config.model_fields.items():
            if fname == "name":
                continue
            default = finfo.get_default(call_default_factory=True)
            fields.append({"name": fname, "type": _field_type(finfo.annotation),
                           "default": default if _jsonable(default) else repr(default),
                           "help": finfo.description or ""})
    out["fields"] = fields
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def register(app: typer.Typer) -> None:
    @app.command("list-plugins")
    def list_plugins(
        kind: Annotated[str | None, typer.Option(help="Only plugins providing this kind of component.")] = None,
        hook: Annotated[str | None, typer.Option(help="Only plugins implementing this hook.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """List every plugin (built-in, entry point, plugins dir) and the plugins that failed to load."""
        with user_errors():
            report = plugins_report(_kind(kind) if kind else None, hook)
        if as_json:
            typer.echo(json.dumps(report, indent=2))
            return
        table = Table(title="ganforge plugins", show_lines=False)
        for col in ("plugin", "version", "source", "components"):
            table.add_column(col, overflow="fold")
        for row in report["plugins"]:
            comps = "\n".join(f"[bold]{k}[/]: {', '.join(v)}" for k, v in row["components"].items())
            if not comps:
                comps = "[dim]hooks: " + ", ".join(h.removeprefix("ganforge_") for h in row["hooks"]) + "[/]"
            table.add_row(row["name"], row["version"], row["source"], comps)
        console.print(table)
        failed = Table(title="Failed to load", title_style="bold red")
        for col in ("plugin", "source", "error"):
            failed.add_column(col, overflow="fold")
        for row in report["failed"]:
            failed.add_row(row["name"], row["source"] + (f" ({row['dist']})" if row["dist"] else ""), row["error"])
        if report["failed"]:
            console.print(failed)
        else:
            console.print("[green]No plugin failed to load.[/]")

    @app.command("info")
    def info(
        kind: Annotated[str, typer.Argument(help="generator, discriminator, loss, regularizer, augment, metric, "
                                            "dataset, preset or op.")],
        name: Annotated[str, typer.Argument(help="Component name (see gan list-plugins).")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ) -> None:
        """Show a component: summary, paper, requirements and its config fields with types, defaults and help."""
        with user_errors():
            data = component_info(kind, name)
        if as_json:
            typer.echo(json.dumps(data, indent=2, default=str))
            return
        console.print(f"[bold]{data['kind']} [cyan]{data['name']}[/][/]  (plugin {data['plugin']})")
        if data.get("summary"):
            console.print(data["summary"])
        if data.get("paper"):
            console.print(f"[dim]Paper:[/] {data['paper']}")
        for attr in ("provides", "requires"):
            if data.get(attr):
                console.print(f"[dim]{attr.capitalize()}:[/] {', '.join(data[attr])}")
        if data.get("suggests"):
            console.print(f"[dim]Suggests:[/] {json.dumps(data['suggests'])}")
        if data.get("config"):
            console.print_json(json.dumps(data["config"]))
        if data["fields"]:
            table = Table(title="config fields", show_lines=False)
            for col in ("field", "type", "default", "help"):
                table.add_column(col, overflow="fold")
            for f in data["fields"]:
                table.add_row(f["name"], f["type"], json.dumps(f["default"]) if _jsonable(f["default"]) else str(f["default"]),
                              f["help"])
            console.print(table)
        elif data["kind"] not in ("preset", "op"):
            console.print("[dim]No options.[/]")
