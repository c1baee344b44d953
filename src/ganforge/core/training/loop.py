"""The training loop: one readable unit, run once per process.

Structure (as the official StyleGAN3 loop, with exact resume and plugin hooks):

1. set-up: device, seeds, dataset, components, phases, optional restore of the complete state;
2. per iteration: fetch reals, draw latents from the shared latent generator, run each phase
   (accumulating over ``batch_gpu`` chunks, all-reducing gradients), update G_ema, adapt the
   augmentation;
3. per tick: reduce statistics, run hooks, NaN guard, image grid, network snapshot, resumable
   checkpoint, metrics, stop requests.
"""

from __future__ import annotations

import os
import random
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core import distributed as dist
from ganforge.core import stats
from ganforge.core.allocator import tune_cpu_allocator
from ganforge.core.checkpoint import copy_params_and_buffers, load_bundle, read_checkpoint
from ganforge.core.config import resolve_config
from ganforge.core.data import InfiniteSampler
from ganforge.core.errors import TrainingDivergedError
from ganforge.core.images import save_image_grid
from ganforge.core.loss import PhaseBatch
from ganforge.core.metrics import MetricContext, evaluate_metrics
from ganforge.core.plugins import get_plugin_manager, set_plugins_dir
from ganforge.core.registry import get_registry
from ganforge.core.training.progress import TrainingProgress, make_console
from ganforge.core.training.run import Run
from ganforge.core.training.setup import (
    Phase,
    build_components,
    build_dataset,
    make_phases,
    render_images,
    select_device,
    setup_grid,
    update_ema,
)
from ganforge.core.training.state import restore_training_state, save_network_snapshot, save_training_state

__all__ = ["Job", "format_kimg", "training_loop"]


@dataclass
class Job:
    """Everything a training process needs (picklable, for spawned processes)."""

    config: dict[str, Any]
    run_dir: str
    resume: str | None = None
    resume_from: str | None = None
    plugins_dir: str | None = None


def format_kimg(nimg: int) -> str:
    """``nimg`` images as kimg without trailing zeros: 64 -> "0.064", 6000 -> "6"."""
    return f"{nimg / 1000:.3f}".rstrip("0").rstrip(".")


def _seed_everything(seed: int, rank: int, world: int) -> None:
    s = (seed * world + rank) % (1 << 31)
    np.random.seed(s)
    torch.manual_seed(s)
    random.seed(s)


def _configure_backends(training: Any, device: torch.device) -> None:
    if training.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = training.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = training.allow_tf32
    torch.backends.cudnn.allow_tf32 = training.allow_tf32
    if device.type == "cpu":
        tune_cpu_allocator()  # reuse large tensors' memory instead of faulting it in every step


def _step(phase: Phase, world: int, n_chunks: int) -> None:
    """Average gradients over chunks and processes, sanitise them, and take the optimiser step."""
    params = phase.params
    if not params:
        return
    present = torch.tensor([float(p.grad is not None) for p in params], device=params[0].device)
    flat = torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel(), device=p.device,
                                                                               dtype=p.dtype) for p in params])
    if world > 1:
        packed = dist.all_reduce_sum(torch.cat([flat, present]))
        flat, present = packed[: flat.numel()], packed[flat.numel():]
    flat = torch.nan_to_num(flat / (world * n_chunks), nan=0, posinf=1e5, neginf=-1e5)
    offset = 0
    for p, has in zip(params, present.tolist(), strict=True):
        n = p.numel()
        p.grad = flat[offset: offset + n].view_as(p).clone() if has else None
        offset += n
    phase.opt.step()


def _load_weights(run: Run, path: str) -> None:
    """``--resume-from``: copy matching weights from any loadable network file into the new networks."""
    bundle = load_bundle(path, device=run.device)
    pairs = (("G", bundle.G if bundle.G is not None else bundle.G_ema, run.G), ("D", bundle.D, run.D))
    for label, src, dst in pairs:
        if src is None:
            run.log(f"--resume-from: {path} holds no {label}; {label} starts from its initialisation")
            continue
        rep = copy_params_and_buffers(src, dst)
        run.log(f"--resume-from: copied {len(rep['copied'])} tensors into {label}"
                + (f"; not in the file: {', '.join(rep['missing'][:5])}" if rep["missing"] else "")
                + (f"; shape differs: {', '.join(rep['mismatched'][:5])}" if rep["mismatched"] else ""))
    if bundle.G_ema is not None:
        copy_params_and_buffers(bundle.G_ema, run.G_ema)
        run.extra["ema_from_file"] = True


