"""Measures 2 and 3, the bot's overhead and latency, with the bot in a process of its own.

The bot runs in a child process (`python -c`, commands over two pipes) so that it never shares an
interpreter lock with the sandbox, which serves from the bench's process as X would from elsewhere. The
child builds the bot from the settings and answers commands: `bot` polls once and drains while recording
every HTTP request it makes; `floor` makes exactly those requests again with bare tweepy (its own
`Client.request`, only the host rewritten to the sandbox) in a loop, reading each answer's JSON and
nothing more; `latency` polls and drains while summing the time spent waiting on HTTP (`Response.elapsed`:
request sent → the answer's headers read).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

import redis
import redis.client
import requests
import structlog
import tweepy
from pydantic import SecretStr

from bot.benchbudget import HTTP, ORDER, REST, install
from bot.benchtable import Goal, Row
from bot.benchworld import Recording, add_mentions, add_thread, fresh_world
from bot.poller import poll_once
from bot.processes import consumer_name, run_once
from bot.runtime import build
from bot.sandbox import SandboxServer
from bot.store import Store, connect
from bot.worker import drain
from bot.xapi import RebasedSession
from config.logging import configure_logging
from config.settings import Settings, load_settings

log = structlog.get_logger(__name__)

ANSWER_TIMEOUT = 120.0  # seconds the bench waits for the child to answer one command
BACKLOG_PER_LANE = 5  # the overhead measure's backlog: mentions per request a worker handles at once
Call = tuple[str, str, bytes | None, bool]  # method, URL, body, user context (OAuth 1.0a) or app bearer


@dataclass
class _Tap:
    """Notes what the bot's HTTP session sends and how long each answer took."""

    recording: bool = False
    calls: list[Call] = field(default_factory=list)
    waited: float = 0.0
    count: int = 0

    def __call__(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.waited += response.elapsed.total_seconds()
        self.count += 1
        if self.recording:
            sent = response.request
            body = sent.body.encode() if isinstance(sent.body, str) else sent.body
            oauth = str(sent.headers.get("Authorization", "")).startswith("OAuth")
            self.calls.append((sent.method or "GET", sent.url or "", body, oauth))

    def reset(self, recording: bool) -> None:
        self.recording, self.calls, self.waited, self.count = recording, [], 0.0, 0


class _RedisClock:
    """Seconds the bot's thread spent in Redis calls (client work and the round trip), while `counting`."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.counting = False
        self.owner = threading.get_ident()  # the thread that runs the bot; the renewer's calls are not its time

    def timed(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.counting or threading.get_ident() != self.owner:
            return call(*args, **kwargs)
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


class _TimedPipeline(redis.client.Pipeline):
    clock: _RedisClock

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        return cast(list[Any], self.clock.timed(super().execute, raise_on_error))


class _TimedRedis(redis.Redis):
    """A redis-py client whose every command and pipeline is timed: what the bot's store costs it."""

    clock: _RedisClock
    origin: redis.Redis

    def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.clock.timed(super().execute_command, *args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> redis.client.Pipeline:
        pipe = _TimedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.clock = self.clock
        return pipe


def timed_store(settings: Settings, clock: _RedisClock) -> Store:
    """The bot's store on a client timed by `clock`, reaching the same Redis as `connect(settings)` would."""
    origin = connect(settings)  # kept with the timed client: an embedded server lives as long as its client
    pool = origin.connection_pool
    client = _TimedRedis(
        connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
    )
    client.clock, client.origin = clock, origin
    return Store(client, settings.key_prefix, handled_log_size=settings.handled_log_size)


def bare_tweepy(settings: Settings) -> tweepy.Client:
    """tweepy as anyone would use it, with the bot's credentials, talking to the sandbox."""
    client = tweepy.Client(
        bearer_token=_plain(settings.x_bearer_token),
        consumer_key=_plain(settings.x_api_key),
        consumer_secret=_plain(settings.x_api_secret),
        access_token=_plain(settings.x_access_token),
        access_token_secret=_plain(settings.x_access_token_secret),
        return_type=requests.Response,
    )
    client.session = RebasedSession(settings.x_api_base_url, settings.http_timeout)
    return client


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None


def replay(client: tweepy.Client, calls: list[Call]) -> float:
    """Make the calls with bare tweepy, one after the other; seconds taken."""
    started = time.perf_counter()
    for method, url, body, user_auth in calls:
        parts = urlsplit(url)
        payload = json.loads(body) if body else None
        response = client.request(
            method, parts.path, params=dict(parse_qsl(parts.query)), json=payload, user_auth=user_auth
        )
        response.json()  # what any caller must do with an answer; the bot also validates it into models
    return time.perf_counter() - started


def serve_commands(receive: Connection, send: Connection) -> None:
    """The child process: build the bot from the settings sent first, then answer commands until told to stop.
    With `budget`, the bot's parts are timed section by section (`bot.benchbudget`) instead of its store."""
    data, log_path, budget = receive.recv()
    settings = load_settings(_env_file=None, **data)
    with open(log_path, "a") as sink:
        configure_logging(settings, stream=sink)
        clock = _RedisClock()
        sections = install() if budget else None  # before the bot is built: its hooks are bound then
        bot = build(settings) if sections else build(settings, store=timed_store(settings, clock))
        tap = _Tap()
        bot.api.client.session.hooks["response"].append(tap)
        floor = bare_tweepy(settings)
        consumer = consumer_name()
        while True:
            command, argument = receive.recv()
            if command == "stop":
                break
            if command == "bot":
                tap.reset(recording=True)
                clock.seconds, clock.counting = 0.0, True
                started = time.perf_counter()
                handled = sections.around("bot", run_once, bot) if sections else run_once(bot)
                elapsed, clock.counting = time.perf_counter() - started, False
                send.send((elapsed, handled, tap.calls, clock.seconds))
            elif command == "floor":
                send.send(sections.around("floor", replay, floor, argument) if sections else replay(floor, argument))
            elif command == "budget" and sections:
                send.send(sections.per_round())
            elif command == "budget-reset" and sections:
                sections.reset()
                send.send(command)
            elif command == "latency":
                tap.reset(recording=False)
                poll_once(bot)
                handled = drain(bot, consumer)
                send.send((handled, tap.waited, tap.count))
            else:
                send.send(command)


def child_main() -> None:
    """Entry point of the child: the two pipe ends it was given on its command line."""
    serve_commands(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False))


class BotProcess:
    """The child process running the bot (`python -c`, two pipes), and the commands the bench sends it."""

    def __init__(self, settings: Settings, log_path: Path, *, budget: bool = False) -> None:
        child_reads, bench_writes = os.pipe()
        bench_reads, child_writes = os.pipe()
        code = "from bot.benchspeed import child_main; child_main()"
        with log_path.open("a") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(child_reads), str(child_writes)],
                pass_fds=(child_reads, child_writes),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )
        os.close(child_reads)
        os.close(child_writes)
        self.send = Connection(bench_writes, readable=False)
        self.receive = Connection(bench_reads, writable=False)
        self.send.send((settings.model_dump(), str(log_path), budget))

    def __enter__(self) -> BotProcess:
        """The child, once it answers (its bot built); closed when the block ends, however it ends."""
        try:
            self.ask("ping")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(self, command: str, argument: Any = None) -> Any:
        self.send.send((command, argument))
        if not self.receive.poll(ANSWER_TIMEOUT):
            raise RuntimeError(f"the bot process did not answer {command!r} within {ANSWER_TIMEOUT:.0f} s")
        return self.receive.recv()

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.send.send(("stop", None))
                self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)
        finally:
            self.send.close()
            self.receive.close()


