"""Official pickles: our modules -> official layout (test writer) -> restricted loader -> same outputs."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge.core.checkpoint import load_bundle
from ganforge.core.foreign_pickle import safe_load
from ganforge.core.generate import seed_latents
from ganforge.core.images import to_uint8
from ganforge.plugins.stylegan2.importer import import_network
from tests.plugins.stylegan2.helpers import (
    SG3_SOURCE,
    ada_layout_kwargs,
    d_config,
    d_kwargs,
    g_config,
    make_D,
    make_G,
    randomize,
    sg3_layout_kwargs,
    write_snapshot,
)

SEEDS = [0, 1, 2, 3]


def _pair(res=16, c_dim=0, g_kw=None, d_kw=None, layout="sg3", omit_defaults=False):
    g_kw, d_kw = g_kw or {}, d_kw or {}
    G = randomize(make_G(res, c_dim, **g_kw), seed=1).eval()
    G_ema = randomize(make_G(res, c_dim, **g_kw), seed=2).eval()
    D = randomize(make_D(res, c_dim, **d_kw), seed=3).eval()
    cfg = g_config(**g_kw)
    gk = sg3_layout_kwargs(G, cfg) if layout == "sg3" else ada_layout_kwargs(G, cfg, omit_defaults)
    return G, G_ema, D, gk, d_kwargs(D, d_config(**d_kw))


def _expected_pngs(G, c_dim, trunc=0.7, class_idx=None):
    z = seed_latents(SEEDS, G.z_dim)
    c = torch.zeros(len(SEEDS), c_dim)
    if c_dim:
        c[:, class_idx] = 1
    with torch.no_grad():
        img = G(z, c, truncation_psi=trunc, noise_mode="const")
    return to_uint8(img).numpy()


def _read_pngs(outdir):
    return np.stack([np.asarray(Image.open(outdir / f"seed{s:04d}.png")) for s in SEEDS])


CASES = [
    pytest.param("sg3", "skip", "resnet", 0, id="sg3-skip-resnet"),
    pytest.param("ada", "skip", "resnet", 0, id="ada-skip-resnet"),
    pytest.param("sg3", "orig", "orig", 0, id="sg3-orig-orig"),
    pytest.param("ada", "resnet", "skip", 0, id="ada-resnet-skip"),
    pytest.param("sg3", "skip", "resnet", 3, id="sg3-conditional"),
    pytest.param("ada", "resnet", "resnet", 3, id="ada-conditional"),
]


@pytest.mark.parametrize("layout, g_arch, d_arch, c_dim", CASES)
def test_round_trip_images_and_logits(tmp_path, cli, layout, g_arch, d_arch, c_dim):
    G, G_ema, D, gk, dk = _pair(c_dim=c_dim, g_kw={"architecture": g_arch}, d_kw={"architecture": d_arch},
                                layout=layout)
    pkl = tmp_path / "network-snapshot-000000.pkl"
    write_snapshot(pkl, G, D, G_ema, gk, dk)
    args = ["generate", "--network", str(pkl), "--seeds", "0-3", "--trunc", "0.7", "--noise-mode", "const",
            "--outdir", str(tmp_path / "out"), "--batch", "2"]
    if c_dim:
        args += ["--class", "1"]
    result = cli(args)
    assert result.exit_code == 0, result.output
    # the PNGs are exactly what the official conversion gives on G_ema (not G)
    want = _expected_pngs(G_ema, c_dim, class_idx=1)
    got = _read_pngs(tmp_path / "out")
    assert np.array_equal(got, want)
    assert not np.array_equal(got, _expected_pngs(G, c_dim, class_idx=1))
    bundle = load_bundle(pkl)
    assert bundle.source == "nvidia-pickle" and bundle.config["generator"]["architecture"] == g_arch
    img = torch.randn(4, 3, 16, 16)
    c = torch.eye(3)[[0, 1, 2, 0]][:, :c_dim]
    with torch.no_grad():
        assert torch.equal(bundle.D(img, c), D(img, c))
        assert torch.equal(bundle.G(seed_latents(SEEDS, 16), c, noise_mode="const"),
                           G(seed_latents(SEEDS, 16), c, noise_mode="const"))
    for name in ("G", "G_ema", "D"):
        assert not any(p.requires_grad for p in getattr(bundle, name).parameters())


def test_convert_then_generate_gives_the_same_pngs(tmp_path, cli):
    G, G_ema, D, gk, dk = _pair(layout="ada")
    pkl = tmp_path / "snap.pkl"
    write_snapshot(pkl, G, D, G_ema, gk, dk)
    assert cli(["convert", str(pkl), str(tmp_path / "snap.pt")]).exit_code == 0
    for src, out in ((pkl, "a"), (tmp_path / "snap.pt", "b")):
        result = cli(["generate", "--network", str(src), "--seeds", "0-3", "--trunc", "0.7", "--outdir",
                      str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    for s in SEEDS:
        assert (tmp_path / "a" / f"seed{s:04d}.png").read_bytes() == (tmp_path / "b" / f"seed{s:04d}.png").read_bytes()
    data = torch.load(tmp_path / "snap.pt", weights_only=True)
    assert data["config"]["generator"]["name"] == "stylegan2" and data["config"]["discriminator"]["name"] == "stylegan2"


@pytest.mark.parametrize("layout, omit", [("sg3", False), ("ada", False), ("ada", True)])
def test_settings_come_from_kwargs_or_recorded_attributes(tmp_path, layout, omit):
    """Absent kwargs (omit): the attributes the objects recorded decide, not the class defaults."""
    G, G_ema, D, gk, dk = _pair(layout=layout, omit_defaults=omit, g_kw={"w_avg_beta": 0.9, "conv_clamp": 100})
    write_snapshot(tmp_path / "s.pkl", G, D, G_ema, gk, dk)
    bundle = load_bundle(tmp_path / "s.pkl")
    cfg = bundle.config["generator"]
    assert (cfg["w_avg_beta"], cfg["conv_clamp"], cfg["fused_modconv_default"]) == (0.9, 100, "inference_only")
    flags = [getattr(G.synthesis, f"b{r}").use_fp16 for r in G.synthesis.block_resolutions]
    assert [getattr(bundle.G.synthesis, f"b{r}").use_fp16 for r in G.synthesis.block_resolutions] == flags
    assert flags == [False, True, True]


def test_layout_defaults_without_recorded_attributes(tmp_path):
    """Nothing recorded, nothing in the kwargs: each upstream family's class defaults apply."""
    for layout, want in (("ada", (0.995, 0, None, "inference_only")), ("sg3", (0.998, 4, 256, True))):
        G, G_ema, D, _, dk = _pair(layout=layout)
        cfg = g_config()
        gk = {"z_dim": 16, "w_dim": 16, "c_dim": 0, "img_resolution": 16, "img_channels": 3,
              "mapping_kwargs": {"num_layers": 2}}
        syn = {"channel_base": cfg.cbase, "channel_max": cfg.cmax}
        gk.update({"synthesis_kwargs": syn} if layout == "ada" else syn)
        write_snapshot(tmp_path / f"{layout}.pkl", G, D, G_ema, gk, dk, attributes=False)
        got = load_bundle(tmp_path / f"{layout}.pkl").config["generator"]
        assert (got["w_avg_beta"], got["num_fp16_res"], got["conv_clamp"], got["fused_modconv_default"]) == want


