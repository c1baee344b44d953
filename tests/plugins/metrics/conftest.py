"""Fixtures of the metric tests: a trained toy network, image folders, a tiny style-based generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import toy_config


@pytest.fixture(autouse=True)
def _fresh_detectors():
    from ganforge.plugins.default_metrics.detectors import clear_detectors

    clear_detectors()
    yield
    clear_detectors()


@pytest.fixture
def toy_network(toy_plugins, tmp_path):
    """A network snapshot of a very short toy run (in a run directory with config.json)."""
    import ganforge

    result = ganforge.train(toy_config(tmp_path / "runs", kimg=0.05, network_snapshot_ticks=1))
    snaps = sorted(result.run_dir.glob("network-snapshot-*.pt"))
    assert snaps
    return snaps[-1]


def write_images(folder, n, size=(16, 16), seed=0, scale=255, offset=0):
    """``n`` random RGB PNGs in ``folder`` (sizes may be a list to mix sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = size[i % len(size)] if isinstance(size, list) else size
        arr = (rng.random((h, w, 3)) * scale + offset).clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"img{i:04d}.png")
    return folder


class TinyStyleG(torch.nn.Module):
    """A minimal style-based generator (mapping + synthesis with a noise buffer) for PPL tests."""

    def __init__(self, z_dim=8, w_dim=8, res=16, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.c_dim, self.w_dim, self.img_resolution, self.img_channels = z_dim, 0, w_dim, res, 3
        self.map = torch.nn.Linear(z_dim, w_dim)
        self.to_img = torch.nn.Linear(w_dim, 3 * res * res)
        self.register_buffer("noise_const", torch.zeros(1, 1, res, res))

    def mapping(self, z, c, **kwargs):
        return torch.tanh(self.map(z)).unsqueeze(1).repeat(1, 2, 1)  # [N, num_ws=2, w_dim]

    def synthesis(self, ws, noise_mode="random", **kwargs):
        img = torch.tanh(self.to_img(ws.mean(1))).view(-1, 3, self.img_resolution, self.img_resolution)
        return img + 0.01 * self.noise_const

    def forward(self, z, c, **kwargs):
        return self.synthesis(self.mapping(z, c))
