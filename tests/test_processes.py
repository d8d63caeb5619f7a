"""The long-running processes through an outage: start-up and the worker loop wait for Redis and X, longer the
longer it lasts, and a spent rate-limit window is waited out to its reset instead of asked again."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from structlog.testing import capture_logs

from bot import spending
from bot.errors import EX_OSERR, ConfigError, StoreRefused
from bot.models import UnrollRequest
from bot.poller import poll_once
from bot.processes import (
    CronRun,
    build_when_ready,
    cron_within_grace,
    guarded_poll,
    in_thread,
    run_worker,
    wait_for,
)
from bot.sandbox import SandboxServer
from bot.sandbox.samples import add_unroll_request, load_reference_thread
from bot.store import Store
from bot.worker import work_once
from config.settings import Settings
from tests.conftest import BOT_HANDLE
from tests.harness import bot_env, free_port
from tests.helpers import make_bot, redis_url, web_page_server

QUICK = ExponentialBackoff(cap=0.04, base=0.01)  # the production backoff's shape, in hundredths of its seconds


def waits_until(events: Sequence[MutableMapping[str, Any]], name: str, count: int, timeout: float = 10) -> list[float]:
    """The `retry_in` of the first `count` events called `name`, once that many were logged."""
    deadline = time.monotonic() + timeout
    while True:
        waits = [float(e["retry_in"]) for e in events if e["event"] == name]
        if len(waits) >= count or time.monotonic() > deadline:
            return waits[:count]
        time.sleep(0.01)


def test_start_up_during_a_redis_outage_waits_longer_each_time(settings: Settings) -> None:
    """A process started while Redis is away keeps waiting for it, doubling the wait up to a cap (2, 4, 8, 16,
    30 s in production), and gives up only when told to stop."""
    down = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    stop = threading.Event()
    result: list[object] = []
    with capture_logs() as events:
        starting = threading.Thread(target=lambda: result.append(build_when_ready(down, stop, QUICK)))
        starting.start()
        waits = waits_until(events, "waiting_to_start", 5)
        stop.set()
        starting.join(timeout=10)
    assert ([0.01, 0.02, 0.04, 0.04, 0.04], [None]) == (waits, result)
    assert all("check REDIS_URL" in e["error"] for e in events if e["event"] == "waiting_to_start")  # what to fix


def test_start_up_on_a_redis_that_refuses_redis_url_stops_at_once(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """REDIS_URL naming a database the Redis does not have: it answers, and says no; waiting cannot mend that, so
    start-up stops with Redis's own words instead of logging `waiting_to_start` forever."""
    refused = settings.model_copy(update={"redis_url": redis_url(redis_client, 99)})
    with capture_logs() as events, pytest.raises(StoreRefused, match="REDIS_URL: DB index is out of range"):
        build_when_ready(refused, threading.Event(), QUICK)
    assert [] == [e for e in events if e["event"] == "waiting_to_start"]


def test_start_up_waits_out_a_spent_window_without_asking_again(sandbox: SandboxServer, settings: Settings) -> None:
    """GET /2/users/me answering 429 at start-up: the process waits for the window's reset and a second (X's reset
    is a whole second) and asks once more, instead of asking every couple of seconds and being refused each time."""
    sandbox.world.inject_fault("GET", "/2/users/me", status=429, reset_in=3)
    with capture_logs() as events:
        bot = build_when_ready(settings, threading.Event(), QUICK)
    waits = [float(e["retry_in"]) for e in events if e["event"] == "waiting_to_start"]
    asked = sum(sandbox.world.request_counts()["GET /2/users/me"].values())
    assert (True, 1, True, 2) == (bot is not None, len(waits), 3.0 <= waits[0] <= 4.5, asked)


def test_start_up_waits_out_a_broken_answer_of_x_instead_of_stopping(
    sandbox: SandboxServer, settings: Settings
) -> None:
    """GET /2/users/me answered 200 by X (its rate-limit headers) with half its JSON, broken on its way: the process
    waits and asks again, as for any outage of X, instead of stopping as if X_API_BASE_URL named some other
    server (a web page answers without X's headers: the test below)."""
    sandbox.world.inject_fault("GET", "/2/users/me", malformed=True)
    with capture_logs() as events:
        bot = build_when_ready(settings, threading.Event(), QUICK)
    waits = [e for e in events if e["event"] == "waiting_to_start"]
    asked = sum(sandbox.world.request_counts()["GET /2/users/me"].values())
    assert (True, 1, 2) == (bot is not None, len(waits), asked)


def test_start_up_at_a_web_page_stops_at_once_naming_x_api_base_url(settings: Settings) -> None:
    """X_API_BASE_URL at a web server answering 200 with an HTML page: no X answers GET /2/users/me so, and no
    wait makes it; the process stops with a ConfigError naming X_API_BASE_URL instead of waiting forever."""
    with web_page_server(200) as url, capture_logs() as events, pytest.raises(ConfigError) as stopped:
        build_when_ready(settings.model_copy(update={"x_api_base_url": url}), threading.Event(), QUICK)
    assert f"X_API_BASE_URL does not look like the X API: GET {url}/2/users/me answered 200" in str(stopped.value)
    assert [] == [e for e in events if e["event"] == "waiting_to_start"]


