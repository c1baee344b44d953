"""The training loop, run once per process, as a few named steps a researcher can follow.

::

    loop = set_up(rank, world, init_method, job)      # device, seeds, data, components, phases, resume
    hook ganforge_run_start
    repeat:
        batch = next_batch(loop)                       # reals, and latents/labels for every phase
        run_phases(loop, batch)                        # Gmain, Greg, Dmain, Dreg, aux: accumulate, step
        end_iteration(loop)                            # G_ema, adaptive augmentation, counters
        if a tick ended: end_tick(loop)                # stats, hooks, NaN guard, images, snapshots,
                                                       # checkpoint, metrics, stop requests
    hook ganforge_run_end

What the steps may ask of components is a typed protocol each (``ganforge.core.protocols``):
networks that follow progress (``set_progress``), discriminators that adapt reals
(``process_reals``), augmentations that adapt their strength (``adapt``). Losses follow the phase
contract of ``ganforge.core.loss``.
"""

from __future__ import annotations

import os
import random
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.core import distributed as dist
from ganforge.core import stats
from ganforge.core.allocator import tune_cpu_allocator
from ganforge.core.checkpoint import copy_params_and_buffers, load_bundle, read_checkpoint
from ganforge.core.config import RunConfig, is_resolved, resolve_config
from ganforge.core.data import InfiniteSampler
from ganforge.core.errors import TrainingDivergedError
from ganforge.core.images import save_image_grid
from ganforge.core.loss import PhaseBatch
from ganforge.core.metrics import MetricContext, evaluate_metrics
from ganforge.core.plugins import get_plugin_manager, set_plugins_dir
from ganforge.core.protocols import AdaptiveAugment, HasStrength, ProgressAware, RealsPreprocessor
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

__all__ = ["Job", "Counters", "Loop", "IterationBatch", "format_kimg", "training_loop", "set_up", "next_batch",
           "run_phases", "end_iteration", "end_tick"]


@dataclass
class Job:
    """Everything a training process needs. ``config`` is the resolved :class:`RunConfig` when the
    loop runs in the calling process, its dict when processes are spawned (it is validated there once)."""

    config: RunConfig | dict[str, Any]
    run_dir: str
    resume: str | None = None
    resume_from: str | None = None
    plugins_dir: str | None = None


@dataclass
class Counters:
    """Progress of the run, saved in checkpoints."""

    cur_nimg: int = 0  # real images shown to D
    cur_tick: int = 0
    batch_idx: int = 0  # iterations
    tick_start_nimg: int = 0
    total_time: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IterationBatch:
    """One iteration's inputs: this rank's reals in ``batch_gpu`` chunks, latents and labels per phase."""

    real_img: tuple[torch.Tensor, ...]  # chunks of [batch_gpu, C, H, W] in [-1, 1]
    real_c: tuple[torch.Tensor, ...]  # chunks of [batch_gpu, c_dim]
    z: torch.Tensor  # [len(phases), per_rank, z_dim]
    c: torch.Tensor  # [len(phases), per_rank, c_dim]


@dataclass
class Loop:
    """What the steps share."""

    run: Run
    phases: list[Phase]
    loader: Any
    latent_gen: torch.Generator  # shared by all ranks: the global batch does not depend on the rank
    counters: Counters
    per_rank: int
    batch_gpu: int
    collectors: dict[str, stats.Collector] = field(default_factory=dict)
    grid: tuple[Any, ...] | None = None
    bar: Any = None
    start_time: float = field(default_factory=time.time)
    tick_start_time: float = field(default_factory=time.time)
    maintenance: float = 0.0

    @property
    def hooks(self) -> Any:
        return get_plugin_manager().hook


def format_kimg(nimg: int) -> str:
    """``nimg`` images as kimg without trailing zeros: 64 -> "0.064", 6000 -> "6"."""
    return f"{nimg / 1000:.3f}".rstrip("0").rstrip(".")


# --- set-up -------------------------------------------------------------------------------------------


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


def _make_loader(dataset: Any, run: Run, counters: Counters, per_rank: int) -> Any:
    t = run.config.training
    sampler = InfiniteSampler(len(dataset), run.rank, run.world_size, shuffle=True, seed=t.seed,
                              start=counters.batch_idx * t.batch, block=per_rank)
    workers = t.workers if t.workers is not None else (3 if run.device.type == "cuda" else 0)
    return iter(torch.utils.data.DataLoader(
        dataset, sampler=sampler, batch_size=per_rank, num_workers=workers, pin_memory=run.device.type == "cuda",
        prefetch_factor=2 if workers else None, persistent_workers=workers > 0))


