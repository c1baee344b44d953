"""Building blocks of the training loop: components, phases, EMA, RNG capture, image grids."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ganforge.core.config import RunConfig, TrainingConfig
from ganforge.core.images import grid_size_for
from ganforge.core.options import call_network
from ganforge.core.specs import DataInfo

__all__ = [
    "Phase",
    "select_device",
    "build_dataset",
    "build_components",
    "build_loss",
    "make_optimizer",
    "make_phases",
    "update_ema",
    "capture_rng",
    "restore_rng",
    "setup_grid",
    "render_images",
    "ema_kimg",
]


@dataclass
class Phase:
    """One phase of the iteration: ``Gmain``, ``Greg``, ``Gboth``, ``Dmain``, ``Dreg``, ``Dboth``, or
    ``<name>both`` for an auxiliary network."""

    name: str
    module: torch.nn.Module
    params: list[torch.nn.Parameter]
    opt: torch.optim.Optimizer
    interval: int
    player: str = ""

    def __post_init__(self) -> None:
        if not self.player:
            self.player = self.name[:-4] if self.name.endswith(("main", "both")) else self.name[:-3]


def select_device(training: TrainingConfig, rank: int = 0, local_rank: int | None = None) -> torch.device:
    want = training.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            from ganforge.core.errors import ConfigError

            raise ConfigError("CUDA was requested but torch.cuda.is_available() is False", "training.device")
        if want == "cuda":
            index = local_rank if local_rank is not None else rank % max(torch.cuda.device_count(), 1)
            return torch.device("cuda", index)
    return torch.device(want)


def build_dataset(config: RunConfig, registry: Any) -> Any:
    spec = registry.get("dataset", config.dataset.name)
    return spec.build(config.dataset)


def build_loss(config: RunConfig, info: DataInfo, registry: Any, G: torch.nn.Module, D: torch.nn.Module,
               augment: torch.nn.Module | None, device: torch.device) -> Any:
    """The base loss of ``config`` with its regularizer terms (which build their auxiliary networks)."""
    terms = [registry.get("regularizer", name).build(cfg) for name, cfg in config.regularizers.items()]
    return registry.get("loss", config.loss.name).build(
        config.loss, G=G, D=D, augment=augment, regularizers=terms, device=device, info=info)


def build_components(config: RunConfig, info: DataInfo, registry: Any, device: torch.device) -> dict[str, Any]:
    """G, D, G_ema, augment, loss and auxiliary networks on ``device`` (G_ema: a frozen copy of G)."""
    G = registry.get("generator", config.generator.name).build(config.generator, info).to(device)
    D = registry.get("discriminator", config.discriminator.name).build(config.discriminator, info).to(device)
    # parameters a network froze itself (requires_grad=False at construction) stay frozen for good
    trainable = {"G": _trainable(G), "D": _trainable(D)}
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    augment = None
    if config.augment is not None:
        augment = registry.get("augment", config.augment.name).build(config.augment, info)
        augment = augment.to(device).train().requires_grad_(False)
    loss = build_loss(config, info, registry, G, D, augment, device)
    aux = {}
    for name, net in loss.aux_networks().items():
        net.module.to(device)
        trainable[name] = _trainable(net.module)
        net.module.train().requires_grad_(False)
        aux[name] = net
    return {"G": G, "D": D, "G_ema": G_ema, "augment": augment, "loss": loss, "trainable": trainable, "aux": aux}


def _trainable(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Parameters the optimiser owns: those the network left trainable when it was built."""
    return [p for p in module.parameters() if p.requires_grad and p.numel() > 0]


def make_optimizer(params: list[torch.nn.Parameter], kind: str, lr: float, betas: tuple[float, float],
                   alpha: float, eps: float, ratio: float = 1.0) -> torch.optim.Optimizer:
    """Adam or RMSprop, with the lazy-regularization correction ``lr x ratio``, ``beta ** ratio``."""
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr * ratio, alpha=alpha, eps=eps)
    if kind != "adam":
        raise ValueError(f"unknown optimizer {kind!r}; expected 'adam' or 'rmsprop'")
    if ratio == 1.0:
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), eps=eps)
    return torch.optim.Adam(params, lr=lr * ratio, betas=tuple(b ** ratio for b in betas), eps=eps)


