"""Tests for `vaeaudio.corpus.download`: archives built in code, served from 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import threading
import time
import warnings
import wave
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vaeaudio import cli
from vaeaudio.corpus import archive, fetch
from vaeaudio.corpus import download as dl
from vaeaudio.settings import DownloadSettings
from vaeaudio.util.errors import DownloadError

TOP = "AudioMNIST-master/"
META = json.dumps({"01": {"accent": "german", "age": 30, "gender": "male"}}).encode()
#: Repository files that are NOT extracted (only data/NN/*.wav and the meta file are).
EXTRA = {
    "README.md": b"# AudioMNIST\n",
    "AudioMNIST_interpretableAI.ipynb": b'{"cells": []}',
    "preprocess_data.py": b"print('hi')\n",
    "data/36/notes.txt": b"speaker 36 notes\n",
    "data/audioMNIST_meta.txt": META,
}


def _wav() -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(bytes(range(200)))  # 100 samples
    return buf.getvalue()


WAV = _wav()


def recordings(speakers=range(1, 4), digits=2, takes=2) -> list[str]:
    return [f"data/{s:02d}/{d}_{s:02d}_{t}.wav" for s in speakers for d in range(digits) for t in range(takes)]


SMALL = recordings()  # 3 speakers x 2 digits x 2 takes = 12 recordings


def make_zip(names=SMALL, top=TOP, extra=EXTRA, mutate=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if top:
            zf.writestr(top, b"")  # directory entry, as GitHub archives have
        for name in names:
            zf.writestr(top + name, WAV)
        for name, data in extra.items():
            zf.writestr(top + name, data)
        if mutate:
            mutate(zf)
    return buf.getvalue()


def make_tar(names=SMALL, top=TOP, extra=EXTRA, mutate=None, mode="w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        if top:
            d = tarfile.TarInfo(top.rstrip("/"))
            d.type = tarfile.DIRTYPE
            tf.addfile(d)
        for name, data in [(n, WAV) for n in names] + list(extra.items()):
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if mutate:
            mutate(tf)
    return buf.getvalue()


def expected_tree(names=SMALL) -> set[str]:
    return set(names) | {"data/audioMNIST_meta.txt", dl.MARKER}


def tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- a local HTTP server --------------------------------------------------------------


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    ranges: bool = True  #: honour Range requests (206); False answers 200 like http.server
    drops: int = 0  #: close the connection half-way through this many responses
    delay: float = 0.0  #: seconds before answering


@dataclass
class Server:
    base: str = ""
    routes: dict[str, Route] = field(default_factory=dict)
    log: list[tuple[str, str | None, int]] = field(default_factory=list)  #: (path, Range header, status)

    def serve(self, path: str, body: bytes, **kw) -> str:
        self.routes[path] = Route(body, **kw)
        return self.base + path


@pytest.fixture
def server():
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            route = state.routes.get(self.path)
            rng = self.headers.get("Range")
            if route is None or route.status != 200:
                code = 404 if route is None else route.status
                state.log.append((self.path, rng, code))
                self.send_error(code)
                return
            time.sleep(route.delay)
            body, start = route.body, 0
            m = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if route.ranges and m and int(m.group(1)) < len(body):
                start = int(m.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            state.log.append((self.path, rng, 206 if start else 200))
            if route.ranges:
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{sha(body)[:16]}"')
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            rest = body[start:]
            if route.drops:
                route.drops -= 1
                self.wfile.write(rest[: len(rest) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(rest)

    class Quiet(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client that timed out or stopped reading: expected here

    httpd = Quiet(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """An empty workspace: dest is ws/AudioMNIST; nothing else may appear in ws."""
    d = tmp_path / "ws"
    d.mkdir()
    return d


def run(ws: Path, url: str, **kw) -> dl.DownloadResult:
    return dl.download(DownloadSettings(dest=ws / "AudioMNIST", url=url, **kw))


# -- valid archives -------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_zip() -> bytes:
    return make_zip(recordings(range(1, 61), 10, 50))


@pytest.fixture
def big_ws(tmp_path: Path):
    """A workspace for 30,000 files: on the RAM disk when there is one (creating and later
    deleting 30,000 files on a busy shared disk takes from seconds to minutes), removed after."""
    shm = Path("/dev/shm")
    fast = shm.is_dir() and os.access(shm, os.W_OK)
    root = Path(tempfile.mkdtemp(prefix="vaeaudio-test-", dir=shm if fast else tmp_path))
    (root / "ws").mkdir()
    yield root / "ws"
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow  # 30,000 files built, served, extracted and removed
def test_full_size_zip_via_cli(server, big_ws, full_zip, capsys):
    ws = big_ws
    url = server.serve("/master.zip", full_zip)
    code = cli.main(["download", "--dest", str(ws / "AudioMNIST"), "--url", url, "--sha256", sha(full_zip).upper()])
    out, err = capsys.readouterr()
    assert code == 0, err
    dest = ws / "AudioMNIST"
    files = tree(dest)
    assert len([f for f in files if f.endswith(".wav")]) == 30_000
    assert files == expected_tree(recordings(range(1, 61), 10, 50))  # no README, notebook, notes.txt
    assert sorted(p.name for p in ws.iterdir()) == ["AudioMNIST"]  # no .part, no temp folder left
    assert (dest / "data/60/9_60_49.wav").read_bytes() == WAV
    assert (dest / "data/audioMNIST_meta.txt").read_bytes() == META
    marker = json.loads((dest / dl.MARKER).read_text())
    assert (marker["archive_sha256"], marker["files"], marker["recordings"], marker["speakers"], marker["url"]) == (
        sha(full_zip), 30_001, 30_000, 60, url)
    assert "30,001 (30,000 recordings, 60 speakers)" in out
    assert sha(full_zip) in out and "extracted" in out


def test_tar_gz_detected_by_content_and_kept(server, ws):
    body = make_tar()
    url = server.serve("/archive-without-extension", body)
    (ws / "AudioMNIST").mkdir()  # an empty dest is filled
    res = run(ws, url, sha256=sha(body), keep_archive=True)
    assert tree(ws / "AudioMNIST") == expected_tree()
    assert (res.files, res.recordings, res.speakers, res.already_complete) == (13, 12, 3, False)
    assert res.bytes == 12 * len(WAV) + len(META)
    kept = ws / f"AudioMNIST-{sha(body)[:12]}.tar.gz"
    assert res.archive_kept == kept and kept.read_bytes() == body
    assert sorted(p.name for p in ws.iterdir()) == ["AudioMNIST", kept.name]


def test_plain_tar_and_zip_without_top_folder(server, ws, tmp_path):
    res = run(ws, server.serve("/a.tar", make_tar(mode="w")))
    assert res.files == 13
    zipped = tmp_path / "local.zip"  # a local path as --url, read in place
    zipped.write_bytes(make_zip(top=""))
    res = dl.download(DownloadSettings(dest=tmp_path / "other", url=str(zipped)))
    assert tree(tmp_path / "other") == expected_tree()
    assert zipped.read_bytes() == make_zip(top="")  # left as is


def test_rerun_is_a_noop_without_network(server, ws, capsys):
    body = make_zip()
    url = server.serve("/a.zip", body)
    run(ws, url)
    marker = ws / "AudioMNIST" / dl.MARKER
    before = (len(server.log), marker.stat().st_mtime_ns)
    code = cli.main(["download", "--dest", str(ws / "AudioMNIST"), "--url", url])
    out = capsys.readouterr().out
    assert code == 0 and "already complete" in out and sha(body) in out
    res = run(ws, url, sha256=sha(body))
    assert res.already_complete and res.files == 13 and res.downloaded_bytes == 0
    assert (len(server.log), marker.stat().st_mtime_ns) == before  # no request, nothing rewritten


# -- interrupted transfers ------------------------------------------------------------


def test_dropped_connection_resumes_with_range(server, ws):
    body = make_zip()
    url = server.serve("/a.zip", body, ranges=True, drops=1)
    res = run(ws, url, sha256=sha(body))
    assert tree(ws / "AudioMNIST") == expected_tree()
    half = len(body) // 2
    assert server.log == [("/a.zip", None, 200), ("/a.zip", f"bytes={half}-", 206)]
    assert res.downloaded_bytes == len(body)


def test_dropped_connection_without_range_restarts_cleanly(server, ws):
    body = make_zip()
    url = server.serve("/a.zip", body, ranges=False, drops=1)
    res = run(ws, url, sha256=sha(body))
    assert tree(ws / "AudioMNIST") == expected_tree()
    assert [(r is not None, code) for _, r, code in server.log] == [(False, 200), (True, 200)]
    assert res.downloaded_bytes == len(body) // 2 + len(body)


def test_rerun_resumes_a_broken_download(server, ws, monkeypatch):
    monkeypatch.setattr(fetch, "MAX_RESUMES", 0)
    body = make_zip()
    url = server.serve("/a.zip", body, drops=1)
    with pytest.raises(DownloadError) as exc:
        run(ws, url)
    assert exc.value.line() == (f"download of {url} broke off at {len(body) // 2:,} bytes: connection closed early"
                                " (run the same command again to resume)")
    assert not (ws / "AudioMNIST").exists()
    assert (ws / "AudioMNIST.download.part").stat().st_size == len(body) // 2
    res = run(ws, url)
    assert res.files == 13 and res.downloaded_bytes == len(body) - len(body) // 2
    assert server.log[-1] == ("/a.zip", f"bytes={len(body) // 2}-", 206)
    assert sorted(p.name for p in ws.iterdir()) == ["AudioMNIST"]


# -- errors: one line, nothing half-written ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case, expect", [
    ("404", r"cannot fetch http://127\.0\.0\.1:\d+/missing\.zip: HTTP 404 Not Found"),
    ("500", r"HTTP 500 Internal Server Error"),
    ("refused", r"cannot fetch .*: Connection refused"),
    ("timeout", r"cannot fetch .*: timed out"),
])
def test_fetch_errors_are_one_line(server, ws, capsys, case, expect):
    url = {"404": server.base + "/missing.zip",
           "500": server.serve("/broken.zip", b"", status=500),
           "refused": f"http://127.0.0.1:{_free_port()}/a.zip",
           "timeout": server.serve("/slow.zip", make_zip(), delay=1.0)}[case]
    code = cli.main(["download", "--dest", str(ws / "AudioMNIST"), "--url", url, "--timeout", "0.2"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err
    assert re.search(expect, err), err
    assert list(ws.iterdir()) == []


def test_sha256_not_hex_is_a_usage_error(server, ws, capsys):
    url = server.serve("/a.zip", make_zip())
    code = cli.main(["download", "--dest", str(ws / "AudioMNIST"), "--url", url, "--sha256", "xyz"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --sha256:") and err.count("\n") == 1
    assert server.log == [] and list(ws.iterdir()) == []


def test_wrong_sha256_refused_and_archive_kept_aside(server, ws):
    body = make_zip()
    wrong = "0" * 64
    with pytest.raises(DownloadError) as exc:
        run(ws, server.serve("/a.zip", body), sha256=wrong)
    aside = ws / f"AudioMNIST.rejected-{sha(body)[:12]}.zip"
    assert str(exc.value) == f"archive from {server.base}/a.zip has sha256 {sha(body)}, expected {wrong}"
    assert str(aside) in exc.value.hint
    assert aside.read_bytes() == body
    assert sorted(p.name for p in ws.iterdir()) == [aside.name]


def test_wrong_sha256_of_a_local_file_leaves_it_alone(ws, tmp_path):
    local = tmp_path / "a.zip"
    local.write_bytes(make_zip())
    with pytest.raises(DownloadError) as exc:
        run(ws, str(local), sha256="a" * 64)
    assert re.fullmatch(rf"archive from {local} has sha256 {sha(local.read_bytes())}, expected a{{64}} "
                        r"\(file left as is; check --url and --sha256\)", exc.value.line())
    assert local.is_file() and list(ws.iterdir()) == []


# -- unsafe archives: refused whole, before anything is written ----------------------


def _zip_symlink(zf):
    info = zipfile.ZipInfo(TOP + "data/01/link.wav")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, "/etc/passwd")


def _zip_fifo(zf):
    info = zipfile.ZipInfo(TOP + "data/01/pipe.wav")
    info.create_system = 3
    info.external_attr = (stat.S_IFIFO | 0o644) << 16
    zf.writestr(info, b"")


def _tar_entry(name, kind, linkname=""):
    def mutate(tf):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tf.addfile(info)
    return mutate


def _zip_entry(name, data=WAV):
    return lambda zf: zf.writestr(zipfile.ZipInfo(name), data)


def _zip_bomb(zf):
    zf.writestr(TOP + "zeros.bin", bytes(4 << 20), compress_type=zipfile.ZIP_DEFLATED)


UNSAFE = {
    "zip-slip": (lambda: make_zip(mutate=_zip_entry(TOP + "data/01/../../../evil.wav")), "points outside the archive"),
    "zip-slip-unused": (lambda: make_zip(mutate=_zip_entry("../evil.txt", b"x")), "'../evil.txt' points outside"),
    "zip-absolute": (lambda: make_zip(mutate=_zip_entry("/tmp/evil.wav")), "'/tmp/evil.wav' has an absolute path"),
    "zip-drive": (lambda: make_zip(mutate=_zip_entry("C:\\evil.wav")), "has an absolute path"),
    "zip-symlink": (lambda: make_zip(mutate=_zip_symlink), "link.wav' is a symbolic link"),
    "zip-fifo": (lambda: make_zip(mutate=_zip_fifo), "pipe.wav' is a fifo"),
    "zip-bomb": (lambda: make_zip(mutate=_zip_bomb), "zeros.bin' expands 1,0\\d\\d times \\(zip bomb"),
    "tar-slip": (lambda: make_tar(mutate=_tar_entry(TOP + "../evil.wav", tarfile.REGTYPE)), "points outside"),
    "tar-absolute": (lambda: make_tar(mutate=_tar_entry("/tmp/evil.wav", tarfile.REGTYPE)), "has an absolute path"),
    "tar-symlink": (lambda: make_tar(mutate=_tar_entry(TOP + "data/01/s.wav", tarfile.SYMTYPE, "/etc/passwd")),
                    "s.wav' is a symbolic link"),
    "tar-hardlink": (lambda: make_tar(mutate=_tar_entry(TOP + "data/01/h.wav", tarfile.LNKTYPE, TOP + "README.md")),
                     "h.wav' is a hard link"),
    "tar-fifo": (lambda: make_tar(mutate=_tar_entry(TOP + "data/01/f.wav", tarfile.FIFOTYPE)), "device, fifo"),
    "tar-device": (lambda: make_tar(mutate=_tar_entry(TOP + "dev", tarfile.CHRTYPE)), "device, fifo"),
    "duplicate": (lambda: make_zip(mutate=_zip_entry(TOP + SMALL[0])), "appears twice"),
    "two-data-folders": (lambda: make_zip(mutate=_zip_entry("other/data/09/0_09_0.wav")), "more than one data/ folder"),
    "no-recordings": (lambda: make_zip(names=[]), r"no data/NN/\*\.wav recordings"),
    "html-page": (lambda: b"<html><body>rate limited</body></html>", "neither a zip nor a tar archive"),
}


@pytest.mark.parametrize("case", UNSAFE)
def test_unsafe_archive_refused_whole(server, ws, case):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        body = UNSAFE[case][0]()
    with pytest.raises(DownloadError, match=UNSAFE[case][1]) as exc:
        run(ws, server.serve("/a", body))
    assert str(exc.value).startswith(f"refused archive from {server.base}/a: ")
    assert "\n" not in exc.value.line()
    aside = [p.name for p in ws.iterdir()]
    assert len(aside) == 1 and aside[0].startswith(f"AudioMNIST.rejected-{sha(body)[:12]}")  # nothing else written
    assert not list(ws.parent.rglob("evil*"))


def _patch_declared_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite an entry's uncompressed size in the zip's central directory."""
    out = bytearray(data)
    pos = out.find(b"PK\x01\x02")
    while pos >= 0:
        nlen = int.from_bytes(out[pos + 28:pos + 30], "little")
        if out[pos + 46:pos + 46 + nlen] == name.encode():
            out[pos + 24:pos + 28] = size.to_bytes(4, "little")
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError(name)


