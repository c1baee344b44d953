"""Official-layout pickles round-trip through the restricted loader; gan generate --translate/--rotate."""

from __future__ import annotations

import copy
import json
import math
from typing import Literal

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import NetworkBundle, load_bundle, save_network
from ganforge.core.config import ComponentConfig
from ganforge.core.errors import CheckpointError
from ganforge.core.foreign_pickle import safe_load
from ganforge.core.generate import seed_latents, set_input_transform
from ganforge.core.images import to_uint8
from ganforge.core.plugins import temporary_plugin
from ganforge.core.specs import DataInfo, GeneratorSpec
from ganforge.plugins.stylegan3 import ganforge_import_network
from ganforge.plugins.stylegan3.config import StyleGAN3RConfig, StyleGAN3TConfig
from ganforge.plugins.stylegan3.generator import build_generator, config_to_init_kwargs
from ganforge.plugins.stylegan3.importer import init_kwargs_to_config
from ganforge.testing.official_pickle import persistent, write_official_pickle
from tests.plugins.stylegan3.toys import ToyG

CLASSES = ("FullyConnectedLayer", "MappingNetwork", "SynthesisInput", "SynthesisLayer", "SynthesisNetwork",
           "Generator")
SOURCE = "".join(f"class {name}:\n    pass\n" for name in CLASSES)  # recorded, never executed
SMALL = {"z_dim": 16, "w_dim": 16, "channel_base": 512, "channel_max": 16, "magnitude_ema_beta": 0.99}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_like(G):
    """Perturb every parameter and EMA buffer, as training would (so a partial load shows)."""
    G = copy.deepcopy(G)
    c = torch.eye(G.c_dim)[torch.arange(4) % G.c_dim] if G.c_dim else None
    G(torch.randn(4, G.z_dim), c, update_emas=True)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return G


def write_snapshot(path, cfg, info, G, G_ema, init_kwargs=None):
    kwargs = init_kwargs if init_kwargs is not None else config_to_init_kwargs(cfg, info)

    def extra(p, m):  # plain attributes the official modules carry
        if p == "":
            return {k: kwargs[k] for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")} | {
                "num_ws": m.num_ws}
        if hasattr(m, "in_size"):
            return {"in_size": np.array([m.in_size] * 2), "out_size": np.array([m.out_size] * 2),
                    "padding": list(m.padding), "conv_clamp": m.conv_clamp, "is_torgb": m.is_torgb}
        return {}

    nets = {role: persistent(net, SOURCE, init_kwargs=lambda p, m: kwargs if p == "" else {},
                             extra_state=extra)
            for role, net in (("G", G), ("G_ema", G_ema))}
    dataset = {"class_name": "training.dataset.ImageFolderDataset", "path": "d.zip",
               "resolution": info.resolution, "use_labels": info.label_dim > 0}
    write_official_pickle(str(path), {**nets, "augment_pipe": None}, training_set_kwargs=dataset)


@pytest.mark.parametrize(("cfg", "c_dim"), [(StyleGAN3TConfig(**SMALL), 0), (StyleGAN3RConfig(**SMALL), 0),
                                            (StyleGAN3TConfig(**SMALL, conv_clamp=None, num_fp16_res=0), 3)])
def test_official_pickle_round_trip(tmp_path, cfg, c_dim):
    torch.manual_seed(0)
    info = DataInfo(resolution=32, label_dim=c_dim)
    G = trained_like(build_generator(cfg, info))
    G_ema = trained_like(G)
    write_snapshot(tmp_path / "net.pkl", cfg, info, G, G_ema)
    record = safe_load(tmp_path / "net.pkl")["G_ema"]
    assert "SynthesisInput" in record.module_classes and record.init_kwargs["mapping_kwargs"] == {
        "num_layers": 2, "lr_multiplier": 0.01, "w_avg_beta": 0.998}
    assert "synthesis.L14_32_3.up_filter" not in record.state_dict()  # identity filters are absent

    bundle = load_bundle(tmp_path / "net.pkl")
    want_name = "stylegan3-r" if cfg.use_radial_filters else "stylegan3-t"
    assert bundle.config["generator"]["name"] == want_name
    assert bundle.info == DataInfo(resolution=32, channels=3, label_dim=c_dim, name="imported")
    for ours, theirs in ((G, bundle.G), (G_ema, bundle.G_ema)):
        assert set(theirs.state_dict()) == set(ours.state_dict())
        for k, v in ours.state_dict().items():
            assert torch.equal(theirs.state_dict()[k], v), k
        z = seed_latents([0, 1, 2], 16)
        c = torch.eye(c_dim)[[0, 1, 2]] if c_dim else torch.zeros(3, 0)
        assert torch.equal(theirs(z, c), ours.eval()(z, c))
    assert ganforge.load_network(tmp_path / "net.pkl") is not None


