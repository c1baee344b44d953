"""Every hook a ganforge plugin can implement.

Hooks are grouped by phase. Registration hooks take no arguments and return a list of frozen spec
records (``ganforge.core.specs``); run hooks fire once per tick, never per training step.

A plugin is a module (or object) with functions decorated by ``ganforge.hookimpl``::

    from ganforge import hookimpl
    from ganforge.core.specs import GeneratorSpec

    @hookimpl
    def ganforge_register_generators():
        return [GeneratorSpec(name="dcgan", factory=build_dcgan, config=DCGANConfig,
                              summary="DCGAN generator")]

Implementations accept only the arguments they use (pluggy's opt-in arguments), so hooks can gain
arguments later without breaking plugins. Hookspecs only ever gain arguments; they are never
renamed or reordered. ``docs/hooks.md`` documents each hook (a test keeps the two in step).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover
    import typer

    from ganforge.core.checkpoint import ImportedNetwork, NetworkBundle
    from ganforge.core.foreign_pickle import PickledModule
    from ganforge.core.config import RunConfig
    from ganforge.core.registry import Registry
    from ganforge.core.specs import (
        AugmentSpec,
        DatasetSpec,
        DataInfo,
        DiscriminatorSpec,
        GeneratorSpec,
        LossSpec,
        MetricSpec,
        OpSpec,
        PresetSpec,
        RegularizerSpec,
    )
    from ganforge.core.training.run import Run

hookspec = pluggy.HookspecMarker("ganforge")

# Registration hooks are called through pluggy once per plugin (``pm.subset_hook_caller``), so each
# record is attributed to its plugin and a third-party failure cannot hide the built-ins' components;
# tracing, opt-in arguments and the plugin's own wrappers apply as for any hook.

# ---------------------------------------------------------------------------------------------
# Plugin manager set-up
# ---------------------------------------------------------------------------------------------


@hookspec(historic=True)
def ganforge_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add hookspecs of your own, for plugins that extend other plugins.

    Called once, right after all plugins are registered and before ``check_pending``. It is a
    historic hook: plugins registered later still receive the call.

    :param pluginmanager: the ``pluggy.PluginManager`` of ganforge.

    Example::

        @hookimpl
        def ganforge_addhooks(pluginmanager):
            from my_plugin import hookspecs
            pluginmanager.add_hookspecs(hookspecs)
    """


# ---------------------------------------------------------------------------------------------
# Registration: each returns a list of frozen spec records
# ---------------------------------------------------------------------------------------------


@hookspec
def ganforge_register_generators() -> list[GeneratorSpec]:
    """Register generators.

    Called once, when the registry is first built (lazily, on first use).

    :return: a list of :class:`~ganforge.core.specs.GeneratorSpec`. The factory is called as
        ``factory(cfg, info)`` and returns an ``nn.Module`` with ``z_dim``, ``c_dim``,
        ``img_resolution`` and ``img_channels`` whose ``forward(z, c, **opts)`` returns images
        ``[N, C, H, W]`` in [-1, 1].

    Example::

        @hookimpl
        def ganforge_register_generators():
            return [GeneratorSpec(name="dcgan", factory=DCGANGenerator.from_config,
                                  config=DCGANConfig, summary="DCGAN generator",
                                  conditional=False)]
    """


@hookspec
def ganforge_register_discriminators() -> list[DiscriminatorSpec]:
    """Register discriminators.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.DiscriminatorSpec`. The factory is called as
        ``factory(cfg, info)`` and returns an ``nn.Module`` whose ``forward(img, c)`` returns
        logits ``[N]`` or ``[N, K]`` (several heads; losses reduce over K).

    Example::

        @hookimpl
        def ganforge_register_discriminators():
            return [DiscriminatorSpec(name="dcgan", factory=DCGANDiscriminator.from_config,
                                      config=DCGANDConfig, summary="DCGAN discriminator")]
    """


@hookspec
def ganforge_register_losses() -> list[LossSpec | RegularizerSpec]:
    """Register base adversarial losses and regularization terms.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.LossSpec` (factory
        ``factory(cfg, *, G, D, augment, regularizers, device, info)`` returning a
        :class:`ganforge.core.loss.GANLoss`) and :class:`~ganforge.core.specs.RegularizerSpec`
        (factory ``factory(cfg)`` returning a :class:`ganforge.core.loss.LossTerm`). See
        ``docs/writing-plugins.md`` for the loss and regularizer contract.

    Example::

        @hookimpl
        def ganforge_register_losses():
            return [RegularizerSpec(name="l2_fake", player="G", factory=L2Term,
                                    config=L2Config, summary="L2 penalty on fakes")]
    """


