"""Built-in datasets: ``images`` (folder or zip), ``shapes`` (the default) and ``toyset``.

See ``docs/datasets.md``. Heavy modules (numpy, PIL, torch) are imported inside the factories.
"""

from __future__ import annotations

from typing import Any

from ganforge import hookimpl
from ganforge.core.specs import DatasetSpec
from ganforge.plugins.default_datasets.configs import ImagesConfig, ShapesConfig, ToysetConfig, handles_path


def _images(cfg: ImagesConfig) -> Any:
    from ganforge.plugins.default_datasets.images import make_images

    return make_images(cfg)


def _shapes(cfg: ShapesConfig) -> Any:
    from ganforge.plugins.default_datasets.shapes import make_shapes

    return make_shapes(cfg)


def _toyset(cfg: ToysetConfig) -> Any:
    from ganforge.plugins.default_datasets.toyset import make_toyset

    return make_toyset(cfg)


@hookimpl
def ganforge_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec(name="images", factory=_images, config=ImagesConfig, handles_path=handles_path,
                    priority=-100,  # any more specific reader of a folder or zip wins
                    summary="A folder (recursive) or zip of images, labels in dataset.json.",
                    paper="https://github.com/NVlabs/stylegan3 (dataset_tool.py layout)"),
        DatasetSpec(name="shapes", factory=_shapes, config=ShapesConfig,
                    summary="Procedural coloured circles, squares and triangles (the default; no files)."),
        DatasetSpec(name="toyset", factory=_toyset, config=ToysetConfig,
                    summary="Frequency-bias toy images with Gaussian spectral peaks.",
                    paper="Schwarz et al., On the Frequency Bias of Generative Models, NeurIPS 2021"),
    ]