def test_a_poller_whose_mentions_answer_404_says_so_at_error_naming_x_api_base_url(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A running poller (its identity known) whose X_API_BASE_URL answers 404 on the mentions timeline: each
    poll logs an error naming X_API_BASE_URL and the fix, not a `poll_failed` warning to be read past."""
    make_bot(settings, store)  # an earlier start learnt who the bot is
    bot = make_bot(settings, store, x_api_base_url=f"{sandbox.url}/prefix")
    with capture_logs() as events:
        guarded_poll(bot)
    [said] = [e for e in events if e["log_level"] in ("warning", "error")]
    assert ("x_api_base_url_wrong", "error") == (said["event"], said["log_level"])
    assert f"GET {sandbox.url}/prefix/2/users/:id/mentions answered 404" in said["error"]
    assert said["fix"].startswith("set X_API_BASE_URL to https://api.x.com")


def test_a_poller_whose_redis_is_away_says_so_as_the_worker_does_on_a_backoff_not_every_tick(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Redis unreachable under a running poller: each failed poll says `redis_unreachable` (the line operators
    alert on, as the worker's), and the ticks before its backoff has passed ask nothing and say nothing (a
    `poll_failed` line every few seconds, reading like an X error, before); then it asks again, waiting longer."""
    bot = make_bot(settings, store)
    away = Store(redis.Redis(port=free_port(), socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)), "away")
    bot = dataclasses.replace(bot, store=away)
    with capture_logs() as events:
        for _ in range(3):
            guarded_poll(bot)  # the first fails, the next two come before its backoff ends
        bot.redis_retry_at = 0.0  # the backoff passes
        guarded_poll(bot)
    said = [(e["event"], e["log_level"]) for e in events if e["log_level"] in ("warning", "error")]
    waits = [e["retry_in"] for e in events if e["event"] == "redis_unreachable"]
    assert [("redis_unreachable", "warning")] * 2 == said
    assert waits[1] > waits[0] > 0


def test_a_poller_refused_by_x_asks_again_a_minute_later_whatever_its_interval(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """X answers the mentions timeline 401: the poll says so at error, and the polls due before a minute has
    passed (a poll interval of seconds) ask nothing, as the README says (it asked at every poll); a minute later it
    asks again, and polls on once X takes the credentials."""
    bot = make_bot(settings, store, poll_interval=1)
    sandbox.world.inject_fault("GET", "/2/users/", status=401)
    with capture_logs() as events:
        guarded_poll(bot)
        for _ in range(3):
            assert bot.refused_at is not None
            bot.refused_at -= 15  # 15 seconds pass
            store.redis.delete(store.key("last-poll"))  # due by the interval: only the wait holds it
            guarded_poll(bot)
        asked_meanwhile = sum(sandbox.world.request_counts()["GET /2/users/:id/mentions"].values())
        bot.refused_at -= 16
        guarded_poll(bot)
    asked = sum(sandbox.world.request_counts()["GET /2/users/:id/mentions"].values())
    refused = [e for e in events if e["event"] == "credentials_rejected"]
    assert (1, 2, 1, None) == (asked_meanwhile, asked, len(refused), bot.refused_at)


def test_the_worker_waits_out_a_redis_outage_longer_each_time(settings: Settings, store: Store) -> None:
    """Redis going away under a running worker: the loop keeps going, a longer wait each failure, never a
    crash."""
    bot = make_bot(settings, store)
    gone = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))  # each try fails at once
    bot.store.redis = gone
    stop = threading.Event()
    with capture_logs() as events:
        working = threading.Thread(target=run_worker, args=(bot, stop, "worker-1", QUICK))
        working.start()
        waits = waits_until(events, "redis_unreachable", 4)
        stop.set()
        working.join(timeout=10)
    assert ([0.01, 0.02, 0.04, 0.04], False) == (waits, working.is_alive())


def test_a_cron_run_still_in_a_call_to_x_when_the_grace_runs_out_leaves_its_request_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """`run --once` asked to stop while the reply's POST outlasts the shutdown grace: it gives the call the grace, as
    a worker does, then leaves the request (`request_left_at_shutdown`) and ends (the CLI exits 75); it waited out
    the whole call (up to UNROLL_HTTP_TIMEOUT, 300 s at most), past a cron's kill. The next run finds the one reply."""
    bot = make_bot(settings, store, http_timeout=30.0, visibility_timeout=60.0)
    thread = load_reference_thread(sandbox.world)
    mention = add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE).id
    sandbox.world.inject_fault("POST", "/2/tweets", drop=True, after=True, delay=4.0)  # made, then answered late
    ran: list[CronRun | None] = []
    with capture_logs() as events:
        cron = in_thread(lambda: ran.append(cron_within_grace(bot, grace=0.5)), name="cron")
        deadline = time.monotonic() + 10
        while not sandbox.world.posted() and time.monotonic() < deadline:
            time.sleep(0.02)
        bot.stopping.set()
        cron.join(timeout=3)
        said = [e["event"] for e in events]
    later = make_bot(settings, store, visibility_timeout=60.0)
    finished = work_once(later, "later", count=1)
    assert ([None], ["shutdown_grace_expired", "request_left_at_shutdown"]) == (
        ran,
        [e for e in said if e in ("shutdown_grace_expired", "request_left_at_shutdown")],
    )
    assert (1, [mention]) == (finished, [p.in_reply_to_tweet_id for p in sandbox.world.posted()])


