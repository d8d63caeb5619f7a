"""Counters shared by every process (metrics, spending), read by the web process at scrape time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import cast

from bot.store.base import REPLY_RECORD_TTL, StoreBase, _window_field
from bot.store.counters import Counters


class MetricsStore(StoreBase):
    """Counters shared by every process (metrics, spending), read by the web process at scrape time."""

    # --- spending and metrics ----------------------------------------------------------------------
    # Counters shared by every process (poller, workers, web); the web process reads them at scrape time.
    # A counter's labels are kept as one hash field, their values joined by a tab.
    SPEND_TTL = 40 * 24 * 3600  # a day's spending tally is kept a little over a month
    USERS_READ_TTL = 2 * 24 * 3600  # the users and posts read on a UTC day, while that day's reads may still come in

    # Every write here goes through `_write`: held while a request runs (`batched()`), sent with its own writes.
    def count(self, family: str, labels: tuple[str, ...] = (), by: int = 1) -> None:
        """Add `by` to a counter of a metric family, one counter per tuple of label values."""
        key, field = self.key("metrics", family), "\t".join(labels)
        self._write(lambda batch: batch.incr(key, field, by))

    def count_once(
        self,
        token: str,
        family: str,
        labels: tuple[str, ...] = (),
        *,
        observe: tuple[str, str, float] | None = None,
        ttl: int = REPLY_RECORD_TTL,
    ) -> None:
        """Count under `token` only the first time it is seen (a redelivered request is not counted twice),
        and only then add `observe` (histogram family, bucket, value)."""
        key, field = self.key("metrics", family), "\t".join(labels)

        def first(batch: Counters) -> None:
            batch.incr(key, field)
            if observe is not None:
                self._observe_on(batch, *observe)

        self._write(lambda batch: batch.once(self.key("metrics", "counted", token), ttl, first))

    def counters(self, family: str) -> dict[tuple[str, ...], int]:
        """Every counter of a metric family by its label values."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("metrics", family)))
        return {(tuple(labels.split("\t")) if labels else ()): int(value) for labels, value in raw.items()}

    def observe(self, family: str, bucket: str, value: float) -> None:
        """Add one observation to a histogram: its bucket (as the caller names it), the sum and the count."""
        self._write(lambda batch: self._observe_on(batch, family, bucket, value))

    def _observe_on(self, batch: Counters, family: str, bucket: str, value: float) -> None:
        key = self.key("metrics", family)
        batch.incr(key, f"bucket:{bucket}")
        batch.incr_float(key, "sum", value)
        batch.incr(key, "count")

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
        """Count one X API response and keep the windows it showed (it is on the hot path: held when batched)."""

        def write(batch: Counters) -> None:
            batch.incr(self.key("metrics", "api_requests"), f"{endpoint}\t{status}")
            if posted:
                batch.incr(self.key("metrics", "replies_posted"), "")
            for name, window in windows.items():
                batch.set(self.key("metrics", "windows"), name, _window_field(*window))

        self._write(write)

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

    def add_spend(self, day: str, counts: dict[str, int], users: Iterable[str] = (), posts: Iterable[str] = ()) -> None:
        """Add billed items (posts read, posts written…) to a UTC day's tally and to the all-time counters.
        `users`, `posts`: the ids of the users and posts read, each counted once a UTC day, as X bills them
        (`user_read` and `post_read` in `counts` are then left to them)."""
        users, posts = list(users), list(posts)
        counts = {
            kind: n
            for kind, n in counts.items()
            if n and not (users and kind == "user_read") and not (posts and kind == "post_read")
        }
        if not counts and not users and not posts:
            return

        tallies = (self.key("spend", day), self.key("metrics", "billed"))  # the day's and the all-time one

        def write(batch: Counters) -> None:
            for kind, n in counts.items():
                for tally in tallies:
                    batch.incr(tally, kind, n)
            for kind, ids, read in (("user_read", users, "users-read"), ("post_read", posts, "posts-read")):
                if ids:  # each id counted once a day: the ones new to that day's set
                    batch.add_new(self.key(read, day), ids, [(tally, kind) for tally in tallies])
                    batch.expire(self.key(read, day), self.USERS_READ_TTL)
            batch.expire(self.key("spend", day), self.SPEND_TTL)

        self._write(write)

    def spend(self, day: str) -> dict[str, int]:
        """A UTC day's billed items by kind (`day` as YYYY-MM-DD)."""
        raw = cast(dict[str, str], self.redis.hgetall(self.key("spend", day)))
        return {kind: int(n) for kind, n in raw.items()}

    def dead_count(self) -> int:
        """How many requests sit in the dead-letter stream."""
        return int(self.redis.xlen(self.dead_stream))
