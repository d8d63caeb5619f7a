"""`python -m bot bench --only budget`: where the bot's time per poll + mention goes, section by section, next
to bare tweepy's (the overhead measure's floor), so a change aimed at the overhead goal can be judged by the
line it should move.

The overhead measure's rounds run again in a child process whose bot has its parts timed: each section is a
set of functions (requests' and tweepy's request for HTTP, redis-py's command and pipeline calls for Redis,
the store's methods, pydantic's validation and dumps, the log calls, the thread's text, the HTTP hooks, the
spending tally, the X API adapter), wrapped in place so that a section's time is its own, nested sections
taken out; whatever is left is the bot's own logic (worker, resolver, poller, reply). Only the thread running
the round is timed (the renewal thread's calls are not its time). The wrapping costs a little time itself,
so the totals run above the overhead measure's; the sections are what compare.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import redis
import redis.client
import requests
import structlog
import tweepy

import bot.store  # noqa: F401  (every bot.store module loaded, so that its classes are found)
from bot import metrics, spending, tweettext, xapi

HTTP = "HTTP: tweepy's request and below, the sandbox's answer"
REDIS = "Redis round trips, client work included"
REST = "the rest: the bot's own logic; the floor's reading of calls and JSON"
STORE = "the store's commands built (keys, arguments, JSON)"
MODELS = "pydantic: X's answers validated, records dumped"
TEXT = "the thread's text (entities, media, quotes)"
LOGS = "log lines (structlog and logging)"
HOOKS = "HTTP hooks (rate-limit headers, API metrics)"
ADAPTER = "the X API adapter and tweepy's methods"
SPENDING = "the spending tally"
ORDER = (HTTP, REDIS, REST, STORE, MODELS, TEXT, LOGS, HOOKS, ADAPTER, SPENDING)


class Sections:
    """Exclusive wall-clock time per section on one thread, while a side (`bot`, `floor`) is being timed."""

    def __init__(self) -> None:
        self.seconds: Counter[tuple[str, str]] = Counter()
        self.rounds: Counter[str] = Counter()
        self._stack: list[list[Any]] = []  # [section, seconds spent in sections nested inside]
        self._side: str | None = None
        self._owner = 0

    def timed(self, section: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._side is None or threading.get_ident() != self._owner:
            return call(*args, **kwargs)
        self._stack.append([section, 0.0])
        started = time.perf_counter()
        try:
            return call(*args, **kwargs)
        finally:
            spent = time.perf_counter() - started
            _, nested = self._stack.pop()
            self.seconds[(self._side, section)] += spent - nested
            if self._stack:
                self._stack[-1][1] += spent

    def around(self, side: str, call: Callable[..., Any], *args: Any) -> Any:
        """Run one round of `side`, its time outside every section counted as the rest."""
        self._side, self._owner = side, threading.get_ident()
        try:
            return self.timed(REST, call, *args)
        finally:
            self._side = None
            self.rounds[side] += 1

    def reset(self) -> None:
        """Forget what was timed so far (the warm-up round)."""
        self.seconds.clear()
        self.rounds.clear()

    def per_round(self) -> dict[str, dict[str, float]]:
        """Microseconds per round, by side and section."""
        return {
            side: {section: 1e6 * self.seconds[(side, section)] / rounds for section in ORDER}
            for side, rounds in self.rounds.items()
        }

    def wrap(self, owner: Any, name: str, section: str) -> None:
        """Time `owner.name` (a method, class method or module function) as `section`, wherever it is called."""
        raw = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name)
        if isinstance(raw, classmethod | staticmethod):
            function, kind = raw.__func__, type(raw)
            setattr(owner, name, kind(lambda *a, **k: self.timed(section, function, *a, **k)))
            return
        if raw is None or not callable(raw):
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            return self.timed(section, raw, *args, **kwargs)

        setattr(owner, name, timed)
        if not isinstance(owner, type):  # a module function: the modules that imported it by name too
            for module in list(sys.modules.values()):
                if getattr(module, "__name__", "").startswith("bot.") and getattr(module, name, None) is raw:
                    setattr(module, name, timed)


def _store_methods() -> Iterator[tuple[type, str]]:
    """Every method of every class the store's modules define (`bot.store.*`: the store, its locks, batches)."""
    for module in [m for name, m in sys.modules.items() if name == "bot.store" or name.startswith("bot.store.")]:
        for cls in [c for c in vars(module).values() if isinstance(c, type) and c.__module__ == module.__name__]:
            for name, value in vars(cls).items():
                if not name.startswith("__") and (callable(value) or isinstance(value, classmethod)):
                    yield cls, name


def install() -> Sections:
    """Wrap every section's functions in this process (for good: the child exits after the budget)."""
    sections = Sections()
    for owner, name in ((requests.Session, "request"), (tweepy.Client, "request")):
        sections.wrap(owner, name, HTTP)
    sections.wrap(redis.client.Pipeline, "execute", REDIS)
    sections.wrap(redis.Redis, "execute_command", REDIS)
    for owner, name in _store_methods():
        sections.wrap(owner, name, STORE)
    for name in ("model_validate_json", "model_validate", "model_dump_json", "model_dump"):
        sections.wrap(pydantic.BaseModel, name, MODELS)
    sections.wrap(tweettext, "thread_tweet", TEXT)
    for name in ("debug", "info", "warning", "error", "exception"):
        sections.wrap(structlog.stdlib.BoundLogger, name, LOGS)
    sections.wrap(xapi.XApi, "_observe", HOOKS)
    sections.wrap(metrics.ApiMetrics, "__call__", HOOKS)
    for name in ("_call", "mentions", "lookup", "_lookup_batch", "search", "post"):
        sections.wrap(xapi.XApi, name, ADAPTER)
    sections.wrap(tweepy.Client, "_make_request", ADAPTER)
    sections.wrap(spending, "record", SPENDING)
    return sections