def test_a_worker_still_in_a_call_to_x_when_the_grace_runs_out_leaves_its_request_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A stop while the reply's POST outlasts the shutdown grace (an UNROLL_HTTP_TIMEOUT above it): the process
    says so and leaves the request (`request_left_at_shutdown`) before it exits mid-call (75, where it exited 0
    without a word), and another worker takes it at once, not a visibility timeout later, finding the one reply."""
    bot = make_bot(settings, store, http_timeout=30.0, visibility_timeout=60.0)
    thread = load_reference_thread(sandbox.world)
    mention = add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE).id
    poll_once(bot)
    sandbox.world.inject_fault("POST", "/2/tweets", drop=True, after=True, delay=4.0)  # made, then answered late
    stop = bot.stopping
    with capture_logs() as events:
        worker = in_thread(run_worker, bot, stop, "slow", name="worker")
        deadline = time.monotonic() + 10
        while not sandbox.world.posted() and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        stopped = wait_for(stop, [worker], bot, grace=0.5)
        said = [e["event"] for e in events]
    later = make_bot(settings, store, visibility_timeout=60.0)
    finished = work_once(later, "later", count=1)
    worker.join(timeout=15)
    assert (False, ["shutdown_grace_expired", "request_left_at_shutdown"]) == (
        stopped,
        [e for e in said if e in ("shutdown_grace_expired", "request_left_at_shutdown")],
    )
    assert (1, [mention]) == (finished, [p.in_reply_to_tweet_id for p in sandbox.world.posted()])
    assert 1 == sum(sandbox.world.request_counts()["POST /2/tweets"].values())


def test_a_request_left_mid_call_at_shutdown_keeps_what_it_read_and_spent(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A worker stopped during the reply's POST, its grace spent, had read the thread: that went uncounted (the
    request's record said 1 post, the day's spending tally left the 12 out) and was read again. What it read and
    spent is kept as for an attempt left for later: the record and the tally count each post once, as X bills."""
    bot = make_bot(settings, store, http_timeout=30.0, visibility_timeout=60.0)
    thread = load_reference_thread(sandbox.world)
    add_unroll_request(sandbox.world, thread.last_id, bot=BOT_HANDLE)
    poll_once(bot)
    sandbox.world.inject_fault("POST", "/2/tweets", drop=True, after=True, delay=4.0)  # made, then answered late
    stop = bot.stopping
    worker = in_thread(run_worker, bot, stop, "slow", name="worker")
    deadline = time.monotonic() + 10
    while not sandbox.world.posted() and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    assert not wait_for(stop, [worker], bot, grace=0.5)
    later = make_bot(settings, store, visibility_timeout=60.0)
    assert 1 == work_once(later, "later", count=1)
    worker.join(timeout=15)
    (record,) = store.handled(limit=1)
    billed = sandbox.world.snapshot_stats().post_reads
    # The thread's 12 posts, and the reply the later worker found by search.
    assert (13, 13, 13) == (billed, record.tweets_read, spending.spent_today(store, settings).counts.post_read)


def test_run_with_its_web_port_taken_stops_with_its_own_status_before_taking_a_request(
    sandbox: SandboxServer, settings: Settings, store: Store, redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    """`run` while another process listens on its PORT: exit 71 (not uvicorn's 3, which here says X refused the
    credentials), one plain line naming HOST, PORT and the fix, the JSON line with its `exit_code`, and the
    request waiting on the stream left for another worker, not taken by one about to die."""
    store.enqueue([UnrollRequest(mention_id="41", requester_id="9")])
    redis_url = os.environ.get("REDIS_URL") or f"unix://{redis_client.socket_file}"  # type: ignore[attr-defined]
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = bot_env(sandbox.url, redis_url, prefix, tmp_path, HOST="127.0.0.1", PORT=str(port))
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )

    plain = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    stops = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{") and "exit_code" in line]
    assert (EX_OSERR, [f"Can't listen on HOST 127.0.0.1 PORT {port}"]) == (
        result.returncode,
        [line.split(":")[0] for line in plain],
    ), result.stderr[-2000:]
    assert "another process listens on that port; set PORT to a free one, or stop that process" in plain[0]
    assert [("port_unavailable", EX_OSERR)] == [(line["event"], line["exit_code"]) for line in stops]
    queued = store.find_queued("41")
    assert (None, 0) == (queued.taken_by if queued else "gone", store.pending_count())
