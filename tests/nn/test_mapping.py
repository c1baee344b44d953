"""ganforge.nn.fully_connected and ganforge.nn.mapping: runtime parameters, layer widths, the
broadcast of w and per-ws truncation (StyleGAN2's formulas; see also tests/plugins/stylegan2)."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.nn.fully_connected import FullyConnectedLayer
from ganforge.nn.mapping import MappingNetwork


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_fully_connected_linear_without_bias():
    fc = FullyConnectedLayer(10, 3, bias=False, lr_multiplier=0.5)
    x = torch.randn(4, 10)
    assert fc.bias is None
    torch.testing.assert_close(fc(x), x @ (fc.weight * 0.5 / math.sqrt(10)).t())


def test_fully_connected_runtime_parameters():
    fc = FullyConnectedLayer(16, 2, lr_multiplier=0.25, bias_init=2.0)
    weight, bias = fc.runtime_parameters(torch.float64)
    assert weight.dtype == bias.dtype == torch.float64
    torch.testing.assert_close(weight, fc.weight.double() * 0.25 / 4)
    assert torch.equal(bias, torch.full([2], 0.5, dtype=torch.float64))
    x = torch.randn(3, 16)
    torch.testing.assert_close(fc(x), x @ weight.float().t() + 0.5)


def test_mapping_layer_widths_and_buffers():
    m = MappingNetwork(z_dim=5, c_dim=3, w_dim=7, num_ws=2, num_layers=3, embed_features=4, layer_features=9)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items() if k.endswith("weight")}
    assert shapes == {"embed.weight": (4, 3), "fc0.weight": (9, 9), "fc1.weight": (9, 9),
                      "fc2.weight": (7, 9)}
    assert m.tracks_w_avg and m.w_avg.shape == (7,)
    single = MappingNetwork(z_dim=5, c_dim=0, w_dim=7, num_ws=None, num_layers=1, w_avg_beta=None)
    assert tuple(single.fc0.weight.shape) == (7, 5) and not single.tracks_w_avg
    assert set(single.state_dict()) == {"fc0.weight", "fc0.bias"}
    assert single(torch.randn(2, 5), None).shape == (2, 7)
    with pytest.raises(ValueError, match="running mean"):
        single(torch.randn(2, 5), None, truncation_psi=0.5)


def test_mapping_broadcast_is_a_writable_copy():
    m = MappingNetwork(z_dim=4, c_dim=0, w_dim=3, num_ws=4, num_layers=1)
    ws = m(torch.randn(2, 4), None)
    assert ws.shape == (2, 4, 3) and ws.is_contiguous()
    before = ws[:, 0].clone()
    ws[:, 2:] = 0  # style mixing writes into ws in place
    assert torch.equal(ws[:, 0], before) and torch.equal(ws[:, 2:], torch.zeros(2, 2, 3))


@pytest.mark.parametrize("cutoff", [None, 0, 2, 5, 9])
def test_truncation_pulls_the_first_cutoff_ws_towards_w_avg(cutoff):
    m = MappingNetwork(z_dim=4, c_dim=0, w_dim=3, num_ws=5, num_layers=1)
    m.w_avg.copy_(torch.randn(3))
    z = torch.randn(2, 4)
    ws = m(z, None)
    t = m(z, None, truncation_psi=0.3, truncation_cutoff=cutoff)
    k = 5 if cutoff is None else min(cutoff, 5)
    torch.testing.assert_close(t[:, :k], m.w_avg + 0.3 * (ws[:, :k] - m.w_avg))
    assert torch.equal(t[:, k:], ws[:, k:])  # strength 1 returns ws exactly


def test_w_avg_is_an_ema_of_the_batch_mean():
    m = MappingNetwork(z_dim=4, c_dim=2, w_dim=3, num_ws=2, num_layers=2, w_avg_beta=0.75)
    z, c = torch.randn(6, 4), torch.randn(6, 2)
    w = m(z, c)[:, 0]
    start = torch.randn(3)
    m.w_avg.copy_(start)
    m(z, c, update_emas=True)
    torch.testing.assert_close(m.w_avg, 0.75 * start + 0.25 * w.mean(0))
    assert not m.w_avg.requires_grad
