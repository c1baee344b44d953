"""The extension loader: lazy builds, the cache, warn-once fallback, strict and ref modes.

The compiler call (``_build._compile``) and the toolchain check are monkeypatched, so every branch
runs on machines without CUDA.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from ganforge.core.errors import OpsError
from ganforge.core.flags import use_ops_mode
from ganforge.ops import _build, upfirdn2d
from ganforge.ops._build import OpsBuildWarning
from ganforge.ops.upfirdn2d import _upfirdn2d_ref

CUDA = torch.device("cuda")
NINJA_LOG = """Error building extension 'ganforge_upfirdn2d_0123':
[1/3] c++ -MMD -MF upfirdn2d.o.d ... -c upfirdn2d.cpp -o upfirdn2d.o
[2/3] nvcc ... -c resample.cu -o resample.cuda.o
FAILED: resample.cuda.o
resample.cu(42): error: identifier "undefined_thing" is undefined
1 error detected in the compilation of "resample.cu".
ninja: build stopped: subcommand failed.
"""


@pytest.fixture
def compiler(monkeypatch):
    """A fake toolchain: records compile calls; ``fail`` makes them raise with a ninja log."""
    state = SimpleNamespace(calls=[], fail=False, imports=[])

    def compile_(module_name, sources, build_dir, verbose):
        state.calls.append((module_name, [Path(s).name for s in sources], Path(build_dir), verbose))
        if state.fail:
            raise RuntimeError(NINJA_LOG)
        (Path(build_dir) / (module_name + ".so")).write_bytes(b"\x7fELF fake")
        return SimpleNamespace(name=module_name, built_in=str(build_dir))

    def import_(module_name, library):
        state.imports.append(Path(library))
        return SimpleNamespace(name=module_name, loaded_from=str(library))

    monkeypatch.setattr(_build, "_toolchain_problem", lambda: None)
    monkeypatch.setattr(_build, "_compile", compile_)
    monkeypatch.setattr(_build, "_import_built", import_)
    return state


def _no_warnings(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    assert not [w for w in caught if issubclass(w.category, OpsBuildWarning)]
    return result


def test_failed_build_warns_once_per_op_and_falls_back(compiler):
    compiler.fail = True
    with pytest.warns(OpsBuildWarning) as record:
        assert _build.select("upfirdn2d", "auto", CUDA) is None
    assert len(record) == 1
    message = str(record[0].message)
    assert "'upfirdn2d'" in message
    assert 'resample.cu(42): error: identifier "undefined_thing" is undefined' in message
    log = Path(message.split("full log: ")[1].split(")")[0])
    assert log.is_file() and "ninja: build stopped" in log.read_text()
    assert "reference implementation" in message
    # once per process: no second build, no second warning
    assert _no_warnings(lambda: _build.select("upfirdn2d", "auto", CUDA)) is None
    assert len(compiler.calls) == 1
    # another op warns on its own
    with pytest.warns(OpsBuildWarning, match="'bias_act'"):
        _build.select("bias_act", "auto", CUDA)
    assert _build.status("upfirdn2d")["state"] == "failed"


def test_op_falls_back_to_the_reference_result(compiler, monkeypatch):
    compiler.fail = True
    real_select = _build.select
    monkeypatch.setattr(_build, "select", lambda op, impl, device: real_select(op, impl, CUDA))  # pretend CUDA
    x = torch.randn(1, 2, 5, 5)
    f = torch.randn(3)
    with pytest.warns(OpsBuildWarning):
        y = upfirdn2d(x, f, up=2, padding=1)
    torch.testing.assert_close(y, _upfirdn2d_ref(x, f, up=2, padding=1))
    assert len(compiler.calls) == 1


def test_strict_mode_raises(compiler):
    compiler.fail = True
    with use_ops_mode("cuda"), pytest.raises(OpsError, match="undefined_thing") as info:
        _build.select("filtered_lrelu", "auto", CUDA)
    assert "'filtered_lrelu'" in str(info.value)
    with pytest.raises(OpsError):  # impl='cuda' is strict too, and does not rebuild
        _build.select("filtered_lrelu", "cuda", CUDA)
    assert len(compiler.calls) == 1
    with pytest.raises(OpsError, match="CUDA device"):
        _build.select("filtered_lrelu", "cuda", torch.device("cpu"))


def test_ref_mode_never_builds(compiler):
    with use_ops_mode("ref"):
        assert _build.select("upfirdn2d", "auto", CUDA) is None
        assert _build.select("upfirdn2d", "cuda", CUDA) is None
        assert _build.extension("bias_act") is None
        with pytest.raises(OpsError, match="never built"):
            _build.build("bias_act")
        assert _build.status("bias_act")["state"].startswith("disabled")
    assert _build.select("upfirdn2d", "ref", CUDA) is None
    assert compiler.calls == []


def test_successful_build_is_cached_and_atomic(compiler, monkeypatch):
    monkeypatch.setenv("TORCH_CUDA_ARCH_LIST", "8.6+PTX")
    module = _build.extension("bias_act")
    assert module is not None and len(compiler.calls) == 1
    name, sources, build_dir, verbose = compiler.calls[0]
    assert sources == ["bias_act.cpp", "bias_act.cu"] and verbose is False
    final = Path(_build.status("bias_act")["cache_dir"])
    assert build_dir.parent == final.parent and build_dir != final  # built next to the final directory
    assert (final / f"{name}.so").is_file() and (final / "manifest.json").is_file()
    assert {p.name for p in final.iterdir()} >= {"bias_act.cpp", "bias_act.cu", "bias_act.h", "common.h"}
    assert not [p for p in final.parent.iterdir() if "-tmp-" in p.name]
    assert final.is_relative_to(Path(os.environ["GANFORGE_CACHE_DIR"]) / "ops" / "bias_act")
    assert os.environ["TORCH_CUDA_ARCH_LIST"] == "8.6+PTX"
    assert _build.extension("bias_act") is module  # memoised
    assert _build.status("bias_act")["state"] == "loaded"

    _build._reset()  # a new process
    assert _build.status("bias_act")["state"] == "cached"
    module2 = _build.extension("bias_act")
    assert len(compiler.calls) == 1 and compiler.imports == [final / f"{name}.so"]
    assert module2.loaded_from == str(final / f"{name}.so")


def test_losing_the_rename_race_keeps_the_winner(compiler, monkeypatch):
    fake = _build._compile  # the fixture's fake compiler

    def compile_and_lose(module_name, sources, build_dir, verbose):
        result = fake(module_name, sources, build_dir, verbose)
        final = Path(build_dir).parent / Path(build_dir).name.split("-tmp-")[0].lstrip(".")
        final.mkdir()
        (final / "winner").write_text("other process")
        return result

    monkeypatch.setattr(_build, "_compile", compile_and_lose)
    assert _build.extension("upfirdn2d") is not None
    final = Path(_build.status("upfirdn2d")["cache_dir"])
    assert (final / "winner").is_file()
    assert not [p for p in final.parent.iterdir() if "-tmp-" in p.name]


def test_cache_key_tracks_sources_and_gpu(monkeypatch, tmp_path):
    op = _build.OPS["upfirdn2d"]
    key = _build._key(op)
    csrc = tmp_path / "csrc"
    shutil.copytree(_build.CSRC, csrc)
    monkeypatch.setattr(_build, "CSRC", csrc)
    assert _build._key(op) == key
    with open(csrc / "resample_kernel.cuh", "a") as handle:
        handle.write("\n// changed\n")
    assert _build.source_hash(op) != key.split("-")[0]
    monkeypatch.setattr(_build, "_gpu_tag", lambda: "NVIDIA-H100-sm90")
    assert _build._key(op).endswith("NVIDIA-H100-sm90")
    assert _build.source_hash(_build.OPS["bias_act"]) != _build.source_hash(op)


def test_build_on_this_machine_reports_the_real_reason():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(OpsError, match="CUDA is not available"):
        _build.build("upfirdn2d")
    _build._reset()
    with pytest.warns(OpsBuildWarning, match="CUDA is not available"):
        assert _build.select("upfirdn2d", "auto", CUDA) is None
    assert _build.status("upfirdn2d")["state"] == "failed"


def test_status_never_builds(compiler):
    assert {_build.status(name)["state"] for name in _build.OPS} == {"not built"}
    assert compiler.calls == []


def test_other_ranks_are_silent(compiler, monkeypatch, capsys):
    compiler.fail = True
    monkeypatch.setenv("RANK", "1")
    _build.set_verbosity("brief")
    try:
        assert _no_warnings(lambda: _build.select("upfirdn2d", "auto", CUDA)) is None
    finally:
        _build.set_verbosity("none")
    assert capsys.readouterr().err == ""


def test_verbosity(compiler, capsys):
    _build.extension("upfirdn2d")
    assert capsys.readouterr().err == ""  # silent by default
    _build._reset()
    shutil.rmtree(_build.status("upfirdn2d")["cache_dir"])
    _build.set_verbosity("brief")
    try:
        _build.extension("upfirdn2d")
    finally:
        _build.set_verbosity("none")
    assert "building op 'upfirdn2d'" in capsys.readouterr().err
    with pytest.raises(ValueError):
        _build.set_verbosity("loud")
