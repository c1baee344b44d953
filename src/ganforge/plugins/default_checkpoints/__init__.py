"""Built-in loader of ganforge's own checkpoint format (the fallback of ``ganforge_load_checkpoint``)."""

from ganforge import hookimpl


@hookimpl(trylast=True)
def ganforge_load_checkpoint(path, device):
    from ganforge.core.checkpoint import is_native_checkpoint, load_native

    if not is_native_checkpoint(path):
        return None
    return load_native(path, device=device)
