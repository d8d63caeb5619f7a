"""Measures 5 and 6, memory and scale: the bot's own worker processes (`python -m bot work`) on one Redis.

Workers get their settings through the environment, as an operator would set them, and are stopped with
SIGTERM. A worker's resident memory is read from /proc (Linux). Requests the mentions endpoint cannot page
through in one poll (it reaches the latest 800 only) are put on the stream directly, as the poller would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from bot.benchtable import Goal, Row
from bot.benchworld import add_mentions, add_thread, request_for, settings_env, tail
from bot.poller import poll_once
from bot.runtime import Bot
from bot.sandbox import SandboxServer, UserRef
from bot.sandbox.samples import ensure_user

if TYPE_CHECKING:
    from bot.bench import Bench

log = structlog.get_logger(__name__)

DONE_TIMEOUT = 240.0  # seconds a load may take before the bench gives up on it
READY_TIMEOUT = 60.0
SETTLE = 0.2
ENQUEUE_BATCH = 500
MEMORY_THREADS = (12, 12, 12, 250)  # threads the memory load asks for, round robin
READERS = 51  # coprime with the 4 threads, so the round robin spreads the requests over all 204 pairs
WARM_UP = 100  # mentions handled before the baseline reading
SCALE_THREAD = 3  # posts in each thread of the scale burst
MIB = 1024 * 1024


@dataclass
class Workers:
    """Worker processes of the bot, started and stopped together, and their logs."""

    processes: list[subprocess.Popen[bytes]]
    logs: list[Path]

    def rss(self, field: str = "VmRSS") -> int:
        """Resident memory of the first worker in bytes (`VmHWM`: its peak so far), from /proc/<pid>/status."""
        status = Path(f"/proc/{self.processes[0].pid}/status")
        if not status.exists():
            raise RuntimeError("the memory measure reads /proc/<pid>/status, which only Linux has")
        for line in status.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"{field} is not in {status}")

    def check(self) -> None:
        """Raise when a worker exited, with the end of its log."""
        for process, log_path in zip(self.processes, self.logs, strict=True):
            if process.poll() is not None:
                raise RuntimeError(f"a worker exited with status {process.returncode}: {tail(log_path)}")


@contextmanager
def workers(bot: Bot, count: int, folder: Path) -> Iterator[Workers]:
    """`count` worker processes on the bot's key prefix; yields once each reads the stream."""
    env = settings_env(bot.settings)
    bot.store.ensure_group()
    processes: list[subprocess.Popen[bytes]] = []
    logs = [folder / f"worker-{bot.settings.key_prefix}-{index}.log" for index in range(count)]
    try:
        for index in range(count):
            with logs[index].open("a") as sink:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "bot", "work", "--consumer", f"bench-{index}"],
                        env=env,
                        cwd=folder,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=sink,
                    )
                )
        group = Workers(processes, logs)
        wait_until(lambda: all(started(path) for path in logs), group, READY_TIMEOUT, "the workers to start")
        time.sleep(SETTLE)  # from the log line to the first blocking read of the stream
        yield group
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def started(log_path: Path) -> bool:
    """Whether the worker logged `worker_started` (Redis 6 lists a consumer only once it was given a request)."""
    return '"worker_started"' in log_path.read_text(errors="replace")