@hookspec
def ganforge_register_augments() -> list[AugmentSpec]:
    """Register augmentation pipelines.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.AugmentSpec`. The factory is called as
        ``factory(cfg, info)`` and returns an ``nn.Module`` mapping images to images
        (differentiable). An adaptive pipeline also implements ``adapt(stats, nimg_delta)``.

    Example::

        @hookimpl
        def ganforge_register_augments():
            return [AugmentSpec(name="flip", factory=FlipAugment, config=FlipConfig)]
    """


@hookspec
def ganforge_register_metrics() -> list[MetricSpec]:
    """Register metrics.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.MetricSpec`; ``factory(cfg)`` returns an
        object with ``compute(ctx) -> dict[str, float]`` (see ``docs/metrics.md``).

    Example::

        @hookimpl
        def ganforge_register_metrics():
            return [MetricSpec(name="mean_pixel", factory=MeanPixel, config=MeanPixelConfig)]
    """


@hookspec
def ganforge_register_datasets() -> list[DatasetSpec]:
    """Register datasets.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.DatasetSpec`; ``factory(cfg)`` returns a
        ``torch.utils.data.Dataset`` of ``(uint8 [C, H, W], float32 [label_dim])`` pairs with an
        ``info`` property (:class:`~ganforge.core.specs.DataInfo`).

    Example::

        @hookimpl
        def ganforge_register_datasets():
            return [DatasetSpec(name="mnist", factory=MNIST, config=MNISTConfig)]
    """


@hookspec
def ganforge_register_presets() -> list[PresetSpec]:
    """Register named partial run configurations (``gan run --preset NAME``).

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.PresetSpec`.

    Example::

        @hookimpl
        def ganforge_register_presets():
            return [PresetSpec(name="tiny", config={"training": {"kimg": 1}})]
    """


@hookspec
def ganforge_register_ops() -> list[OpSpec]:
    """Register custom ops with compiled paths, for ``gan ops status|build``.

    Called once, when the registry is first built.

    :return: a list of :class:`~ganforge.core.specs.OpSpec`.

    Example::

        @hookimpl
        def ganforge_register_ops():
            return [OpSpec(name="my_op", sources=(str(HERE / "my_op.cu"),), status=status, build=build)]
    """


@hookspec
def ganforge_register_commands(app: typer.Typer) -> None:
    """Add commands to the ``gan`` CLI.

    Called once, when the CLI application is built (``ganforge.cli.make_app``).

    :param app: the root ``typer.Typer``; add commands with ``app.command()`` or sub-apps with
        ``app.add_typer()``.

    Example::

        @hookimpl
        def ganforge_register_commands(app):
            @app.command()
            def hello(name: str):
                print(f"hello {name}")
    """


# ---------------------------------------------------------------------------------------------
# Before a run
# ---------------------------------------------------------------------------------------------


@hookspec(warn_on_impl=DeprecationWarning(
    "ganforge_check_config is deprecated: state what a component needs on its spec instead "
    "(requires=... for capabilities, check=... for rules on option values); see docs/writing-plugins.md"))
def ganforge_check_config(config: RunConfig, registry: Registry, info: DataInfo) -> list[str] | None:
    """Reject incompatible combinations before anything is allocated (deprecated).

    Deprecated: a component states what it needs on its spec (``requires`` and ``check``), where the
    one compatibility checker (``ganforge.core.compat``) evaluates it together with everything else.
    Implementations still run, with a ``DeprecationWarning`` when they are registered.

    Called by ``ganforge.train`` after the configuration is resolved and the dataset's
    :class:`~ganforge.core.specs.DataInfo` is known, before any network is built.

    :param config: the resolved :class:`~ganforge.core.config.RunConfig`.
    :param registry: the component registry.
    :param info: resolution, channels and label size of the data.
    :return: a list of problems, each a sentence saying which requirement is not met (or None).

    Example::

        @hookimpl
        def ganforge_check_config(config, info):
            if config.generator.name == "mine" and info.resolution > 256:
                return ["generator 'mine' supports at most 256x256"]
    """


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ganforge_load_checkpoint(path: str, device: Any) -> NetworkBundle | None:
    """Load networks from a file, for formats other than ganforge's own.

    Called by ``ganforge.load_network`` and every command that takes a network. Stops at first
    non-None result. The native loader is registered ``trylast``; importers of foreign formats
    (official StyleGAN pickles, ...) return None for files they do not recognise.

    :param path: path of the file.
    :param device: ``torch.device`` to place the networks on.
    :return: a :class:`~ganforge.core.checkpoint.NetworkBundle`, or None if not this format.

    Example::

        @hookimpl
        def ganforge_load_checkpoint(path, device):
            if not path.endswith(".mine"):
                return None
            return NetworkBundle(G_ema=load_mine(path).to(device), info=DataInfo(64))
    """


