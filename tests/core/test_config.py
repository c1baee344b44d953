"""Run configuration: layers, shorthands, suggestions, and errors that name the field."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import Field

from ganforge.core.config import ComponentConfig, parse_set, resolve_config
from ganforge.core.errors import ConfigError, UnknownComponentError
from ganforge.core.registry import Registry
from ganforge.core.specs import DatasetSpec, DiscriminatorSpec, GeneratorSpec, LossSpec, PresetSpec, RegularizerSpec


class GA(ComponentConfig):
    name: Literal["ga"] = "ga"
    width: int = Field(8, ge=1)
    mode: Literal["nearest", "bilinear"] = "nearest"


class GB(ComponentConfig):
    name: Literal["gb"] = "gb"
    depth: int = 2


class DA(ComponentConfig):
    name: Literal["da"] = "da"


class DP(ComponentConfig):
    name: Literal["proj"] = "proj"


class LA(ComponentConfig):
    name: Literal["logistic"] = "logistic"
    r1_gamma: float = 10.0


class LH(ComponentConfig):
    name: Literal["hinge"] = "hinge"
    r1_gamma: float = 0.0


class RP(ComponentConfig):
    name: Literal["pl"] = "pl"
    weight: float = 2.0


class DS(ComponentConfig):
    name: Literal["shapes"] = "shapes"
    resolution: int = 32


def _nothing(*args, **kwargs):
    return None


@pytest.fixture
def reg():
    r = Registry()
    for spec in (GeneratorSpec(name="ga", factory=_nothing, config=GA), GeneratorSpec(name="gb", factory=_nothing, config=GB),
                 GeneratorSpec(name="pggan", factory=_nothing, config=type("GP", (ComponentConfig,), {
                     "__annotations__": {"name": Literal["pggan"]}, "name": "pggan"})),
                 DiscriminatorSpec(name="da", factory=_nothing, config=DA),
                 DiscriminatorSpec(name="pggan", factory=_nothing, config=type("DP2", (ComponentConfig,), {
                     "__annotations__": {"name": Literal["pggan"]}, "name": "pggan"})),
                 DiscriminatorSpec(name="proj", factory=_nothing, config=DP,
                                   suggests={"loss": {"name": "hinge"}, "training.glr": 0.0002}),
                 LossSpec(name="logistic", factory=_nothing, config=LA), LossSpec(name="hinge", factory=_nothing, config=LH),
                 RegularizerSpec(name="pl", factory=_nothing, config=RP),
                 DatasetSpec(name="shapes", factory=_nothing, config=DS),
                 PresetSpec(name="small", config={"generator": {"name": "ga", "width": 4}, "training": {"kimg": 3}})):
        r.add(spec, "test")
    return r


def test_defaults(reg):
    cfg, applied = resolve_config(None, registry=reg)
    assert cfg.generator.name == "pggan" and cfg.discriminator.name == "pggan"
    assert cfg.loss.name == "logistic" and cfg.dataset.name == "shapes" and cfg.augment is None
    assert cfg.training.kimg == 25000 and applied == []


def test_flags_sets_and_shorthands(reg):
    cfg, _ = resolve_config({"generator": "ga", "regularizers": ["pl"]}, overrides={"training.batch": 8},
                            sets=["generator.width=16", "training.betas=[0.5, 0.9]", "regularizers.pl.weight=4"],
                            registry=reg)
    assert cfg.generator.width == 16 and cfg.training.batch == 8
    assert cfg.training.betas == (0.5, 0.9) and cfg.regularizers["pl"].weight == 4


def test_changing_component_name_drops_its_options(reg):
    cfg, _ = resolve_config({"generator": {"name": "ga", "width": 3}}, overrides={"generator.name": "gb"}, registry=reg)
    assert cfg.generator.name == "gb" and cfg.generator.depth == 2


def test_misspelt_key_names_path_and_suggests(reg):
    with pytest.raises(ConfigError) as err:
        resolve_config({"generator": {"name": "ga", "widht": 3}}, registry=reg)
    msg = str(err.value)
    assert "generator.widht" in msg and "did you mean 'width'" in msg


def test_wrong_type_names_path(reg):
    with pytest.raises(ConfigError) as err:
        resolve_config(None, sets=["training.kimg=lots"], registry=reg)
    assert "training.kimg" in str(err.value) and "lots" in str(err.value)
    with pytest.raises(ConfigError, match=r"generator\.mode"):
        resolve_config({"generator": {"name": "ga", "mode": "cubic"}}, registry=reg)


def test_unknown_top_level_key(reg):
    with pytest.raises(ConfigError, match="trainng"):
        resolve_config({"trainng": {"kimg": 1}}, registry=reg)


def test_unknown_component_lists_choices_and_close_match(reg):
    with pytest.raises(UnknownComponentError) as err:
        resolve_config({"generator": "gaa"}, registry=reg)
    msg = str(err.value)
    assert "Did you mean 'ga'" in msg and "ga, gb, pggan" in msg


def test_suggestions_apply_only_where_unset(reg):
    cfg, applied = resolve_config({"discriminator": "proj"}, registry=reg)
    assert cfg.loss.name == "hinge" and cfg.training.glr == 0.0002
    assert any("hinge" in line and "proj" in line for line in applied)
    cfg, applied = resolve_config({"discriminator": "proj", "loss": "logistic"}, overrides={"training.glr": 0.01},
                                  registry=reg)
    assert cfg.loss.name == "logistic" and cfg.training.glr == 0.01 and applied == []


def test_preset_is_below_user_layers(reg):
    cfg, _ = resolve_config(None, preset="small", sets=["training.kimg=5"], registry=reg)
    assert cfg.generator.name == "ga" and cfg.generator.width == 4 and cfg.training.kimg == 5 and cfg.preset == "small"
    cfg, _ = resolve_config(None, preset="small", overrides={"generator.name": "gb"}, registry=reg)
    assert cfg.generator.name == "gb"


def test_files_and_round_trip(reg, tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('[generator]\nname = "ga"\nwidth = 5\n[training]\nkimg = 7\n')
    cfg, _ = resolve_config(toml, registry=reg)
    assert cfg.generator.width == 5 and cfg.training.kimg == 7
    js = tmp_path / "config.json"
    js.write_text(json.dumps(cfg.to_dict()))
    again, _ = resolve_config(js, registry=reg)
    assert again == cfg
    bad = tmp_path / "bad.toml"
    bad.write_text("[generator\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_config(bad, registry=reg)
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(tmp_path / "missing.toml", registry=reg)


def test_parse_set():
    assert parse_set("a.b=3") == ("a.b", 3)
    assert parse_set("a=true") == ("a", True)
    assert parse_set("a=none") == ("a", None)
    assert parse_set("a=hello") == ("a", "hello")
    assert parse_set("a=[1,2]") == ("a", [1, 2])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set("novalue")
    with pytest.raises(ConfigError, match="empty key"):
        parse_set("a..b=1")


def test_frozen_config(reg):
    cfg, _ = resolve_config(None, registry=reg)
    with pytest.raises(Exception):
        cfg.training.kimg = 3  # type: ignore[misc]


def test_suggestion_keeps_options_of_a_section_already_naming_it(reg):
    reg.add(PresetSpec(name="hinged", config={"loss": {"name": "hinge", "r1_gamma": 1.5}}), "test")
    cfg, applied = resolve_config({"discriminator": "proj"}, preset="hinged", registry=reg)
    assert cfg.loss.name == "hinge" and cfg.loss.r1_gamma == 1.5
    assert not any(line.startswith("loss =") for line in applied)


def test_suggested_regularizer_is_added_and_can_be_removed(reg):
    reg.add(GeneratorSpec(name="styled", factory=_nothing, config=type("GS", (ComponentConfig,), {
        "__annotations__": {"name": Literal["styled"]}, "name": "styled"}),
        suggests={"regularizers": {"pl": {"weight": 3.0}}}), "test")
    cfg, applied = resolve_config({"generator": "styled"}, registry=reg)
    assert cfg.regularizers["pl"].weight == 3.0 and any("regularizers.pl" in a for a in applied)
    cfg, _ = resolve_config({"generator": "styled"}, sets=["regularizers.pl=null"], registry=reg)
    assert "pl" not in cfg.regularizers
