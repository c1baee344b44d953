"""Path-length regularizer against a direct computation; its running mean in checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from ganforge.core.loss import PhaseBatch, PhaseContext
from ganforge.plugins.default_losses.losses import LogisticConfig, LogisticLoss
from ganforge.plugins.stylegan2.config import PathLengthConfig
from ganforge.plugins.stylegan2.path_length import PathLengthTerm
from tests.plugins.stylegan2.helpers import make_D, make_G, randomize


def _setup(**pl):
    torch.manual_seed(0)
    G = randomize(make_G(res=8, z_dim=6, w_dim=6, cmax=8)).train()
    D = make_D(res=8, cmax=8)
    term = PathLengthTerm(PathLengthConfig(**pl))
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[term])
    batch = PhaseBatch(real_img=torch.zeros(6, 3, 8, 8), real_c=torch.zeros(6, 0), gen_z=torch.randn(6, 6),
                       gen_c=torch.zeros(6, 0), gain=4, cur_nimg=0)
    return G, term, loss, batch


def _direct(G, z, c, pl_mean, decay=0.01, weight=2.0):
    """The formula of StyleGAN2 section 3.2 / UPSTREAM.md section 1.6, written out."""
    ws = G.mapping(z, c)
    img = G.synthesis(ws)
    y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
    (g,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
    lengths = g.square().sum(2).mean(1).sqrt()
    a = pl_mean + decay * (lengths.mean() - pl_mean)
    return ((lengths - a).square() * weight).mean(), a.detach()


def test_value_and_running_mean_match_the_formula():
    G, term, loss, batch = _setup()
    n = 6 // 2  # pl_batch_shrink
    mean = torch.zeros([])
    for step in range(3):
        seed = 100 + step
        torch.manual_seed(seed)
        value = term(PhaseContext(loss, "Greg", batch, [term]))
        torch.manual_seed(seed)
        want, mean = _direct(G, batch.gen_z[:n], batch.gen_c[:n], mean)
        torch.testing.assert_close(value, want)
        torch.testing.assert_close(term.pl_mean, mean)
    assert float(term.pl_mean) > 0
    assert term.interval == 4 and term.player == "G"


def test_gradients_reach_g_and_match_without_the_weight_gradient_skip():
    grads = []
    for no_weight_grad in (True, False):
        G, term, loss, batch = _setup(pl_no_weight_grad=no_weight_grad)
        G.requires_grad_(True)
        torch.manual_seed(5)
        term(PhaseContext(loss, "Greg", batch, [term])).backward()
        grads.append({k: p.grad.clone() for k, p in G.named_parameters() if p.grad is not None})
    assert set(grads[0]) == set(grads[1]) and "synthesis.b8.conv0.weight" in grads[0]
    assert "mapping.fc0.weight" in grads[0]
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)


def test_lazy_phase_multiplies_by_the_interval():
    G, term, loss, batch = _setup()
    G.requires_grad_(True)
    torch.manual_seed(1)
    loss.accumulate_gradients("Greg", batch)  # gain 4 applied by the core
    lazy = {k: p.grad.clone() for k, p in G.named_parameters() if p.grad is not None}
    G.zero_grad(set_to_none=True)
    term.pl_mean = torch.zeros([])
    torch.manual_seed(1)
    (term(PhaseContext(loss, "Greg", batch, [term])) * 4).backward()
    for k, g in lazy.items():
        torch.testing.assert_close(g, G.get_parameter(k).grad, rtol=1e-4, atol=1e-6)


def test_state_dict_round_trip():
    term = PathLengthTerm(PathLengthConfig())
    term.pl_mean = torch.tensor(0.42)
    other = PathLengthTerm(PathLengthConfig())
    other.load_state_dict(term.state_dict())
    assert float(other.pl_mean) == pytest.approx(0.42)
    other.load_state_dict({})  # a checkpoint from a run without the term keeps the fresh mean
    assert float(other.pl_mean) == pytest.approx(0.42)


def test_interval_one_runs_in_the_main_phase():
    term = PathLengthTerm(PathLengthConfig(interval=1))
    assert term.interval is None


def test_image_direction_scale():
    from ganforge.plugins.stylegan2.path_length import image_direction

    img = torch.zeros(64, 3, 16, 32)
    y = image_direction(img)
    assert y.shape == img.shape and y.dtype == img.dtype
    # N(0, 1) / sqrt(H * W): each image's squared norm is about C (= 3), whatever the resolution
    assert y.square().sum(dim=[1, 2, 3]).mean().item() == pytest.approx(3.0, rel=0.05)
