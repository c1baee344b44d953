#!/usr/bin/env python
"""Check the tree for statements transcribed from the upstream repositories.

Usage::

    python tools/check_upstream_copy.py              # everything under src/, benchmarks/, examples/, tools/
    python tools/check_upstream_copy.py FILE ...     # only these files

Prints each hit as ``path:line: statement`` with the upstream file it comes from and exits 1 on any
hit. The statements and the matching rules live in ``tests/test_provenance.py``, which runs the
same check in the test suite.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

GUARD = Path(__file__).resolve().parents[1] / "tests" / "test_provenance.py"


def main() -> int:
    spec = importlib.util.spec_from_file_location("ganforge_provenance_guard", GUARD)
    assert spec is not None and spec.loader is not None
    guard = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(guard)
    return guard.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