def set_up(rank: int, world: int, init_method: str | None, job: Job) -> Loop:
    """Device, seeds, dataset, components, phases; restore the complete state when resuming."""
    if job.plugins_dir is not None:
        set_plugins_dir(job.plugins_dir)
    registry = get_registry()
    config = job.config if is_resolved(job.config, registry) else resolve_config(job.config, registry=registry)[0]
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
    phases = make_phases(comps["G"], comps["D"], comps["loss"], t, comps["trainable"], comps["aux"])
    run = Run(config=config, run_dir=Path(job.run_dir), info=info, rank=rank, world_size=world, device=device,
              G=comps["G"], D=comps["D"], G_ema=comps["G_ema"], augment=comps["augment"], loss=comps["loss"],
              aux={name: net.module for name, net in comps["aux"].items()}, dataset=dataset,
              console=make_console() if rank == 0 else None)
    latent_gen = torch.Generator().manual_seed(t.seed)
    collectors: dict[str, stats.Collector] = {}
    augment = run.augment
    if isinstance(augment, AdaptiveAugment) and augment.adapt_stat:
        collectors["augment"] = stats.add_listener(stats.Collector(regex=augment.adapt_stat))
    counters = Counters()
    if job.resume is not None:
        data = read_checkpoint(job.resume, map_location=device)
        counters = Counters(**restore_training_state(run, data, phases, latent_gen, collectors, job.resume))
        run.resumed = True
        del data
    else:
        if job.resume_from is not None:
            _load_weights(run, job.resume_from)
        for module in (run.G, run.D, *run.aux.values()):
            dist.broadcast_module(module)
        if not run.extra.get("ema_from_file"):
            run.G_ema.load_state_dict(run.G.state_dict())
        dist.broadcast_module(run.G_ema)
    run.cur_nimg, run.cur_tick, run.batch_idx = counters.cur_nimg, counters.cur_tick, counters.batch_idx

    per_rank = t.batch // world
    loop = Loop(run=run, phases=phases, loader=_make_loader(dataset, run, counters, per_rank),
                latent_gen=latent_gen, counters=counters, per_rank=per_rank, batch_gpu=t.batch_gpu or per_rank,
                collectors=collectors, start_time=time.time() - counters.total_time)
    if rank == 0:
        loop.grid = setup_grid(dataset, info, t, int(run.G.z_dim), seed=t.seed)
        _announce(loop)
    return loop


def _announce(loop: Loop) -> None:
    run, grid = loop.run, loop.grid
    if run.resumed:
        run.log(f"Resuming {run.run_dir} at {format_kimg(loop.counters.cur_nimg)} kimg (tick {loop.counters.cur_tick}).")
        return
    config, info = run.config, run.info
    params = {label: sum(p.numel() for p in net.parameters()) / 1e6 for label, net in (("G", run.G), ("D", run.D))}
    run.log(f"Run directory: {run.run_dir}")
    run.log(f"Data: {len(run.dataset)} images of {info.channels}x{info.resolution}x{info.resolution}, "
            f"label_dim {info.label_dim}; G {config.generator.name} ({params['G']:.2f} M params), "
            f"D {config.discriminator.name} ({params['D']:.2f} M params); {run.world_size} process(es) on "
            f"{run.device}")
    save_image_grid(grid[1], run.run_dir / "reals.png", grid[0], drange=(0, 255))
    save_image_grid(render_images(run.G_ema, grid[2], grid[3], run.device, loop.batch_gpu),
                    run.run_dir / "fakes_init.png", grid[0])


# --- one iteration --------------------------------------------------------------------------------------


def next_batch(loop: Loop) -> IterationBatch:
    """Let networks follow progress, fetch this rank's reals, and draw the global batch of latents and
    labels from the shared latent generator (this rank keeps its slice)."""
    run, t = loop.run, loop.run.config.training
    for module in (run.G, run.D, run.G_ema):
        if isinstance(module, ProgressAware):
            module.set_progress(loop.counters.cur_nimg)
    images, labels = next(loop.loader)
    real = images.to(run.device, non_blocking=True).to(torch.float32) / 127.5 - 1  # [per_rank, C, H, W]
    if isinstance(run.D, RealsPreprocessor):  # e.g. PGGAN's real-image blending during fade-ins
        real = run.D.process_reals(real)
    real_c = labels.to(run.device, non_blocking=True).to(torch.float32)
    mine = slice(run.rank * loop.per_rank, (run.rank + 1) * loop.per_rank)
    n_phases = len(loop.phases)
    z = torch.randn([n_phases, t.batch, int(run.G.z_dim)], generator=loop.latent_gen)[:, mine].to(run.device)
    if run.info.label_dim > 0:
        idx = torch.randint(len(run.dataset), [n_phases, t.batch], generator=loop.latent_gen)[:, mine]
        c = torch.from_numpy(np.stack([[run.dataset.get_label(int(i)) for i in row] for row in idx])).to(run.device)
    else:
        c = torch.zeros([n_phases, loop.per_rank, run.info.label_dim], device=run.device)
    return IterationBatch(real_img=real.split(loop.batch_gpu), real_c=real_c.split(loop.batch_gpu), z=z, c=c)


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


