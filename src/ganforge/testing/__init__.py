"""Test helpers for ganforge plugins, also for third-party authors.

``parametrize_with_checks`` runs the component contract checks over every registered component (or
the ones you name)::

    from ganforge.testing import parametrize_with_checks

    @parametrize_with_checks(kinds=("generator", "discriminator"), names=["dcgan"])
    def test_contract(spec, check):
        check(spec)

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

__all__ = ["CHECKS", "check_generator", "check_discriminator", "contract_cases", "info_for", "parametrize_with_checks"]
