"""The C++/CUDA sources: compile checks, and the kernels' logic run on the CPU.

``csrc/emulate.cpp`` compiles the very kernel code of the CUDA extensions for the host (see
``csrc/common.h``) behind the same Python signatures. Routing the ops' compiled path to it checks
the kernels (tiling, polyphase indexing, sign codes, transposed geometry, dtypes, strides) against
the reference implementations without a GPU. Everything here runs a compiler: marked ``slow``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
import torch

from ganforge.ops import _build, bias_act, filtered_lrelu, upfirdn2d
from ganforge.ops.bias_act import ACTIVATIONS, _bias_act_ref
from ganforge.ops.filtered_lrelu import _filtered_lrelu_ref
from ganforge.ops.upfirdn2d import _upfirdn2d_ref

pytestmark = pytest.mark.slow
CSRC = _build.CSRC
F64 = torch.float64


def _torch_includes() -> list[str]:
    from torch.utils import cpp_extension

    return [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]


def _shim(tmp_path: Path) -> Path:
    """CPU wheels of torch lack the generated c10/cuda/impl/cuda_cmake_macros.h; provide it."""
    shim = tmp_path / "shim"
    header = shim / "c10" / "cuda" / "impl" / "cuda_cmake_macros.h"
    header.parent.mkdir(parents=True)
    header.write_text("#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n")
    return shim


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not on PATH")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    includes = [str(_shim(tmp_path)), *_torch_includes()]
    flags = ["-std=c++17", "-O3", "--expt-relaxed-constexpr", "-arch=sm_80", "-Xcompiler", "-Wall"]
    procs = {
        cu.name: subprocess.Popen(["nvcc", "-c", *flags, *[a for i in includes for a in ("-isystem", i)], str(cu),
                                   "-o", str(tmp_path / (cu.stem + ".o"))], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        for cu in sorted(CSRC.glob("*.cu"))
    }
    assert set(procs) == {"resample.cu", "bias_act.cu"}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{name}:\n{output}"
        assert "warning" not in output.lower(), f"{name}:\n{output}"


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not on PATH")
def test_cpp_sources_compile_with_gxx():
    includes = _torch_includes()
    procs = {
        cpp.name: subprocess.Popen(["g++", "-fsyntax-only", "-std=c++17", "-Wall", "-Wextra",
                                    *[f"-isystem{i}" for i in includes], str(cpp)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cpp in sorted(CSRC.glob("*.cpp"))
    }
    assert set(procs) == {"upfirdn2d.cpp", "filtered_lrelu.cpp", "bias_act.cpp", "emulate.cpp"}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0 and "warning" not in output.lower(), f"{name}:\n{output}"


# -- the kernels, emulated on the CPU --------------------------------------------------------------

@pytest.fixture(scope="session")
def emu(request, tmp_path_factory):
    from torch.utils import cpp_extension

    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(CSRC.iterdir()) if p.is_file()))
    digest.update(torch.__version__.encode())
    name = f"ganforge_emulate_{digest.hexdigest()[:12]}"
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    root = Path(cache.mkdir("ganforge-ops-emulate")) if cache is not None else tmp_path_factory.mktemp("emulate")
    build_dir = root / name
    build_dir.mkdir(exist_ok=True)
    return cpp_extension.load(name=name, sources=[str(CSRC / "emulate.cpp")], build_directory=str(build_dir),
                              extra_cflags=["-O2", "-std=c++17"], verbose=False)


@pytest.fixture
def on_emulator(emu, monkeypatch):
    monkeypatch.setattr(_build, "select", lambda op, impl, device: None if impl == "ref" else emu)
    return emu


@pytest.mark.parametrize("up,down,kind,pad", list(itertools.product(
    [1, 2, 3], [1, 2], ["1d", "2d"], [(0, 0, 0, 0), (2, 1, 3, 0), (-1, 2, 1, -2)])))
def test_upfirdn2d_kernel(on_emulator, up, down, kind, pad):
    x = torch.randn(2, 3, 7, 6, dtype=F64)
    f = torch.randn(4, dtype=F64) if kind == "1d" else torch.randn(3, 5, dtype=F64)
    for flip, gain in [(False, 1.0), (True, 2.5)]:
        kwargs = dict(up=up, down=down, padding=pad, flip_filter=flip, gain=gain)
        torch.testing.assert_close(upfirdn2d(x, f, **kwargs), _upfirdn2d_ref(x, f, **kwargs), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,f,up,down,pad", [
    ((1, 2, 70, 90), torch.randn(12), 2, 1, (6, 5, 6, 5)),      # several 64-wide tiles
    ((1, 2, 40, 33), torch.randn(24), 4, 1, (12, 11, 3, 2)),    # shared memory forces smaller tiles
    ((1, 2, 90, 70), torch.randn(7, 9), 1, 2, (3, 3, 4, 4)),
    ((2, 3, 33, 47), torch.randn(5, 4), 2, 3, (-3, 2, 1, 0)),
])
def test_upfirdn2d_kernel_tiling(on_emulator, shape, f, up, down, pad):
    x = torch.randn(shape, dtype=F64)
    f = f.double()
    torch.testing.assert_close(upfirdn2d(x, f, up=up, down=down, padding=pad),
                               _upfirdn2d_ref(x, f, up=up, down=down, padding=pad), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float16, 2e-3), (torch.bfloat16, 2e-2)])
def test_upfirdn2d_kernel_dtypes_and_strides(on_emulator, dtype, tol):
    x = torch.randn(2, 8, 11, 13)
    f = torch.randn(4)
    expect = _upfirdn2d_ref(x.double(), f.double(), up=2, padding=[2, 1, 1, 2])
    for xin in (x.to(dtype), x.to(dtype).contiguous(memory_format=torch.channels_last), x.to(dtype)[:, ::2]):
        y = upfirdn2d(xin, f, up=2, padding=[2, 1, 1, 2])
        assert y.dtype == dtype
        ref = expect if xin.shape[1] == 8 else expect[:, ::2]
        torch.testing.assert_close(y.double(), ref, rtol=tol, atol=tol * 10)
    cl = upfirdn2d(x.contiguous(memory_format=torch.channels_last), f, up=2)
    assert cl.is_contiguous(memory_format=torch.channels_last)


def test_upfirdn2d_kernel_gradients(on_emulator):
    x = torch.randn(1, 2, 6, 5, dtype=F64, requires_grad=True)
    f = torch.randn(3, 4, dtype=F64)
    fn = lambda v: upfirdn2d(v, f, up=2, down=3, padding=[1, 2, 0, -1])  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x,)) and torch.autograd.gradgradcheck(fn, (x,))


def _random_geometry(rng):
    """A random two-stage geometry, including transposed ones (off_c != 0, clipped tmp)."""
    while True:
        ta, tc = rng.randint(1, 6), rng.randint(1, 6)
        up, down = rng.randint(1, 4), rng.randint(1, 4)
        n_in = rng.randint(1, 9)
        off_a, off_c = rng.randint(-4, 6), rng.randint(-3, 6)
        mid = rng.randint(1, n_in * up + 8)
        out = rng.randint(1, 9)
        return [up, off_a, ta, mid, down, off_c, tc, out, n_in]


@pytest.mark.parametrize("seed", range(12))
def test_resample_kernel_against_the_python_model(emu, seed):
    """Arbitrary geometries and all four modes, signs included."""
    import random

    from ops_kernel_model import resample as model

    rng = random.Random(seed)
    gx, gy = _random_geometry(rng), _random_geometry(rng)
    sep = seed % 2 == 0
    x = torch.randn(2, 3, gy[8], gx[8], dtype=F64)
    bias = torch.randn(3, dtype=F64)
    if sep:
        fa, fa_y, fc, fc_y = (torch.randn(gx[2], dtype=F64), torch.randn(gy[2], dtype=F64),
                              torch.randn(gx[6], dtype=F64), torch.randn(gy[6], dtype=F64))
    else:
        fa, fc = torch.randn(gy[2], gx[2], dtype=F64), torch.randn(gy[6], gx[6], dtype=F64)
        fa_y = fc_y = torch.empty(0, dtype=F64)
    geom = [gx[0], gy[0], gx[1], gy[1], gx[3], gy[3], gx[4], gy[4], gx[5], gy[5], gx[7], gy[7]]
    for mode in (0, 1, 2, 3):
        signs_k = torch.randint(0, 4, (2, 3, gy[3], gx[3]), dtype=torch.uint8)
        signs_m = signs_k.clone()
        args = (fa, fa_y, fc, fc_y)
        y_k = emu.filtered_lrelu(x, bias, *args, signs_k, geom, mode, 1.3, 0.25, 0.9 if mode else -1.0)
        y_m = model(x, bias, *args, signs_m, geom, mode, 1.3, 0.25, 0.9 if mode else -1.0)
        torch.testing.assert_close(y_k, y_m, rtol=1e-12, atol=1e-12)
        if mode == 2:  # codes are written where stage C reads them; compare those
            used = _used_mid(gx, gy)
            assert torch.equal(signs_k[:, :, used[0]][:, :, :, used[1]], signs_m[:, :, used[0]][:, :, :, used[1]])


def _used_mid(gx, gy):
    def axis(g):
        up, off_a, ta, mid, down, off_c, tc, out, n_in = g
        used = {m for o in range(out) for m in range(o * down - off_c, o * down - off_c + tc) if 0 <= m < mid}
        return torch.tensor(sorted(used), dtype=torch.long)

    return axis(gy), axis(gx)


SG3 = [(4, 38, 2, 2, 12, 12, (9, 8)), (4, 38, 4, 2, 24, 12, (-6, -9)), (3, 30, 2, 2, 12, 12, (-11, -12)),
       (3, 20, 2, 1, 12, 1, (5, 6)), (3, 20, 1, 2, 1, 12, (0, 0))]


@pytest.mark.parametrize("channels,size,up,down,tu,td,pad", SG3)
def test_filtered_lrelu_kernel_sg3_shapes(on_emulator, channels, size, up, down, tu, td, pad):
    import scipy.signal

    fs = 32.0 * max(up, down)
    fu = torch.tensor(scipy.signal.firwin(tu, 2.0, width=12.0, fs=fs), dtype=torch.float32) if tu > 1 else None
    fd = torch.tensor(scipy.signal.firwin(td, 2.8, width=10.4, fs=fs), dtype=torch.float32) if td > 1 else None
    x = torch.randn(2, channels, size, size) * 20
    b = torch.randn(channels)
    kwargs = dict(up=up, down=down, padding=[pad[0], pad[1], pad[0], pad[1]], clamp=25.0)
    torch.testing.assert_close(filtered_lrelu(x, fu, fd, b, **kwargs), _filtered_lrelu_ref(x, fu, fd, b, **kwargs),
                               rtol=1e-4, atol=1e-3)
    xr = x.double().requires_grad_()
    br = b.double().requires_grad_()
    y = filtered_lrelu(xr, fu, fd, br, **kwargs)
    dy = torch.randn_like(y)
    got = torch.autograd.grad(y, (xr, br), dy)
    expect = torch.autograd.grad(_filtered_lrelu_ref(xr, fu, fd, br, **kwargs), (xr, br), dy)
    for g, e in zip(got, expect):
        torch.testing.assert_close(g, e, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("up,down,kind", [(2, 2, "1d"), (4, 1, "2d"), (1, 2, "none"), (2, 1, "2d")])
def test_filtered_lrelu_kernel_gradients(on_emulator, up, down, kind):
    x = torch.randn(1, 2, 5, 4, dtype=F64, requires_grad=True)
    b = torch.randn(2, dtype=F64, requires_grad=True)
    fu, fd = {"1d": (torch.randn(8, dtype=F64), torch.randn(6, dtype=F64)),
              "2d": (torch.randn(3, 4, dtype=F64), torch.randn(2, 3, dtype=F64)), "none": (None, None)}[kind]
    fn = lambda x, b: filtered_lrelu(x, fu, fd, b, up=up, down=down, padding=[3, 2, 1, 4], gain=1.3,  # noqa: E731
                                     slope=0.25, clamp=1.1, flip_filter=True)
    assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_bias_act_kernel(on_emulator, act):
    x = (torch.randn(2, 3, 4, dtype=F64) * 3).requires_grad_()
    b = torch.randn(3, dtype=F64, requires_grad=True)
    for clamp in (None, 1.5):
        kwargs = dict(act=act, alpha=0.3, gain=1.2, clamp=clamp)
        torch.testing.assert_close(bias_act(x, b, **kwargs), _bias_act_ref(x, b, **kwargs), rtol=1e-12, atol=1e-12)
        fn = lambda x, b: bias_act(x, b, **kwargs)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (x, b)) and torch.autograd.gradgradcheck(fn, (x, b))
    xc = torch.randn(2, 8, 3, 3).contiguous(memory_format=torch.channels_last)
    bc = torch.randn(8)
    for dtype, tol in ((torch.float32, 1e-6), (torch.float16, 1e-2)):
        torch.testing.assert_close(bias_act(xc.to(dtype), bc.to(dtype), act=act).float(),
                                   _bias_act_ref(xc, bc, act=act), rtol=tol, atol=tol)
    assert math.isfinite(float(bias_act(torch.tensor([80.0]), act=act, dim=0)))
    # one channel: NCHW and channels_last strides differ only where the size is 1
    x1 = torch.randn(2, 1, 3, 3, dtype=F64).contiguous(memory_format=torch.channels_last).requires_grad_()
    y1 = bias_act(x1, torch.randn(1, dtype=F64), act=act)
    (g1,) = torch.autograd.grad(y1, x1, torch.randn(2, 1, 3, 3, dtype=F64))
    assert g1.shape == x1.shape