def make_phases(G: torch.nn.Module, D: torch.nn.Module, loss: Any, training: TrainingConfig,
                trainable: dict[str, list[torch.nn.Parameter]], aux: dict[str, Any] | None = None) -> list[Phase]:
    """G and D phases with lazy-regularization correction (lr x mb_ratio, beta^mb_ratio,
    mb_ratio = N / (N + 1)), then one phase per auxiliary network."""
    phases: list[Phase] = []
    for player, module, lr in (("G", G, training.glr), ("D", D, training.dlr)):
        params = trainable[player]
        interval = loss.reg_interval(player)
        common = (params, training.optimizer, lr, training.betas, training.rmsprop_alpha, training.eps)
        if interval is None:
            phases.append(Phase(f"{player}both", module, params, make_optimizer(*common), 1))
        else:
            opt = make_optimizer(*common, ratio=interval / (interval + 1))
            phases.append(Phase(f"{player}main", module, params, opt, 1))
            phases.append(Phase(f"{player}reg", module, params, opt, interval))
    for name, net in (aux or {}).items():
        params = trainable[name]
        opt = make_optimizer(params, net.optimizer, net.lr, net.betas, net.alpha, net.eps)
        phases.append(Phase(f"{name}both", net.module, params, opt, 1, player=name))
    return phases


def ema_kimg(training: TrainingConfig) -> float:
    return training.ema_kimg if training.ema_kimg is not None else training.batch * 10 / 32


@torch.no_grad()
def update_ema(G: torch.nn.Module, G_ema: torch.nn.Module, training: TrainingConfig, cur_nimg: int) -> None:
    """``p_ema = lerp(p, p_ema, beta)`` with ``beta = 0.5 ** (batch / ema_nimg)``; buffers copied verbatim."""
    ema_nimg = ema_kimg(training) * 1000
    if training.ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * training.ema_rampup)
    beta = 0.5 ** (training.batch / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters(), strict=True):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b.detach())


def capture_rng(device: torch.device, latent_gen: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state this process uses (torch, CUDA, numpy, Python, and ``latent_gen`` when given), in
    a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _py_state_to_plain(random.getstate()),
    }
    if latent_gen is not None:
        state["latent"] = latent_gen.get_state()
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device, latent_gen: torch.Generator | None = None) -> None:
    """Restore what :func:`capture_rng` captured (states a file lacks are left as they are)."""
    torch.set_rng_state(state["torch"])
    if "numpy" in state:
        np_state = state["numpy"]
        np.random.set_state(("MT19937", np_state["key"].numpy().astype(np.uint32), np_state["pos"],
                             np_state["has_gauss"], np_state["cached_gaussian"]))
    if "python" in state:
        random.setstate(_py_state_from_plain(state["python"]))
    if latent_gen is not None:
        latent_gen.set_state(state["latent"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _py_state_to_plain(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _py_state_from_plain(state: list[Any]) -> tuple[Any, ...]:
    return (state[0], tuple(state[1]), state[2])


def setup_grid(dataset: Any, info: DataInfo, training: TrainingConfig, z_dim: int,
               seed: int) -> tuple[tuple[int, int], np.ndarray, torch.Tensor, torch.Tensor]:
    """Grid size, real images, latents and labels of the snapshot grids (fixed for the whole run).

    As the official loop: random images; with labels, rows grouped by class.
    """
    gw, gh = grid_size_for(info.resolution, training.grid)
    rnd = np.random.RandomState(seed)
    n = len(dataset)
    if info.label_dim == 0 or dataset.class_index(0) is None:
        indices = [int(i) for i in rnd.randint(n, size=gw * gh)] if n < gw * gh else list(rnd.permutation(n)[: gw * gh])
    else:
        by_class: dict[int, list[int]] = {}
        for i in rnd.permutation(n)[: min(n, 100000)]:
            by_class.setdefault(dataset.class_index(int(i)), []).append(int(i))
        classes = sorted(by_class)
        indices = []
        for y in range(gh):
            members = by_class[classes[y % len(classes)]]
            indices += [members[x % len(members)] for x in range(gw)]
    items = [dataset[i] for i in indices]
    images = np.stack([img for img, _ in items])
    labels = torch.from_numpy(np.stack([lab for _, lab in items])).float()
    z = torch.from_numpy(np.random.RandomState(seed + 1).randn(gw * gh, z_dim)).float()
    return (gw, gh), images, z, labels


@torch.no_grad()
def render_images(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, device: torch.device,
                  batch: int) -> torch.Tensor:
    """G(z, c) in chunks with constant noise, without touching any global RNG state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        out = [call_network(G, zz.to(device), cc.to(device), noise_mode="const").float().cpu()
               for zz, cc in zip(z.split(batch), c.split(batch), strict=True)]
    return torch.cat(out)
