"""Every pairing, proven (issue: "every registered generator x every discriminator (x each base loss)").

The default run trains one step of every generator x discriminator pair the checker accepts, with
the base losses taken in turn (so each loss is exercised with several pairs); `pytest -m slow` trains
every generator x discriminator x loss. docs/compatibility.md must equal the rendered verdicts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganforge.core.registry import get_registry
from ganforge.testing.pairs import assert_pair_trains, pairing_matrix, pairing_verdict, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def _pairs():
    reg = get_registry()
    losses = reg.names("loss")
    pairs = [(g, d) for g in reg.names("generator") for d in reg.names("discriminator")]
    return [(g, d, losses[i % len(losses)]) for i, (g, d) in enumerate(pairs)]


def _all():
    reg = get_registry()
    return [(g, d, loss) for g in reg.names("generator") for d in reg.names("discriminator")
            for loss in reg.names("loss")]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(("generator", "discriminator", "loss"), _pairs(), ids=["-".join(c) for c in _pairs()])
def test_pair_is_refused_with_a_reason_or_trains(generator, discriminator, loss):
    assert_pair_trains(generator, discriminator, loss)


@pytest.mark.slow
@pytest.mark.parametrize(("generator", "discriminator", "loss"), _all(), ids=["-".join(c) for c in _all()])
def test_every_combination_with_every_loss(generator, discriminator, loss):
    assert_pair_trains(generator, discriminator, loss)


def test_compatibility_doc_is_current():
    text = render_markdown(pairing_matrix())
    assert (ROOT / "docs" / "compatibility.md").read_text() == text, \
        "docs/compatibility.md is stale: regenerate it with `python -m ganforge.testing.pairs > docs/compatibility.md`"


def test_a_refused_pair_names_its_reason():
    from ganforge import hookimpl
    from ganforge.core.config import ComponentConfig
    from ganforge.core.plugins import temporary_plugin
    from ganforge.core.specs import DiscriminatorSpec

    class Plugin:
        @hookimpl
        def ganforge_register_discriminators(self):
            from typing import Literal

            cfg = type("BigOnlyConfig", (ComponentConfig,), {"__annotations__": {"name": Literal["bigonly"]},
                                                             "name": "bigonly"})
            return [DiscriminatorSpec(factory=lambda cfg, info: None, config=cfg, min_resolution=128,
                                      requires=frozenset({"generator.input_transform"}))]

    with temporary_plugin(Plugin(), "bigonly"):
        verdict = pairing_verdict("pggan", "bigonly", "hinge")
        assert not verdict.works
        text = " ".join(verdict.problems)
        assert "at least 128x128" in text and "'input_transform'" in text
        assert "bigonly" in render_markdown([verdict])
