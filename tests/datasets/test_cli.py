"""``gan dataset convert|info`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.datasets.dataset_helpers import png_bytes
from ganforge.cli.dataset import app
from ganforge.plugins.default_datasets import convert as convert_mod

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_convert_and_info(photo_folder: Path, tmp_path: Path, use_registry) -> None:
    out = tmp_path / "photos16.zip"
    result = invoke("convert", photo_folder, out, "--resolution", "16", "--max-images", "5")
    assert result.exit_code == 0, result.output
    assert f"Wrote 5 images (16x16 RGB, class labels) to {out}" in result.output
    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    for text in ("images (zip)", "16x16", "3 (RGB)", "class, dim 3", "0: 2, 1: 2, 2: 1", "first image only"):
        assert text in result.output
    result = invoke("info", out, "--json", "--check")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["count"] == 5 and summary["resolution"] == 16 and summary["problems"] == []


def test_convert_passes_options_through(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = {}

    def fake(source, dest, **kw):
        seen.update(source=source, dest=dest, **kw)
        return {"dest": str(dest), "count": 1, "resolution": 64, "channels": 1, "labels": "none",
                "skipped": [], "dropped": []}

    monkeypatch.setattr(convert_mod, "convert", fake)
    result = invoke("convert", "toyset", tmp_path / "t", "-r", "64x48", "--transform", "center-crop-wide",
                    "--skip-bad", "--set", "size=10", "--set", "freqs=[[0.1, 0.2]]")
    assert result.exit_code == 0, result.output
    assert seen == {"source": "toyset", "dest": tmp_path / "t", "resolution": "64x48",
                    "transform": "center-crop-wide", "max_images": None, "on_error": "skip",
                    "overrides": {"size": 10, "freqs": [[0.1, 0.2]]}}
    assert "Wrote 1 images (64x64 L)" in result.output


def test_errors_are_one_red_line_with_status_2(photo_folder: Path, tmp_path: Path, use_registry) -> None:
    (photo_folder / "a" / "img5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = invoke("convert", photo_folder, tmp_path / "o.zip")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {photo_folder}/a/img5.png: is ")
    assert "Traceback" not in result.output
    for args in (["convert", "nowhere", tmp_path / "x"],
                 ["convert", "shapes", tmp_path / "x", "--set", "sise=1"],
                 ["convert", photo_folder, tmp_path / "x", "--transform", "squash"], ["info", "nowhere"]):
        result = invoke(*args)
        assert result.exit_code == 2, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("Error: ")


def test_skip_bad_warns_and_check_fails(photo_folder: Path, tmp_path: Path, use_registry) -> None:
    (photo_folder / "b" / "img9.png").write_bytes(png_bytes(np.zeros([8, 8, 3], np.uint8)))
    result = invoke("info", photo_folder, "--check")
    assert result.exit_code == 1, result.output
    assert "2 problem(s)" in result.output and "8x8 RGB" in result.output  # wrong size, and no label
    assert "has no label for 1 image(s), e.g. 'b/img9.png'" in result.output
    result = invoke("convert", photo_folder, tmp_path / "o", "--skip-bad")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Warning: ") and "img9.png" in result.stderr
    assert "skipped 1" in result.stdout


def test_info_of_a_builtin_and_help(use_registry) -> None:
    result = invoke("info", "toyset", "--set", "size=3", "--set", "resolution=16")
    assert result.exit_code == 0, result.output
    assert "toyset16_3" in result.output and "generated in memory" in result.output
    result = invoke("--help")
    assert result.exit_code == 0 and "convert" in result.output and "info" in result.output
    assert invoke("convert", "-h").exit_code == 0
