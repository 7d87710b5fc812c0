"""Open a folder's index.html in Debian's headless Chromium (Playwright for Python driving the system browser).

The folder is served by `http.server` on 127.0.0.1 (a free port, a thread of the
test process), or opened from disk (file://). Every request that is not to that
server (or under that folder) is aborted and recorded,
as are console errors, page errors and failed requests. `.ci/run` installs the
browser (apt-get install chromium) where it is missing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


@dataclass
class Log:
    origin: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(folder: Path):
    """`folder` over HTTP on 127.0.0.1; yields the origin, e.g. http://127.0.0.1:41234."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def open_page(folder: Path, scratch: Path, width: int = 1280, height: int = 900, via: str = "http"):
    """Yield (page, Log) with `folder`/index.html loaded over `via` "http" or "file"; `scratch` holds the
    browser's fresh profile."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    with serve(folder) as server, sync_playwright() as p:
        origin = server if via == "http" else folder.resolve().as_uri()
        log = Log(origin)
        context = p.chromium.launch_persistent_context(str(scratch / "chromium-profile"), executable_path=str(CHROMIUM),
                                                       headless=True, args=ARGS,
                                                       viewport={"width": width, "height": height})

        def route(r):
            if r.request.url.startswith(origin + "/"):
                return r.continue_()
            log.errors.append(f"outside request {r.request.url}")
            return r.abort()

        try:
            context.route("**/*", route)
            page = context.new_page()
            page.on("console",
                    lambda m: log.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: log.errors.append(f"page error: {e}"))
            page.on("request", lambda r: log.requests.append(r.url))
            page.on("requestfailed", lambda r: log.failed.append(f"{r.url}: {r.failure}"))
            page.goto(f"{origin}/index.html", wait_until="load")
            page.wait_for_load_state("networkidle")
            yield page, log
        finally:
            context.close()
