"""StyleGAN2 training throughput: images/s of full iterations (G and D steps, lazy R1 and path length).

Usage::

    python benchmarks/stylegan2_train.py                      # 64x64 on CPU (and 256x256 on GPU if present)
    python benchmarks/stylegan2_train.py --cases cpu:64 --cbase 16384 --batch 8 --iters 16 --threads 2

One iteration is what the training loop does per minibatch: the phases Gmain, Greg (path length, every
4 minibatches, gain 4), Dmain, Dreg (R1, every 16, gain 16) with style mixing 0.9, each followed by
its Adam step, then the G_ema update. The measurement covers ``--iters`` iterations (a multiple of 16
puts the lazy phases in their true proportion) after one warm-up iteration (which runs every phase); images/s counts real images shown
to D (the batch per iteration), as the official ``sec/kimg``.

Networks: the ``stylegan2`` preset's architecture (map depth 8, z/w 512, skip G, resnet D, 512 channels
at most) with the channel budget ``--cbase``: by default 4096 on CPU (64 channels at 64x64, 512 at 8x8;
the full paper budget needs about 2 TFLOP per iteration at 64x64, minutes on a laptop CPU) and 16384 on
CUDA (``paper256``). On CUDA the top 4 resolutions run in fp16 as upstream; on CPU all is fp32.
"""

from __future__ import annotations

import argparse
import time

import torch


def _iteration_runner(res: int, batch: int, cbase: int, device: torch.device):
    from ganforge.core.config import resolve_config
    from ganforge.core.loss import PhaseBatch
    from ganforge.core.registry import get_registry
    from ganforge.core.specs import DataInfo
    from ganforge.core.training.setup import build_components, make_phases, update_ema

    config, _ = resolve_config({"dataset": {"name": "shapes", "resolution": res},
                                "generator": {"cbase": cbase}, "discriminator": {"cbase": cbase,
                                                                                  "mbstd_group_size": 4},
                                "training": {"batch": batch}}, preset="stylegan2")
    info = DataInfo(res, 3, 0)
    comps = build_components(config, info, get_registry(), device)
    G, D, loss = comps["G"], comps["D"], comps["loss"]
    phases = make_phases(G, D, loss, config.training, comps["trainable"])
    reals = torch.rand(batch, 3, res, res, device=device) * 2 - 1
    z_dim = G.z_dim
    state = {"batch_idx": 0}

    def step() -> None:
        for phase in phases:
            if state["batch_idx"] % phase.interval:
                continue
            phase.opt.zero_grad(set_to_none=True)
            for p in phase.params:
                p.requires_grad_(True)
            loss.accumulate_gradients(phase.name, PhaseBatch(
                real_img=reals, real_c=torch.zeros(batch, 0, device=device),
                gen_z=torch.randn(batch, z_dim, device=device), gen_c=torch.zeros(batch, 0, device=device),
                gain=phase.interval, cur_nimg=0))
            for p in phase.params:
                p.requires_grad_(False)
            for p in phase.params:
                if p.grad is not None:
                    p.grad.nan_to_num_(nan=0, posinf=1e5, neginf=-1e5)
            phase.opt.step()
        update_ema(G, comps["G_ema"], config.training, 10_000)
        state["batch_idx"] += 1

    params = sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())
    return step, params


def measure(device: torch.device, res: int, batch: int, cbase: int, iters: int) -> dict:
    step, params = _iteration_runner(res, batch, cbase, device)
    step()  # warm-up: at minibatch 0 every phase runs once
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"device": str(device), "res": res, "batch": batch, "cbase": cbase, "G params": params[0],
            "D params": params[1], "sec/iter": seconds / iters, "images/s": iters * batch / seconds}


def main() -> None:
    from rich.console import Console
    from rich.table import Table

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=None, help="device:res list, e.g. cpu:64,cuda:256 (default: "
                        "cpu:64, plus cuda:256 when CUDA is available)")
    parser.add_argument("--batch", type=int, default=None,
                        help="batch per iteration (default 8 on CPU, 32 on GPU)")
    parser.add_argument("--cbase", type=int, default=None,
                        help="channel budget (default 4096 on CPU, 16384 = paper256 on CUDA)")
    parser.add_argument("--iters", type=int, default=16, help="timed iterations (a multiple of 16 is fair)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = args.cases or ("cpu:64,cuda:256" if torch.cuda.is_available() else "cpu:64")
    rows = []
    for case in cases.split(","):
        dev, res = case.split(":")
        device = torch.device(dev)
        batch = args.batch or (32 if device.type == "cuda" else 8)
        cbase = args.cbase or (16384 if device.type == "cuda" else 4096)
        rows.append(measure(device, int(res), batch, cbase, args.iters))
    table = Table(title=f"StyleGAN2 training throughput (R1 every 16, path length every 4, style mixing 0.9; "
                        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads)")
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
                        for v in row.values()))
    Console().print(table)


if __name__ == "__main__":
    main()