def test_init_kwargs_round_trip_and_official_defaults():
    for cfg in (StyleGAN3TConfig(channel_base=16384, map_depth=3, conv_clamp=None),
                StyleGAN3RConfig(num_fp16_res=0, margin_size=8, filter_size=4, lrelu_upsampling=4)):
        info = DataInfo(resolution=256, channels=1, label_dim=5)
        back, back_info = init_kwargs_to_config(config_to_init_kwargs(cfg, info))
        assert back.model_dump() == cfg.model_dump()
        assert (back_info.resolution, back_info.channels, back_info.label_dim) == (256, 1, 5)
    # what the official train.py records for --cfg stylegan3-r --cbase 32768 --cmax 512 (R doubles them)
    official = {"z_dim": 512, "w_dim": 512, "mapping_kwargs": {"num_layers": 2}, "channel_base": 65536,
                "channel_max": 1024, "magnitude_ema_beta": 0.5 ** (32 / 20000), "conv_kernel": 1,
                "use_radial_filters": True, "c_dim": 0, "img_resolution": 1024, "img_channels": 3}
    cfg, _ = init_kwargs_to_config(official)
    assert cfg.name == "stylegan3-r" and (cfg.num_fp16_res, cfg.conv_clamp, cfg.map_depth) == (4, 256, 2)
    # arguments the pickle leaves out take the class defaults, not our R defaults
    partial = {k: v for k, v in official.items() if k not in ("channel_base", "channel_max")}
    cfg, _ = init_kwargs_to_config(partial)
    assert (cfg.channel_base, cfg.channel_max) == (32768, 512)
    cfg, _ = init_kwargs_to_config({"z_dim": 512, "w_dim": 512, "img_resolution": 256, "img_channels": 3})
    assert cfg.name == "stylegan3-t" and cfg.magnitude_ema_beta == 0.999 and cfg.conv_kernel == 3


def test_bad_pickles_are_checkpoint_errors(tmp_path):
    cfg, info = StyleGAN3TConfig(**SMALL), DataInfo(16)
    G = build_generator(cfg, info)
    kwargs = config_to_init_kwargs(cfg, info)
    write_snapshot(tmp_path / "new.pkl", cfg, info, G, G, init_kwargs={**kwargs, "attention_layers": 2})
    with pytest.raises(CheckpointError, match="attention_layers"):
        ganforge.load_network(tmp_path / "new.pkl")
    wrong = {**kwargs, "channel_max": 8}  # names no longer match the weights
    write_snapshot(tmp_path / "wrong.pkl", cfg, info, G, G, init_kwargs=wrong)
    with pytest.raises(CheckpointError, match="do not fit.*L0_36_8"):
        ganforge.load_network(tmp_path / "wrong.pkl")
    del G.synthesis.L3_36_16._buffers["magnitude_ema"]
    write_snapshot(tmp_path / "partial.pkl", cfg, info, G, G)
    with pytest.raises(CheckpointError, match="missing.*L3_36_16.magnitude_ema"):
        ganforge.load_network(tmp_path / "partial.pkl")


def test_importer_ignores_other_records(tmp_path):
    cfg, info = StyleGAN3TConfig(**SMALL), DataInfo(16)
    G = build_generator(cfg, info)
    write_snapshot(tmp_path / "net.pkl", cfg, info, G, G)
    data = safe_load(tmp_path / "net.pkl")
    assert ganforge_import_network(data["G"], "D") is None
    assert ganforge_import_network(data["G"].children["mapping"], "G") is None  # a MappingNetwork
    data["G"].module_classes = frozenset({"Generator", "SynthesisBlock"})  # a StyleGAN2 module
    assert ganforge_import_network(data["G"], "G") is None
    assert ganforge_import_network(data["G_ema"], "G_ema").config.name == "stylegan3-t"


def read_png(path):
    return np.asarray(Image.open(path))


