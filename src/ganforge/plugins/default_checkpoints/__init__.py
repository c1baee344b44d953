"""Built-in loaders: ganforge's own checkpoint format (the ``trylast`` fallback), ``.safetensors`` written by
``gan convert --to safetensors``, and official StyleGAN2/3 network pickles read without executing them
(networks built by ``ganforge_import_network``)."""

from ganforge import hookimpl


@hookimpl(specname="ganforge_load_checkpoint", trylast=True)
def load_native_checkpoint(path, device):
    from ganforge.core.checkpoint import is_native_checkpoint, load_native

    if not is_native_checkpoint(path):
        return None
    return load_native(path, device=device)


@hookimpl(specname="ganforge_load_checkpoint")
def load_official_pickle(path, device):
    from ganforge.core.foreign_pickle import looks_like_pickle

    if not looks_like_pickle(path):
        return None
    from ganforge.core.checkpoint import load_foreign_pickle

    return load_foreign_pickle(path, device=device)


@hookimpl(specname="ganforge_load_checkpoint", tryfirst=True)
def load_safetensors_file(path, device):
    # first: a safetensors header length can start with the byte 0x80 that the pickle sniffer looks for
    from ganforge.core.safetensors_io import load_safetensors, looks_like_safetensors

    if not looks_like_safetensors(path):
        return None
    return load_safetensors(path, device=device)
