"""Every pairing, proven: generator x discriminator x base loss over the registry.

For each combination :func:`pairing_verdict` says, using only the compatibility checker
(``ganforge.core.compat``), whether ganforge refuses it before anything is allocated and why;
:func:`train_one_step` builds a combination the checker accepts at a tiny size (the specs' ``tiny``
options) and takes one training iteration on CPU (every phase, lazy ones included), checking that
every loss and every weight stays finite. ``docs/compatibility.md`` is :func:`render_markdown` of the
verdicts (``python -m ganforge.testing.pairs > docs/compatibility.md``); the test suite checks that
the file is current and that every pair it lists as working does train.

Third-party authors get the same check for their components::

    from ganforge.testing import parametrize_pairs

    @parametrize_pairs(generators=["dcgan"])
    def test_pairs(generator, discriminator, loss):
        assert_pair_trains(generator, discriminator, loss)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from ganforge.core.specs import DataInfo

__all__ = ["PairVerdict", "pairing_verdict", "pairing_matrix", "train_one_step", "assert_pair_trains",
           "render_markdown", "parametrize_pairs", "RESOLUTIONS"]

#: Resolutions tried, smallest first: a pair is checked at the smallest one both networks accept.
RESOLUTIONS = (16, 32, 64)
_BATCH = 4


@dataclass(frozen=True)
class PairVerdict:
    """Whether a generator/discriminator/loss combination is refused, and why."""

    generator: str
    discriminator: str
    loss: str
    resolution: int
    problems: tuple[str, ...]

    @property
    def works(self) -> bool:
        return not self.problems


def _registry(registry: Any) -> Any:
    if registry is None:
        from ganforge.core.registry import get_registry

        registry = get_registry()
    return registry


def _resolution(gspec: Any, dspec: Any) -> int:
    for res in RESOLUTIONS:
        info = DataInfo(res)
        if not gspec.data_problems(info) and not dspec.data_problems(info):
            return res
    return RESOLUTIONS[-1]  # the checker will say what is wrong


def run_config(generator: str, discriminator: str, loss: str, registry: Any = None) -> tuple[Any, DataInfo]:
    """The resolved tiny run of a combination (components' suggestions applied as in a real run)."""
    from ganforge.core.config import resolve_config

    registry = _registry(registry)
    gspec, dspec = registry.get("generator", generator), registry.get("discriminator", discriminator)
    lspec = registry.get("loss", loss)
    res = _resolution(gspec, dspec)
    data = {
        "generator": {"name": generator, **gspec.tiny}, "discriminator": {"name": discriminator, **dspec.tiny},
        "loss": {"name": loss, **lspec.tiny}, "dataset": {"name": "shapes", "resolution": res, "size": 64},
        "training": {"batch": _BATCH, "kimg": 0.004, "device": "cpu", "progress": False, "tensorboard": False},
    }
    config, _ = resolve_config(data, registry=registry)
    return config, DataInfo(resolution=res, channels=3, label_dim=0, name="shapes")


def pairing_verdict(generator: str, discriminator: str, loss: str, registry: Any = None) -> PairVerdict:
    """What the compatibility checker says of the combination (nothing is built)."""
    from ganforge.core.compat import compatibility_problems

    registry = _registry(registry)
    config, info = run_config(generator, discriminator, loss, registry)
    problems = compatibility_problems(config, info, registry)
    return PairVerdict(generator, discriminator, loss, info.resolution, tuple(problems))


def pairing_matrix(registry: Any = None, generators: Any = None, discriminators: Any = None,
                   losses: Any = None) -> list[PairVerdict]:
    """Verdicts of every combination (or of the named components)."""
    registry = _registry(registry)
    return [pairing_verdict(g, d, loss, registry)
            for g in (generators or registry.names("generator"))
            for d in (discriminators or registry.names("discriminator"))
            for loss in (losses or registry.names("loss"))]


def train_one_step(generator: str, discriminator: str, loss: str, registry: Any = None) -> dict[str, float]:
    """Build the combination at its tiny size and run one iteration of every phase on CPU.

    Returns the mean of every ``Loss/...`` statistic reported. Raises AssertionError when a loss or a
    weight is not finite, or when a phase leaves its network without gradients.
    """
    from ganforge.core import stats
    from ganforge.core.training.loop import Counters, IterationBatch, Loop, run_phases
    from ganforge.core.training.run import Run
    from ganforge.core.training.setup import build_components, build_dataset, make_phases

    registry = _registry(registry)
    config, _ = run_config(generator, discriminator, loss, registry)
    torch.manual_seed(0)
    dataset = build_dataset(config, registry)
    info, device = dataset.info, torch.device("cpu")
    comps = build_components(config, info, registry, device)
    phases = make_phases(comps["G"], comps["D"], comps["loss"], config.training, comps["trainable"], comps["aux"])
    run = Run(config=config, run_dir=None, info=info, device=device, G=comps["G"], D=comps["D"],  # type: ignore[arg-type]
              G_ema=comps["G_ema"], augment=comps["augment"], loss=comps["loss"],
              aux={n: a.module for n, a in comps["aux"].items()}, dataset=dataset)
    reals = torch.stack([torch.as_tensor(dataset[i][0]) for i in range(_BATCH)]).float() / 127.5 - 1
    batch = IterationBatch(real_img=(reals,), real_c=(torch.zeros(_BATCH, 0),),
                           z=torch.randn(len(phases), _BATCH, int(run.G.z_dim)),
                           c=torch.zeros(len(phases), _BATCH, 0))
    loop = Loop(run=run, phases=phases, loader=None, latent_gen=torch.Generator(), counters=Counters(),
                per_rank=_BATCH, batch_gpu=_BATCH)
    before = {name: [p.detach().clone() for p in phase.params] for name, phase in
              ((p.player, p) for p in phases)}
    stats.reset()
    run_phases(loop, batch)
    values = stats.collector().reduce()
    where = f"{generator} x {discriminator} x {loss}"
    bad = [name for name, row in values.items() if row.get("nonfinite") or not torch.isfinite(torch.tensor(row["mean"]))]
    assert not bad, f"{where}: non-finite statistics {bad}"
    for player, params in before.items():
        phase = next(p for p in phases if p.player == player)
        moved = any(not torch.equal(a, b.detach()) for a, b in zip(params, phase.params, strict=True))
        finite = all(torch.isfinite(p).all() for p in phase.params)
        assert finite, f"{where}: {player}'s weights became non-finite"
        assert moved or not params, f"{where}: {player}'s optimiser step changed no weight"
    return {name: row["mean"] for name, row in values.items() if name.startswith("Loss/")}


def assert_pair_trains(generator: str, discriminator: str, loss: str, registry: Any = None) -> None:
    """The pair is refused with a reason, or it trains one step with finite losses (the contract)."""
    verdict = pairing_verdict(generator, discriminator, loss, registry)
    if verdict.works:
        losses = train_one_step(generator, discriminator, loss, registry)
        assert "Loss/G/loss" in losses and "Loss/D/loss" in losses, losses
    else:
        assert all(isinstance(p, str) and p for p in verdict.problems)


def parametrize_pairs(generators: Any = None, discriminators: Any = None, losses: Any = None) -> Any:
    """``pytest.mark.parametrize("generator, discriminator, loss", ...)`` over the registry (or the named
    components), with readable ids."""
    import pytest

    registry = _registry(None)
    cases = [(g, d, loss) for g in (generators or registry.names("generator"))
             for d in (discriminators or registry.names("discriminator"))
             for loss in (losses or registry.names("loss"))]
    return pytest.mark.parametrize("generator, discriminator, loss", cases, ids=["-".join(c) for c in cases])


def render_markdown(verdicts: list[PairVerdict]) -> str:
    """``docs/compatibility.md``: one table of generator x discriminator, then every refusal with its
    reasons."""
    gens = sorted({v.generator for v in verdicts})
    discs = sorted({v.discriminator for v in verdicts})
    losses = sorted({v.loss for v in verdicts})
    by = {(v.generator, v.discriminator, v.loss): v for v in verdicts}
    lines = [
        "# Which components work together",
        "",
        "Generated by `python -m ganforge.testing.pairs > docs/compatibility.md` from the compatibility",
        "checker (what the components declare); `tests/core/test_pairings.py` keeps it current and trains",
        "one step of every generator x discriminator pair marked as working (at a tiny size, on CPU, every",
        "phase, finite losses; `pytest -m slow` trains every pair with every loss).",
        "Each cell lists the base losses the pair trains with; a refused combination is explained below.",
        "The pairs were checked on 3-channel unlabelled data at the smallest resolution both networks accept;",
        "other data may add requirements (labels, channels), which `gan run` reports before it starts.",
        "",
        "| generator \\ discriminator | " + " | ".join(f"`{d}`" for d in discs) + " |",
        "| --- | " + " | ".join("---" for _ in discs) + " |",
    ]
    for g in gens:
        cells = []
        for d in discs:
            ok = [loss for loss in losses if by[(g, d, loss)].works]
            cells.append(", ".join(ok) if len(ok) < len(losses) else "all" if ok else "refused")
            if not ok:
                cells[-1] = "refused"
        lines.append(f"| `{g}` | " + " | ".join(cells) + " |")
    lines += ["", f"Base losses: {', '.join(f'`{loss}`' for loss in losses)} (\"all\": every one).", ""]
    refused = [v for v in verdicts if not v.works]
    if refused:
        lines += ["## Refused combinations", ""]
        for v in refused:
            reasons = "; ".join(v.problems)
            lines.append(f"- `{v.generator}` x `{v.discriminator}` x `{v.loss}` ({v.resolution}x{v.resolution}): "
                         f"{reasons}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m ganforge.testing.pairs > docs/compatibility.md
    sys.stdout.write(render_markdown(pairing_matrix()))
