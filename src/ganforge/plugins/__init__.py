"""Built-in plugins, one package per method. Plugins import only ganforge.core, ganforge.nn and
ganforge.ops, never each other."""
