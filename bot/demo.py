"""`python -m bot demo`: the bot end to end on the sandbox and the embedded Redis, pages served until Ctrl-C.

It starts the X API v2 sandbox on 127.0.0.1, loads the sample threads with a reader's "@unrollbot unroll"
under each, runs one poll and drains the queue exactly as `run --once` does, prints every reply the bot
posted with its link, checks that each link serves its page, and keeps serving the pages.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import requests
import structlog

from bot.processes import run_once, stop_on_signals
from bot.runtime import build
from bot.sandbox import SandboxServer
from bot.sandbox.samples import load_samples
from bot.store import Store, embedded
from config.logging import configure_logging
from config.settings import Settings, load_settings

log = structlog.get_logger(__name__)

DEMO_PREFIX = "demo"
DEMO_CREDENTIALS = {
    "x_api_key": "demo-consumer-key",
    "x_api_secret": "demo-consumer-secret",
    "x_access_token": "demo-access-token",
    "x_access_token_secret": "demo-access-token-secret",
}


def on_sandbox(base: Settings, *, sandbox_url: str, port: int, key_prefix: str, **changes: object) -> Settings:
    """The operator's settings (prices, templates…) aimed at the sandbox and a key prefix of their own, with
    rehearsal credentials and the pages on 127.0.0.1:`port` (the demo and the bench run this way)."""
    data = base.model_dump()
    data.update(
        DEMO_CREDENTIALS,
        x_bearer_token=None,
        x_api_base_url=sandbox_url,
        public_base_url=f"http://127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        key_prefix=key_prefix,
        dry_run=False,
        full_archive=False,
        search_lag=0.0,  # the sandbox's search shows a post at once (`World.set_search_lag` to rehearse X's lag)
    )
    data.update(changes)
    return load_settings(_env_file=None, **data)


def demo_settings(settings: Settings, sandbox_url: str, port: int) -> Settings:
    """The operator's settings, aimed at the sandbox, the embedded Redis and a fresh demo key prefix."""
    return on_sandbox(
        settings,
        sandbox_url=sandbox_url,
        port=port,
        key_prefix=DEMO_PREFIX,
        redis_url=None,
        bot_handle=None,
        data_dir=settings.data_dir / "demo",
    )


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _logs_aside(settings: Settings) -> Path | None:
    """On a terminal, the bot's log lines go to a file in the demo's folder (which one is said): interleaved with
    the replies and links the demo prints, they buried them. Elsewhere (a pipe, a file) they stay on stderr."""
    if not sys.stderr.isatty():
        return None
    path = settings.data_dir / "demo.log"
    configure_logging(settings, stream=path.open("a", encoding="utf-8"))  # (open for the process's life)
    return path


def run_demo(settings: Settings, *, serve: bool = True, port: int | None = None) -> int:
    """Run the demo; returns the process exit code."""
    sandbox = SandboxServer(port=0)
    sandbox.start()
    try:
        return _demo(settings, sandbox, serve=serve, port=port or settings.port)
    finally:
        sandbox.stop()


def _demo(settings: Settings, sandbox: SandboxServer, *, serve: bool, port: int) -> int:
    samples = load_samples(sandbox.world, "demo")
    settings = demo_settings(settings, sandbox.url, port)
    sandbox.world.configure_credentials(  # as X does: the key, the token and every request's signature
        consumer_key=DEMO_CREDENTIALS["x_api_key"],
        access_token=DEMO_CREDENTIALS["x_access_token"],
        consumer_secret=DEMO_CREDENTIALS["x_api_secret"],
        access_token_secret=DEMO_CREDENTIALS["x_access_token_secret"],
    )
    client = embedded(settings.data_dir)
    stale = list(client.scan_iter(match="{" + DEMO_PREFIX + "}:*", count=1000))
    if stale:  # every demo starts fresh
        client.delete(*stale)
    store = Store(client, DEMO_PREFIX, handled_log_size=settings.handled_log_size)
    logs = _logs_aside(settings)
    bot = build(settings, store=store)

    out(
        f"X API sandbox at {sandbox.url}; {len(samples)} sample threads, each with a reader's "
        f'"@{bot.username} unroll" under its last tweet.'
    )
    if logs is not None:
        out(f"The bot's log lines go to {logs}.")
    from bot.web import listen
    from bot.web import server as web_server

    sock = listen(settings)  # a taken port stops the demo with its own status (uvicorn's would end this thread only)
    web = web_server(settings, store)
    web_thread = threading.Thread(target=web.run, kwargs={"sockets": [sock]}, name="web", daemon=True)
    web_thread.start()
    deadline = time.monotonic() + 10
    while not web.started and time.monotonic() < deadline:
        time.sleep(0.05)

    finished = run_once(bot)
    out(f"Handled {finished} request(s).\n")
    ok = True
    # In the order the readers summoned (ids grow with time), not the order the lanes happened to answer in.
    for reply in sorted(sandbox.world.posted(), key=lambda posted: int(posted.in_reply_to_tweet_id or 0)):
        out(f"Reply {reply.id} to mention {reply.in_reply_to_tweet_id}:\n  {reply.text}")
    out()
    for record in store.handled(limit=50):
        if not record.link:
            continue
        response = requests.get(record.link, timeout=10)
        ok = ok and response.status_code == 200
        out(f"  {record.link}  -> HTTP {response.status_code}, {record.tweets} tweets by @{record.author}")
    if not serve:
        web.should_exit = True
        web_thread.join(timeout=10)
        return 0 if ok else 1
    out(f"\nServing the pages at {settings.public_base_url} (Ctrl-C to stop).")
    # SIGTERM as Ctrl-C: the pages stop and the process ends through its exit handlers, which stop the embedded
    # Redis (Python's default for SIGTERM ended it at once: the redis-server stayed, orphaned).
    stop = threading.Event()
    stop_on_signals(stop)
    while web_thread.is_alive() and not stop.wait(0.5):
        pass
    web.should_exit = True
    web_thread.join(timeout=10)
    return 0 if ok else 1