def test_huge_declared_size_refused(server, ws):
    body = _patch_declared_size(make_zip(), TOP + SMALL[0], 4_000_000_000)
    with pytest.raises(DownloadError, match=r"0_01_0\.wav' expands [\d,]+ times \(zip bomb"):
        run(ws, server.serve("/a.zip", body))
    with pytest.raises(DownloadError, match=r"more than 1,000 bytes uncompressed \(--max-extract-bytes\)"):
        run(ws, server.serve("/b.zip", make_zip()), max_extract_bytes=1000)
    assert not (ws / "AudioMNIST").exists()


def test_entry_longer_than_declared_refused_during_extraction(server, ws):
    body = _patch_declared_size(make_zip(), TOP + SMALL[-1], 100)  # really len(WAV) bytes
    with pytest.raises(DownloadError, match="the archive is damaged"):
        run(ws, server.serve("/a.zip", body))
    assert [p.name for p in ws.iterdir()] == [f"AudioMNIST.rejected-{sha(body)[:12]}.zip"]
    with pytest.raises(archive.Refused, match="larger than it declares"):  # our own guard, any reader
        archive._copy(io.BytesIO(b"x" * 101), io.BytesIO(), 100, "a.wav")
    with pytest.raises(archive.Refused, match="shorter than it declares"):
        archive._copy(io.BytesIO(b"x" * 99), io.BytesIO(), 100, "a.wav")