def test_stylegan3_snapshot_discriminator_is_imported_generator_left_alone(tmp_path, cli, monkeypatch):
    G, G_ema, D, gk, dk = _pair()
    write_snapshot(tmp_path / "sg3.pkl", G, D, G_ema, gk, dk, source=SG3_SOURCE)
    data = safe_load(tmp_path / "sg3.pkl")
    assert import_network(data["G"], "G") is None  # its module defines SynthesisInput: StyleGAN3's
    imported = import_network(data["D"], "D")
    assert imported is not None and imported.section == "discriminator"
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(imported.module(img, None), D(img, None))
    from ganforge.core import plugins

    monkeypatch.setenv("GANFORGE_DISABLE_PLUGINS", "stylegan3")  # without the plugin that owns that generator
    plugins.reset()
    result = cli(["generate", "--network", str(tmp_path / "sg3.pkl"), "--seeds", "0", "--outdir", str(tmp_path)])
    plugins.reset()
    assert result.exit_code == 2 and "no installed plugin can import it" in result.output


def test_resume_kwargs_freeze_d_round_trip(tmp_path):
    G, G_ema, D, gk, _ = _pair()
    Df = randomize(make_D(16, freeze_layers=3), seed=5)
    write_snapshot(tmp_path / "f.pkl", G, Df, G_ema, gk, d_kwargs(Df, d_config(freeze_layers=3)))
    D2 = ganforge.load_network(tmp_path / "f.pkl", which="D")
    assert load_bundle(tmp_path / "f.pkl").config["discriminator"]["freeze_layers"] == 3
    assert sum(1 for _ in D2.parameters()) == sum(1 for _ in Df.parameters())
    img = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(D2(img, None), Df(img, None))