def test_generate_same_image_for_same_seed_and_user_transform(tmp_path, cli):
    torch.manual_seed(0)
    cfg, info = StyleGAN3RConfig(**SMALL), DataInfo(32)
    G = trained_like(build_generator(cfg, info)).eval()
    write_snapshot(tmp_path / "net.pkl", cfg, info, G, G)
    out = tmp_path / "out"
    for args, sub in (([], "plain"), (["--translate", "0.25,-0.125"], "t"), (["--rotate", "30"], "r"),
                      (["--translate", "0.1,0", "--rotate", "-45"], "tr")):
        result = cli(["generate", "--network", str(tmp_path / "net.pkl"), "--seeds", "3,7", "--outdir",
                      str(out / sub), *args])
        assert result.exit_code == 0, result.output
    z = seed_latents([3, 7], 16)
    want = to_uint8(G(z, None)).numpy()
    assert np.array_equal(read_png(out / "plain" / "seed0003.png"), want[0])
    assert np.array_equal(read_png(out / "plain" / "seed0007.png"), want[1])
    cases = (("t", (0.25, -0.125), 0.0), ("r", (0.0, 0.0), 30.0), ("tr", (0.1, 0.0), -45.0))
    for sub, translate, rotate in cases:
        G2 = copy.deepcopy(G)
        a = math.radians(rotate)  # the official gen_images.py matrix, inverted into the input's transform
        m = np.array([[math.cos(a), math.sin(a), translate[0]], [-math.sin(a), math.cos(a), translate[1]],
                      [0, 0, 1]])
        G2.synthesis.input.transform.copy_(torch.from_numpy(np.linalg.inv(m)))
        got = read_png(out / sub / "seed0003.png")
        assert np.array_equal(got, to_uint8(G2(z, None)).numpy()[0]), sub
        assert not np.array_equal(got, want[0])


class ToyEqConfig(ComponentConfig):
    name: Literal["toy_eq"] = "toy_eq"


class ToyEqPlugin:
    @hookimpl
    def ganforge_register_generators(self):
        return [GeneratorSpec(name="toy_eq", factory=lambda cfg, info: ToyG(res=info.resolution, bandwidth=6),
                              config=ToyEqConfig, provides={"mapping", "synthesis", "input_transform"})]


def test_generate_translate_shifts_an_equivariant_generator_by_whole_pixels(tmp_path, cli):
    with temporary_plugin(ToyEqPlugin(), "toy_eq"):
        save_network(NetworkBundle(G_ema=ToyG(res=32, bandwidth=6), info=DataInfo(32),
                                   config={"generator": {"name": "toy_eq"}}), tmp_path / "toy.pt")
        for args, sub in (([], "a"), (["--translate", "0.125,-0.0625"], "b")):  # 4 px right, 2 px up
            result = cli(["generate", "--network", str(tmp_path / "toy.pt"), "--seeds", "5", "--outdir",
                          str(tmp_path / sub), *args])
            assert result.exit_code == 0, result.output
    a = read_png(tmp_path / "a" / "seed0005.png").astype(int)
    b = read_png(tmp_path / "b" / "seed0005.png").astype(int)
    assert np.array_equal(b[:30, 4:], a[2:, :28])
    assert not np.array_equal(a, b)


def test_set_input_transform_refuses_generators_without_one():
    from ganforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="Fourier-feature input"):
        set_input_transform(torch.nn.Linear(2, 2), (0.1, 0.0), 0.0)


def test_convert_pickle_to_native_and_back(tmp_path, cli):
    torch.manual_seed(1)
    cfg, info = StyleGAN3TConfig(**SMALL), DataInfo(16, label_dim=2)
    G = trained_like(build_generator(cfg, info)).eval()
    write_snapshot(tmp_path / "net.pkl", cfg, info, G, G)
    result = cli(["convert", str(tmp_path / "net.pkl"), str(tmp_path / "net.pt")])
    assert result.exit_code == 0, result.output
    G2 = ganforge.load_network(tmp_path / "net.pt")
    z, c = torch.randn(2, 16), torch.eye(2)
    assert torch.equal(G2(z, c), G(z, c))
    assert float(G2.synthesis.L0_36_16.magnitude_ema) == float(G.synthesis.L0_36_16.magnitude_ema) != 1.0


def test_gan_metrics_computes_equivariance_of_a_pickle(tmp_path, cli):
    from ganforge.core.registry import get_registry

    if not get_registry().has("metric", "fid50k_full"):
        pytest.skip("gan metrics comes with the metrics plugin, not on this branch yet")
    torch.manual_seed(0)
    cfg, info = StyleGAN3TConfig(**SMALL), DataInfo(32)
    G = build_generator(cfg, info)
    write_snapshot(tmp_path / "net.pkl", cfg, info, G, G)
    result = cli(["metrics", "--network", str(tmp_path / "net.pkl"), "--metrics", "eqt50k_int,eqr50k",
                  "--num-gen", "8", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    records = {r["metric"]: r for r in json.loads(result.stdout)}
    assert records["eqt50k_int"]["results"]["eqt50k_int"] > 30
    assert records["eqr50k"]["provenance"]["num_gen"] == 8
