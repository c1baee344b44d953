"""FID-proxy curve of a short CPU run of FastGAN-lite + the projected discriminator.

Trains ``fastgan-lite`` against ``projected`` (hinge loss and DiffAugment, the defaults the
discriminator suggests) on a small 64x64 dataset for a few kimg, evaluates the metric named by
``--metric`` after every network snapshot (the training loop's ``metrics`` setting), and prints the
curve (kimg, value) from ``metric-<name>.jsonl``. The claim to check: the value falls.

Usage (the metric comes from the metrics plugin, e.g. its EfficientNet-Lite0 proxy of FID)::

    PYTHONPATH=src python benchmarks/projected_fid_proxy.py --metric fd_effnet_proxy --threads 1
    PYTHONPATH=src python benchmarks/projected_fid_proxy.py --metric fd_effnet_proxy \\
        --data path/to/64px.zip --kimg 8 --tick 1 --metric-set num_gen=500
    PYTHONPATH=src python benchmarks/projected_fid_proxy.py --metric fd_effnet_proxy \
        --resume runs/projected-fid-proxy/00000-... --kimg 8      # extend a run

Default data: 512 procedurally generated 64x64 ``shapes`` images. With ``--ngf 32``, batch 8 and one
thread, expect about 5 minutes per kimg (the feature network sees 224x224 inputs) plus about 40 s per
evaluation of 500 images. The curve is also written as ``curve.png`` in the run directory. Measured
results: ``docs/plugins/projected.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--metric", required=True,
                   help="Metric to evaluate after each snapshot (a registered name).")
    p.add_argument("--metric-set", action="append", default=[], metavar="KEY=VALUE",
                   help="Option of the metric (repeatable), e.g. num_gen=500.")
    p.add_argument("--data", default=None,
                   help="Folder or zip of 64x64 images (default: 512 generated shapes).")
    p.add_argument("--kimg", type=float, default=4.0, help="Training length in thousands of images.")
    p.add_argument("--tick", type=float, default=0.5,
                   help="kimg between snapshots (one metric evaluation each).")
    p.add_argument("--batch", type=int, default=8, help="Batch size.")
    p.add_argument("--ngf", type=int, default=32,
                   help="FastGAN width (upstream 128; 32 keeps a CPU run short).")
    p.add_argument("--random-features", action="store_true",
                   help="Random backbone instead of the ImageNet one.")
    p.add_argument("--threads", type=int, default=None,
                   help="torch intra-op threads (1 helps on a busy machine).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outdir", default="runs/projected-fid-proxy")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="Continue this run (exact resume) up to --kimg; the curve keeps its earlier points.")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> dict[str, Any]:
    metric: dict[str, Any] = {"name": args.metric}
    for item in args.metric_set:
        key, _, raw = item.partition("=")
        metric[key.strip()] = _value(raw.strip())
    dataset: dict[str, Any] = ({"name": "images", "path": args.data} if args.data
                               else {"name": "shapes", "resolution": 64, "size": 512, "seed": args.seed})
    return {
        "generator": {"name": "fastgan-lite", "ngf": args.ngf},
        "discriminator": {"name": "projected", "pretrained": not args.random_features},
        "dataset": dataset,
        "metrics": [metric],
        "training": {"kimg": args.kimg, "batch": args.batch, "kimg_per_tick": args.tick, "seed": args.seed,
                     "network_snapshot_ticks": 1, "image_snapshot_ticks": 1, "grid": [8, 4],
                     "progress": sys.stdout.isatty(), "tensorboard": False},
        "outdir": args.outdir,
        "desc": f"fid-proxy-{args.metric}",
    }


def read_curve(run_dir: Path, metric: str) -> list[tuple[float, dict[str, Any]]]:
    """``(kimg, results)`` per evaluation, from ``metric-<name>.jsonl``.

    With a snapshot every tick the i-th evaluation belongs to the i-th tick of ``stats.jsonl``, whose
    ``Progress/kimg`` says when it happened (snapshot file names only carry whole kimg).
    """
    def lines(name: str) -> list[dict[str, Any]]:
        path = run_dir / name
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.is_file() else []

    ticks = [row.get("Progress/kimg", {}).get("mean", float("nan")) for row in lines("stats.jsonl")]
    records = lines(f"metric-{metric}.jsonl")
    return [(ticks[i] if i < len(ticks) else float("nan"), r["results"]) for i, r in enumerate(records)]


def plot_curve(curve: list[tuple[float, dict[str, Any]]], metric: str, path: Path, title: str = "") -> Path:
    """The curve as a PNG (kimg on x, the metric's first numeric result on y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(k, next(v for v in r.values() if isinstance(v, (int, float)))) for k, r in curve]
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color="tab:blue")
    ax.set_xlabel("kimg (thousands of real images shown to D)")
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} during training", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    import ganforge
    from ganforge.core.errors import GanforgeError

    start = time.time()
    try:
        if args.resume:
            result = ganforge.train(resume=args.resume, kimg=args.kimg)
        else:
            result = ganforge.train(build_config(args))
    except GanforgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    curve = read_curve(Path(result.run_dir), args.metric)
    print(f"\n{result.status} at {result.cur_nimg / 1000:.2f} kimg in {time.time() - start:.0f} s: "
          f"{result.run_dir}")
    print(f"{'kimg':>8}  {args.metric}")
    for kimg, results in curve:
        values = "  ".join(f"{k}={v:.4g}" if isinstance(v, (int, float)) else f"{k}={v}"
                           for k, v in results.items())
        print(f"{kimg:8.3f}  {values}")
    if curve:
        print(f"curve: {plot_curve(curve, args.metric, Path(result.run_dir) / 'curve.png')}")
    if len(curve) >= 2:
        first, last = curve[0][1], curve[-1][1]
        key = next((k for k, v in first.items() if isinstance(v, (int, float))), None)
        if key is not None:
            trend = "fell" if last[key] < first[key] else "did not fall"
            print(f"{key}: {first[key]:.4g} -> {last[key]:.4g} ({trend})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
