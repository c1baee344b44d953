"""Built-in logging through the run hooks: ``stats.jsonl`` and the console tick line, always;
TensorBoard event files when ``tensorboard`` is installed (and ``training.tensorboard`` is on)."""

from ganforge import hookimpl


@hookimpl
def ganforge_run_start(run):
    from ganforge.plugins.default_logging.writers import start

    start(run)


@hookimpl
def ganforge_run_tick(run, stats):
    from ganforge.plugins.default_logging.writers import tick

    tick(run, stats)


@hookimpl
def ganforge_run_end(run):
    from ganforge.plugins.default_logging.writers import end

    end(run)
