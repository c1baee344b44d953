"""The built wheel ships the C++/CUDA sources the loader compiles on users' machines."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path


from ganforge.ops import _build

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_contains_csrc(tmp_path):
    # build from a copy, so no build/ or egg-info lands in the working tree (about 10 s, offline)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, project / name)
    dist = tmp_path / "dist"
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                             "-w", str(dist), str(project)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = dist.glob("ganforge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = {p.name for p in _build.CSRC.iterdir() if p.suffix in (".cu", ".cpp", ".h", ".cuh")}
    needed = {f for op in _build.OPS.values() for f in (*op.sources, *op.headers)}
    assert needed <= sources
    missing = {f for f in sources if f"ganforge/ops/csrc/{f}" not in names}
    assert not missing, f"not in the wheel: {sorted(missing)}"