@hookspec(firstresult=True)
def ganforge_import_network(record: PickledModule, role: str) -> ImportedNetwork | None:
    """Build one of your networks from a network stored in an official StyleGAN pickle.

    Called by the built-in pickle importer once per pickled network (``G``, ``D``, ``G_ema``,
    ``augment_pipe``) after the file was read by a restricted unpickler: nothing in it was executed.
    Stops at first non-None result; return None for records you do not recognise.

    :param record: an inert :class:`~ganforge.core.foreign_pickle.PickledModule`: ``class_name``,
        ``module_classes`` (classes the embedded source defines), ``init_kwargs``, ``state_dict()``.
    :param role: ``"G"``, ``"D"``, ``"G_ema"`` or ``"augment_pipe"``.
    :return: an :class:`~ganforge.core.checkpoint.ImportedNetwork` (module with the weights loaded
        strictly, its section and equivalent component config), or None.

    Example::

        @hookimpl
        def ganforge_import_network(record, role):
            if record.class_name != "Generator" or "SynthesisInput" not in record.module_classes:
                return None
            cfg = MyConfig(**translate(record.init_kwargs))
            G = build(cfg, info_from(record.init_kwargs))
            G.load_state_dict(record.state_dict(), strict=True)
            return ImportedNetwork(module=G, section="generator", config=cfg)
    """


# ---------------------------------------------------------------------------------------------
# Run hooks (once per tick, never per step)
# ---------------------------------------------------------------------------------------------


@hookspec
def ganforge_run_start(run: Run) -> None:
    """A training run starts (fresh or resumed), after networks are built and restored.

    Called on every rank; check ``run.is_main`` for rank-0-only work.

    :param run: the :class:`~ganforge.core.training.run.Run` (config, run_dir, networks, counters).

    Example::

        @hookimpl
        def ganforge_run_start(run):
            if run.is_main:
                print("starting", run.run_dir)
    """


@hookspec
def ganforge_run_tick(run: Run, stats: dict[str, Any]) -> None:
    """A tick ended; ``stats`` holds the tick's aggregated statistics.

    Called on every rank after the statistics of the tick are reduced across ranks, before
    snapshots are written.

    :param run: the :class:`~ganforge.core.training.run.Run`.
    :param stats: flat dict: ``{"Progress/kimg": 1.2, "Loss/G/loss": {"num":..,"mean":..,"std":..}, ...}``.

    Example::

        @hookimpl
        def ganforge_run_tick(run, stats):
            if run.is_main:
                send_to_dashboard(stats)
    """


@hookspec
def ganforge_run_end(run: Run, status: str) -> None:
    """A training run ended.

    :param run: the :class:`~ganforge.core.training.run.Run`.
    :param status: ``"done"``, ``"stopped"`` (a plugin or the user asked), ``"diverged"`` or
        ``"error"``.

    Example::

        @hookimpl
        def ganforge_run_end(run, status):
            print("run ended:", status)
    """


@hookspec(firstresult=True)
def ganforge_run_should_stop(run: Run, stats: dict[str, Any]) -> bool | None:
    """Ask whether training should stop early (time budget, a target metric reached, ...).

    Called once per tick on rank 0 (the answer is broadcast). Stops at first non-None result.

    :param run: the :class:`~ganforge.core.training.run.Run`.
    :param stats: the tick's statistics, as in ``ganforge_run_tick``.
    :return: True to stop after this tick (a final snapshot is written), else None.

    Example::

        @hookimpl
        def ganforge_run_should_stop(run, stats):
            if stats.get("Timing/total_sec", 0) > 3600:
                return True
    """
