"""Built-in datasets: ``images`` (folder or zip), ``shapes`` (the default) and ``toyset``.

See ``docs/datasets.md``. Heavy modules (numpy, PIL, torch) are imported when a dataset is built.
"""

from ganforge import hookimpl
from ganforge.core.specs import DatasetSpec
from ganforge.plugins.default_datasets.configs import ImagesConfig, ShapesConfig, ToysetConfig, handles_path

_HERE = "ganforge.plugins.default_datasets"


@hookimpl
def ganforge_register_datasets():
    return [
        DatasetSpec(factory=f"{_HERE}.images:make_images", config=ImagesConfig, handles_path=handles_path,
                    priority=-100,  # any more specific reader of a folder or zip wins
                    summary="A folder (recursive) or zip of images, labels in dataset.json.",
                    paper="https://github.com/NVlabs/stylegan3 (dataset_tool.py layout)"),
        DatasetSpec(factory=f"{_HERE}.shapes:make_shapes", config=ShapesConfig,
                    summary="Procedural coloured circles, squares and triangles (the default; no files)."),
        DatasetSpec(factory=f"{_HERE}.toyset:make_toyset", config=ToysetConfig,
                    summary="Frequency-bias toy images with Gaussian spectral peaks.",
                    paper="Schwarz et al., On the Frequency Bias of Generative Models, NeurIPS 2021"),
    ]
