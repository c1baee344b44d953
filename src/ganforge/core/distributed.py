"""torch.distributed helpers: launching, reductions, rank-0 printing.

``gan run --gpus N`` starts N processes on this machine itself (``torch.multiprocessing``, a
file-based rendezvous); the same command under ``torchrun`` (``WORLD_SIZE``/``RANK``/``LOCAL_RANK``
set) joins the job torchrun describes, on one or several machines. The backend is NCCL on CUDA and
gloo on the CPU. Gradients are all-reduced manually per phase (as the official StyleGAN3 loop), so
frozen or unused parameters never trip DDP's unused-parameter checks.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "under_torchrun",
    "launch",
    "init_process",
    "is_distributed",
    "rank",
    "world_size",
    "all_reduce_sum",
    "all_gather_object",
    "broadcast_object",
    "broadcast_module",
    "barrier",
    "shutdown",
]


def under_torchrun() -> bool:
    """True when the environment describes a torchrun / torch.distributed.launch job."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def _backend(device_type: str) -> str:
    if device_type == "cuda" and dist.is_nccl_available():
        return "nccl"
    return "gloo"


def init_process(rank: int, world: int, device_type: str, init_method: str | None = None) -> None:
    """Join the process group (no-op for a single process outside torchrun)."""
    if world <= 1 or dist.is_initialized():
        return
    backend = _backend(device_type)
    if init_method is None:
        dist.init_process_group(backend=backend)  # env:// from torchrun
    else:
        dist.init_process_group(backend=backend, init_method=init_method, rank=rank, world_size=world)


def _spawn_entry(rank: int, fn: Callable[..., Any], world: int, init_file: str, args: tuple[Any, ...]) -> None:
    fn(rank, world, f"file://{init_file}", *args)


def launch(fn: Callable[..., Any], gpus: int, args: tuple[Any, ...] = ()) -> None:
    """Run ``fn(rank, world, init_method, *args)`` in every process of the job.

    Under torchrun the current process is one rank (``init_method=None`` means env://); otherwise
    ``gpus`` processes are started here (``gpus == 1`` runs in this process).
    """
    if under_torchrun():
        fn(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), None, *args)
        return
    if gpus <= 1:
        fn(0, 1, None, *args)
        return
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.abspath(os.path.join(tmp, ".torch_distributed_init"))
        mp.spawn(_spawn_entry, args=(fn, gpus, init_file, args), nprocs=gpus, join=True)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over processes (in place when distributed); returns the tensor."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather_object(obj: Any) -> list[Any]:
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every process."""
    if not is_distributed():
        return
    with torch.no_grad():
        for tensor in list(module.parameters()) + list(module.buffers()):
            if tensor.numel() > 0:
                dist.broadcast(tensor.data, src=src)


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
