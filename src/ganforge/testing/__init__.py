"""Test helpers for ganforge plugins, also for third-party authors.

``parametrize_with_checks`` runs the component contract checks over every registered component (or
the ones you name)::

    from ganforge.testing import parametrize_with_checks

    @parametrize_with_checks(kinds=("generator", "discriminator"), names=["dcgan"])
    def test_contract(spec, check):
        check(spec)

``parametrize_pairs`` and ``assert_pair_trains`` check that every pairing with your components is
either refused with a reason before anything is built, or trains one step with finite losses::

    from ganforge.testing import assert_pair_trains, parametrize_pairs

    @parametrize_pairs(generators=["dcgan"])
    def test_pairs(generator, discriminator, loss):
        assert_pair_trains(generator, discriminator, loss)

The ``ganforge`` pytest plugin (installed with the package) registers the ``gpu`` and ``slow``
markers and skips ``gpu`` tests cleanly when CUDA is unavailable.
"""

from ganforge.testing.checks import (
    CHECKS,
    check_discriminator,
    check_generator,
    contract_cases,
    info_for,
    parametrize_with_checks,
)

__all__ = ["assert_pair_trains", "pairing_matrix", "parametrize_pairs", "train_one_step", "CHECKS", "check_generator", "check_discriminator", "contract_cases", "info_for", "parametrize_with_checks"]

_PAIRS = ("assert_pair_trains", "pairing_matrix", "parametrize_pairs", "train_one_step")


def __getattr__(name: str):  # the pairing helpers load on first use (python -m ganforge.testing.pairs stays clean)
    if name in _PAIRS:
        from ganforge.testing import pairs

        return getattr(pairs, name)
    raise AttributeError(f"module 'ganforge.testing' has no attribute {name!r}")
