"""The small core: hookspecs, spec records, plugin manager, registry, config, training loop,
checkpoint format, distributed helpers and statistics. No model code lives here."""
