"""The phase contract and the composition model: base losses, terms, shared passes, lazy phases,
R1 and WGAN-GP as terms, D features for terms, auxiliary networks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ganforge.core.config import TrainingConfig
from ganforge.core.loss import AuxNetwork, GeneratorOutput, LossTerm, PhaseBatch, PhaseContext
from ganforge.core.penalties import gradient_norm_penalty, r1_penalty
from ganforge.core.training.setup import make_phases
from ganforge.plugins.default_losses.losses import (
    HingeConfig,
    HingeLoss,
    LogisticConfig,
    LogisticLoss,
    WGANGPConfig,
    WGANGPLoss,
)
from ganforge.plugins.default_losses.regularizers import R1Config, R1Term


class LinearD(torch.nn.Module):
    """D(x) = <w, x>, counting its calls; declares ``features`` (returns its input as feature "in")."""

    forward_options = frozenset({"features"})

    def __init__(self, shape):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(shape))
        self.calls = 0

    def forward(self, img, c, features=()):
        self.calls += 1
        logits = (img * self.w).flatten(1).sum(1)
        if features:
            return logits, {name: img for name in features}
        return logits


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


def test_logistic_hinge_and_wgan_formulas():
    x = torch.randn(5, 3)
    lg = LogisticLoss(LogisticConfig(), G=AffineG(), D=LinearD((2, 3, 3)))
    assert torch.allclose(lg.g_loss(x), F.softplus(-x).mean(1))
    assert torch.allclose(lg.d_loss_fake(x), F.softplus(x).mean(1))
    assert torch.allclose(lg.d_loss_real(x), F.softplus(-x).mean(1))
    hg = HingeLoss(HingeConfig(), G=AffineG(), D=LinearD((2, 3, 3)))
    assert torch.allclose(hg.g_loss(x), -x.mean(1))
    assert torch.allclose(hg.d_loss_fake(x), F.relu(1 + x).mean(1))
    assert torch.allclose(hg.d_loss_real(x), F.relu(1 - x).mean(1))
    wg = WGANGPLoss(WGANGPConfig(drift=0.5), G=AffineG(), D=LinearD((2, 3, 3)))
    assert torch.allclose(wg.g_loss(x), -x.mean(1))
    assert torch.allclose(wg.d_loss_fake(x), x.mean(1))
    assert torch.allclose(wg.d_loss_real(x), (0.5 * x.square() - x).mean(1))
    assert [t.name for t in wg.terms] == ["gradient_penalty"]
    assert not hasattr(LogisticConfig(), "r1_gamma")  # base losses carry no regularizer options


def test_lazy_r1_gradient_matches_analytic():
    # D(x) = <w, x>: dD/dx = w, so the R1 penalty is |w|^2 and d(gamma/2 |w|^2 * gain)/dw = gamma * gain * w
    D = LinearD((2, 3, 3))
    loss = LogisticLoss(LogisticConfig(), G=AffineG(), D=D, regularizers=[R1Term(R1Config(gamma=3.0, interval=16))])
    assert loss.reg_interval("D") == 16 and loss.reg_interval("G") is None
    assert [t.name for t in loss.terms_for("Dreg")] == ["r1"] and loss.terms_for("Dmain") == []
    loss.accumulate_gradients("Dreg", _batch(gain=16))
    assert torch.allclose(D.w.grad, 3.0 * 16 * D.w.detach(), rtol=1e-5)


def test_dboth_r1_shares_the_main_real_pass():
    torch.manual_seed(0)
    D, G = LinearD((2, 3, 3)), AffineG()
    batch = _batch()
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[R1Term(R1Config(gamma=2.0, interval=None))])
    assert loss.reg_interval("D") is None
    loss.accumulate_gradients("Dboth", batch)
    assert D.calls == 2  # one pass on fakes, one on reals shared by the loss and R1
    both = D.w.grad.clone()
    D.w.grad = None
    plain = LogisticLoss(LogisticConfig(), G=G, D=D)
    plain.accumulate_gradients("Dmain", batch)
    assert torch.allclose(both - D.w.grad, 2.0 * D.w.detach(), atol=1e-5)


def test_zero_weight_terms_get_no_phase():
    D, G = LinearD((2, 3, 3)), AffineG()
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[R1Term(R1Config(gamma=0.0))])
    assert loss.reg_interval("D") is None and loss.terms_for("Dboth") == []
    phases = make_phases(G, D, loss, TrainingConfig(), {"G": list(G.parameters()), "D": list(D.parameters())})
    assert [p.name for p in phases] == ["Gboth", "Dboth"]


def test_lazy_phases_correct_lr_and_betas():
    D, G = LinearD((2, 3, 3)), AffineG()
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[R1Term(R1Config(interval=16))])
    t = TrainingConfig(glr=0.002, dlr=0.004, betas=(0.0, 0.99))
    phases = make_phases(G, D, loss, t, {"G": list(G.parameters()), "D": list(D.parameters())})
    assert [p.name for p in phases] == ["Gboth", "Dmain", "Dreg"]
    d_opt = phases[1].opt
    assert phases[2].opt is d_opt and phases[2].interval == 16
    ratio = 16 / 17
    assert math.isclose(d_opt.param_groups[0]["lr"], 0.004 * ratio)
    assert math.isclose(d_opt.param_groups[0]["betas"][1], 0.99 ** ratio)
    assert math.isclose(phases[0].opt.param_groups[0]["lr"], 0.002)
    rms = make_phases(G, D, loss, TrainingConfig(optimizer="rmsprop", rmsprop_alpha=0.9, dlr=0.01),
                      {"G": list(G.parameters()), "D": list(D.parameters())})
    assert isinstance(rms[1].opt, torch.optim.RMSprop)
    assert math.isclose(rms[1].opt.param_groups[0]["lr"], 0.01 * ratio) and rms[1].opt.param_groups[0]["alpha"] == 0.9


class L2Term(LossTerm):
    player, interval, name = "G", 4, "l2"

    def __call__(self, ctx):
        return ctx.loss.run_G(ctx.batch.gen_z, ctx.batch.gen_c).img.square().mean()


def test_lazy_generator_term_gets_its_phase_and_gain():
    G, D = AffineG(), LinearD((2, 3, 3))
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[L2Term()])
    assert loss.reg_interval("G") == 4
    batch = _batch(gain=4)
    loss.accumulate_gradients("Greg", batch)
    got = G.lin.weight.grad.clone()
    G.lin.weight.grad = None
    (G(batch.gen_z, None).square().mean() * 4).backward()
    assert torch.allclose(got, G.lin.weight.grad)


def test_mismatched_lazy_intervals_and_duplicate_names_are_refused():
    class Other(L2Term):
        interval, name = 8, "other"

    with pytest.raises(ValueError, match="share one interval"):
        LogisticLoss(LogisticConfig(), G=AffineG(), D=LinearD((2, 3, 3)), regularizers=[L2Term(), Other()])
    with pytest.raises(ValueError, match="distinct names"):
        LogisticLoss(LogisticConfig(), G=AffineG(), D=LinearD((2, 3, 3)), regularizers=[L2Term(), L2Term()])


class FeatureTerm(LossTerm):
    """Reads D's features of the generator phase's own D pass."""

    player, name, d_features = "G", "feat", ("in",)

    def __call__(self, ctx):
        out = ctx.fake_logits()
        self.seen = out
        return out.features["in"].square().mean()


def test_terms_read_d_features_of_the_generator_phase_pass():
    G, D = AffineG(), LinearD((2, 3, 3))
    term = FeatureTerm()
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[term])
    loss.accumulate_gradients("Gboth", _batch())
    assert D.calls == 1  # the main loss and the term share the pass
    assert term.seen.features["in"] is term.seen.img and term.seen.img.requires_grad
    assert G.lin.weight.grad is not None


class ExtrasG(AffineG):
    def forward_train(self, z, c, *, update_emas=False):
        img = self(z, c)
        return GeneratorOutput(img=img, extras={"code": z * 2})


def test_generator_forward_train_extras_reach_terms():
    seen = {}

    class Reader(LossTerm):
        player, name = "G", "reader"

        def __call__(self, ctx):
            seen["code"] = ctx.fake().extras["code"]
            return ctx.fake().img.sum() * 0

    batch = _batch()
    loss = LogisticLoss(LogisticConfig(), G=ExtrasG(), D=LinearD((2, 3, 3)), regularizers=[Reader()])
    loss.accumulate_gradients("Gboth", batch)
    assert torch.equal(seen["code"], batch.gen_z * 2)


def test_wgan_gp_penalty_gradient_matches_analytic():
    # D(x) = <w, x>: the gradient norm at any point is |w|; d/dw lambda (|w| - 1)^2 = 2 lambda (|w| - 1) w / |w|
    torch.manual_seed(3)
    D, G = LinearD((2, 3, 3)), AffineG()
    loss = WGANGPLoss(WGANGPConfig(gp_lambda=7.0, drift=0.0), G=G, D=D)
    ctx = PhaseContext(loss, "Dboth", _batch(), loss.terms_for("Dboth"))
    value = loss.terms[0](ctx)
    norm = D.w.detach().norm()
    assert torch.allclose(value, 7.0 * (norm - 1) ** 2, rtol=1e-5)
    value.backward()
    assert torch.allclose(D.w.grad, 2 * 7.0 * (norm - 1) * D.w.detach() / norm, rtol=1e-4)


def test_penalty_functions():
    x = torch.randn(4, 2, 3, 3, requires_grad=True)
    w = torch.randn(2, 3, 3)
    out = (x * w).flatten(1).sum(1)
    assert torch.allclose(r1_penalty(out, x), w.square().sum().expand(4))
    out = (x * w).flatten(1).sum(1)
    assert torch.allclose(gradient_norm_penalty(out, x, target=2.0), (w.norm() - 2).square().expand(4))


class ReverserTerm(LossTerm):
    """A term with an auxiliary network R trained on its own phase: R(G(z)) -> z."""

    player, name = "G", "reverse"

    def attach(self, loss):
        self.R = torch.nn.Linear(18, loss.G.z_dim)

    def aux_networks(self):
        return {"R": AuxNetwork(self.R, lr=0.01, optimizer="rmsprop", alpha=0.9)}

    def __call__(self, ctx):
        if ctx.player == "R":
            img = ctx.loss.run_G(ctx.batch.gen_z, ctx.batch.gen_c).img.detach()
            return (self.R(img.flatten(1)) - ctx.batch.gen_z).square().mean()
        return ctx.fake().img.square().mean() * 0.1


def test_auxiliary_network_gets_its_phase_and_optimizer():
    G, D = AffineG(), LinearD((2, 3, 3))
    term = ReverserTerm()
    loss = LogisticLoss(LogisticConfig(), G=G, D=D, regularizers=[term])
    aux = loss.aux_networks()
    assert set(aux) == {"R"} and term.players == ("G", "R")
    trainable = {"G": list(G.parameters()), "D": list(D.parameters()), "R": list(term.R.parameters())}
    phases = make_phases(G, D, loss, TrainingConfig(), trainable, aux)
    assert [(p.name, p.player) for p in phases] == [("Gboth", "G"), ("Dboth", "D"), ("Rboth", "R")]
    assert isinstance(phases[2].opt, torch.optim.RMSprop)
    loss.accumulate_gradients("Rboth", _batch())
    assert term.R.weight.grad is not None and G.lin.weight.grad is None and D.w.grad is None
    assert [t.name for t in loss.terms_for("Gboth")] == ["reverse"]
