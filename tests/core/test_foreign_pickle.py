"""Official-pickle import: nothing in the file is executed; crafted pickles are refused."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import sys
from typing import Literal

import numpy as np
import pytest
import torch

import ganforge
from ganforge import hookimpl
from ganforge.core.checkpoint import ImportedNetwork
from ganforge.core.config import ComponentConfig
from ganforge.core.errors import CheckpointError
from ganforge.core.foreign_pickle import PickledModule, UnsafePickleError, safe_load
from ganforge.core.plugins import temporary_plugin
from ganforge.testing.official_pickle import official_modules, persistent, write_official_pickle

SOURCE = "class Generator:\n    pass\nclass Discriminator:\n    pass\n"


class TinyG(torch.nn.Module):
    def __init__(self, z_dim=4, res=8):
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, 0, res, 3
        self.fc = torch.nn.Linear(z_dim, 3 * res * res)
        self.register_buffer("w_avg", torch.randn(z_dim))

    def forward(self, z, c):
        return torch.tanh(self.fc(z + self.w_avg)).view(-1, 3, self.img_resolution, self.img_resolution)


class TinyD(torch.nn.Module):
    def __init__(self, res=8):
        super().__init__()
        self.b8 = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1))
        self.out = torch.nn.Linear(4 * res * res, 1)

    def forward(self, img, c):
        return self.out(self.b8(img).flatten(1))


def _snapshot(path, G, D):
    kw = lambda p, m: {"z_dim": 4, "img_resolution": 8, "mapping_kwargs": {"num_layers": 2}} if p == "" else {}  # noqa: E731
    nets = {name: persistent(net, SOURCE, init_kwargs=kw) for name, net in (("G", G), ("D", D), ("G_ema", G))}
    write_official_pickle(str(path), {**nets, "augment_pipe": None},
                          training_set_kwargs={"class_name": "training.dataset.ImageFolderDataset", "path": "x.zip"})


def test_records_and_tensors_round_trip(tmp_path):
    G, D = TinyG(), TinyD()
    _snapshot(tmp_path / "net.pkl", G, D)
    data = safe_load(tmp_path / "net.pkl")
    rec = data["G"]
    assert isinstance(rec, PickledModule) and rec.class_name == "TinyG"
    assert rec.module_classes == {"Generator", "Discriminator"}
    assert rec.init_kwargs == {"z_dim": 4, "img_resolution": 8, "mapping_kwargs": {"num_layers": 2}}
    sd = rec.state_dict()
    assert set(sd) == set(G.state_dict())
    for k, v in G.state_dict().items():
        assert torch.equal(sd[k], v) and sd[k].dtype == v.dtype
    assert isinstance(sd["fc.weight"], torch.nn.Parameter)
    assert set(data["D"].state_dict()) == set(D.state_dict())
    assert data["training_set_kwargs"]["path"] == "x.zip"


def test_views_offsets_and_dtypes(tmp_path):
    base = torch.arange(12, dtype=torch.float64).view(3, 4)
    obj = {"view": base[1:, 1:3], "t": base.t(), "half": torch.randn(5).half(), "long": torch.arange(3),
           "bool": torch.tensor([True, False]), "np": np.arange(4, dtype=np.float32), "scalar": np.float64(2.5)}
    got = safe_load(pickle.dumps(obj, protocol=4))
    for key in ("view", "t", "half", "long", "bool"):
        assert torch.equal(got[key], obj[key]) and got[key].dtype == obj[key].dtype, key
    assert np.array_equal(got["np"], obj["np"]) and got["scalar"] == 2.5


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_refuses_code_execution_globals(tmp_path):
    target = tmp_path / "pwned"
    for payload in (_Evil(target), {"G": _Evil(target)}):
        with pytest.raises(UnsafePickleError, match="refusing to load global"):
            safe_load(pickle.dumps(payload, protocol=4))
    assert not target.exists()


def _crafted(globals_: list[tuple[str, str]], args: bytes = b")") -> bytes:
    """A minimal pickle calling module.name(*args) via GLOBAL + REDUCE."""
    (module, name), = globals_
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + b"(X\x04\x00\x00\x00echot" + b"R."


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("builtins", "exec"), ("subprocess", "Popen"),
                                          ("posix", "system"), ("torch", "load"), ("builtins", "getattr"),
                                          ("torch.nn.modules.linear", "Linear"), ("numpy", "load")])
def test_refuses_each_dangerous_global(module, name):
    with pytest.raises(UnsafePickleError, match=f"{module}.{name}"):
        safe_load(_crafted([(module, name)]))


def test_embedded_module_source_is_never_executed(tmp_path):
    marker = tmp_path / "executed"
    source = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\nclass Generator:\n    pass\n"
    _ = source
    G = TinyG()
    net = persistent(G, source)
    write_official_pickle(str(tmp_path / "evil_src.pkl"), {"G": net, "D": None, "G_ema": net})
    data = safe_load(tmp_path / "evil_src.pkl")
    assert data["G"].module_classes == {"Generator"}
    assert not marker.exists()
    assert "__import__" not in dir(data["G"])


class _StorageCall:
    def __init__(self, inner):
        self.inner = inner

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.inner,))


def test_malicious_storage_bytes_are_refused(tmp_path):
    data = pickle.dumps(torch.arange(3.0), protocol=4)
    inner = next(arg for op, arg, _ in pickletools.genops(data) if op.name in ("BINBYTES", "SHORT_BINBYTES"))
    evil_inner = inner.replace(b"ctorch\nFloatStorage\n", b"cposix\nsystem\n", 1)
    assert evil_inner != inner
    assert isinstance(safe_load(pickle.dumps(_StorageCall(inner), protocol=4)), torch.Tensor)
    with pytest.raises(UnsafePickleError, match="posix.system"):
        safe_load(pickle.dumps(_StorageCall(evil_inner), protocol=4))


def test_object_dtype_arrays_are_refused():
    with pytest.raises(UnsafePickleError, match="not numeric"):
        safe_load(pickle.dumps(np.array([1, "a"], dtype=object), protocol=4))


def test_tensorflow_pickles_get_a_clear_message():
    payload = b"\x80\x02cdnnlib.tflib.network\nNetwork\n)R."
    with pytest.raises(UnsafePickleError, match="TensorFlow-era"):
        safe_load(payload)


def test_garbage_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(CheckpointError, match="junk.pkl"):
        safe_load(path)


class TinyCfg(ComponentConfig):
    name: Literal["tiny"] = "tiny"


class Importer:
    @hookimpl
    def ganforge_register_generators(self):
        from ganforge.core.specs import GeneratorSpec

        return [GeneratorSpec(name="tiny", factory=lambda cfg, info: TinyG(res=info.resolution), config=TinyCfg)]

    @hookimpl
    def ganforge_register_discriminators(self):
        from ganforge.core.specs import DiscriminatorSpec

        return [DiscriminatorSpec(name="tiny", factory=lambda cfg, info: TinyD(res=info.resolution), config=TinyCfg)]

    @hookimpl
    def ganforge_import_network(self, record, role):
        if record.class_name == "TinyG":
            module = TinyG(**{k: v for k, v in record.init_kwargs.items() if k == "z_dim"})
            section = "generator"
        elif record.class_name == "TinyD":
            module, section = TinyD(), "discriminator"
        else:
            return None
        module.load_state_dict(record.state_dict(), strict=True)
        return ImportedNetwork(module=module, section=section, config=TinyCfg())


def test_hook_ganforge_import_network(tmp_path, cli):
    G, D = TinyG(), TinyD()
    _snapshot(tmp_path / "snap.pkl", G, D)
    with pytest.raises(CheckpointError, match="no installed plugin can import it"):
        ganforge.load_network(tmp_path / "snap.pkl")
    with temporary_plugin(Importer(), "importer"):
        G2 = ganforge.load_network(tmp_path / "snap.pkl")
        z = torch.randn(2, 4)
        assert torch.equal(G2(z, None), G(z, None))
        assert not any(p.requires_grad for p in G2.parameters())
        result = cli(["generate", "--network", str(tmp_path / "snap.pkl"), "--seeds", "0-1", "--outdir",
                      str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        result = cli(["convert", str(tmp_path / "snap.pkl"), str(tmp_path / "snap.pt")])
        assert result.exit_code == 0, result.output
        assert cli(["convert", str(tmp_path / "snap.pkl"), str(tmp_path / "snap.pt")]).exit_code == 2
        G3 = ganforge.load_network(tmp_path / "snap.pt")  # our format, rebuilt through the registry
        assert torch.equal(G3(z, None), G(z, None))
    assert sorted(os.listdir(tmp_path / "out")) == ["seed0000.png", "seed0001.png"]
    data = torch.load(tmp_path / "snap.pt", weights_only=True)
    assert data["kind"] == "network" and data["source"]["format"] == "nvidia-pickle"
    assert torch.equal(data["networks"]["G"]["fc.weight"], G.fc.weight)


def test_stand_in_modules_are_removed_after_writing(tmp_path):
    with official_modules():
        assert "torch_utils.persistence" in sys.modules
    assert "torch_utils.persistence" not in sys.modules
    assert io is not None