def run_phases(loop: Loop, batch: IterationBatch) -> None:
    """Each phase due this iteration: accumulate its losses over the ``batch_gpu`` chunks, then one step."""
    run, bg = loop.run, loop.batch_gpu
    n_chunks = loop.per_rank // bg
    for phase, phase_z, phase_c in zip(loop.phases, batch.z, batch.c, strict=True):
        if loop.counters.batch_idx % phase.interval != 0:
            continue
        phase.opt.zero_grad(set_to_none=True)
        for p in phase.params:
            p.requires_grad_(True)
        for r_img, r_c, g_z, g_c in zip(batch.real_img, batch.real_c, phase_z.split(bg), phase_c.split(bg),
                                        strict=True):
            run.loss.accumulate_gradients(phase.name, PhaseBatch(
                real_img=r_img, real_c=r_c, gen_z=g_z, gen_c=g_c, gain=phase.interval,
                cur_nimg=loop.counters.cur_nimg))
        for p in phase.params:
            p.requires_grad_(False)
        _step(phase, run.world_size, n_chunks)


def end_iteration(loop: Loop) -> None:
    """G_ema, the counters, and the adaptive augmentation's strength."""
    run, t, counters = loop.run, loop.run.config.training, loop.counters
    update_ema(run.G, run.G_ema, t, counters.cur_nimg)
    counters.cur_nimg += t.batch
    counters.batch_idx += 1
    augment = run.augment
    if "augment" in loop.collectors and counters.batch_idx % augment.adapt_interval == 0:
        reduce = dist.all_reduce_sum if run.world_size > 1 else None
        values = loop.collectors["augment"].reduce([augment.adapt_stat], all_reduce=reduce)
        if augment.adapt_stat in values:
            augment.adapt(values[augment.adapt_stat]["mean"], t.batch * augment.adapt_interval)
    if loop.bar is not None:
        loop.bar.update(counters.cur_nimg)


def tick_due(loop: Loop) -> bool:
    """A tick ends every ``kimg_per_tick`` (and after the first iteration, and at the end)."""
    c, t = loop.counters, loop.run.config.training
    return c.cur_nimg >= loop.run.total_nimg or c.cur_tick == 0 or c.cur_nimg >= c.tick_start_nimg + t.kimg_per_tick * 1000


# --- one tick ------------------------------------------------------------------------------------------


