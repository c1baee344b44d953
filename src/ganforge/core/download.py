"""Networks and files by URL: a resumable, verified, atomic download into a cache found again by URL.

Every option that takes a network accepts an ``http(s)://`` URL (and ``file://``); :func:`resolve_network`
turns it into a local file that then goes through the same loaders as any local file (the restricted
unpickler for ``.pkl``). The lookup, in order:

1. ganforge's cache: ``<GANFORGE_CACHE_DIR>/downloads/<md5(url)>_<filename>`` (default cache root
   ``$XDG_CACHE_HOME/ganforge`` or ``~/.cache/ganforge``).
2. The official tools' cache, used in place without copying: ``$DNNLIB_CACHE_DIR/downloads`` if that
   variable is set, else ``~/.cache/dnnlib/downloads``; dnnlib names its files the same way, so a network
   the official ``gen_images.py`` downloaded is found by its URL.
3. A download (unless ``GANFORGE_OFFLINE=1``): the bytes go to ``<cache>/downloads/tmp/<md5(url)>.part``
   with the response's validators (ETag, Last-Modified, length) in ``<md5(url)>.json`` beside it. When the
   connection drops, the next attempt (automatic retries, or the next command) asks for the rest with an
   HTTP ``Range`` request guarded by ``If-Range``; a server that answers with the whole file instead
   starts it over. The complete file is checked (length; SHA-256 when pinned), fsynced and renamed into
   place, so the final name only ever holds a complete, verified file. A wrong SHA-256 deletes the
   partial file. A lock file keeps two processes from writing the same partial file.

A SHA-256 can be pinned with ``sha256=`` (``--sha256`` on the command line) or as a URL fragment,
``https://host/net.pkl#sha256=<hex>`` (pip's convention), which also works in ``ganforge.load_network``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from ganforge.core.errors import CheckpointError, GanforgeError
from ganforge.core.flags import cache_dir

__all__ = ["DownloadError", "is_url", "split_sha256", "resolve_network", "fetch_url", "download_to",
           "cached_path", "url_cache_name", "dnnlib_cache_dir", "offline", "sha256_of"]

_CHUNK = 1 << 20
#: Tries per download call, and the delay before the second one in seconds (doubled each time).
ATTEMPTS = 4
RETRY_DELAY = 1.0
_USER_AGENT = "ganforge (+https://github.com/ganforge)"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class DownloadError(GanforgeError):
    """A download failed (HTTP status, unreachable host, dropped connection, wrong checksum)."""

    def __init__(self, message: str, url: str, status: int | None = None):
        self.url, self.status = url, status
        super().__init__(f"{url}: {message}")


# ------------------------------------------------------------------------------------------------
# Names
# ------------------------------------------------------------------------------------------------

def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, memoised next to it by (size, mtime) in the cache."""
    path = Path(path)
    st = path.stat()
    memo = cache_dir("weights") / "checksums.json"
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        known = json.loads(memo.read_text())
    except (OSError, json.JSONDecodeError):
        known = {}
    if key in known:
        return known[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    known[key] = digest
    try:
        tmp = memo.with_suffix(".tmp")
        tmp.write_text(json.dumps(known))
        tmp.replace(memo)
    except OSError:
        pass
    return digest



def is_url(text: str | os.PathLike[str]) -> bool:
    """True for ``http://``, ``https://`` and ``file://`` URLs (also ``https:/x`` as ``pathlib`` mangles it)."""
    return isinstance(text, str | os.PathLike) and re.match(r"^(https?|file):/", os.fspath(text), re.I) is not None


def _normalise_url(url: str) -> str:
    # Path("https://h/x") is "https:/h/x": give the second slash back
    return re.sub(r"^(https?):/(?!/)", r"\1://", url, flags=re.I)


def split_sha256(text: str) -> tuple[str, str | None]:
    """``"URL#sha256=HEX"`` -> ``("URL", "hex")``; text without such a fragment -> ``(text, None)``."""
    base, sep, frag = text.partition("#")
    if sep and frag.lower().startswith("sha256="):
        return base, _check_hex(frag.split("=", 1)[1], f"{base}#sha256")
    return text, None


def _check_hex(value: str, where: str) -> str:
    if not _HEX64.match(value.strip()):
        raise GanforgeError(f"{where}: a SHA-256 is 64 hexadecimal digits, got {value!r}")
    return value.strip().lower()


def url_cache_name(url: str, filename: str | None = None) -> str:
    """``<md5(url)>_<filename>``, dnnlib's naming: characters other than ``[0-9A-Za-z-._]`` become ``_``."""
    if filename is None:
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
    safe = re.sub(r"[^0-9a-zA-Z\-._]", "_", filename or "download")
    return f"{hashlib.md5(url.encode('utf-8')).hexdigest()}_{safe}"


def dnnlib_cache_dir() -> Path:
    """Where the official tools cache downloads: ``$DNNLIB_CACHE_DIR/downloads`` or ``~/.cache/dnnlib/downloads``."""
    root = os.environ.get("DNNLIB_CACHE_DIR")
    return (Path(root) if root else Path.home() / ".cache" / "dnnlib") / "downloads"


def offline() -> bool:
    """``GANFORGE_OFFLINE=1``: never download; a URL must be in a cache."""
    return os.environ.get("GANFORGE_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached_path(url: str) -> Path | None:
    """The cached file of ``url`` in ganforge's or dnnlib's cache, or None (never touches the network)."""
    prefix = hashlib.md5(url.encode("utf-8")).hexdigest() + "_"
    for folder in (cache_dir("downloads"), dnnlib_cache_dir()):
        with contextlib.suppress(OSError):
            hits = sorted(p for p in folder.glob(prefix + "*") if p.is_file())
            if hits:
                return hits[0]
    return None


# ------------------------------------------------------------------------------------------------
# Resolving what a user typed
# ------------------------------------------------------------------------------------------------

def resolve_network(network: str | os.PathLike[str], sha256: str | None = None, *,
                    progress: bool | None = None) -> str:
    """A local path for a network option: a URL is looked up in the caches or downloaded; a local path is
    returned as it is. With ``sha256`` (or a ``#sha256=`` fragment) the file must have that checksum.

    Raises:
        DownloadError: the download failed, or offline without a cached copy.
        CheckpointError: a local file does not exist or has another checksum.
    """
    text = os.fspath(network)
    text, pinned = split_sha256(text)
    if sha256 is not None:
        sha256 = _check_hex(sha256, "--sha256")
        if pinned is not None and pinned != sha256:
            raise GanforgeError(f"--sha256 {sha256[:16]}... disagrees with the URL's #sha256={pinned[:16]}...")
    sha256 = sha256 or pinned
    if is_url(text):
        return os.fspath(fetch_url(_normalise_url(text), sha256=sha256, progress=progress))
    if sha256 is not None:
        if not os.path.isfile(text):
            raise CheckpointError("no such file", text)
        _verify_file(Path(text), sha256, text)
    return text


def _verify_file(path: Path, sha256: str, what: str) -> None:
    digest = sha256_of(path)
    if digest != sha256:
        raise CheckpointError(f"has SHA-256 {digest}, expected {sha256} (a different or corrupt file)", what)


def fetch_url(url: str, sha256: str | None = None, *, progress: bool | None = None,
              attempts: int | None = None, retry_delay: float | None = None, timeout: float = 60) -> Path:
    """The local file of ``url``: from a cache (module docstring), else downloaded into ganforge's cache.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        sha256: expected SHA-256 (hex); a cached or downloaded file with another one is refused.
        progress: show a progress bar (default: when stderr is a terminal).
        attempts: tries per call (default :data:`ATTEMPTS`); a dropped connection resumes from the bytes
            already received.
        retry_delay: seconds before the second try (default :data:`RETRY_DELAY`; doubled each time; HTTP 4xx
            is never retried).
        timeout: socket timeout in seconds.
    """
    url = _normalise_url(url)
    if url.lower().startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        if not path.is_file():
            raise CheckpointError("no such file", f"{url} ({path})")
        if sha256 is not None:
            _verify_file(path, sha256, url)
        return path
    hit = cached_path(url)
    if hit is not None:
        if sha256 is not None:
            _verify_file(hit, sha256, f"{url} (cached at {hit}; delete that file to download it again)")
        return hit
    if offline():
        raise DownloadError(f"not in the cache ({cache_dir('downloads')} or {dnnlib_cache_dir()}) and "
                            "GANFORGE_OFFLINE is set; download it on a machine with internet and copy the file "
                            f"to {cache_dir('downloads') / url_cache_name(url)}", url)
    return download_to(url, None, sha256, progress=progress, attempts=attempts, retry_delay=retry_delay,
                       timeout=timeout)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (two concurrent downloads of one URL would clash)
        yield
        return
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------------------------------------
# Downloading
# ------------------------------------------------------------------------------------------------

def download_to(url: str, dest: Path | None, sha256: str | None = None, *, partial: Path | None = None,
                progress: bool | None = None, attempts: int | None = None, retry_delay: float | None = None,
                timeout: float = 60) -> Path:
    """Download ``url`` to ``dest`` (None: ``<cache>/downloads/<md5(url)>_<name>``), resumably and atomically.

    ``partial`` is where the bytes collect (kept after a dropped connection, so a later call resumes; default
    ``<cache>/downloads/tmp/<md5(url)>.part``). Only a complete, verified file is renamed to ``dest``; a
    failed download never leaves anything at ``dest``.
    """
    if urllib.parse.urlsplit(url).scheme.lower() == "file":
        src = fetch_url(url, sha256)
        if dest is None:
            return src
        _install_copy(src, dest)
        return dest
    key = hashlib.md5(url.encode("utf-8")).hexdigest()
    partial = partial or cache_dir("downloads", "tmp") / f"{key}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    with _lock(partial.with_suffix(".lock")):
        if dest is None and (hit := cached_path(url)) is not None:  # another process finished it meanwhile
            if sha256 is not None:
                _verify_file(hit, sha256, f"{url} (cached at {hit})")
            return hit
        meta = _transfer_with_retries(url, partial, progress, timeout,
                                      ATTEMPTS if attempts is None else attempts,
                                      RETRY_DELAY if retry_delay is None else retry_delay)
        meta_path = partial.with_suffix(".json")
        if sha256 is not None:
            digest = _sha256_file(partial)
            if digest != sha256:
                _discard(partial, meta_path)
                raise DownloadError(f"downloaded file has SHA-256 {digest}, expected {sha256}; it was deleted "
                                    "(the URL serves a different file, or the pinned checksum is wrong)", url)
        if dest is None:
            dest = cache_dir("downloads") / url_cache_name(url, meta.get("filename"))
        _install(partial, dest)
        meta_path.unlink(missing_ok=True)
    return dest


def _transfer_with_retries(url: str, partial: Path, progress: bool | None, timeout: float, attempts: int,
                           retry_delay: float) -> dict[str, Any]:
    meta_path = partial.with_suffix(".json")
    last: DownloadError | None = None
    for attempt in range(max(1, attempts)):
        if attempt:
            time.sleep(retry_delay * 2 ** (attempt - 1))
        try:
            return _transfer(url, partial, meta_path, progress, timeout)
        except DownloadError as exc:
            last = exc
            if exc.status is not None and 400 <= exc.status < 500:
                break  # not found, forbidden, ...: asking again will not help
    assert last is not None
    kept = partial.stat().st_size if partial.exists() else 0
    extra = f"; {kept} bytes are kept in {partial} and the next try resumes from there" if kept else ""
    tries = f" (after {attempt + 1} tries)" if attempt else ""
    raise DownloadError(f"{str(last).removeprefix(url + ': ')}{tries}{extra}", url, last.status)


def _transfer(url: str, partial: Path, meta_path: Path, progress: bool | None, timeout: float) -> dict[str, Any]:
    """One request: append to ``partial`` (Range) or start it over; returns the metadata when complete."""
    meta = _read_meta(meta_path, url) if partial.exists() else {}
    if not meta:
        _discard(partial, meta_path)
    offset = partial.stat().st_size if partial.exists() else 0
    if offset and offset == meta.get("length"):
        return meta  # complete already (interrupted before it was moved into place)
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        validator = meta.get("etag") if not str(meta.get("etag", "W/")).startswith("W/") else None
        validator = validator or meta.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:  # the partial file is not a prefix of this resource any more
            _discard(partial, meta_path)
            raise DownloadError("the server refused to resume (HTTP 416); starting over", url) from None
        raise DownloadError(f"HTTP {exc.code} {exc.reason}", url, exc.code) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot connect ({reason})", url) from None
    with resp:
        status = resp.status
        total = _total_length(resp, status)
        if status == 206 and not _range_starts_at(resp, offset):
            _discard(partial, meta_path)
            raise DownloadError("the server resumed at another offset; starting over", url)
        if status != 206:  # a whole file (no Range support, or it changed since the partial file)
            offset = 0
        meta = {"url": url, "etag": resp.headers.get("ETag"), "last_modified": resp.headers.get("Last-Modified"),
                "length": total, "filename": _content_disposition_name(resp.headers.get("Content-Disposition"))}
        partial.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta))
        with open(partial, "r+b" if offset else "wb") as out:
            out.seek(offset)
            out.truncate()
            _copy(resp, out, url, offset, total, progress)
            out.flush()
            os.fsync(out.fileno())
    size = partial.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"connection closed after {size} of {total} bytes", url)
    return meta