def _divergence(tick_stats: dict[str, Any], run: Run) -> str | None:
    for name, row in tick_stats.items():
        if name.startswith("Loss/") and isinstance(row, dict) and row.get("nonfinite", 0) > row.get("num", 0):
            return f"{name} was non-finite in {row['nonfinite']} of {row['nonfinite'] + row['num']} values this tick"
    for label, module in (("G", run.G), ("D", run.D)):
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                return f"{label}.{name} became non-finite"
    return None


def _loss_line(tick_stats: dict[str, Any]) -> str:
    parts = []
    for key, label in (("Loss/G/loss", "G"), ("Loss/D/loss", "D"), ("Loss/r1_penalty", "R1")):
        row = tick_stats.get(key)
        if isinstance(row, dict):
            parts.append(f"{label} {row['mean']:.3f}")
    return "  ".join(parts)


def training_loop(rank: int, world: int, init_method: str | None, job: Job) -> dict[str, Any]:
    # --- set-up -------------------------------------------------------------------------------------
    if job.plugins_dir is not None:
        set_plugins_dir(job.plugins_dir)
    registry, pm = get_registry(), get_plugin_manager()
    config, _ = resolve_config(job.config, registry=registry)
    t = config.training
    local_rank = int(os.environ["LOCAL_RANK"]) if "LOCAL_RANK" in os.environ else None
    device = select_device(t, rank, local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process(rank, world, device.type, init_method)
    stats.reset()
    stats.set_rank(rank)
    _seed_everything(t.seed, rank, world)
    _configure_backends(t, device)

    dataset = build_dataset(config, registry)
    info = dataset.info
    comps = build_components(config, info, registry, device)
    G, D, G_ema, augment, loss = comps["G"], comps["D"], comps["G_ema"], comps["augment"], comps["loss"]
    phases = make_phases(G, D, loss, t, comps["trainable"])
    latent_gen = torch.Generator().manual_seed(t.seed)  # shared by all ranks: the global batch is rank-independent
    collectors: dict[str, stats.Collector] = {}
    adapt_stat = getattr(augment, "adapt_stat", None) if hasattr(augment, "adapt") else None
    if adapt_stat:
        collectors["augment"] = stats.add_listener(stats.Collector(regex=adapt_stat))

    run_dir = Path(job.run_dir)
    console = make_console() if rank == 0 else None
    run = Run(config=config, run_dir=run_dir, info=info, rank=rank, world_size=world, device=device, G=G, D=D,
              G_ema=G_ema, augment=augment, loss=loss, dataset=dataset, console=console)
    progress = {"cur_nimg": 0, "cur_tick": 0, "batch_idx": 0, "tick_start_nimg": 0, "total_time": 0.0}
    if job.resume is not None:
        data = read_checkpoint(job.resume, map_location=device)
        progress = restore_training_state(run, data, phases, latent_gen, collectors, job.resume)
        run.resumed = True
        del data
    else:
        if job.resume_from is not None:
            _load_weights(run, job.resume_from)
        for module in (G, D):
            dist.broadcast_module(module)
        if not run.extra.get("ema_from_file"):
            G_ema.load_state_dict(G.state_dict())
        dist.broadcast_module(G_ema)
    cur_nimg, cur_tick, batch_idx = progress["cur_nimg"], progress["cur_tick"], progress["batch_idx"]
    tick_start_nimg = progress["tick_start_nimg"]
    run.cur_nimg, run.cur_tick, run.batch_idx = cur_nimg, cur_tick, batch_idx

    per_rank = t.batch // world
    batch_gpu = t.batch_gpu or per_rank
    n_chunks = per_rank // batch_gpu
    sampler = InfiniteSampler(len(dataset), rank, world, shuffle=True, seed=t.seed, start=batch_idx * t.batch,
                              block=per_rank)
    workers = t.workers if t.workers is not None else (3 if device.type == "cuda" else 0)
    loader = iter(torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=per_rank, num_workers=workers, pin_memory=device.type == "cuda",
        prefetch_factor=2 if workers else None, persistent_workers=workers > 0))
    has_labels = info.label_dim > 0
    z_dim = int(G.z_dim)

    grid = None
    if rank == 0:
        grid = setup_grid(dataset, info, t, z_dim, seed=t.seed)
        if not run.resumed:
            run.log(f"Run directory: {run_dir}")
            run.log(f"Data: {len(dataset)} images of {info.channels}x{info.resolution}x{info.resolution}, "
                    f"label_dim {info.label_dim}; G {config.generator.name} "
                    f"({sum(p.numel() for p in G.parameters()) / 1e6:.2f} M params), D {config.discriminator.name} "
                    f"({sum(p.numel() for p in D.parameters()) / 1e6:.2f} M params); {world} process(es) on {device}")
            save_image_grid(grid[1], run_dir / "reals.png", grid[0], drange=(0, 255))
            save_image_grid(render_images(G_ema, grid[2], grid[3], device, batch_gpu), run_dir / "fakes_init.png",
                            grid[0])
        else:
            run.log(f"Resuming {run_dir} at {format_kimg(cur_nimg)} kimg (tick {cur_tick}).")
    pm.hook.ganforge_run_start(run=run)

    # --- main loop --------------------------------------------------------------------------------
    start_time = time.time() - progress["total_time"]
    tick_start_time = time.time()
    maintenance = 0.0
    status = "done"
    set_progress = [m for m in (G, D, G_ema) if hasattr(m, "set_progress")]
    process_reals = getattr(D, "process_reals", None)
    with TrainingProgress(console or make_console(), run.total_nimg, cur_nimg,
                          enabled=rank == 0 and t.progress) as bar:
        while True:
            for module in set_progress:
                module.set_progress(cur_nimg)

            # Fetch reals and draw the global batch of latents/labels; keep this rank's slice.
            images, labels = next(loader)
            real_img = images.to(device, non_blocking=True).to(torch.float32) / 127.5 - 1
            if process_reals is not None:  # e.g. PGGAN's real-image blending during fade-ins
                real_img = process_reals(real_img)
            real_img = real_img.split(batch_gpu)
            real_c = labels.to(device, non_blocking=True).to(torch.float32).split(batch_gpu)
            mine = slice(rank * per_rank, (rank + 1) * per_rank)
            all_z = torch.randn([len(phases), t.batch, z_dim], generator=latent_gen)[:, mine].to(device)
            if has_labels:
                idx = torch.randint(len(dataset), [len(phases), t.batch], generator=latent_gen)[:, mine]
                all_c = torch.from_numpy(np.stack([[dataset.get_label(int(i)) for i in row] for row in idx]))
                all_c = all_c.to(device)
            else:
                all_c = torch.zeros([len(phases), per_rank, info.label_dim], device=device)

            # Phases: accumulate over chunks, then one optimiser step.
            for phase, phase_z, phase_c in zip(phases, all_z, all_c, strict=True):
                if batch_idx % phase.interval != 0:
                    continue
                phase.opt.zero_grad(set_to_none=True)
                for p in phase.params:
                    p.requires_grad_(True)
                for r_img, r_c, g_z, g_c in zip(real_img, real_c, phase_z.split(batch_gpu), phase_c.split(batch_gpu),
                                                strict=True):
                    loss.accumulate_gradients(phase.name, PhaseBatch(real_img=r_img, real_c=r_c, gen_z=g_z, gen_c=g_c,
                                                                     gain=phase.interval, cur_nimg=cur_nimg))
                for p in phase.params:
                    p.requires_grad_(False)
                _step(phase, world, n_chunks)

            update_ema(G, G_ema, t, cur_nimg)
            cur_nimg += t.batch
            batch_idx += 1

            # Adaptive augmentation (ADA): adjust p from the statistic it watches.
            if adapt_stat and batch_idx % augment.adapt_interval == 0:
                values = collectors["augment"].reduce([adapt_stat], all_reduce=dist.all_reduce_sum if world > 1 else None)
                if adapt_stat in values:
                    augment.adapt(values[adapt_stat]["mean"], t.batch * augment.adapt_interval)
            bar.update(cur_nimg)

            done = cur_nimg >= run.total_nimg
            if not done and cur_tick != 0 and cur_nimg < tick_start_nimg + t.kimg_per_tick * 1000:
                continue

            # --- tick ---------------------------------------------------------------------------
            tick_end = time.time()
            stats.report0("Progress/tick", cur_tick)
            stats.report0("Progress/kimg", cur_nimg / 1e3)
            stats.report0("Timing/total_sec", tick_end - start_time)
            stats.report0("Timing/sec_per_tick", tick_end - tick_start_time)
            stats.report0("Timing/sec_per_kimg", (tick_end - tick_start_time) / max(cur_nimg - tick_start_nimg, 1) * 1e3)
            stats.report0("Timing/maintenance_sec", maintenance)
            stats.report0("Resources/cpu_mem_gb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
            if device.type == "cuda":
                stats.report0("Resources/peak_gpu_mem_gb", torch.cuda.max_memory_allocated(device) / 2**30)
                torch.cuda.reset_peak_memory_stats(device)
            if augment is not None and hasattr(augment, "p"):
                stats.report0("Progress/augment", float(augment.p))
            names = sorted(set().union(*dist.all_gather_object(stats.collector().names())))
            tick_stats: dict[str, Any] = stats.collector().reduce(names, all_reduce=dist.all_reduce_sum if world > 1 else None)
            tick_stats["timestamp"] = time.time()
            run.cur_nimg, run.cur_tick, run.batch_idx = cur_nimg, cur_tick, batch_idx
            pm.hook.ganforge_run_tick(run=run, stats=tick_stats)
            bar.update(cur_nimg, _loss_line(tick_stats))

            problem = _divergence(tick_stats, run) if t.nan_guard else None
            problem = dist.broadcast_object(problem)
            if problem is not None:
                status = "diverged"
                pm.hook.ganforge_run_end(run=run, status=status)
                ckpt = run_dir / "checkpoint.pt"
                dist.shutdown()
                raise TrainingDivergedError(
                    f"training diverged at {format_kimg(cur_nimg)} kimg: {problem}. Nothing was written for this tick; "
                    f"the last good state is {ckpt if ckpt.exists() else 'not available (no checkpoint yet)'}. "
                    f"Try a lower learning rate or a larger R1 gamma, then resume with --resume {run_dir}.")

            maintenance_start = time.time()
            stop = bool(dist.broadcast_object(pm.hook.ganforge_run_should_stop(run=run, stats=tick_stats)
                                              if rank == 0 else None))
            final = done or stop
            if rank == 0 and grid is not None and t.image_snapshot_ticks and (final or cur_tick % t.image_snapshot_ticks == 0):
                fakes = render_images(G_ema, grid[2], grid[3], device, batch_gpu)
                save_image_grid(fakes, run_dir / f"fakes{cur_nimg // 1000:06d}.png", grid[0])
            snapshot = None
            counters = {"cur_nimg": cur_nimg, "cur_tick": cur_tick + 1, "batch_idx": batch_idx,
                        "tick_start_nimg": cur_nimg, "total_time": time.time() - start_time}
            if final or (t.network_snapshot_ticks and cur_tick % t.network_snapshot_ticks == 0):
                snapshot = dist.broadcast_object(save_network_snapshot(run, counters))
            if final or cur_tick % t.checkpoint_ticks == 0:
                save_training_state(run, phases, latent_gen, counters, collectors)
            if snapshot is not None and config.metrics:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    ctx = MetricContext(G=G_ema, info=info, dataset_config=config.dataset, device=device, rank=rank,
                                        world_size=world, network_path=str(snapshot), run_dir=run_dir, seed=t.seed)
                    for record in evaluate_metrics(config.metrics, ctx, registry):
                        run.log(f"Metric {record['metric']}: {record['results']}")

            cur_tick += 1
            tick_start_nimg = cur_nimg
            tick_start_time = time.time()
            maintenance = tick_start_time - maintenance_start
            if final:
                status = "done" if done else "stopped"
                break

    pm.hook.ganforge_run_end(run=run, status=status)
    if rank == 0:
        run.log(f"Training {'complete' if status == 'done' else 'stopped'} at {format_kimg(cur_nimg)} kimg: {run_dir}")
    if hasattr(dataset, "close"):
        dataset.close()
    stats.reset()
    dist.shutdown()
    return {"status": status, "cur_nimg": cur_nimg, "run_dir": str(run_dir)}
