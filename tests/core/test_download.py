"""Networks by URL: download once into the cache, resume after a dropped connection, dnnlib's cache,
checksums, offline use, and failures that leave nothing at the destination (a local HTTP server)."""

from __future__ import annotations

import hashlib
import os

import pytest

from ganforge.core import download
from ganforge.core.download import (
    DownloadError,
    cached_path,
    dnnlib_cache_dir,
    fetch_url,
    is_url,
    resolve_network,
    split_sha256,
    url_cache_name,
)
from ganforge.core.errors import CheckpointError, GanforgeError
from ganforge.core.flags import cache_dir

DATA = bytes(range(256)) * 4096  # 1 MiB: several read chunks are not needed, but offsets are real


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _leftovers() -> list[str]:
    """Files in the cache's temp area (partial files, metadata), not counting lock files."""
    tmp = cache_dir("downloads", "tmp")
    return sorted(p.name for p in tmp.iterdir() if not p.name.endswith(".lock"))


def test_names_and_url_detection():
    assert is_url("https://host/x.pkl") and is_url("http://h/x") and is_url("file:///tmp/x")
    assert is_url("https:/host/x.pkl")  # what pathlib.Path makes of a URL
    assert not is_url("runs/x.pt") and not is_url("/abs/http://x")
    md5 = hashlib.md5(b"https://h/a%20b/net work.pkl").hexdigest()
    assert url_cache_name("https://h/a%20b/net work.pkl") == f"{md5}_net_work.pkl"
    assert split_sha256("https://h/x.pkl#sha256=" + "A" * 64) == ("https://h/x.pkl", "a" * 64)
    assert split_sha256("https://h/x.pkl#frag") == ("https://h/x.pkl#frag", None)
    with pytest.raises(GanforgeError, match="64 hexadecimal"):
        split_sha256("https://h/x.pkl#sha256=abc")


def test_download_once_then_cached(http_server):
    http_server.files["net.pkl"] = DATA
    url = http_server.url("net.pkl")
    path = fetch_url(url, sha256=_sha(DATA))
    assert path.read_bytes() == DATA
    assert path.parent == cache_dir("downloads") and path.name == url_cache_name(url)
    assert http_server.count("net.pkl") == 1
    again = fetch_url(url)
    assert again == path and http_server.count("net.pkl") == 1  # found by URL, no request
    assert _leftovers() == []


def test_offline_uses_the_cache_and_says_what_is_missing(http_server, monkeypatch):
    http_server.files["a.pt"] = DATA
    url = http_server.url("a.pt")
    fetch_url(url)
    monkeypatch.setenv("GANFORGE_OFFLINE", "1")
    assert fetch_url(url).read_bytes() == DATA
    with pytest.raises(DownloadError, match="GANFORGE_OFFLINE") as err:
        fetch_url(http_server.url("other.pt"))
    assert "other.pt" in str(err.value)
    assert http_server.count("other.pt") == 0


def test_dnnlib_cache_is_used_without_downloading(http_server):
    url = http_server.url("stylegan3-r-afhqv2-512x512.pkl")  # the server does not even have it
    folder = dnnlib_cache_dir()
    folder.mkdir(parents=True)
    (folder / url_cache_name(url)).write_bytes(b"from dnnlib")
    assert str(folder).startswith(os.environ["DNNLIB_CACHE_DIR"])
    path = fetch_url(url)
    assert path == folder / url_cache_name(url) and path.read_bytes() == b"from dnnlib"
    assert http_server.count("stylegan3-r-afhqv2-512x512.pkl") == 0


@pytest.mark.parametrize("code", [404, 500])
def test_http_errors_say_status_and_url_and_leave_nothing(http_server, code):
    http_server.status["gone.pkl"] = code
    url = http_server.url("gone.pkl")
    with pytest.raises(DownloadError) as err:
        fetch_url(url)
    msg = str(err.value)
    assert f"HTTP {code}" in msg and url in msg and err.value.status == code
    assert http_server.count("gone.pkl") == (1 if code == 404 else download.ATTEMPTS)  # 4xx is not retried
    assert cached_path(url) is None and _leftovers() == []


def test_unreachable_host_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(download, "RETRY_DELAY", 0.0)
    with pytest.raises(DownloadError, match="cannot connect") as err:
        fetch_url("http://127.0.0.1:9/net.pkl", attempts=1)  # discard port: nothing listens
    assert "http://127.0.0.1:9/net.pkl" in str(err.value)


def test_dropped_connection_resumes_with_range(http_server):
    http_server.files["big.pkl"] = DATA
    http_server.drop["big.pkl"] = [300_000, 200_000]  # two drops, then the rest
    url = http_server.url("big.pkl")
    path = fetch_url(url, sha256=_sha(DATA))
    assert path.read_bytes() == DATA
    ranges = [h.get("Range") for p, h in http_server.requests if p == "/big.pkl"]
    assert ranges == [None, "bytes=300000-", "bytes=500000-"]
    if_range = [h.get("If-Range") for p, h in http_server.requests if p == "/big.pkl"][1:]
    assert all(v and v.startswith('"') for v in if_range)  # resumes only the same version of the file
    assert _leftovers() == []


