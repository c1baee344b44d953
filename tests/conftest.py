"""Shared fixtures: an isolated environment per test, the toy plugin, CLI runner settings."""

from __future__ import annotations

from pathlib import Path

import pytest

TOY_PLUGINS_DIR = Path(__file__).parent / "core" / "plugins_dir"

_ENV = ("GANFORGE_STRICT_PLUGINS", "GANFORGE_LOAD_PLUGINS", "GANFORGE_DISABLE_PLUGINS", "GANFORGE_TRACE_PLUGINS",
        "GANFORGE_PLUGINS_DIR", "GANFORGE_OPS", "GANFORGE_VERBOSE", "GANFORGE_OFFLINE")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path_factory):
    """No GANFORGE_* settings from the outside; a private cache dir; fresh plugin manager and registry."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GANFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("DNNLIB_CACHE_DIR", str(tmp_path_factory.mktemp("dnnlib")))  # never the user's cache
    monkeypatch.setenv("COLUMNS", "200")  # pin the terminal width for rich output in CLI tests
    from ganforge.core import flags, plugins

    plugins.set_plugins_dir(None)
    flags.set_ops_mode(None)
    yield
    plugins.set_plugins_dir(None)
    flags.set_ops_mode(None)


@pytest.fixture
def toy_plugins():
    """Load the toy plugin (tiny dataset, G and D) from its plugins dir for this test."""
    from ganforge.core import plugins

    plugins.set_plugins_dir(TOY_PLUGINS_DIR)
    yield TOY_PLUGINS_DIR
    plugins.set_plugins_dir(None)


def toy_config(outdir, **training):
    """A run file for the toy components: fast enough for many runs per test session."""
    base = {"kimg": 0.2, "batch": 16, "kimg_per_tick": 0.05, "progress": False, "tensorboard": False,
            "image_snapshot_ticks": None, "network_snapshot_ticks": None}
    base.update(training)
    return {"generator": "toy", "discriminator": "toy", "dataset": "toydata",
            "loss": {"name": "logistic"}, "regularizers": {"r1": {"gamma": 1.0, "interval": 4}},
            "training": base, "outdir": str(outdir)}


@pytest.fixture
def http_server():
    """A file server on 127.0.0.1 with failure modes (``tests/_http.py``); retries without delays."""
    from ganforge.core import download

    from tests._http import FileServer

    server = FileServer().start()
    old = download.RETRY_DELAY
    download.RETRY_DELAY = 0.0
    try:
        yield server
    finally:
        download.RETRY_DELAY = old
        server.stop()


@pytest.fixture
def cli():
    """Invoke the gan CLI in-process: cli(["list-plugins"]) -> click Result."""
    from typer.testing import CliRunner

    from ganforge.cli import make_app

    runner = CliRunner()

    def invoke(args, **kwargs):
        return runner.invoke(make_app(), args, catch_exceptions=False, **kwargs)

    return invoke