def wait_until(done: Callable[[], bool], group: Workers, timeout: float, what: str) -> None:
    """Poll `done()` every 10 ms; fail when a worker died or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while not done():
        group.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(0.01)


def drained(bot: Bot) -> bool:
    """Every request on the stream handled (a worker deletes an entry when it acknowledges it)."""
    return bot.store.queue_depth() == 0


def measure_memory(sandbox: SandboxServer, bot: Bot, folder: Path, mentions: int) -> list[Row]:
    """Peak RSS of one worker after `mentions` mentions against its RSS once warm; Redis bytes per thread."""
    world = sandbox.world
    world.set_posting_rules(duplicate_check=False)  # the same readers ask for the same threads all day
    threads = [add_thread(world, f"memory_{i}", size) for i, size in enumerate(MEMORY_THREADS)]
    readers = [ensure_user(world, f"mem_reader{i}", name="Reader") for i in range(READERS)]
    for ids in threads:  # each thread resolved once while the world is small: X searches do not slow down
        add_mentions(world, ids[-1], [readers[0].username])
    poll_once(bot)
    with workers(bot, 1, folder) as group:
        wait_until(lambda: drained(bot), group, DONE_TIMEOUT, "the first mentions")
        enqueue(bot, sandbox, threads, readers, WARM_UP)
        wait_until(lambda: drained(bot), group, DONE_TIMEOUT, "the warm-up mentions")
        warm = group.rss()
        began = time.monotonic()
        enqueue(bot, sandbox, threads, readers, mentions)
        wait_until(lambda: drained(bot), group, DONE_TIMEOUT, f"{mentions} mentions")
        seconds = time.monotonic() - began
        peak = group.rss("VmHWM")
    replies = len(world.posted())
    if replies != len(threads) + WARM_UP + mentions:
        raise RuntimeError(f"memory: {len(threads) + WARM_UP + mentions} mentions but {replies} replies")
    log.info("bench_memory", mentions=mentions, seconds=seconds, warm=warm, peak=peak)
    rows = [
        Row(
            f"memory · worker peak RSS after {mentions:,} mentions",
            peak / MIB,
            warm / MIB,
            "MiB",
            Goal("ideal", 1.0),
            1,
            f"(after {WARM_UP})",
        )
    ]
    for size, ids in sorted({len(ids): ids for ids in threads}.items()):
        key = bot.store.key("thread", ids[0])
        stored = bot.store.redis.memory_usage(key)
        raw = bot.store.redis.get(key)
        if stored is None or raw is None:
            raise RuntimeError(f"the {size}-post thread is not in Redis")
        rows.append(
            Row(
                f"memory · Redis bytes per stored {size}-post thread",
                float(stored),
                float(len(raw if isinstance(raw, bytes) else raw.encode())),
                "B",
                Goal("ideal", 1.0),
                0,
                "(its JSON)",
            )
        )
    return rows


def enqueue(bot: Bot, sandbox: SandboxServer, threads: list[list[str]], readers: list[UserRef], count: int) -> None:
    """`count` new mentions, round robin over the threads and readers, put on the stream in batches."""
    batch = []
    for index in range(count):
        under = threads[index % len(threads)][-1]
        reader = readers[index % len(readers)]
        mention = add_mentions(sandbox.world, under, [reader.username])[0]
        batch.append(request_for(mention, reader, under))
        if len(batch) == ENQUEUE_BATCH or index == count - 1:
            bot.store.enqueue(batch)
            batch = []


def measure_scale(bench: Bench, per_worker: int, latency: float) -> list[Row]:
    """Mentions per second with 1, 2 and 4 workers handling one request at a time, then one worker handling
    UNROLL_WORKER_CONCURRENCY at a time, each answering a burst of mentions under new short threads (`per_worker`
    per request handled at once), the sandbox adding `latency` to every request; each against one worker one at a
    time."""
    concurrency = bench.base.worker_concurrency
    rates: dict[tuple[int, int], float] = {}
    for count, lanes in ((1, 1), (2, 1), (4, 1), (1, concurrency)):
        bench.fresh_world()
        settings = bench.settings(f"scale{count}x{lanes}").model_copy(update={"worker_concurrency": lanes})
        bot = bench.bot(settings)
        rates[count, lanes] = burst(bench.sandbox, bot, bench.folder, count, per_worker * count * lanes, latency)
    log.info("bench_scale", rates={f"{c}x{n}": rate for (c, n), rate in rates.items()}, latency=latency)
    per_request = f"{latency * 1000:.0f} ms per request"
    return [
        Row(
            f"scale · mentions / s, {count} worker{'s' if count > 1 else ''}"
            + (f" ({per_request})" if lanes == 1 else f", {lanes} at a time ({per_request})"),
            rate,
            rates[1, 1],
            "/s",
            Goal("ideal", float(count * lanes)),
            1,
            "(1 worker)",
        )
        for (count, lanes), rate in rates.items()
    ]


def burst(sandbox: SandboxServer, bot: Bot, folder: Path, count: int, mentions: int, latency: float) -> float:
    """Mentions per second for `count` workers answering `mentions` queued at once by one poll."""
    world = sandbox.world
    for index in range(mentions):
        ids = add_thread(world, f"scale_{index}", SCALE_THREAD)
        add_mentions(world, ids[-1], [f"scale_reader{index}"])
    with workers(bot, count, folder) as group:
        world.set_latency(latency)
        try:
            poll_once(bot)
            began = time.monotonic()
            wait_until(lambda: drained(bot), group, DONE_TIMEOUT, f"{mentions} mentions by {count} worker(s)")
            seconds = time.monotonic() - began
        finally:
            world.set_latency(0.0)
    replies = len(world.posted())
    if replies != mentions:
        raise RuntimeError(f"scale: {mentions} mentions but {replies} replies")
    return mentions / seconds
