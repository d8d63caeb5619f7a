"""Counters shared by every process (metrics, spending), read by the web process at scrape time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

from bot.store.base import REPLY_RECORD_TTL, StoreBase, _window_field


class MetricsStore(StoreBase):
    """Counters shared by every process (metrics, spending), read by the web process at scrape time."""

    # --- spending and metrics ----------------------------------------------------------------------
    # Counters shared by every process (poller, workers, web); the web process reads them at scrape time.
    # A counter's labels are kept as one hash field, their values joined by a tab.
    SPEND_TTL = 40 * 24 * 3600  # a day's spending tally is kept a little over a month

    def count(self, family: str, labels: tuple[str, ...] = (), by: int = 1) -> None:
        """Add `by` to a counter of a metric family, one counter per tuple of label values."""
        self.redis.hincrby(self.key("metrics", family), "\t".join(labels), by)

    def count_once(self, token: str, family: str, labels: tuple[str, ...] = (), ttl: int = REPLY_RECORD_TTL) -> bool:
        """Count under `token` only the first time it is seen (a redelivered request is not counted twice)."""
        if not self.redis.set(self.key("metrics", "counted", token), "1", nx=True, ex=ttl):
            return False
        self.count(family, labels)
        return True

    def counters(self, family: str) -> dict[tuple[str, ...], int]:
        """Every counter of a metric family by its label values."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("metrics", family)))
        return {(tuple(labels.split("\t")) if labels else ()): int(value) for labels, value in raw.items()}

    def observe(self, family: str, bucket: str, value: float) -> None:
        """Add one observation to a histogram: its bucket (as the caller names it), the sum and the count."""
        key = self.key("metrics", family)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, f"bucket:{bucket}", 1)
        pipe.hincrbyfloat(key, "sum", value)
        pipe.hincrby(key, "count", 1)
        pipe.execute()

    def observations(self, family: str) -> dict[str, float]:
        """A histogram's fields: `bucket:<name>` counts (not cumulative), `sum` and `count`."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("metrics", family)))
        return {name: float(value) for name, value in raw.items()}

    def set_window(self, endpoint: str, limit: int | None, remaining: int | None, reset_at: datetime | None) -> None:
        """The last rate-limit window seen for an endpoint, by whichever process called it."""
        self.redis.hset(self.key("metrics", "windows"), endpoint, _window_field(limit, remaining, reset_at))

    def api_response(
        self,
        endpoint: str,
        status: int,
        *,
        posted: bool,
        windows: Mapping[str, tuple[int | None, int | None, datetime | None]],
    ) -> None:
        """Count one X API response and keep the windows it showed, in one round trip (it is on the hot path)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.key("metrics", "api_requests"), f"{endpoint}\t{status}", 1)
        if posted:
            pipe.hincrby(self.key("metrics", "replies_posted"), "", 1)
        if windows:
            fields = {name: _window_field(*w) for name, w in windows.items()}
            pipe.hset(self.key("metrics", "windows"), mapping=cast(Any, fields))  # redis-py's stubs are too narrow
        pipe.execute()

    def windows(self) -> dict[str, tuple[int | None, int | None, datetime | None]]:
        """The last rate-limit window seen for each endpoint: (limit, remaining, reset time)."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("metrics", "windows")))
        out: dict[str, tuple[int | None, int | None, datetime | None]] = {}
        for endpoint, value in raw.items():
            limit, remaining, reset = ([*value.split("\t"), "", ""])[:3]
            out[endpoint] = (
                int(limit) if limit else None,
                int(remaining) if remaining else None,
                datetime.fromtimestamp(int(reset), UTC) if reset else None,
            )
        return out

    def add_spend(self, day: str, counts: dict[str, int]) -> None:
        """Add billed items (posts read, posts written…) to a UTC day's tally and to the all-time counters."""
        counts = {kind: n for kind, n in counts.items() if n}
        if not counts:
            return
        pipe = self.redis.pipeline(transaction=True)
        for kind, n in counts.items():
            pipe.hincrby(self.key("spend", day), kind, n)
            pipe.hincrby(self.key("metrics", "billed"), kind, n)
        pipe.expire(self.key("spend", day), self.SPEND_TTL)
        pipe.execute()

    def spend(self, day: str) -> dict[str, int]:
        """A UTC day's billed items by kind (`day` as YYYY-MM-DD)."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("spend", day)))
        return {kind: int(n) for kind, n in raw.items()}

    def dead_count(self) -> int:
        """How many requests sit in the dead-letter stream."""
        return int(self.redis.xlen(self.dead_stream))