def measure_overhead(
    sandbox: SandboxServer, child: BotProcess, bot_id: str, rounds: int, concurrency: int
) -> list[Row]:
    """Mentions per second of one worker against the floor of the same requests made with bare tweepy in a loop
    on the very same world (rebuilt, same ids): first a backlog (`BACKLOG_PER_LANE` mentions per request the
    worker handles at once, each under a new 12-post thread, polled at once and drained), then one mention at a
    time (polled, answered, the next created), where the bot's own work per mention shows whole. A first round of
    each, not counted, warms both up (connections, lazy imports)."""
    backlog = BACKLOG_PER_LANE * concurrency
    bulk_bot, bulk_floor, _, bulk_handled, bulk_requests = run_rounds(
        sandbox, child, bot_id, max(rounds // backlog, 1), backlog=backlog
    )
    bot_seconds, floor_seconds, redis_seconds, handled, requests_made = run_rounds(sandbox, child, bot_id, rounds)
    log.info(
        "bench_overhead",
        backlog_bot_s=bulk_bot,
        backlog_floor_s=bulk_floor,
        backlog_mentions=bulk_handled,
        backlog_requests=bulk_requests,
        bot_s=bot_seconds,
        floor_s=floor_seconds,
        redis_s=redis_seconds,
        mentions=handled,
        requests=requests_made,
    )
    return [
        Row(
            f"overhead · mentions / s, one worker ({concurrency} at a time), a backlog of {backlog}",
            bulk_handled / bulk_bot,
            bulk_handled / bulk_floor,
            unit="/s",
            goal=Goal(">=", 0.8),
            digits=1,
            note="(bare tweepy)",
        ),
        # The bot's own work per mention, none of it overlapping another's: what a mention costs it in CPU.
        Row(
            "overhead · the same, one mention at a time",
            handled / bot_seconds,
            handled / floor_seconds,
            unit="/s",
            digits=1,
            note="(bare tweepy)",
        ),
        # What the bot would reach if its Redis calls cost nothing: how much of the gap they are, and the rest
        # (answers validated into models, the thread built, logs, metrics), which no fewer round trips remove.
        Row(
            "overhead · one at a time, less the bot's time in Redis",
            handled / (bot_seconds - redis_seconds),
            handled / floor_seconds,
            unit="/s",
            digits=1,
            note="(bare tweepy)",
        ),
        Row(
            "overhead · the bot's time in Redis per mention",
            1000 * redis_seconds / handled,
            1000 * (bot_seconds - floor_seconds) / handled,
            unit="ms",
            digits=2,
            note="(bot − floor)",
        ),
    ]


def measure_budget(sandbox: SandboxServer, child: BotProcess, bot_id: str, rounds: int) -> list[Row]:
    """The overhead measure's rounds, in a child timing the bot section by section (`bot.benchbudget`): each
    section's microseconds per poll + mention, next to the floor's where it has one (HTTP, the rest)."""
    run_rounds(sandbox, child, bot_id, rounds, warmed=lambda: child.ask("budget-reset"))
    budget = child.ask("budget")
    bot, floor = budget["bot"], budget["floor"]
    rows = [
        Row(
            "budget · per poll + mention, every section",
            sum(bot.values()),
            sum(floor.values()),
            unit="µs",
            digits=0,
            note="(bare tweepy)",
        )
    ]
    for section in ORDER:
        paired = section in (HTTP, REST)
        rows.append(
            Row(
                f"budget · {section}",
                bot[section],
                floor[section] if paired else None,
                unit="µs",
                digits=0,
                note="(bare tweepy)" if paired else "",
            )
        )
    return rows


def run_rounds(
    sandbox: SandboxServer,
    child: BotProcess,
    bot_id: str,
    rounds: int,
    warmed: Callable[[], object] | None = None,
    *,
    backlog: int = 1,
) -> tuple[float, float, float, int, int]:
    """`rounds` rounds of a poll and its `backlog` mentions (each under a new 12-post thread of its own) by the
    bot, each made again by the floor on the same world, after one round of each not counted (`warmed` is called
    after it): (bot s, floor s, the bot's s in Redis, mentions handled, requests made)."""
    world = sandbox.world
    bot_seconds = floor_seconds = redis_seconds = 0.0
    handled = requests_made = 0
    for index in range(rounds + 1):
        fresh_world(world, bot_id)
        recording = Recording(world)
        for mention in range(backlog):
            ids = add_thread(recording, f"author{index}x{mention}", 12)
            add_mentions(recording, ids[-1], [f"reader{index}x{mention}"])
        seconds, done, calls, in_redis = child.ask("bot")
        fresh_world(world, bot_id)
        recording.replay(world)
        floor = child.ask("floor", calls)
        if index == 0:
            if warmed is not None:
                warmed()
            continue
        bot_seconds += seconds
        redis_seconds += in_redis
        floor_seconds += floor
        handled += done
        requests_made += len(calls)
    if handled != rounds * backlog:
        raise RuntimeError(f"{rounds} rounds of {backlog} mention(s) each, but {handled} mentions handled")
    return bot_seconds, floor_seconds, redis_seconds, handled, requests_made


def measure_latency(sandbox: SandboxServer, child: BotProcess, bot_id: str, samples: int, latency: float) -> list[Row]:
    """Mention created → reply posted, by the sandbox's clock, one mention under a new 12-post thread at a time,
    polled as soon as it is created; the bot's own time is the total less the time spent waiting on HTTP."""
    world = sandbox.world
    totals: list[float] = []
    waits: list[float] = []
    for index in range(samples):
        fresh_world(world, bot_id)
        ids = add_thread(world, f"author{index}", 12)
        mention = add_mentions(world, ids[-1], [f"reader{index}"])[0]
        world.set_latency(latency)
        handled, waited, _ = child.ask("latency")
        world.set_latency(0.0)
        replies = world.posted()
        if handled != 1 or len(replies) != 1:
            raise RuntimeError(f"latency: sample {index} handled {handled} mention(s), posted {len(replies)} reply")
        totals.append((replies[0].created_at - mention.created_at).total_seconds())
        waits.append(waited)
    own = [max(total - wait, 0.0) for total, wait in zip(totals, waits, strict=True)]
    log.info("bench_latency", totals=totals, waits=waits)
    label = f"{latency * 1000:.0f} ms per API request"
    return [
        Row(
            f"latency · mention → reply, p50 ({label})",
            1000 * percentile(totals, 50),
            1000 * percentile(waits, 50),
            unit="ms",
            digits=0,
            note="(HTTP wait)",
        ),
        Row(
            f"latency · mention → reply, p99 ({label})",
            1000 * percentile(totals, 99),
            1000 * percentile(waits, 99),
            unit="ms",
            digits=0,
            note="(HTTP wait)",
        ),
        Row(
            "latency · bot's own time, share of the total",
            1000 * statistics.fmean(own),
            1000 * statistics.fmean(totals),
            unit="ms",
            goal=Goal("<=", 0.10),
            digits=1,
            note="(total)",
        ),
    ]


def percentile(values: list[float], pct: float) -> float:
    """The `pct` percentile, nearest rank (the largest value for p99 of fewer than 100 samples)."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(pct / 100 * len(ordered))))
    return ordered[rank - 1]
