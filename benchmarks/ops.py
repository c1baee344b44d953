"""Benchmark ganforge.ops: reference paths vs the naive/upstream formulations, plus CUDA kernels.

Usage::

    python benchmarks/ops.py            # CPU tables (+ CUDA tables when a GPU is present)
    python benchmarks/ops.py --quick    # fewer repeats (about a minute on a 2-core CPU)
    python benchmarks/ops.py --sg3-only

Sections:

1. Per op, at StyleGAN-typical shapes: time of our reference path, of the upstream formulation
   (zero insertion, full-size depthwise convolutions, out-of-place activations) and of the best
   other plain-PyTorch formulation we tried, reported as ratios measured in the same run. Variants
   are interleaved and the minimum over repeats is kept, which keeps ratios meaningful on a busy
   machine.
2. The 15 filtered_lrelu calls of a StyleGAN3-T 256x256 generator (channel_base 32768,
   channel_max 512) at batch 1: ours vs the upstream formulation (target: >= 5x on CPU).
3. On CUDA: compiled kernels vs reference vs ``torch.compile(reference)``, 256^2 and 1024^2,
   batch 16, float16 and float32.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import scipy.signal
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganforge.ops import bias_act, conv2d_resample, filtered_lrelu, fma, grid_sample, setup_filter, upfirdn2d  # noqa: E402
from ganforge.ops import _utils, grid_sample_gradfix  # noqa: E402
from ganforge.ops.filtered_lrelu import _filtered_lrelu_ref  # noqa: E402
from ganforge.ops.grid_sample_gradfix import _grid_sample_ref  # noqa: E402
from ganforge.plugins.stylegan3.filters import design_lowpass_filter  # noqa: E402
from ganforge.plugins.stylegan3.schedule import layer_padding, layer_schedule, resampling  # noqa: E402

try:
    from rich.console import Console
    from rich.table import Table
except ImportError:  # pragma: no cover
    Console = Table = None


# -- the upstream formulations, written naively --------------------------------------------------

def naive_upfirdn2d(x, f, up=1, down=1, pad=(0, 0, 0, 0), gain=1.0):
    """Zero insertion by reshape + pad, F.pad/slicing, depthwise conv2d at full size, slicing."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(pad[0], 0), max(pad[1], 0), max(pad[2], 0), max(pad[3], 0)])
    x = x[:, :, max(-pad[2], 0):x.shape[2] - max(-pad[3], 0), max(-pad[0], 0):x.shape[3] - max(-pad[1], 0)]
    if f is None:
        return x[:, :, ::down, ::down] * gain
    f = f.to(x.dtype) * gain ** (f.ndim / 2)
    if f.ndim == 1:
        x = F.conv2d(x, f.flip(0).view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        x = F.conv2d(x, f.flip(0).view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    else:
        x = F.conv2d(x, f.flip([0, 1])[None, None].expand(c, 1, -1, -1), groups=c)
    return x[:, :, ::down, ::down]


def naive_bias_act(x, b, gain=math.sqrt(2), alpha=0.2, clamp=None):
    x = x + b.view(1, -1, 1, 1)
    x = F.leaky_relu(x, alpha)
    x = x * gain
    return x.clamp(-clamp, clamp) if clamp is not None else x


def naive_filtered_lrelu(x, fu, fd, b, up, down, pad, gain=math.sqrt(2), slope=0.2, clamp=None):
    x = x + b.view(1, -1, 1, 1)
    x = naive_upfirdn2d(x, fu, up=up, pad=pad, gain=up ** 2)
    x = F.leaky_relu(x, slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return naive_upfirdn2d(x, fd, down=down)


# -- timing ----------------------------------------------------------------------------------------

_clock = time.perf_counter


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def compare(variants: dict[str, Callable[[], object]], repeats: int, device: str = "cpu") -> dict[str, float]:
    """Minimum seconds per call of each variant; variants are interleaved across repeats."""
    for fn in variants.values():  # warm-up (allocator, oneDNN primitives, cuDNN plans)
        fn()
    _sync(device)
    clock = time.perf_counter if device == "cuda" else _clock
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeats):
        for name, fn in variants.items():
            _sync(device)
            start = clock()
            fn()
            _sync(device)
            times[name].append(clock() - start)
    return {name: min(values) for name, values in times.items()}


def _print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    if Table is not None:
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    print(f"\n{title}\n" + " | ".join(columns))
    for row in rows:
        print(" | ".join(row))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


# -- section 1: reference paths on CPU -------------------------------------------------------------

def cpu_ops(repeats: int) -> None:
    torch.manual_seed(0)
    f4 = setup_filter([1, 3, 3, 1])
    f12 = torch.tensor(scipy.signal.firwin(12, 2.0, width=12.0, fs=32.0), dtype=torch.float32)
    x64 = torch.randn(4, 256, 64, 64)
    up_in = torch.randn(4, 256, 65, 65)  # conv2d_resample's FIR step after a stride-2 transposed conv
    x_sg3 = torch.randn(1, 512, 38, 38)
    rows = []

    def layout(fn, name):  # the same formulation in a forced memory layout
        def run():
            _utils.LAYOUT_OVERRIDE = name
            try:
                return fn()
            finally:
                _utils.LAYOUT_OVERRIDE = None
        return run

    def nchw(fn):
        return layout(fn, "nchw")

    def cl(fn):
        return layout(fn, "channels_last")

    def channels_as_batch(x, f, up, pad, gain):  # fold C into N; a 1-channel polyphase transposed conv
        n, c, h, w = x.shape
        y = upfirdn2d(x.reshape(n * c, 1, h, w), f, up=up, padding=pad, gain=gain, impl="ref")
        return y.reshape(n, c, *y.shape[2:])

    cases = [
        ("FIR 4x4 (conv2d_resample up) [4,256,65,65]",
         lambda: upfirdn2d(up_in, f4, padding=[0, 0, 0, 0], gain=4),
         lambda: naive_upfirdn2d(up_in, f4, gain=4),
         {"channels_last": cl(lambda: upfirdn2d(up_in, f4, gain=4))}),
        ("upsample2d 4x4 [4,256,64,64]",
         lambda: upfirdn2d(x64, f4, up=2, padding=[2, 1, 2, 1], gain=4),
         lambda: naive_upfirdn2d(x64, f4, up=2, pad=(2, 1, 2, 1), gain=4),
         {"channels_last": cl(lambda: upfirdn2d(x64, f4, up=2, padding=[2, 1, 2, 1], gain=4)),
          "C as batch": lambda: channels_as_batch(x64, f4, 2, [2, 1, 2, 1], 4)}),
        ("downsample2d 4x4 [4,256,64,64]",
         lambda: upfirdn2d(x64, f4, down=2, padding=[1, 1, 1, 1]),
         lambda: naive_upfirdn2d(x64, f4, down=2, pad=(1, 1, 1, 1)),
         {"channels_last": cl(lambda: upfirdn2d(x64, f4, down=2, padding=[1, 1, 1, 1]))}),
        ("upfirdn2d 12-tap sep. up2 [1,512,38,38]",
         lambda: upfirdn2d(x_sg3, f12, up=2, padding=[6, 5, 6, 5], gain=4),
         lambda: naive_upfirdn2d(x_sg3, f12, up=2, pad=(6, 5, 6, 5), gain=4),
         {"channels_last": cl(lambda: upfirdn2d(x_sg3, f12, up=2, padding=[6, 5, 6, 5], gain=4)),
          "2-D outer product": lambda: upfirdn2d(x_sg3, torch.outer(f12, f12), up=2, padding=[6, 5, 6, 5], gain=4)}),
    ]
    b256 = torch.randn(256)
    cases.append(("bias_act lrelu clamp [4,256,64,64]",
                  lambda: bias_act(x64, b256, act="lrelu", clamp=256),
                  lambda: naive_bias_act(x64, b256, clamp=256),
                  {"torch.where": lambda: torch.where((y := x64 + b256.view(1, -1, 1, 1)) > 0, y, y * 0.2)
                   .mul_(math.sqrt(2)).clamp_(-256, 256)}))
    xl8 = torch.randn(1, 512, 150, 150) * 30
    b512 = torch.randn(512)
    fd12 = torch.tensor(scipy.signal.firwin(12, 32.0, width=64.0, fs=256.0), dtype=torch.float32)
    fl_kwargs = dict(up=2, down=2, padding=[9, 8, 9, 8], clamp=256)
    cases.append(("filtered_lrelu SG3-L8 [1,512,150,150]",
                  lambda: filtered_lrelu(xl8, f12, fd12, b512, **fl_kwargs),
                  lambda: naive_filtered_lrelu(xl8, f12, fd12, b512, 2, 2, (9, 8, 9, 8), clamp=256),
                  {"NCHW": nchw(lambda: filtered_lrelu(xl8, f12, fd12, b512, **fl_kwargs)),
                   "out-of-place act": lambda: _with_grad_path(xl8, f12, fd12, b512, fl_kwargs),
                   "2-D outer products": lambda: filtered_lrelu(xl8, torch.outer(f12, f12), torch.outer(fd12, fd12),
                                                                b512, **fl_kwargs)}))
    xc = torch.randn(4, 256, 32, 32)
    wc = torch.randn(256, 256, 3, 3) / 48
    cases.append(("conv2d_resample 3x3 up2 [4,256,32,32]",
                  lambda: conv2d_resample(xc, wc, f4, up=2, padding=1, flip_weight=False),
                  lambda: F.conv2d(naive_upfirdn2d(xc, f4, up=2, pad=(3, 2, 3, 2), gain=4), wc.flip([2, 3])),
                  {"zero-free FIR, then conv": lambda: F.conv2d(upfirdn2d(xc, f4, up=2, padding=[3, 2, 3, 2], gain=4),
                                                                wc.flip([2, 3]))}))
    cases.append(("conv2d_resample 3x3 down2 [4,256,64,64]",
                  lambda: conv2d_resample(x64, wc, f4, down=2, padding=1),
                  lambda: naive_upfirdn2d(F.conv2d(naive_upfirdn2d(x64, None, pad=(2, 2, 2, 2)), wc), f4, down=2),
                  {"conv, then FIR": lambda: upfirdn2d(F.conv2d(x64, wc, padding=2), f4, down=2)}))
    s = torch.randn(4, 256, 1, 1)
    noise = torch.randn(4, 1, 64, 64)
    cases.append(("fma [4,256,64,64]", lambda: fma(x64, s, noise), lambda: x64 * s + noise,
                  {"addcmul": lambda: torch.addcmul(noise, x64, s)}))
    img = torch.randn(8, 3, 256, 256, requires_grad=True)
    theta = torch.tensor([[0.9, 0.2, 0.05], [-0.2, 0.9, -0.03]]).expand(8, 2, 3)
    grid = F.affine_grid(theta, [8, 3, 256, 256], align_corners=False)

    def fwd_bwd(sample):
        return lambda: torch.autograd.grad(sample(img, grid).square().sum(), img, create_graph=True)

    def forced(i, g):
        grid_sample_gradfix.force_custom = True
        try:
            return grid_sample(i, g)
        finally:
            grid_sample_gradfix.force_custom = False

    cases.append(("grid_sample fwd+bwd (create_graph) [8,3,256,256]", fwd_bwd(grid_sample),
                  fwd_bwd(lambda i, g: F.grid_sample(i, g, align_corners=False)),
                  {"custom backward (old torch)": fwd_bwd(forced), "all-gather formulation": fwd_bwd(_grid_sample_ref)}))

    with torch.no_grad():
        for name, ours, naive, alternatives in cases:
            variants = {"ours": ours, "naive": naive, **alternatives}
            if "grid_sample" in name:
                with torch.enable_grad():
                    t = compare(variants, repeats)
            else:
                t = compare(variants, repeats)
            best_name = min(alternatives, key=lambda k: t[k])
            rows.append([name, _ms(t["ours"]), _ms(t["naive"]), f"{t['naive'] / t['ours']:.2f}x",
                         f"{best_name}: {_ms(t[best_name])}", f"{t[best_name] / t['ours']:.2f}x"])
    clock = "CPU time" if _clock is time.process_time else "wall time"
    _print_table(f"CPU reference paths (ms per call, min of {repeats}, {clock}; torch {torch.__version__}, "
                 f"{torch.get_num_threads()} threads)",
                 ["op / shape", "ours", "upstream/naive", "naive/ours", "best alternative", "alt/ours"], rows)


def _with_grad_path(x, fu, fd, b, kwargs):
    """filtered_lrelu through its autograd-friendly (out-of-place) path, forward only."""
    with torch.enable_grad():
        return _filtered_lrelu_ref(x.requires_grad_(False), fu, fd, b.detach().requires_grad_(), **kwargs)


# -- section 2: StyleGAN3-T 256^2 replay -----------------------------------------------------------

def sg3_schedule(res=256, channel_base=32768, channel_max=512, img_channels=3, num_layers=14, num_critical=2,
                 first_cutoff=2.0, first_stopband=2 ** 2.1, last_stopband_rel=2 ** 0.3, margin=10, conv_kernel=3,
                 filter_size=6, lrelu_upsampling=2):
    """The filtered_lrelu calls of a StyleGAN3-T synthesis network, from the plugin's layer schedule
    (:mod:`ganforge.plugins.stylegan3.schedule`, UPSTREAM §2.9): what each ``SynthesisLayer`` runs."""
    _, specs = layer_schedule(res, img_channels, channel_base, channel_max, num_layers, num_critical, first_cutoff,
                              first_stopband, last_stopband_rel, margin)
    layers = []
    for spec in specs:
        tmp_rate, up, up_taps, down, down_taps = resampling(spec.in_sampling_rate, spec.out_sampling_rate,
                                                            spec.is_torgb, lrelu_upsampling, filter_size)
        k = 1 if spec.is_torgb else conv_kernel
        layers.append(dict(
            name=spec.name, channels=spec.out_channels, size=spec.in_size + k - 1, up=up, down=down,
            fu=design_lowpass_filter(up_taps, spec.in_cutoff, spec.in_half_width * 2, tmp_rate),
            fd=design_lowpass_filter(down_taps, spec.out_cutoff, spec.out_half_width * 2, tmp_rate),
            padding=layer_padding(spec.in_size, spec.out_size, k, up, down, up_taps, down_taps),
            gain=1.0 if spec.is_torgb else math.sqrt(2), slope=1.0 if spec.is_torgb else 0.2,
            out_size=spec.out_size))
    return layers


def sg3_replay(repeats: int, device: str = "cpu", batch: int = 1) -> None:
    torch.manual_seed(0)
    layers = sg3_schedule()
    inputs = [(torch.randn(batch, layer["channels"], layer["size"], layer["size"], device=device) * 20,
               torch.randn(layer["channels"], device=device)) for layer in layers]
    clock = time.perf_counter if device == "cuda" else _clock
    rows = []
    totals = {"ours": [], "upstream": []}
    with torch.no_grad():
        for layer, (x, b) in zip(layers, inputs):  # warm-up: oneDNN builds its kernels per shape
            fu = None if layer["fu"] is None else layer["fu"].to(device)
            fd = None if layer["fd"] is None else layer["fd"].to(device)
            filtered_lrelu(x, fu, fd, b, up=layer["up"], down=layer["down"], padding=layer["padding"],
                           gain=layer["gain"], slope=layer["slope"], clamp=256)
            naive_filtered_lrelu(x, fu, fd, b, layer["up"], layer["down"], layer["padding"], layer["gain"],
                                 layer["slope"], 256)
        for rep in range(repeats):
            for variant in ("ours", "upstream"):
                total = 0.0
                for i, (layer, (x, b)) in enumerate(zip(layers, inputs)):
                    fu = None if layer["fu"] is None else layer["fu"].to(device)
                    fd = None if layer["fd"] is None else layer["fd"].to(device)
                    _sync(device)
                    start = clock()
                    if variant == "ours":
                        y = filtered_lrelu(x, fu, fd, b, up=layer["up"], down=layer["down"], padding=layer["padding"],
                                           gain=layer["gain"], slope=layer["slope"], clamp=256)
                    else:
                        y = naive_filtered_lrelu(x, fu, fd, b, layer["up"], layer["down"], layer["padding"],
                                                 gain=layer["gain"], slope=layer["slope"], clamp=256)
                    _sync(device)
                    elapsed = clock() - start
                    total += elapsed
                    assert y.shape[-1] == layer["out_size"], (layer["name"], y.shape)
                    if rep == 0:
                        rows.append((variant, i, elapsed))
                totals[variant].append(total)
        # agreement check on the largest layer
        layer, (x, b) = layers[12], inputs[12]
        kwargs = dict(up=layer["up"], down=layer["down"], padding=layer["padding"], gain=layer["gain"],
                      slope=layer["slope"], clamp=256)
        diff = (filtered_lrelu(x, layer["fu"].to(device), layer["fd"].to(device), b, **kwargs) -
                naive_filtered_lrelu(x, layer["fu"].to(device), layer["fd"].to(device), b, layer["up"], layer["down"],
                                     layer["padding"], layer["gain"], layer["slope"], 256)).abs().max().item()
    per_layer = []
    ours = {i: t for v, i, t in rows if v == "ours"}
    upstream = {i: t for v, i, t in rows if v == "upstream"}
    for i, layer in enumerate(layers):
        per_layer.append([layer["name"], f"{layer['channels']}x{layer['size']}^2", f"{layer['up']}/{layer['down']}",
                          f"{0 if layer['fu'] is None else layer['fu'].numel()}/"
                          f"{0 if layer['fd'] is None else layer['fd'].numel()}",
                          _ms(ours[i]), _ms(upstream[i]), f"{upstream[i] / ours[i]:.1f}x"])
    best_ours, best_up = min(totals["ours"]), min(totals["upstream"])
    per_layer.append(["total (min of runs)", "", "", "", _ms(best_ours), _ms(best_up), f"{best_up / best_ours:.1f}x"])
    clock_name = "CPU time" if clock is time.process_time else "wall time"
    _print_table(f"StyleGAN3-T 256x256 filtered_lrelu calls, batch {batch}, {device}, {clock_name}, "
                 f"{torch.get_num_threads()} threads "
                 f"(per layer: first timed run; median totals ours {statistics.median(totals['ours']):.2f} s, "
                 f"upstream {statistics.median(totals['upstream']):.2f} s; max |diff| L12 {diff:.2e})",
                 ["layer", "C x in^2", "up/down", "taps", "ours ms", "upstream ms", "speed-up"], per_layer)


# -- section 3: CUDA -------------------------------------------------------------------------------

def cuda_ops(repeats: int) -> None:
    from ganforge.ops.bias_act import _bias_act_ref
    from ganforge.ops.upfirdn2d import _upfirdn2d_ref

    rows = []
    f4 = setup_filter([1, 3, 3, 1], device="cuda")
    f12 = torch.tensor(scipy.signal.firwin(12, 32.0, width=64.0, fs=256.0), dtype=torch.float32, device="cuda")
    for res, channels in ((256, 128), (1024, 32)):
        for dtype in (torch.float16, torch.float32):
            x = torch.randn(16, channels, res, res, device="cuda", dtype=dtype)
            b = torch.randn(channels, device="cuda", dtype=dtype)
            xf = torch.randn(16, channels, res + 22, res + 22, device="cuda", dtype=dtype)
            specs = [
                ("upsample2d 4x4", lambda x=x: upfirdn2d(x, f4, up=2, padding=[2, 1, 2, 1], gain=4, impl="cuda"),
                 lambda x=x: _upfirdn2d_ref(x, f4, up=2, padding=[2, 1, 2, 1], gain=4)),
                ("bias_act lrelu", lambda x=x, b=b: bias_act(x, b, act="lrelu", clamp=256, impl="cuda"),
                 lambda x=x, b=b: _bias_act_ref(x, b, act="lrelu", clamp=256)),
                ("filtered_lrelu 2/2 12-tap",
                 lambda xf=xf, b=b: filtered_lrelu(xf, f12, f12, b, up=2, down=2, padding=[9, 8, 9, 8], clamp=256,
                                                   impl="cuda"),
                 lambda xf=xf, b=b: _filtered_lrelu_ref(xf, f12, f12, b, up=2, down=2, padding=[9, 8, 9, 8], clamp=256)),
            ]
            for name, cuda_fn, ref_fn in specs:
                compiled = torch.compile(ref_fn)
                with torch.no_grad():
                    t = compare({"cuda": cuda_fn, "ref": ref_fn, "compile": compiled}, repeats, device="cuda")
                rows.append([f"{name} {res}^2 C={channels}", str(dtype).replace("torch.", ""), _ms(t["cuda"]),
                             _ms(t["ref"]), _ms(t["compile"]), f"{t['ref'] / t['cuda']:.2f}x",
                             f"{t['compile'] / t['cuda']:.2f}x"])
            del x, xf
            torch.cuda.empty_cache()
    _print_table(f"CUDA, batch 16, ms (min of {repeats}); {torch.cuda.get_device_name()}",
                 ["op", "dtype", "kernel", "ref", "compile(ref)", "ref/kernel", "compile/kernel"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--sg3-only", action="store_true", help="only the StyleGAN3 replay")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--cpu-time", action="store_true",
                        help="one thread, and time by process CPU time: robust ratios on a busy machine")
    args = parser.parse_args(argv)
    if args.cpu_time:
        global _clock
        _clock = time.process_time
        torch.set_num_threads(1)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else 5
    if not args.sg3_only:
        cpu_ops(repeats)
    sg3_replay(1 if args.quick else 3)
    if torch.cuda.is_available():
        sg3_replay(repeats, device="cuda", batch=16)
        if not args.sg3_only:
            cuda_ops(repeats)
    else:
        print("CUDA is not available: kernel benchmarks skipped.")


if __name__ == "__main__":
    main()