def _copy(resp: BinaryIO, out: BinaryIO, url: str, offset: int, total: int | None, progress: bool | None) -> None:
    from rich.console import Console

    console = Console(stderr=True)
    show = console.is_terminal if progress is None else progress
    if offset:
        console.print(f"Resuming {url} at {offset} bytes", highlight=False, soft_wrap=True)
    else:
        console.print(f"Downloading {url}", highlight=False, soft_wrap=True)
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    columns = (TextColumn("downloading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not show, transient=True) as bar:
        task = bar.add_task("download", total=total, completed=offset)
        while True:
            try:
                chunk = resp.read(_CHUNK)
            except (OSError, ValueError) as exc:  # IncompleteRead, reset, timeout
                raise DownloadError(f"connection dropped ({type(exc).__name__}: {exc})", url) from None
            if not chunk:
                return
            out.write(chunk)
            bar.advance(task, len(chunk))


def _total_length(resp: Any, status: int) -> int | None:
    if status == 206:
        m = re.match(r"bytes\s+\d+-\d+/(\d+)", resp.headers.get("Content-Range", ""))
        return int(m.group(1)) if m else None
    length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _range_starts_at(resp: Any, offset: int) -> bool:
    m = re.match(r"bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
    return m is not None and int(m.group(1)) == offset


def _content_disposition_name(value: str | None) -> str | None:
    if not value:
        return None
    m = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", value, flags=re.I)
    return os.path.basename(urllib.parse.unquote(m.group(1))) if m else None


def _read_meta(meta_path: Path, url: str) -> dict[str, Any]:
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("url") == url else {}


def _discard(partial: Path, meta_path: Path) -> None:
    partial.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _install(partial: Path, dest: Path) -> None:
    """Move the complete file into place atomically (a copy and rename when on another file system)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(partial, dest)
    except OSError:
        _install_copy(partial, dest)
        partial.unlink(missing_ok=True)
    _fsync_dir(dest.parent)


def _install_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, _CHUNK)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
