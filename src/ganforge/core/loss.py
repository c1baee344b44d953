"""The GAN phase contract and the one composition model for losses and regularizers.

A training iteration runs the phases ``Gmain``, ``Greg``, ``Dmain``, ``Dreg`` (StyleGAN2/3's
schedule): ``Xmain`` every minibatch; ``Xreg`` every ``interval`` minibatches with its loss multiplied
by ``interval`` (lazy regularization; the loop corrects the optimiser's lr and betas). A player without
lazy terms has a single ``Xboth`` phase. Auxiliary networks owned by a term (G-LIS's reverser) get a
phase of their own, ``<name>both``, after D's.

Two kinds of objects compute losses:

* a **base loss** (:class:`GANLoss` subclass: logistic, hinge, WGAN-GP, third-party) says only how
  logits become per-sample losses (:meth:`GANLoss.g_loss`, :meth:`GANLoss.d_loss_fake`,
  :meth:`GANLoss.d_loss_real`); it may replace a whole phase's main loss by overriding
  :meth:`GANLoss.main_loss`;
* **terms** (:class:`LossTerm`: R1, path length, alignment, LIS similarity, gradient penalty, ...)
  are added to it. A term names its player, its lazy interval and what it needs of the phase's
  forward passes; it receives a :class:`PhaseContext` and returns its (weighted) loss.

The forward passes of a phase are computed once, on demand, by the :class:`PhaseContext` and shared
by the base loss and the terms: R1 differentiates the main phase's real-image pass (so a non-lazy R1
costs no extra D pass), the alignment loss reads the D features of the generator phase's pass, the LIS
similarity reads the generator's intermediate codes. See ``docs/writing-plugins.md`` (losses and
regularizers) for the contract with worked examples.

Networks take part through small protocols (``ganforge.core.protocols``): a generator may implement
``forward_train(z, c, *, update_emas) -> GeneratorOutput`` (style mixing, heatmaps, stochastic depth
live there, in the generator's plugin) and ``d_input_transform(cur_nimg)`` (StyleGAN3-R's blur of
everything D sees); a discriminator that declares the option ``features`` returns named intermediate
features next to its logits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ganforge.core.options import call_network
from ganforge.core.stats import report

__all__ = [
    "GANLoss",
    "LossTerm",
    "PhaseBatch",
    "PhaseContext",
    "GeneratorOutput",
    "DiscriminatorOutput",
    "AuxNetwork",
    "PHASES",
    "run_generator",
]

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


@dataclass
class GeneratorOutput:
    """What one generator pass of a phase produced.

    Attributes:
        img: images ``[N, C, H, W]``.
        ws: the intermediate latents the synthesis network saw (after style mixing), for generators
            with a mapping network; None otherwise.
        extras: anything else a generator's ``forward_train`` exposes for terms (EqGAN-SA heatmaps,
            G-LIS intermediate codes, ...), by name.
    """

    img: torch.Tensor
    ws: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class DiscriminatorOutput:
    """What one discriminator pass produced.

    Attributes:
        logits: per-sample logits ``[N, K]`` float32 (K heads or scales; K = 1 for a plain D).
        img: the images D saw, after the D-input transform and the augmentation (what Grad-CAM
            differentiates against).
        features: intermediate features D was asked for (``{name: [N, C, h, w]}``).
    """

    logits: torch.Tensor
    img: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class PhaseBatch:
    """What one pass of one phase works on (a ``batch_gpu`` chunk)."""

    real_img: torch.Tensor  # [N, C, H, W] float in [-1, 1]
    real_c: torch.Tensor  # [N, c_dim]
    gen_z: torch.Tensor  # [N, z_dim]
    gen_c: torch.Tensor  # [N, c_dim]
    gain: float  # the phase interval (loss multiplier for lazy phases)
    cur_nimg: int


@dataclass
class AuxNetwork:
    """A network a term owns and trains with an optimiser of its own (G-LIS's reverser R).

    The loop gives it a phase ``<name>both`` after D's, steps it, keeps it and its optimiser state in
    ``checkpoint.pt`` (and the network in snapshots), restores both on resume and averages its
    gradients across processes, as it does for G and D.

    Attributes:
        module: the network (the loop moves it to the run's device).
        lr: learning rate.
        optimizer: ``"adam"`` or ``"rmsprop"``.
        betas: Adam betas (RMSprop uses ``alpha``).
        alpha: RMSprop smoothing constant.
        eps: optimiser epsilon.
    """

    module: torch.nn.Module
    lr: float = 0.002
    optimizer: str = "adam"
    betas: tuple[float, float] = (0.0, 0.99)
    alpha: float = 0.99
    eps: float = 1e-8


class LossTerm:
    """A term added to a base loss: a regularizer (``--reg NAME``) or a base loss's own penalty.

    Subclasses set the class attributes and implement :meth:`__call__`.

    Attributes:
        name: used for statistics (``Loss/<player>/<name>``) and checkpoints.
        player: ``"G"`` or ``"D"``, whose optimiser the term's gradient goes to.
        interval: None (computed in the player's main phase every minibatch) or N > 1 (lazy: in the
            player's ``reg`` phase every N minibatches, the value multiplied by N by the core).
        needs_real_grad: the term differentiates D's output w.r.t. the real images of the main D pass
            (R1): that pass is then computed with ``requires_grad`` on its input.
        d_features: names of D's intermediate features the term reads from the generator phase's D
            pass (requires a discriminator that provides ``features``).
    """

    name: str = "term"
    player: str = "G"
    interval: int | None = None
    needs_real_grad: bool = False
    d_features: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        """False when the term contributes nothing (a zero weight): it then gets no phase."""
        return True

    @property
    def players(self) -> tuple[str, ...]:
        """Every player the term computes a loss for (its own aux networks included)."""
        return (self.player, *self.aux_networks())

    def attach(self, loss: GANLoss) -> None:
        """Called once when the loss is built (G, D, augment, data info and device are on ``loss``).

        Build auxiliary networks here (they may depend on ``loss.G.z_dim``, ``loss.info``, ...).
        """

    def aux_networks(self) -> dict[str, AuxNetwork]:
        """Networks this term trains with optimisers of their own (see :class:`AuxNetwork`)."""
        return {}

    def __call__(self, ctx: PhaseContext) -> torch.Tensor:
        """Return the term's loss for ``ctx.player`` as a scalar (already weighted)."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Running state to keep in checkpoints (e.g. the path-length mean)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def run_generator(G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False) -> GeneratorOutput:
    """One training pass of ``G``: its ``forward_train`` when it has one, else ``G(z, c)``."""
    forward_train = getattr(G, "forward_train", None)
    if forward_train is not None:
        return forward_train(z, c, update_emas=update_emas)
    return GeneratorOutput(img=call_network(G, z, c, update_emas=update_emas))


class PhaseContext:
    """The phase being computed and its shared forward passes (what a :class:`LossTerm` receives).

    The passes are computed on first use and cached, so the base loss and every term of a phase see
    the same images and logits. In a lazy ``reg`` phase no main loss runs; a term asking for a pass
    gets a fresh one.

    Attributes:
        loss: the :class:`GANLoss` (``loss.G``, ``loss.D``, ``loss.augment``, ``loss.info``).
        phase: ``"Gmain"``, ``"Dreg"``, ``"Rboth"``, ...
        player: ``"G"``, ``"D"`` or an auxiliary network's name.
        batch: the :class:`PhaseBatch`.
        terms: the terms computed in this phase.
    """

    def __init__(self, loss: GANLoss, phase: str, batch: PhaseBatch, terms: Sequence[LossTerm]) -> None:
        self.loss, self.phase, self.batch = loss, phase, batch
        self.player = phase[:-4] if phase.endswith(("main", "both")) else phase[:-3]
        self.part = phase[len(self.player):]
        self.terms = list(terms)
        self._fake: GeneratorOutput | None = None
        self._fake_d: DiscriminatorOutput | None = None
        self._real_d: DiscriminatorOutput | None = None
        self.real_input: torch.Tensor | None = None

    @property
    def is_main(self) -> bool:
        """True in ``main``/``both`` phases (the base loss runs), False in a lazy ``reg`` phase."""
        return self.part in ("main", "both")

    def fake(self) -> GeneratorOutput:
        """The generator pass of this phase on ``batch.gen_z`` (D phases update G's running averages)."""
        if self._fake is None:
            self._fake = self.loss.run_G(self.batch.gen_z, self.batch.gen_c, update_emas=self.player == "D")
        return self._fake

    def fake_logits(self) -> DiscriminatorOutput:
        """D on the fake images: with gradient to G in G phases, on detached images in D phases.

        In G phases the features named by the phase's terms (``LossTerm.d_features``) are returned too.
        """
        if self._fake_d is None:
            img = self.fake().img
            if self.player == "D":
                self._fake_d = self.loss.run_D(img.detach(), self.batch.gen_c, self.batch.cur_nimg,
                                               update_emas=True)
            else:
                names = sorted({n for t in self.terms for n in t.d_features})
                self._fake_d = self.loss.run_D(img, self.batch.gen_c, self.batch.cur_nimg, features=names)
        return self._fake_d

    def real_logits(self) -> DiscriminatorOutput:
        """D on the real images; ``real_input`` is the tensor they were computed from (requires grad
        when a term of this phase set ``needs_real_grad``)."""
        if self._real_d is None:
            wants_grad = any(t.needs_real_grad for t in self.terms)
            self.real_input = self.batch.real_img.detach().requires_grad_(wants_grad)
            self._real_d = self.loss.run_D(self.real_input, self.batch.real_c, self.batch.cur_nimg)
        return self._real_d


class GANLoss:
    """Base of adversarial losses. Subclasses implement the three logit-to-loss maps.

    Args:
        G, D: the networks.
        augment: augmentation module or None (applied to every image D sees).
        regularizers: :class:`LossTerm` objects to add.
        device: device of the run.
        info: the data's :class:`~ganforge.core.specs.DataInfo` (for terms that build networks).
    """

    def __init__(self, *, G: torch.nn.Module, D: torch.nn.Module, augment: torch.nn.Module | None = None,
                 regularizers: Iterable[LossTerm] = (), device: Any = "cpu", info: Any = None) -> None:
        self.G, self.D, self.augment = G, D, augment
        self.device = torch.device(device)
        self.info = info
        self.terms: list[LossTerm] = [*self.own_terms(), *regularizers]
        for term in self.terms:
            term.attach(self)
        self._check_terms()

    # -- what subclasses define ----------------------------------------------------------------------
    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample generator loss ``[N]`` from fake logits ``[N, K]``."""
        raise NotImplementedError

    def d_loss_fake(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample discriminator loss ``[N]`` on fake logits ``[N, K]``."""
        raise NotImplementedError

    def d_loss_real(self, real_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample discriminator loss ``[N]`` on real logits ``[N, K]``."""
        raise NotImplementedError

    def own_terms(self) -> list[LossTerm]:
        """Terms that belong to the loss itself (WGAN-GP's gradient penalty); run before ``--reg`` terms."""
        return []

    def main_loss(self, ctx: PhaseContext) -> torch.Tensor:
        """The adversarial loss of a ``main``/``both`` phase of G or D (override to change it wholesale)."""
        if ctx.player == "G":
            logits = ctx.fake_logits().logits
            report("Loss/scores/fake", logits)
            report("Loss/signs/fake", logits.sign())
            loss_g = self.g_loss(logits).mean()
            report("Loss/G/loss", loss_g)
            return loss_g
        fake = ctx.fake_logits().logits
        report("Loss/scores/fake", fake)
        report("Loss/signs/fake", fake.sign())
        loss_fake = self.d_loss_fake(fake).mean()
        real = ctx.real_logits().logits
        report("Loss/scores/real", real)
        report("Loss/signs/real", real.sign())
        loss_real = self.d_loss_real(real).mean()
        report("Loss/D/loss", (loss_fake + loss_real).detach())
        return loss_fake + loss_real

    # -- schedule --------------------------------------------------------------------------------
    def active_terms(self, player: str | None = None) -> list[LossTerm]:
        return [t for t in self.terms if t.enabled and (player is None or player in t.players)]

    def _check_terms(self) -> None:
        names = [t.name for t in self.terms]
        if len(set(names)) != len(names):
            raise ValueError(f"loss terms must have distinct names, got {names}")
        for player in ("G", "D"):
            intervals = {t.interval for t in self.active_terms(player) if t.player == player and t.interval}
            if len(intervals) > 1:
                raise ValueError(f"lazy {player} regularizers must share one interval, got {sorted(intervals)}")

    def reg_interval(self, player: str) -> int | None:
        """The lazy interval of ``player``'s regularization phase (None: no separate phase)."""
        for term in self.active_terms(player):
            if term.player == player and term.interval and term.interval > 1:
                return term.interval
        return None

    def aux_networks(self) -> dict[str, AuxNetwork]:
        """Auxiliary networks of every enabled term, by name."""
        out: dict[str, AuxNetwork] = {}
        for term in self.active_terms():
            for name, net in term.aux_networks().items():
                if name in out or name in ("G", "D"):
                    raise ValueError(f"auxiliary network name {name!r} of term {term.name!r} is taken")
                out[name] = net
        return out

    def _is_lazy(self, term: LossTerm) -> bool:
        return term.interval is not None and term.interval > 1 and self.reg_interval(term.player) is not None

    def terms_for(self, phase: str) -> list[LossTerm]:
        """The terms computed in ``phase``."""
        player = phase[:-4] if phase.endswith(("main", "both")) else phase[:-3]
        part = phase[len(player):]
        out = []
        for term in self.active_terms(player):
            if player != term.player:  # an auxiliary network's phase: always
                out.append(term)
            elif self._is_lazy(term):
                if part in ("reg", "both"):
                    out.append(term)
            elif part in ("main", "both"):
                out.append(term)
        return out

    # -- network calls ---------------------------------------------------------------------------
    def run_G(self, z: torch.Tensor, c: torch.Tensor, update_emas: bool = False) -> GeneratorOutput:
        """One training pass of G (its ``forward_train`` when it has one)."""
        return run_generator(self.G, z, c, update_emas=update_emas)

    def d_input_transform(self, cur_nimg: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """What the generator asks to be applied to every image D sees (StyleGAN3-R's blur), or None."""
        hook = getattr(self.G, "d_input_transform", None)
        return hook(cur_nimg) if hook is not None else None

    def run_D(self, img: torch.Tensor, c: torch.Tensor, cur_nimg: int = 0, update_emas: bool = False,
              features: Sequence[str] = ()) -> DiscriminatorOutput:
        """D-input transform, augmentation, then D. Logits come back per sample as ``[N, K]`` float32."""
        transform = self.d_input_transform(cur_nimg)
        if transform is not None:
            img = transform(img)
        if self.augment is not None:
            img = self.augment(img)
        feats: dict[str, torch.Tensor] = {}
        if features:
            logits, feats = call_network(self.D, img, c, update_emas=update_emas, features=tuple(features))
        else:
            logits = call_network(self.D, img, c, update_emas=update_emas)
        return DiscriminatorOutput(logits=self._per_sample(logits), img=img, features=feats)

    @staticmethod
    def _per_sample(logits: torch.Tensor) -> torch.Tensor:
        return logits.reshape(logits.shape[0], -1).float() if logits.ndim > 1 else logits.float().unsqueeze(1)

    # -- phases ----------------------------------------------------------------------------------
    def accumulate_gradients(self, phase: str, batch: PhaseBatch) -> None:
        """Compute ``phase``'s losses on ``batch`` and backpropagate (gradients accumulate)."""
        ctx = PhaseContext(self, phase, batch, self.terms_for(phase))
        if ctx.player in ("G", "D") and phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        total = self.main_loss(ctx) if ctx.is_main and ctx.player in ("G", "D") else None
        for term in ctx.terms:
            value = term(ctx)
            report(f"Loss/{ctx.player}/{term.name}", value)
            if ctx.player == term.player and self._is_lazy(term):
                value = value * batch.gain
            total = value if total is None else total + value
        if total is not None:
            total.backward()

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"terms": {term.name: term.state_dict() for term in self.terms}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for term in self.terms:
            term.load_state_dict(state.get("terms", {}).get(term.name, {}))
