"""Frequency-bias testbeds and spectral analysis (Schwarz et al., NeurIPS 2021; StyleGAN3's avg_spectra).

Hook implementations only; everything heavy is imported when a command or factory runs.
See ``docs/freqbias.md``.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DatasetSpec
from ganforge.plugins.freqbias.config import PhotosConfig


@hookimpl
def ganforge_register_datasets() -> list[DatasetSpec]:
    return [DatasetSpec(factory="ganforge.plugins.freqbias.data:make_photos", config=PhotosConfig,
                        handles_path="ganforge.plugins.freqbias.data:handles_path",
                        summary="Built-in CC0/public-domain photos, the paper's baboon photo, or your image "
                                "files.",
                        paper="Schwarz et al., On the Frequency Bias of Generative Models, NeurIPS 2021")]


@hookimpl
def ganforge_register_commands(app: Any) -> None:
    from ganforge.plugins.freqbias.cli import register

    register(app)


@hookimpl
def ganforge_load_checkpoint(path: str, device: Any) -> Any:
    from ganforge.plugins.freqbias.checkpoint import load_testbed_bundle

    return load_testbed_bundle(path, device)