def _report_progress(loop: Loop) -> None:
    c, run = loop.counters, loop.run
    now = time.time()
    stats.report0("Progress/tick", c.cur_tick)
    stats.report0("Progress/kimg", c.cur_nimg / 1e3)
    stats.report0("Timing/total_sec", now - loop.start_time)
    stats.report0("Timing/sec_per_tick", now - loop.tick_start_time)
    stats.report0("Timing/sec_per_kimg", (now - loop.tick_start_time) / max(c.cur_nimg - c.tick_start_nimg, 1) * 1e3)
    stats.report0("Timing/maintenance_sec", loop.maintenance)
    stats.report0("Resources/cpu_mem_gb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    if run.device.type == "cuda":
        stats.report0("Resources/peak_gpu_mem_gb", torch.cuda.max_memory_allocated(run.device) / 2**30)
        torch.cuda.reset_peak_memory_stats(run.device)
    if isinstance(run.augment, HasStrength):
        stats.report0("Progress/augment", float(run.augment.p))


def _divergence(tick_stats: dict[str, Any], run: Run) -> str | None:
    for name, row in tick_stats.items():
        if name.startswith("Loss/") and isinstance(row, dict) and row.get("nonfinite", 0) > row.get("num", 0):
            return f"{name} was non-finite in {row['nonfinite']} of {row['nonfinite'] + row['num']} values this tick"
    for label, module in (("G", run.G), ("D", run.D), *run.aux.items()):
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


def _stop_diverged(loop: Loop, problem: str) -> None:
    run = loop.run
    loop.hooks.ganforge_run_end(run=run, status="diverged")
    ckpt = run.run_dir / "checkpoint.pt"
    dist.shutdown()
    raise TrainingDivergedError(
        f"training diverged at {format_kimg(loop.counters.cur_nimg)} kimg: {problem}. Nothing was written for "
        f"this tick; the last good state is {ckpt if ckpt.exists() else 'not available (no checkpoint yet)'}. "
        f"Try a lower learning rate or a larger R1 gamma, then resume with --resume {run.run_dir}.")


def _save(loop: Loop, final: bool) -> None:
    """Image grid, network snapshot, resumable checkpoint, and the metrics of a new snapshot."""
    run, c, t = loop.run, loop.counters, loop.run.config.training
    if run.rank == 0 and loop.grid is not None and t.image_snapshot_ticks and (
            final or c.cur_tick % t.image_snapshot_ticks == 0):
        fakes = render_images(run.G_ema, loop.grid[2], loop.grid[3], run.device, loop.batch_gpu)
        save_image_grid(fakes, run.run_dir / f"fakes{c.cur_nimg // 1000:06d}.png", loop.grid[0])
    saved = Counters(c.cur_nimg, c.cur_tick + 1, c.batch_idx, c.cur_nimg, time.time() - loop.start_time).to_dict()
    snapshot = None
    if final or (t.network_snapshot_ticks and c.cur_tick % t.network_snapshot_ticks == 0):
        snapshot = dist.broadcast_object(save_network_snapshot(run, saved))
    if final or c.cur_tick % t.checkpoint_ticks == 0:
        save_training_state(run, loop.phases, loop.latent_gen, saved, loop.collectors)
    if snapshot is not None and run.config.metrics:
        with torch.random.fork_rng(devices=[run.device] if run.device.type == "cuda" else []):
            ctx = MetricContext(G=run.G_ema, info=run.info, dataset_config=run.config.dataset, device=run.device,
                                rank=run.rank, world_size=run.world_size, network_path=str(snapshot),
                                run_dir=run.run_dir, seed=t.seed)
            for record in evaluate_metrics(run.config.metrics, ctx, get_registry()):
                run.log(f"Metric {record['metric']}: {record['results']}")


def end_tick(loop: Loop) -> str | None:
    """Statistics, run hooks, the NaN guard, snapshots and stop requests. Returns the final status
    (``"done"``, ``"stopped"``) when training ends with this tick, else None."""
    run, c = loop.run, loop.counters
    _report_progress(loop)
    names = sorted(set().union(*dist.all_gather_object(stats.collector().names())))
    reduce = dist.all_reduce_sum if run.world_size > 1 else None
    tick_stats: dict[str, Any] = stats.collector().reduce(names, all_reduce=reduce)
    tick_stats["timestamp"] = time.time()
    run.cur_nimg, run.cur_tick, run.batch_idx = c.cur_nimg, c.cur_tick, c.batch_idx
    loop.hooks.ganforge_run_tick(run=run, stats=tick_stats)
    if loop.bar is not None:
        loop.bar.update(c.cur_nimg, _loss_line(tick_stats))

    problem = _divergence(tick_stats, run) if run.config.training.nan_guard else None
    problem = dist.broadcast_object(problem)
    if problem is not None:
        _stop_diverged(loop, problem)

    maintenance_start = time.time()
    asked = loop.hooks.ganforge_run_should_stop(run=run, stats=tick_stats) if run.rank == 0 else None
    stop = bool(dist.broadcast_object(asked))
    done = c.cur_nimg >= run.total_nimg
    _save(loop, final=done or stop)
    c.cur_tick += 1
    c.tick_start_nimg = c.cur_nimg
    loop.tick_start_time = time.time()
    loop.maintenance = loop.tick_start_time - maintenance_start
    if done or stop:
        return "done" if done else "stopped"
    return None


# --- the loop ------------------------------------------------------------------------------------------


def training_loop(rank: int, world: int, init_method: str | None, job: Job) -> dict[str, Any]:
    """Train until ``training.kimg`` (or a stop request); returns the status, images shown and run dir."""
    loop = set_up(rank, world, init_method, job)
    run = loop.run
    loop.hooks.ganforge_run_start(run=run)
    status = None
    t = run.config.training
    with TrainingProgress(run.console or make_console(), run.total_nimg, loop.counters.cur_nimg,
                          enabled=rank == 0 and t.progress) as bar:
        loop.bar = bar
        while status is None:
            batch = next_batch(loop)
            run_phases(loop, batch)
            end_iteration(loop)
            if tick_due(loop):
                status = end_tick(loop)
    loop.hooks.ganforge_run_end(run=run, status=status)
    if rank == 0:
        run.log(f"Training {'complete' if status == 'done' else 'stopped'} at {format_kimg(loop.counters.cur_nimg)} "
                f"kimg: {run.run_dir}")
    if hasattr(run.dataset, "close"):
        run.dataset.close()
    stats.reset()
    dist.shutdown()
    return {"status": status, "cur_nimg": loop.counters.cur_nimg, "run_dir": str(run.run_dir)}