# -- an existing dest -----------------------------------------------------------------


def test_foreign_dest_refused_untouched(server, ws):
    dest = ws / "AudioMNIST"
    dest.mkdir()
    (dest / "mine.txt").write_text("keep me")
    with pytest.raises(DownloadError, match="not empty and was not written by `vaeaudio download`"):
        run(ws, server.serve("/a.zip", make_zip()))
    assert tree(dest) == {"mine.txt"} and server.log == []


def test_damaged_extraction_refused_untouched(server, ws):
    url = server.serve("/a.zip", make_zip())
    run(ws, url)
    (ws / "AudioMNIST" / SMALL[0]).unlink()
    with pytest.raises(DownloadError, match="no longer matches its download marker: 12 of 13"):
        run(ws, url)
    assert len(tree(ws / "AudioMNIST")) == 13 and len(server.log) == 1
    (ws / "AudioMNIST" / dl.MARKER).write_text("{not json")
    with pytest.raises(DownloadError, match="download marker .* is unreadable"):
        run(ws, url)


def test_stale_temporary_folders(server, ws):
    ours = ws / ".AudioMNIST.extracting-old"
    (ours / "data").mkdir(parents=True)
    (ours / dl.SENTINEL).touch()
    foreign = ws / ".AudioMNIST.extracting-notours"
    foreign.mkdir()
    run(ws, server.serve("/a.zip", make_zip()))
    assert sorted(p.name for p in ws.iterdir()) == [foreign.name, "AudioMNIST"]
