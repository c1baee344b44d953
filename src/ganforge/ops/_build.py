"""The one loader of ganforge's compiled ops.

Each compiled op (``upfirdn2d``, ``bias_act``, ``filtered_lrelu``) is a small PyTorch CUDA extension
built from ``csrc/``. Builds are lazy (first CUDA use, or ``gan ops build``), happen at most once
per process, and are cached on disk in::

    <ganforge cache>/ops/<op>/<key>/

where ``key`` hashes the sources and headers, the torch/CUDA/Python versions, the compiler flags,
``TORCH_CUDA_ARCH_LIST`` and the GPU (name and compute capability). A build runs in a temporary
directory next to the final one and is renamed into place atomically, under a file lock, so
concurrent processes (ranks) never see a half-written build. The user's environment is never
modified: with ``TORCH_CUDA_ARCH_LIST`` unset, torch targets the visible GPUs.

Failure policy (``GANFORGE_OPS``, see :mod:`ganforge.core.flags`):

- ``auto``: a failed build warns once per op (op name, first error line, path of the full log) and
  the op uses its reference implementation for the rest of the process.
- ``cuda``: a failed build raises :class:`~ganforge.core.errors.OpsError`.
- ``ref``: nothing is ever built.

Output is silent by default (``set_verbosity('brief'|'full')`` to see progress); ranks other than
0 never print or warn.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from ganforge.core import flags
from ganforge.core.errors import OpsError

from ._utils import check_impl

__all__ = [
    "OPS",
    "CSRC",
    "OpsBuildWarning",
    "select",
    "extension",
    "build",
    "status",
    "toolchain",
    "op_specs",
    "set_verbosity",
    "cache_root",
]

CSRC = Path(__file__).resolve().parent / "csrc"

#: Flags every build uses (part of the cache key).
CFLAGS = ("-O3", "-std=c++17")
CUDA_CFLAGS = ("-O3", "-std=c++17", "--expt-relaxed-constexpr")


@dataclass(frozen=True)
class OpDef:
    """What a compiled op is built from (file names relative to ``csrc/``)."""

    name: str
    summary: str
    sources: tuple[str, ...]
    headers: tuple[str, ...]

    def paths(self) -> list[Path]:
        return [CSRC / f for f in (*self.sources, *self.headers)]


_RESAMPLE_HEADERS = ("common.h", "resample.h", "resample_kernel.cuh")
OPS: dict[str, OpDef] = {
    op.name: op
    for op in (
        OpDef("upfirdn2d", "upsample, FIR filter, downsample (2-D, depthwise)",
              ("upfirdn2d.cpp", "resample.cu"), _RESAMPLE_HEADERS),
        OpDef("bias_act", "bias + activation + gain + clamp, with 1st/2nd order gradients",
              ("bias_act.cpp", "bias_act.cu"), ("common.h", "bias_act.h", "bias_act_kernel.cuh")),
        OpDef("filtered_lrelu", "fused upsample, FIR, leaky ReLU, clamp, FIR, downsample (StyleGAN3)",
              ("filtered_lrelu.cpp", "resample.cu"), _RESAMPLE_HEADERS),
    )
}


class OpsBuildWarning(UserWarning):
    """A compiled op failed to build; the reference implementation is used instead."""


class BuildFailure(Exception):
    """Internal: a build failed; ``first_line`` and ``log`` describe it."""

    def __init__(self, first_line: str, log: Path | None):
        super().__init__(first_line)
        self.first_line, self.log = first_line, log


@dataclass
class _State:
    module: ModuleType | None = None
    failure: BuildFailure | None = None
    warned: bool = False
    seconds: float | None = None
    path: Path | None = None


_states: dict[str, _State] = {}
_lock = threading.RLock()
_verbosity = "none"


def set_verbosity(level: str) -> None:
    """``none`` (default): silent; ``brief``: one line per build; ``full``: the compiler output."""
    global _verbosity
    if level not in ("none", "brief", "full"):
        raise ValueError(f"verbosity must be 'none', 'brief' or 'full', got {level!r}")
    _verbosity = level


def _reset() -> None:
    """Forget what this process built or failed to build (tests)."""
    with _lock:
        _states.clear()


def _rank() -> int:
    try:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank()
    except Exception:  # pragma: no cover - broken distributed state
        pass
    for var in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return 0


def _say(message: str) -> None:
    if _verbosity != "none" and _rank() == 0:
        print(message, file=sys.stderr, flush=True)


# -- dispatch --------------------------------------------------------------------------------------

def select(op: str, impl: str, device: torch.device) -> ModuleType | None:
    """The extension module to run ``op`` with, or None for the reference implementation.

    ``impl='ref'`` and ``GANFORGE_OPS=ref`` always give None without building. Tensors off CUDA
    use the reference path (``impl='cuda'`` then raises, since the caller asked for a kernel).
    On CUDA the extension is built or loaded once; failure raises when ``impl='cuda'`` or
    ``GANFORGE_OPS=cuda``, otherwise warns once and gives None.
    """
    check_impl(impl)
    mode = flags.ops_mode()
    if impl == "ref" or mode == "ref":
        return None
    if device.type != "cuda":
        if impl == "cuda":
            raise OpsError(f"{op}: impl='cuda' needs tensors on a CUDA device, got {device}")
        return None
    return extension(op, strict=(impl == "cuda" or mode == "cuda"))


def extension(name: str, *, strict: bool = False) -> ModuleType | None:
    """Build or load the extension of op ``name`` (memoised per process).

    Returns None after a failed build (warning once), or raises OpsError when ``strict``.
    """
    if name not in OPS:
        raise KeyError(f"unknown compiled op {name!r}; known: {', '.join(OPS)}")
    if flags.ops_mode() == "ref":
        return None
    with _lock:
        state = _states.setdefault(name, _State())
        if state.module is None and state.failure is None:
            try:
                state.module, state.path, state.seconds = _build_or_load(OPS[name])
            except BuildFailure as failure:
                state.failure = failure
        if state.module is not None:
            return state.module
        assert state.failure is not None
        message = _failure_message(name, state.failure)
        if strict:
            raise OpsError(message + " (GANFORGE_OPS=cuda or impl='cuda' makes this an error)")
        if not state.warned:
            state.warned = True
            if _rank() == 0:
                warnings.warn(message + "; using the reference implementation", OpsBuildWarning, stacklevel=4)
        return None


def build(name: str, *, force: bool = False) -> ModuleType:
    """Build (or load from the cache) op ``name`` now; raise OpsError on failure.

    ``force`` forgets an earlier failure or load in this process and retries.
    """
    if name not in OPS:
        raise KeyError(f"unknown compiled op {name!r}; known: {', '.join(OPS)}")
    if flags.ops_mode() == "ref":
        raise OpsError(f"{name}: GANFORGE_OPS=ref, compiled ops are never built")
    with _lock:
        if force:
            _states.pop(name, None)
        module = extension(name, strict=True)
        assert module is not None
        return module


def _failure_message(name: str, failure: BuildFailure) -> str:
    where = f" (full log: {failure.log})" if failure.log else ""
    return f"ganforge op {name!r} could not be built: {failure.first_line}{where}"


# -- cache keys and locations ----------------------------------------------------------------------

def cache_root() -> Path:
    """Root of the op build cache (``<ganforge cache>/ops``)."""
    return flags.cache_dir("ops")


def _gpu_tag() -> str:
    """Name and compute capability of the current GPU, mangled for a directory name."""
    try:
        if not torch.cuda.is_available():
            return "nogpu"
        index = torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        gpu = torch.cuda.get_device_name(index)
    except Exception:  # pragma: no cover - broken driver
        return "nogpu"
    return f"{re.sub(r'[^A-Za-z0-9]+', '-', gpu).strip('-')}-sm{major}{minor}"


def source_hash(op: OpDef) -> str:
    """Hash of everything that changes the built binary, except the GPU."""
    h = hashlib.sha256()
    for path in sorted(op.paths(), key=lambda p: p.name):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for part in (torch.__version__, str(torch.version.cuda), platform.python_version(), sys.platform,
                 repr(CFLAGS), repr(CUDA_CFLAGS), os.environ.get("TORCH_CUDA_ARCH_LIST", "<unset>")):
        h.update(b"\0" + part.encode())
    return h.hexdigest()[:16]


def _key(op: OpDef) -> str:
    return f"{source_hash(op)}-{_gpu_tag()}"


def _module_name(op: OpDef, key: str) -> str:
    return f"ganforge_{op.name}_{key.split('-')[0]}"


def _library(directory: Path, module_name: str) -> Path:
    return directory / (module_name + (".pyd" if sys.platform == "win32" else ".so"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock released when the process dies (POSIX ``flock``); no-op elsewhere."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: temp dir + atomic rename still keep it safe
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- building --------------------------------------------------------------------------------------

def _toolchain_problem() -> str | None:
    """Why a CUDA extension cannot be built here, or None."""
    if torch.version.cuda is None:
        return f"CUDA is not available: torch {torch.__version__} was built without CUDA"
    if not torch.cuda.is_available():
        return "CUDA is not available: no CUDA device is visible"
    from torch.utils import cpp_extension

    if cpp_extension.CUDA_HOME is None:
        return "the CUDA toolkit (nvcc) was not found: set CUDA_HOME"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    return None


def _compile(module_name: str, sources: list[Path], build_dir: Path, verbose: bool) -> ModuleType:
    """Compile and import one extension with ninja (the only call into the compiler)."""
    from torch.utils import cpp_extension

    return cpp_extension.load(
        name=module_name,
        sources=[str(s) for s in sources],
        build_directory=str(build_dir),
        extra_cflags=list(CFLAGS),
        extra_cuda_cflags=list(CUDA_CFLAGS),
        with_cuda=True,
        verbose=verbose,
    )


def _import_built(module_name: str, library: Path) -> ModuleType:
    """Import an already built extension from its shared library."""
    spec = importlib.util.spec_from_file_location(module_name, library)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {library}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _first_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if re.search(r"\berror\b", line, re.IGNORECASE) and not line.lower().startswith("error building extension"):
            return line
    return lines[0] if lines else "unknown error"


def _write_log(op: OpDef, key: str, text: str) -> Path | None:
    try:
        log = cache_root() / "logs" / f"{op.name}-{key}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text, encoding="utf-8", errors="replace")
        return log
    except OSError:  # pragma: no cover - read-only cache
        return None


def _build_or_load(op: OpDef) -> tuple[ModuleType, Path, float]:
    """Load ``op`` from the cache, building it first if needed. Raises BuildFailure."""
    key = _key(op)
    final = cache_root() / op.name / key
    module_name = _module_name(op, key)
    start = time.perf_counter()
    try:
        with _file_lock(cache_root() / op.name / ".lock"):
            if _library(final, module_name).is_file():
                return _import_built(module_name, _library(final, module_name)), final, 0.0
            problem = _toolchain_problem()
            if problem is not None:
                raise BuildFailure(problem, _write_log(op, key, problem + "\n"))
            if final.exists():  # left behind without its library (interrupted copy, manual edits)
                shutil.rmtree(final, ignore_errors=True)
            _say(f"ganforge: building op {op.name!r} in {final} ...")
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-tmp-", dir=final.parent))
            try:
                for path in op.paths():
                    shutil.copy2(path, tmp / path.name)
                module = _compile(module_name, [tmp / s for s in op.sources], tmp, _verbosity == "full")
                manifest = {"op": op.name, "key": key, "torch": torch.__version__, "cuda": torch.version.cuda,
                            "gpu": _gpu_tag(), "sources": list(op.sources), "headers": list(op.headers)}
                (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
                try:
                    os.replace(tmp, final)
                except OSError:  # another process won the race: keep its copy
                    shutil.rmtree(tmp, ignore_errors=True)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except BuildFailure:
        raise
    except Exception as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        raise BuildFailure(_first_error_line(str(exc) or text), _write_log(op, key, text)) from exc
    seconds = time.perf_counter() - start
    _say(f"ganforge: op {op.name!r} built in {seconds:.1f} s")
    return module, final, seconds


# -- reporting (never builds) ----------------------------------------------------------------------

def status(name: str) -> dict[str, Any]:
    """What is known about op ``name`` without building anything."""
    op = OPS[name]
    mode = flags.ops_mode()
    key = _key(op)
    final = cache_root() / op.name / key
    state = _states.get(name)
    info: dict[str, Any] = {"op": name, "mode": mode, "key": key, "cache_dir": str(final),
                            "sources": [str(p) for p in op.paths()], "error": None, "log": None}
    if state is not None and state.module is not None:
        info["state"] = "loaded"
    elif state is not None and state.failure is not None:
        info.update(state="failed", error=state.failure.first_line,
                    log=str(state.failure.log) if state.failure.log else None)
    elif _library(final, _module_name(op, key)).is_file():
        info["state"] = "cached"
    elif mode == "ref":
        info["state"] = "disabled (GANFORGE_OPS=ref)"
    else:
        problem = _toolchain_problem()
        info["state"] = "unavailable" if problem else "not built"
        info["error"] = problem
    return info


def _version_of(cmd: list[str], pattern: str) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(pattern, out)
    return match.group(1) if match else (out.strip().splitlines() or [None])[0]


def toolchain() -> dict[str, Any]:
    """Versions of everything a build needs (runs ``nvcc --version`` and ``ninja --version``)."""
    from torch.utils import cpp_extension

    cuda_home = cpp_extension.CUDA_HOME
    nvcc = os.path.join(cuda_home, "bin", "nvcc") if cuda_home else shutil.which("nvcc")
    gpu = None
    if torch.cuda.is_available():
        major, minor = torch.cuda.get_device_capability()
        gpu = f"{torch.cuda.get_device_name()} (sm_{major}{minor})"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "gpu": gpu,
        "cuda_home": cuda_home,
        "nvcc": _version_of([nvcc, "--version"], r"release ([0-9.]+)") if nvcc and os.path.exists(nvcc) else None,
        "ninja": _version_of(["ninja", "--version"], r"([0-9][0-9.]*)") if shutil.which("ninja") else None,
        "torch_cuda_arch_list": os.environ.get("TORCH_CUDA_ARCH_LIST"),
        "cache_root": str(cache_root()),
        "problem": _toolchain_problem(),
    }


def op_specs() -> list[Any]:
    """One :class:`~ganforge.core.specs.OpSpec` per compiled op (for the default_ops plugin)."""
    from ganforge.core.specs import OpSpec

    def make(name: str) -> OpSpec:
        op = OPS[name]
        return OpSpec(name=name, summary=op.summary, sources=tuple(str(p) for p in op.paths()),
                      status=lambda: status(name), build=lambda: build(name))

    return [make(name) for name in OPS]

