"""Small helpers shared by the poller and worker tests: a bot built on the sandbox and a real Redis, the URL of
that Redis, a web server that is not the X API, and the embedded Redis servers of a data dir."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import redis

from bot.runtime import Bot, build
from bot.sandbox import World
from bot.store import Store
from config.settings import Settings, load_settings

AUTHOR = "writer"
READER = "reader"


def make_bot(settings: Settings, store: Store, **changes: object) -> Bot:
    """The bot's parts as a process builds them, with some settings changed."""
    if changes:
        settings = load_settings(_env_file=None, **{**settings.model_dump(), **changes})
    return build(settings, store=store)


def redis_url(client: redis.Redis, db: int) -> str:
    """A URL of the tests' Redis (REDIS_URL's server, else the embedded one's socket) naming database `db`."""
    url = os.environ.get("REDIS_URL")
    if url:
        return urlsplit(url)._replace(path=f"/{db}").geturl()
    return f"unix://{client.socket_file}?db={db}"  # type: ignore[attr-defined]


def post_thread(world: World, count: int, *, author: str = AUTHOR, ago: timedelta = timedelta(hours=2)) -> list[str]:
    """A thread of `count` self-replies by `author`; its ids in order."""
    if world.find_user(author) is None:
        world.add_user(author)
    start: datetime = world.now() - ago
    ids: list[str] = []
    for i in range(count):
        ref = world.add_tweet(
            author, f"{i + 1}/ part {i + 1}", created_at=start + timedelta(minutes=i), reply_to=ids[-1] if ids else None
        )
        ids.append(ref.id)
    return ids


def summon(world: World, under: str, *, by: str = READER, text: str = "@unrollbot unroll") -> str:
    """A reader's summon under a tweet; the mention's id."""
    if world.find_user(by) is None:
        world.add_user(by)
    return world.add_tweet(by, text, reply_to=under).id


@contextmanager
def web_page_server(status: int) -> Iterator[str]:
    """A web server on 127.0.0.1 that answers every GET with an HTML page and `status`, as a proxy or some other
    site would where X_API_BASE_URL points by mistake; yields its URL."""
    page = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
    with canned_server(status, page, {"content-type": "text/html"}) as url:
        yield url


@contextmanager
def canned_server(status: int, body: bytes, headers: dict[str, str]) -> Iterator[str]:
    """A server on 127.0.0.1 answering every GET with `status`, `headers` and `body` (an answer the sandbox would
    never give: another site's, a proxy's); yields its URL."""

    class Canned(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            for name, value in {**headers, "content-length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads the bot's output
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Canned)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def servers_on(data_dir: Path) -> set[int]:
    """The redis-server processes with a file of `data_dir` open (the embedded Redis of that data dir)."""
    found = set()
    for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
        try:
            if "redis-server" not in Path(f"/proc/{pid}/cmdline").read_text():
                continue
            files = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if any(name.startswith(str(data_dir)) for name in files):
            found.add(pid)
    return found
