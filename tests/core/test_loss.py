"""The phase contract: base losses, R1, lazy regularization, style mixing, blur schedule."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.core.config import TrainingConfig
from ganforge.core.loss import LossTerm, PhaseBatch, blur_images
from ganforge.core.training.setup import make_phases
from ganforge.plugins.default_losses.losses import HingeConfig, HingeLoss, LogisticConfig, LogisticLoss


class LinearD(torch.nn.Module):
    def __init__(self, shape):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(shape))

    def forward(self, img, c):
        return (img * self.w).flatten(1).sum(1)


class AffineG(torch.nn.Module):
    z_dim, c_dim = 4, 0

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 2 * 3 * 3)

    def forward(self, z, c):
        return self.lin(z).view(-1, 2, 3, 3)


def _batch(n=3, gain=1.0):
    return PhaseBatch(real_img=torch.randn(n, 2, 3, 3), real_c=torch.zeros(n, 0), gen_z=torch.randn(n, 4),
                      gen_c=torch.zeros(n, 0), gain=gain, cur_nimg=0)


def test_logistic_and_hinge_formulas():
    x = torch.randn(5, 3)
    lg = LogisticLoss(LogisticConfig(), G=AffineG(), D=LinearD((2, 3, 3)))
    assert torch.allclose(lg.g_loss(x), F.softplus(-x).mean(1))
    assert torch.allclose(lg.d_loss_fake(x), F.softplus(x).mean(1))
    assert torch.allclose(lg.d_loss_real(x), F.softplus(-x).mean(1))
    hg = HingeLoss(HingeConfig(), G=AffineG(), D=LinearD((2, 3, 3)))
    assert torch.allclose(hg.g_loss(x), -x.mean(1))
    assert torch.allclose(hg.d_loss_fake(x), F.relu(1 + x).mean(1))
    assert torch.allclose(hg.d_loss_real(x), F.relu(1 - x).mean(1))
    assert HingeConfig().r1_gamma == 0 and LogisticConfig().r1_gamma == 10


def test_lazy_r1_gradient_matches_analytic():
    # D(x) = <w, x>: dD/dx = w, so the R1 penalty is |w|^2 and d(gamma/2 |w|^2 * gain)/dw = gamma * gain * w
    D = LinearD((2, 3, 3))
    loss = LogisticLoss(LogisticConfig(r1_gamma=3.0, r1_interval=16), G=AffineG(), D=D)
    assert loss.reg_interval("D") == 16 and loss.reg_interval("G") is None
    loss.accumulate_gradients("Dreg", _batch(gain=16))
    assert torch.allclose(D.w.grad, 3.0 * 16 * D.w.detach(), rtol=1e-5)


def test_dboth_combines_adversarial_and_r1():
    torch.manual_seed(0)
    D, G = LinearD((2, 3, 3)), AffineG()
    batch = _batch()
    loss = LogisticLoss(LogisticConfig(r1_gamma=2.0, r1_interval=None), G=G, D=D)
    assert loss.reg_interval("D") is None
    loss.accumulate_gradients("Dboth", batch)
    both = D.w.grad.clone()
    D.w.grad = None
    plain = LogisticLoss(LogisticConfig(r1_gamma=0.0), G=G, D=D)
    plain.accumulate_gradients("Dmain", batch)
    assert torch.allclose(both - D.w.grad, 2.0 * D.w.detach(), atol=1e-5)


def test_lazy_phases_correct_lr_and_betas():
    D, G = LinearD((2, 3, 3)), AffineG()
    loss = LogisticLoss(LogisticConfig(r1_interval=16), G=G, D=D)
    t = TrainingConfig(glr=0.002, dlr=0.004, betas=(0.0, 0.99))
    phases = make_phases(G, D, loss, t, {"G": list(G.parameters()), "D": list(D.parameters())})
    assert [p.name for p in phases] == ["Gboth", "Dmain", "Dreg"]
    d_opt = phases[1].opt
    assert phases[2].opt is d_opt and phases[2].interval == 16
    ratio = 16 / 17
    assert math.isclose(d_opt.param_groups[0]["lr"], 0.004 * ratio)
    assert math.isclose(d_opt.param_groups[0]["betas"][1], 0.99 ** ratio)
    assert math.isclose(phases[0].opt.param_groups[0]["lr"], 0.002)


class Term(LossTerm):
    player, interval, name = "G", 4, "l2"

    def __call__(self, loss, batch):
        img, _ = loss.run_G(batch.gen_z, batch.gen_c)
        return img.square().mean()


def test_lazy_generator_term_gets_its_phase_and_gain():
    G, D = AffineG(), LinearD((2, 3, 3))
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[Term()])
    assert loss.reg_interval("G") == 4
    batch = _batch(gain=4)
    loss.accumulate_gradients("Greg", batch)
    got = G.lin.weight.grad.clone()
    G.lin.weight.grad = None
    (G(batch.gen_z, None).square().mean() * 4).backward()
    assert torch.allclose(got, G.lin.weight.grad)


def test_mismatched_lazy_intervals_are_refused():
    class Other(Term):
        interval = 8

    with pytest.raises(ValueError, match="share one interval"):
        LogisticLoss(LogisticConfig(), G=AffineG(), D=LinearD((2, 3, 3)), regularizers=[Term(), Other()])


class StyleG(torch.nn.Module):
    z_dim, c_dim = 4, 0

    def __init__(self):
        super().__init__()
        self.seen = None

        class Mapping(torch.nn.Module):
            def forward(self, z, c, update_emas=False):
                return z[:, None, :].repeat(1, 6, 1)

        class Synthesis(torch.nn.Module):
            def forward(inner, ws, update_emas=False):
                self.seen = ws
                return ws.mean(dim=(1, 2)).view(-1, 1, 1, 1).expand(-1, 2, 3, 3)

        self.mapping, self.synthesis = Mapping(), Synthesis()


def test_style_mixing_replaces_a_suffix_of_ws():
    torch.manual_seed(1)
    G = StyleG()
    loss = LogisticLoss(LogisticConfig(style_mixing_prob=1.0), G=G, D=LinearD((2, 3, 3)))
    z = torch.randn(2, 4)
    loss.run_G(z, torch.zeros(2, 0))
    ws = G.seen
    same = (ws == z[:, None, :]).all(dim=2).all(dim=0)  # per w index
    assert same[0] and not same.all()
    cutoff = int((~same).nonzero()[0])
    assert same[:cutoff].all() and not same[cutoff:].any()


def test_blur_schedule_and_kernel():
    loss = LogisticLoss(LogisticConfig(blur_init_sigma=10, blur_fade_kimg=2), G=AffineG(), D=LinearD((2, 3, 3)))
    assert loss.blur_sigma(0) == 10 and loss.blur_sigma(1000) == 5 and loss.blur_sigma(5000) == 0
    img = torch.zeros(1, 1, 9, 9)
    img[0, 0, 4, 4] = 1
    out = blur_images(img, 1.0)
    taps = torch.exp2(-torch.arange(-3, 4.0).square())
    taps = taps / taps.sum()
    assert torch.allclose(out[0, 0, 4, 1:8], taps * taps[3], atol=1e-6)
    assert torch.allclose(out.sum(), torch.tensor(1.0))