def test_failed_download_keeps_partial_in_temp_only_and_next_call_resumes(http_server):
    http_server.files["net.pkl"] = DATA
    http_server.drop["net.pkl"] = [100_000, 0]
    url = http_server.url("net.pkl")
    with pytest.raises(DownloadError, match="100000 bytes are kept") as err:
        fetch_url(url, attempts=2)
    assert "connection" in str(err.value) and url in str(err.value)
    assert cached_path(url) is None  # nothing at the final location
    assert (cache_dir("downloads", "tmp") / (hashlib.md5(url.encode()).hexdigest() + ".part")).stat().st_size == 100_000
    path = fetch_url(url)  # the next command picks up where it stopped
    assert path.read_bytes() == DATA
    assert [h.get("Range") for p, h in http_server.requests][-1] == "bytes=100000-"
    assert _leftovers() == []


def test_server_without_range_support_starts_over(http_server):
    http_server.files["net.pkl"] = DATA
    http_server.drop["net.pkl"] = [123_456]
    http_server.no_range = True
    path = fetch_url(http_server.url("net.pkl"))
    assert path.read_bytes() == DATA and http_server.count("net.pkl") == 2


def test_changed_file_is_not_spliced(http_server):
    http_server.files["net.pkl"] = DATA
    http_server.drop["net.pkl"] = [1000, 0]
    url = http_server.url("net.pkl")
    with pytest.raises(DownloadError):
        fetch_url(url, attempts=1)
    new = b"x" * 5000
    http_server.files["net.pkl"] = new  # ETag changes: If-Range makes the server send the whole new file
    assert fetch_url(url).read_bytes() == new


def test_wrong_sha256_deletes_the_download(http_server):
    http_server.files["net.pkl"] = DATA
    url = http_server.url("net.pkl")
    with pytest.raises(DownloadError, match="expected " + "0" * 64) as err:
        fetch_url(url, sha256="0" * 64)
    assert _sha(DATA) in str(err.value)
    assert cached_path(url) is None and _leftovers() == []
    # a cached file is checked too
    fetch_url(url)
    with pytest.raises(CheckpointError, match="delete that file"):
        fetch_url(url, sha256="1" * 64)


def test_content_disposition_names_the_cached_file(http_server):
    http_server.files["download"] = DATA[:10]
    http_server.disposition["download"] = "ffhq.pkl"
    url = http_server.url("download")
    path = fetch_url(url)
    assert path.name == url_cache_name(url, "ffhq.pkl") and path.name.endswith("_ffhq.pkl")
    assert fetch_url(url) == path and http_server.count("download") == 1


def test_resolve_network_pins_local_files_and_url_fragments(tmp_path, http_server):
    local = tmp_path / "x.pt"
    local.write_bytes(b"abc")
    assert resolve_network(str(local)) == str(local)
    assert resolve_network(local, sha256=_sha(b"abc")) == str(local)
    with pytest.raises(CheckpointError, match="SHA-256"):
        resolve_network(local, sha256="2" * 64)
    http_server.files["n.pkl"] = b"net"
    url = http_server.url("n.pkl")
    assert open(resolve_network(f"{url}#sha256={_sha(b'net')}"), "rb").read() == b"net"
    with pytest.raises(GanforgeError, match="disagrees"):
        resolve_network(f"{url}#sha256={_sha(b'net')}", sha256="3" * 64)
    assert resolve_network(local.as_uri()) == str(local)


def test_run_resume_from_a_url(tmp_path, cli, toy_plugins, http_server):
    import json

    import ganforge

    from tests.conftest import toy_config

    first = ganforge.train(toy_config(tmp_path / "a", kimg=0.05))
    data = (first.run_dir / "checkpoint.pt").read_bytes()
    http_server.files["toy-checkpoint.pt"] = data
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(toy_config(tmp_path / "b", kimg=0.02)))
    url = http_server.url("toy-checkpoint.pt")
    result = cli(["run", "--config", str(cfg), "--resume-from", url, "--sha256", "0" * 64])
    assert result.exit_code == 2 and "expected " + "0" * 64 in result.output
    assert not (tmp_path / "b").exists()  # refused before a run directory was made
    result = cli(["run", "--config", str(cfg), "--resume-from", url, "--sha256", _sha(data)])
    assert result.exit_code == 0, result.output
    log = next((tmp_path / "b").glob("*/log.txt")).read_text()
    assert "copied" in log and "tensors into G" in log
    result = cli(["run", "--config", str(cfg), "--sha256", _sha(data)])
    assert result.exit_code == 2 and "--resume-from" in result.output
