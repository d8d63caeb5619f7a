"""Measure 4, pages: a thread page served by the web process against the same bytes served as a static file.

Both servers are uvicorn in a process of their own with the same defaults: the bot's `python -m bot web`,
and a Starlette `StaticFiles` app serving the page's bytes from a folder. The same server, event loop and
HTTP parser on both sides, with keep-alive, leave the app's own work per request (store read, page cache,
middleware, the request log) as the only difference; a stdlib `http.server` would close every connection
and lose by more than the bot ever could. The load comes from this process: a few threads, each with one
keep-alive connection, bounded in requests and in time, on 127.0.0.1 only.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from bot import renderer
from bot.benchspeed import percentile
from bot.benchtable import Goal, Row
from bot.benchworld import add_mentions, add_thread, free_port, settings_env, tail
from bot.models import Thread
from bot.processes import run_once
from bot.runtime import Bot
from bot.sandbox import SandboxServer
from bot.site import Site

log = structlog.get_logger(__name__)

CONNECTIONS = 4  # concurrent keep-alive connections of the load
START_TIMEOUT = 30.0
RENDERS = 5  # uncached renders timed per page (the median is kept)
SERIAL = 20  # cached pages fetched one at a time, without load (the median is the render's baseline)
WITHIN = 3.0  # issue 8: cached pages within 3x of static


@dataclass(frozen=True)
class Load:
    """What a bounded load got from one URL."""

    requests: int
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def ms(self, pct: float) -> float:
        return 1000 * percentile(self.latencies, pct)


def hammer(port: int, path: str, *, seconds: float, requests: int) -> Load:
    """GET `path` from 127.0.0.1:`port` on CONNECTIONS keep-alive connections until `requests` or `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    left = [requests]
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            while time.monotonic() < deadline:
                with lock:
                    if left[0] <= 0:
                        return
                    left[0] -= 1
                began = time.perf_counter()
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                took = time.perf_counter() - began
                if response.status != 200:
                    errors.append(f"GET {path} answered {response.status}")
                    return
                with lock:
                    latencies.append(took)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(CONNECTIONS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    elapsed = time.perf_counter() - started
    if errors or not latencies:
        raise RuntimeError(errors[0] if errors else f"GET {path}: no answer")
    return Load(len(latencies), elapsed, latencies)


def fetch(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        return body
    finally:
        conn.close()


@contextmanager
def running(command: list[str], env: dict[str, str] | None, cwd: Path, log_path: Path, port: int) -> Iterator[None]:
    """A server process, until the block ends; ready once it answers on `port`."""
    with log_path.open("a") as sink:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{' '.join(command[-3:])} did not start: {tail(log_path)}") from None
                time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def serve_static() -> None:
    """The static server's process: a folder served by Starlette's StaticFiles under uvicorn (argv: folder, port)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    app = Starlette(routes=[Mount("/", StaticFiles(directory=sys.argv[1]))])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)


def render_ms(bot: Bot, thread: Thread) -> float:
    """Median time to render the thread's HTML page without the cache, as the web process would."""
    site = Site.of(bot.settings, bot.store.get_identity())
    latest = bot.store.latest(bot.settings.latest_size)
    times = []
    for _ in range(RENDERS):
        began = time.perf_counter()
        renderer.render_html(thread, site=site, latest=latest)
        times.append(time.perf_counter() - began)
    return 1000 * statistics.median(times)


def measure_pages(sandbox: SandboxServer, bot: Bot, folder: Path, *, seconds: float, requests: int) -> list[Row]:
    """Rows for the 12- and the 250-post thread pages: throughput, p99 and render time."""
    world = sandbox.world
    roots = {}
    for size in (12, 250):
        ids = add_thread(world, f"pages_{size}", size)
        add_mentions(world, ids[-1], [f"page_reader{size}"])
        roots[size] = ids[0]
    run_once(bot)
    settings = bot.settings
    static_dir = folder / "static"
    static_dir.mkdir(exist_ok=True)
    static_port = free_port()
    web = [sys.executable, "-m", "bot", "web"]
    static = [sys.executable, "-c", "from bot.benchpages import serve_static; serve_static()"]
    rows: list[Row] = []
    with running(web, settings_env(settings), folder, folder / "web.log", settings.port):
        for size, root in roots.items():
            (static_dir / f"thread-{size}.html").write_bytes(fetch(settings.port, f"/thread/{root}"))
        with running([*static, str(static_dir), str(static_port)], None, folder, folder / "static.log", static_port):
            for size, root in roots.items():
                thread = bot.store.get_thread(root)
                if thread is None or len(thread.tweets) != size:
                    raise RuntimeError(f"the {size}-post thread was not stored whole")
                rows += _page_rows(bot, thread, settings.port, static_port, seconds, requests)
    return rows


def _page_rows(bot: Bot, thread: Thread, web_port: int, static_port: int, seconds: float, requests: int) -> list[Row]:
    size = len(thread.tweets)
    path, static_path = f"/thread/{thread.root_id}", f"/thread-{size}.html"
    kilobytes = len(fetch(web_port, path)) / 1024  # also puts the page in the web process's cache
    fetch(static_port, static_path)
    served = []
    for _ in range(SERIAL):
        began = time.perf_counter()
        fetch(web_port, path)
        served.append(time.perf_counter() - began)
    web = hammer(web_port, path, seconds=seconds, requests=requests)
    static = hammer(static_port, static_path, seconds=seconds, requests=requests)
    rendered = render_ms(bot, thread)
    label = f"pages · {size}-post thread ({kilobytes:.0f} kB)"
    log.info("bench_page", size=size, web=web.per_second, static=static.per_second, render_ms=rendered)
    return [
        Row(f"{label}: requests / s", web.per_second, static.per_second, "/s", Goal(">=", 1 / WITHIN), 0, "(static)"),
        Row(f"{label}: p99", web.ms(99), static.ms(99), "ms", Goal("<=", WITHIN), 1, "(static)"),
        Row(f"{label}: render, uncached", rendered, 1000 * statistics.median(served), "ms", None, 1, "(served cached)"),
    ]
