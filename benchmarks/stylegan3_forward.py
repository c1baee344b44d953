"""StyleGAN3-T generator forward: our fast reference ops vs the upstream-style naive filtered_lrelu.

Usage::

    PYTHONPATH=src python benchmarks/stylegan3_forward.py [--res 256] [--batch 1] [--repeats 2]
        [--threads 2] [--cfg stylegan3-t] [--device cpu|cuda|auto]

Runs the same generator (same weights, same inputs) twice per repeat: once with
``ganforge.ops.filtered_lrelu`` (polyphase, separable, channels_last reference path on CPU) and once
with :func:`naive_filtered_lrelu`, the formulation of the upstream reference path: bias, an
``upfirdn2d`` that really inserts zeros and convolves the whole upsampled image, leaky ReLU and clamp,
and an ``upfirdn2d`` that filters every upsampled sample before keeping every ``down``-th. It prints a
table of the best time of each, the time spent in filtered_lrelu and in the convolutions, the ratios,
and the largest difference of the two outputs. With CUDA it also times the compiled kernels.

On the CPU, ganforge's training loop tunes glibc's allocator so that large freed tensors are reused
instead of faulted in again (``ganforge.core.allocator``); upstream's code runs with glibc's defaults.
The table has both paths both ways; the ratios are against ours as ganforge runs it (tuned).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganforge.core.allocator import tune_cpu_allocator  # noqa: E402
from ganforge.core.specs import DataInfo  # noqa: E402
from ganforge.plugins.stylegan3 import synthesis  # noqa: E402
from ganforge.plugins.stylegan3.config import GENERATOR_CONFIGS  # noqa: E402
from ganforge.plugins.stylegan3.generator import build_generator  # noqa: E402


def naive_upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
                    padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Zero insertion, pad, full-rate depthwise convolution, then keep every ``down``-th sample."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    px0, px1, py0, py1 = padding
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    if f is not None:
        f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
        else:
            x = F.conv2d(x, f[None, None, None, :].repeat(c, 1, 1, 1), groups=c)
            x = F.conv2d(x, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    elif gain != 1:
        x = x * gain
    return x[:, :, ::down, ::down]


def naive_filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None = None, fd: torch.Tensor | None = None,
                         b: torch.Tensor | None = None, up: int = 1, down: int = 1, padding=(0, 0, 0, 0),
                         gain: float = math.sqrt(2), slope: float = 0.2, clamp: float | None = None,
                         flip_filter: bool = False) -> torch.Tensor:
    """The upstream reference formulation of filtered_lrelu (bias, upfirdn2d, lrelu, clamp, upfirdn2d)."""
    assert not flip_filter
    if b is not None:
        x = x + b.view(1, -1, 1, 1)
    x = naive_upfirdn2d(x, fu, up=up, padding=tuple(padding), gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return naive_upfirdn2d(x, fd, down=down)


@contextmanager
def patched(fn):
    """Run the synthesis layers with ``fn`` as their filtered_lrelu, timing its calls."""
    spent = [0.0]
    original = synthesis.filtered_lrelu

    def timed(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        if out.is_cuda:
            torch.cuda.synchronize()
        spent[0] += time.perf_counter() - start
        return out

    synthesis.filtered_lrelu = timed
    try:
        yield spent
    finally:
        synthesis.filtered_lrelu = original


def run(G: torch.nn.Module, z: torch.Tensor, fn, repeats: int) -> tuple[float, float, float, torch.Tensor]:
    """Best wall time, its time inside filtered_lrelu, its process CPU time (all threads), the image."""
    best, best_fl, best_cpu, img = math.inf, math.inf, math.inf, None
    for _ in range(repeats):
        with patched(fn) as spent, torch.no_grad():
            start, cpu = time.perf_counter(), time.process_time()
            img = G(z, None)
            if img.is_cuda:
                torch.cuda.synchronize()
            total, cpu = time.perf_counter() - start, time.process_time() - cpu
        if total < best:
            best, best_fl, best_cpu = total, spent[0], cpu
    return best, best_fl, best_cpu, img


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2, help="best of N (after one warm-up call of each)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg", default="stylegan3-t", choices=sorted(GENERATOR_CONFIGS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--skip-naive", action="store_true", help="time only our path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = build_generator(GENERATOR_CONFIGS[args.cfg](), DataInfo(resolution=args.res))
    G = G.eval().requires_grad_(False)
    z = torch.randn(args.batch, G.z_dim)
    devices = ["cpu"] if args.device == "cpu" else []
    if args.device in ("cuda", "auto") and torch.cuda.is_available():
        devices.append("cuda")
    print(f"{args.cfg} {args.res}x{args.res}, batch {args.batch}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, best of {args.repeats}")
    try:
        load = f" (load average {os.getloadavg()[0]:.1f})"
    except OSError:
        load = ""
    header = f"{'device':<7}{'filtered_lrelu':<38}{'forward s':>10}{'in fl s':>9}{'rest s':>8}{'CPU s':>8}"
    print(header + load)
    from ganforge.ops import filtered_lrelu

    for device in devices:
        G.to(device)
        zz = z.to(device)
        # (label, filtered_lrelu, CPU allocator): ganforge's training loop and CLI tune glibc's allocator on
        # the CPU (ganforge.core.allocator); upstream's code runs with glibc's defaults. On the CPU both paths
        # are timed both ways, the untuned ones first (glibc's untouched, dynamic defaults: tuning cannot be
        # undone exactly within a process).
        impls = [("ours (ops, impl=auto)", filtered_lrelu, "tuned")]
        if device == "cuda":
            impls.append(("ours (ops, impl=ref)", lambda *a, **k: filtered_lrelu(*a, impl="ref", **k), "tuned"))
        else:
            impls.insert(0, ("ours, default allocator", filtered_lrelu, "default"))
            if not args.skip_naive:
                impls.insert(1, ("naive zero-insertion (upstream ref)", naive_filtered_lrelu, "default"))
        if not args.skip_naive:
            impls.append(("naive, tuned allocator" if device == "cpu" else "naive zero-insertion (upstream ref)",
                          naive_filtered_lrelu, "tuned"))
        rows = []
        for label, fn, alloc in impls:
            if alloc == "tuned" and device == "cpu":
                tune_cpu_allocator()
            run(G, zz, fn, 1)  # warm-up
            total, in_fl, cpu, img = run(G, zz, fn, args.repeats)
            rows.append((label, total, in_fl, cpu, img))
            print(f"{device:<7}{label:<38}{total:>10.2f}{in_fl:>9.2f}{total - in_fl:>8.2f}{cpu:>8.2f}",
                  flush=True)
        if len(rows) > 1:
            base = next(r for r in rows if r[0].startswith("ours (ops, impl=auto)"))
            for label, total, in_fl, cpu, img in rows:
                if label.startswith("ours"):
                    continue
                diff = (img.float() - base[4].float()).abs().max().item()
                print(f"{device:<7}ratio {label} / ours: forward {total / base[1]:.2f}x (CPU time "
                      f"{cpu / base[3]:.2f}x), filtered_lrelu {in_fl / base[2]:.2f}x (max |diff| {diff:.2e})")


if __name__ == "__main__":
    main()
