"""Configuration, registration, the CLI, and importing an official snapshot's ``augment_pipe``."""

from __future__ import annotations

import json
from typing import Literal

import pytest
import torch
from pydantic import ValidationError

from ganforge import hookimpl
from ganforge.core.checkpoint import ImportedNetwork, load_bundle
from ganforge.core.config import ComponentConfig, resolve_config
from ganforge.core.errors import CheckpointError
from ganforge.core.foreign_pickle import safe_load
from ganforge.core.plugins import DEFAULT_PLUGINS, get_plugin_manager, temporary_plugin
from ganforge.core.registry import get_registry
from ganforge.core.specs import CheckContext, DataInfo
from ganforge.plugins.ada.augment import AugmentPipe
from ganforge.plugins.ada.config import (MULTIPLIERS, PRESETS, AdaConfig, check_run, module_kwargs,
                                         resolved_multipliers)
from ganforge.testing.checks import _config_checks
from ganforge.testing.official_pickle import persistent, write_official_pickle

SOURCE = "class AugmentPipe(torch.nn.Module):\n    pass\n"  # never executed


def test_registered_as_builtin_with_documented_options():
    assert ("ada", "ganforge.plugins.ada") in DEFAULT_PLUGINS
    spec = get_registry().get("augment", "ada")
    _config_checks(spec)  # every field has a description (gan info shows them)
    assert isinstance(spec.build(AdaConfig(), DataInfo(resolution=16)), AugmentPipe)


def test_presets_and_overrides():
    default = resolved_multipliers(AdaConfig())
    assert default["saturation"] == 1 and default["noise"] == 0
    for name, on in PRESETS.items():
        mult = resolved_multipliers(AdaConfig(preset=name))
        assert {k for k, v in mult.items() if v} == set(on), name
    assert set(PRESETS["bgcfnc"]) == set(MULTIPLIERS)
    mult = resolved_multipliers(AdaConfig(preset="bgc", xflip=0, noise=0.5, rotate=2))
    assert mult["xflip"] == 0 and mult["noise"] == 0.5 and mult["rotate"] == 2 and mult["hue"] == 1
    pipe = AugmentPipe(**module_kwargs(AdaConfig(preset="blit", xint_max=0.25, imgfilter_bands=(1, 0, 0, 1))))
    assert pipe.xint_max == 0.25 and pipe.imgfilter_bands == [1, 0, 0, 1] and pipe.scale == 0
    with pytest.raises(ValidationError):
        AdaConfig(preset="bgcx")
    with pytest.raises(ValidationError):
        AdaConfig(xflip=-1)
    with pytest.raises(ValidationError):
        AdaConfig(unknown_option=1)


def test_colour_needs_one_or_three_channels():
    class Run:
        augment = AdaConfig(preset="bgc")

    def ctx(channels):
        return CheckContext(config=Run(), info=DataInfo(resolution=16, channels=channels))

    problems = check_run(ctx(2))
    assert len(problems) == 1 and "brightness" in problems[0] and "2 channels" in problems[0]
    Run.augment = AdaConfig(preset="bg")
    assert check_run(ctx(2)) == []
    Run.augment = AdaConfig(preset="bgc")
    assert check_run(ctx(1)) == []


def test_cli_aug_flag_takes_options(cli, tmp_path):
    config, _ = resolve_config({"augment": "ada"}, sets=["augment.preset=bg", "augment.target=null"])
    assert config.augment.preset == "bg" and config.augment.target is None
    result = cli(["run", "-n", "--data", "shapes", "--aug", "ada", "--set", "augment.preset=bgcf",
                  "--set", "augment.p=0.3"])
    assert result.exit_code == 0, result.output
    assert '"preset": "bgcf"' in result.output and '"p": 0.3' in result.output
    run_file = tmp_path / "run.json"
    run_file.write_text(json.dumps({"augment": {"name": "ada", "preset": "bg"}}))
    result = cli(["run", "-n", "--config", str(run_file), "--aug", "none"])
    assert result.exit_code == 0, result.output
    assert '"augment": null' in result.output
    result = cli(["info", "augment", "ada"])
    assert result.exit_code == 0 and "imgfilter_bands" in result.output


# ---------------------------------------------------------------------------------------------
# Official augment_pipe records
# ---------------------------------------------------------------------------------------------


