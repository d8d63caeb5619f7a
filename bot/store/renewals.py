"""Renewals: what must be renewed while a block of work runs (a lock's expiry, a claim's idle time).

One daemon thread per process runs every renewal due, so entering and leaving a block costs a dictionary
update, not a thread: a thread started and joined per request was the worker's largest cost after Redis
(measured by `python -m bot bench`). A renewal runs every `every` seconds, give or take `TICK`, while its
block runs, and never after the block has ended.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

TICK = 0.05  # seconds between the renewer's looks at what is due


@dataclass
class _Renewal:
    every: float
    actions: tuple[Callable[[], object], ...]
    due: float
    running: threading.Lock = field(default_factory=threading.Lock)  # held while its actions run
    ended: bool = False


class Renewer:
    """Runs each registered renewal every `every` seconds from one daemon thread, started on first use."""

    def __init__(self, tick: float = TICK) -> None:
        self.tick = tick
        self._renewals: dict[int, _Renewal] = {}
        self._ids = itertools.count()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @contextmanager
    def keep(self, every: float, *actions: Callable[[], object]) -> Iterator[None]:
        """Run `actions` every `every` seconds while the block runs."""
        key = next(self._ids)
        renewal = _Renewal(every, actions, time.monotonic() + every)
        with self._guard:
            self._renewals[key] = renewal
            self._start()
        try:
            yield
        finally:
            with renewal.running:  # waits for a renewal in progress: none runs after the block
                renewal.ended = True
            with self._guard:
                del self._renewals[key]

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()  # a forked child needs a thread of its own
        self._thread = threading.Thread(target=self._run, name="renewals", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._guard:
                due = [renewal for renewal in self._renewals.values() if renewal.due <= now]
            for renewal in due:
                self._renew(renewal, now)

    @staticmethod
    def _renew(renewal: _Renewal, now: float) -> None:
        with renewal.running:
            if renewal.ended:  # its block ended meanwhile
                return
            renewal.due = now + renewal.every
            for action in renewal.actions:
                try:
                    action()
                except Exception as exc:  # Redis hiccup: the next round tries again
                    log.warning("renewal_failed", error=str(exc))


RENEWER = Renewer()


def keep_alive(every: float, *actions: Callable[[], object]) -> AbstractContextManager[None]:
    """Run `actions` every `every` seconds while the block runs (renew locks and claims), from the process's
    one renewal thread."""
    return RENEWER.keep(every, *actions)
