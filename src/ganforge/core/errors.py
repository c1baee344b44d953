"""Error types raised for user mistakes.

Every error a user can cause by what they type or by the files they give derives from
:class:`GanforgeError`. The CLI prints these as one clear message (no traceback) and exits with
status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "GanforgeError",
    "ConfigError",
    "UnknownComponentError",
    "DuplicateComponentError",
    "IncompatibleComponentsError",
    "DataError",
    "CheckpointError",
    "PluginLoadError",
    "TrainingDivergedError",
    "OpsError",
    "PluginError",
    "close_matches",
    "plural",
]


def close_matches(word: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` choices that look like ``word`` (for "did you mean" hints)."""
    return difflib.get_close_matches(str(word), list(choices), n=n, cutoff=0.6)


def plural(word: str) -> str:
    """English plural of a component kind: loss -> losses, discriminator -> discriminators."""
    return word + ("es" if word.endswith(("s", "x", "sh", "ch")) else "s")


class GanforgeError(Exception):
    """Base class of errors caused by user input (config, files, names)."""

    #: Exit status the CLI uses for this error.
    exit_code: int = 2


class ConfigError(GanforgeError):
    """A configuration value, key or file is invalid. ``path`` names the field (``generator.fmaps_max``)."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnknownComponentError(GanforgeError):
    """A component name is not registered."""

    def __init__(self, kind: str, name: str, available: Sequence[str]):
        self.kind, self.name, self.available = kind, name, sorted(available)
        hint = close_matches(name, self.available, n=1)
        msg = f"unknown {kind} {name!r}."
        if hint:
            msg += f" Did you mean {hint[0]!r}?"
        msg += f" Available {plural(kind)}: {', '.join(self.available) or '(none)'}."
        super().__init__(msg)


class DuplicateComponentError(GanforgeError):
    """Two plugins register a component of the same kind under the same name."""

    def __init__(self, kind: str, name: str, first: str, second: str):
        self.kind, self.name, self.first, self.second = kind, name, first, second
        super().__init__(
            f"{kind} {name!r} is registered twice: by plugin {first!r} and by plugin {second!r}. "
            f"Disable one of them with GANFORGE_DISABLE_PLUGINS."
        )


class IncompatibleComponentsError(GanforgeError):
    """The chosen components cannot work together; raised before anything is allocated."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"the chosen components cannot be combined:\n{lines}")


class DataError(GanforgeError):
    """A dataset file or folder is missing, unreadable or inconsistent. ``file`` names it."""

    def __init__(self, message: str, file: str | None = None):
        self.file = file
        super().__init__(f"{file}: {message}" if file else message)


class CheckpointError(GanforgeError):
    """A checkpoint or network file cannot be read or does not fit."""

    def __init__(self, message: str, file: str | None = None):
        self.file = file
        super().__init__(f"{file}: {message}" if file else message)


class PluginLoadError(GanforgeError):
    """A plugin could not be loaded (raised for built-ins, or in strict mode)."""


class TrainingDivergedError(GanforgeError):
    """Training produced non-finite values; the last good checkpoint is kept."""

    exit_code = 3


class OpsError(GanforgeError):
    """A custom op could not be built or used where the user required it (``GANFORGE_OPS=cuda``)."""


class PluginError(GanforgeError):
    """A plugin broke its contract (a declaration its code does not honour); the message names it."""
