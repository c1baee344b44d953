"""Third-party plugins installed as distributions: the DCGAN example, broken and clashing plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.core.plugins import GanforgePluginWarning, make_plugin_manager
from ganforge.core.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "ganforge-dcgan"


def _env(extra_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(extra_path), str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.pop("GANFORGE_PLUGINS_DIR", None)
    return env


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """pip-install the example distribution into a private target directory (no network, no deps)."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("src") / "ganforge-dcgan"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True)
    assert (target / "ganforge_dcgan").is_dir()
    assert list(target.glob("ganforge_dcgan-*.dist-info"))
    return target


def test_installed_example_is_listed(installed_example):
    out = subprocess.run([sys.executable, "-m", "ganforge", "list-plugins", "--json"], env=_env(installed_example),
                         capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    row = next(r for r in report["plugins"] if r["name"] == "dcgan")
    assert row["source"] == "entry point" and row["version"] == "0.1.0" and row["dist"] == "ganforge-dcgan"
    assert row["components"] == {"discriminator": ["dcgan"], "generator": ["dcgan"]}
    assert report["failed"] == []


def test_installed_example_trains(installed_example, tmp_path):
    cmd = [sys.executable, "-m", "ganforge", "run", "--generator", "dcgan", "--disc", "dcgan", "--data", "shapes",
           "--set", "dataset.resolution=16", "--set", "dataset.size=64", "--set", "generator.width=8",
           "--set", "discriminator.width=8", "--kimg", "0.1", "--batch", "8", "--tick", "0.05",
           "--set", "training.tensorboard=false", "--outdir", str(tmp_path)]
    out = subprocess.run(cmd, env=_env(installed_example), capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = next(tmp_path.iterdir())
    assert "dcgan-dcgan" in run_dir.name
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "fakes_init.png").is_file()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["generator"]["name"] == "dcgan" and config["generator"]["width"] == 8


def _fake_dist(target: Path, dist: str, ep_name: str, module: str, source: str) -> None:
    """Install a distribution the way pip lays it out: module + dist-info with entry_points.txt."""
    (target / f"{module}.py").write_text(source)
    info = target / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[ganforge]\n{ep_name} = {module}\n")
    (info / "RECORD").write_text("")


CLASH = '''
from typing import Literal
from ganforge import hookimpl
from ganforge.core.config import ComponentConfig
from ganforge.core.specs import GeneratorSpec

class C(ComponentConfig):
    name: Literal["pggan"] = "pggan"

@hookimpl
def ganforge_register_generators():
    return [GeneratorSpec(name="pggan", factory=print, config=C)]
'''


def test_broken_and_clashing_distributions_are_skipped(tmp_path, monkeypatch):
    _fake_dist(tmp_path, "gf-broken", "broken", "gf_broken_mod", "raise ImportError('missing dependency xyz')\n")
    _fake_dist(tmp_path, "gf-clash", "clash", "gf_clash_mod", CLASH)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(GanforgePluginWarning) as caught:
        pm = make_plugin_manager()
        reg = Registry.from_plugin_manager(pm)
    messages = " ".join(str(w.message) for w in caught)
    assert "broken" in messages and "missing dependency xyz" in messages and "clash" in messages
    failed = {f.name: f for f in pm.failures}
    assert failed["broken"].dist == "gf-broken" and failed["broken"].version == "0.3"
    assert "registered twice" in failed["clash"].error
    assert reg.provider("generator", "pggan") == "pggan"  # the built-in keeps working
    monkeypatch.setenv("GANFORGE_STRICT_PLUGINS", "1")
    from ganforge.core.errors import PluginLoadError

    with pytest.raises(PluginLoadError, match="missing dependency xyz"):
        make_plugin_manager()


def test_cli_lists_failures(tmp_path):
    _fake_dist(tmp_path, "gf-broken", "broken", "gf_broken_mod2", "raise RuntimeError('kaboom')\n")
    out = subprocess.run([sys.executable, "-m", "ganforge", "list-plugins"], env=_env(tmp_path), capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stderr
    assert "Failed to load" in out.stdout and "kaboom" in out.stdout and "broken" in out.stdout
    assert "pggan" in out.stdout  # the rest keeps working