# ---------------------------------------------------------------------------------------------
# Crafted or broken files: clear errors, nothing allocated or executed
# ---------------------------------------------------------------------------------------------


def _gen_error(cli, path, tmp_path):
    result = cli(["generate", "--network", str(path), "--seeds", "0", "--outdir", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_tensors_that_do_not_match_the_kwargs_are_refused(tmp_path, cli):
    G, G_ema, D, gk, dk = _pair()
    G_big = randomize(make_G(16, cmax=32))  # 32 channels where the kwargs say 16
    write_snapshot(tmp_path / "shape.pkl", G_big, D, G_big, gk, dk)
    msg = _gen_error(cli, tmp_path / "shape.pkl", tmp_path)
    assert "do not match" in msg and "wrong shape" in msg and "G:" in msg
    G_extra = copy.deepcopy(G)
    G_extra.synthesis.b4.register_buffer("payload", torch.zeros(3))
    write_snapshot(tmp_path / "extra.pkl", G_extra, D, G_extra, gk, dk)
    assert "unexpected: synthesis.b4.payload" in _gen_error(cli, tmp_path / "extra.pkl", tmp_path)
    G_missing = copy.deepcopy(G)
    del G_missing.synthesis.b16.conv1.noise_const
    write_snapshot(tmp_path / "missing.pkl", G_missing, D, G_missing, gk, dk)
    assert "missing: synthesis.b16.conv1.noise_const" in _gen_error(cli, tmp_path / "missing.pkl", tmp_path)


def test_huge_constructor_arguments_allocate_nothing(tmp_path, cli):
    G, G_ema, D, gk, dk = _pair()
    for change in ({"channel_max": 10 ** 6, "channel_base": 2 ** 40},  # 10^12-element weights if built
                   {"mapping_kwargs": {"num_layers": 2, "layer_features": 10 ** 7}}):
        write_snapshot(tmp_path / "huge.pkl", G, D, G_ema, {**gk, **change}, dk)
        assert "do not match" in _gen_error(cli, tmp_path / "huge.pkl", tmp_path)
    write_snapshot(tmp_path / "res.pkl", G, D, G_ema, {**gk, "img_resolution": 2 ** 20}, dk)
    assert "img_resolution" in _gen_error(cli, tmp_path / "res.pkl", tmp_path)


@pytest.mark.parametrize("change, expect", [
    ({"z_dim": "512"}, "z_dim"),
    ({"activation": "relu"}, "activation='relu' is not supported"),
    ({"secret_option": 1}, "does not know: secret_option"),
    ({"mapping_kwargs": {"num_layers": 2, "freeze_layers": 2}}, "freeze_layers=2 is not supported"),
    ({"mapping_kwargs": "fc"}, "mapping_kwargs is a str"),
    ({"architecture": "unet"}, "architecture"),
])
def test_bad_constructor_arguments(tmp_path, cli, change, expect):
    G, G_ema, D, gk, dk = _pair()
    write_snapshot(tmp_path / "bad.pkl", G, D, G_ema, {**gk, **change}, dk)
    assert expect in _gen_error(cli, tmp_path / "bad.pkl", tmp_path)


def test_non_tensor_weights_are_refused(tmp_path, cli):
    G, G_ema, D, gk, dk = _pair()
    G_bad = copy.deepcopy(G)
    G_bad.synthesis.b4._buffers["noise_const"] = torch.zeros(4, 4, dtype=torch.int64)
    write_snapshot(tmp_path / "int.pkl", G_bad, D, G_bad, gk, dk)
    assert "non-float tensors" in _gen_error(cli, tmp_path / "int.pkl", tmp_path)


def test_discriminator_with_unknown_kwargs_is_refused(tmp_path, cli):
    G, G_ema, D, gk, dk = _pair()
    write_snapshot(tmp_path / "d.pkl", G, D, G_ema, gk, {**dk, "epilogue_kwargs": {"mbstd_group_size": None}})
    result = cli(["convert", str(tmp_path / "d.pkl"), str(tmp_path / "d.pt")])
    assert result.exit_code == 2 and "mbstd_group_size=None" in " ".join(result.output.split())