def _official_pipe(**kwargs) -> tuple[AugmentPipe, object]:
    """Our pipe pickled in the official layout: buffers plus the multipliers as plain float attributes."""
    pipe = AugmentPipe(**kwargs)
    pipe.p.fill_(torch.rand([]).item() * 2)
    attributes = {name: getattr(pipe, name) for name in MULTIPLIERS}
    attributes.update(xint_max=pipe.xint_max, scale_std=pipe.scale_std, imgfilter_bands=pipe.imgfilter_bands)
    upstream_kwargs = {k: v for k, v in kwargs.items() if v}  # upstream records the given kwargs only
    record = persistent(pipe, SOURCE, class_name=lambda m: "AugmentPipe",
                        init_kwargs=lambda path, m: upstream_kwargs, extra_state=lambda path, m: attributes)
    return pipe, record


def _import(tmp_path, record, role="augment_pipe"):
    write_official_pickle(str(tmp_path / "aug.pkl"), {"augment_pipe": record})
    data = safe_load(tmp_path / "aug.pkl")
    return get_plugin_manager().hook.ganforge_import_network(record=data["augment_pipe"], role=role)


@pytest.mark.parametrize("kwargs, preset", [
    ({"xflip": 1, "rotate90": 1, "xint": 1, "scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1, "brightness": 1,
      "contrast": 1, "lumaflip": 1, "hue": 1, "saturation": 1}, "bgc"),
    ({"xflip": 1, "rotate90": 1, "xint": 1}, "blit"),
    ({"xflip": 0.5, "noise": 1, "scale_std": 0.3}, "none"),
])
def test_import_official_augment_pipe(tmp_path, kwargs, preset):
    pipe, record = _official_pipe(**kwargs)
    result = _import(tmp_path, record)
    assert isinstance(result, ImportedNetwork) and result.section == "augment"
    assert result.config.preset == preset and result.config.p == pytest.approx(float(pipe.p))
    module = result.module
    for name, tensor in pipe.state_dict().items():
        assert torch.equal(module.state_dict()[name], tensor), name
    for name in MULTIPLIERS:
        assert getattr(module, name) == getattr(pipe, name), name
    assert module.scale_std == pipe.scale_std
    rebuilt = AugmentPipe(**module_kwargs(result.config))  # the config alone gives the same pipeline
    assert rebuilt.extra_repr() == module.extra_repr()
    x = torch.randn(3, 3, 16, 16)
    torch.manual_seed(5)
    a = module(x)
    torch.manual_seed(5)
    assert torch.equal(a, pipe(x))


def test_import_refuses_other_records_and_bad_buffers(tmp_path):
    _, record = _official_pipe(xflip=1)
    assert _import(tmp_path, record, role="G") is None
    bad = AugmentPipe(xflip=1)
    bad.register_buffer("Hz_geom", torch.zeros(8))
    record = persistent(bad, SOURCE, class_name=lambda m: "AugmentPipe")
    with pytest.raises(CheckpointError, match="Hz_geom.*shape"):
        _import(tmp_path, record)


class TinyG(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = 4, 0, 8, 3
        self.fc = torch.nn.Linear(4, 3 * 8 * 8)

    def forward(self, z, c):
        return self.fc(z).view(-1, 3, 8, 8)


class TinyConfig(ComponentConfig):
    name: Literal["tiny_ada"] = "tiny_ada"


class TinyImporter:
    """Imports the generator of a test snapshot (official networks need their own plugins)."""

    @hookimpl
    def ganforge_register_generators(self):
        from ganforge.core.specs import GeneratorSpec

        return [GeneratorSpec(name="tiny_ada", factory=lambda cfg, info: TinyG(), config=TinyConfig,
                              power_of_two=False)]

    @hookimpl
    def ganforge_import_network(self, record, role):
        if record.class_name != "TinyG":
            return None
        G = TinyG()
        G.load_state_dict(record.state_dict(), strict=True)
        return ImportedNetwork(module=G, section="generator", config=TinyConfig())


def test_snapshot_with_augment_pipe_loads_and_converts(tmp_path, cli):
    G = persistent(TinyG(), "class Generator: pass\n")
    pipe, aug = _official_pipe(**{name: 1 for name in PRESETS["bgcf"]})
    write_official_pickle(str(tmp_path / "snap.pkl"), {"G": G, "G_ema": G, "augment_pipe": aug})
    with temporary_plugin(TinyImporter(), "tiny_importer"):
        bundle = load_bundle(tmp_path / "snap.pkl")
        assert isinstance(bundle.augment, AugmentPipe) and bundle.config["augment"]["preset"] == "bgcf"
        assert float(bundle.augment.p) == pytest.approx(float(pipe.p))
        result = cli(["convert", str(tmp_path / "snap.pkl"), str(tmp_path / "snap.pt")])
        assert result.exit_code == 0, result.output
        again = load_bundle(tmp_path / "snap.pt")  # rebuilt through the registry
        assert torch.equal(again.augment.p, pipe.p) and torch.equal(again.augment.Hz_fbank, pipe.Hz_fbank)
