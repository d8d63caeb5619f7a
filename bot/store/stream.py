"""The poll cursor and the work stream: enqueue with the cursor, consumer-group reads, claims, dead letters."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import redis
import structlog

from bot.errors import PollTakenOver
from bot.models import UnrollRequest, utcnow
from bot.store.base import GROUP, Lock, StoreBase, T, held_by_another

log = structlog.get_logger(__name__)


# A range of mentions beyond the timeline's reach, still to be searched for: from the cursor (an id, exclusive) or,
# at the very first poll, from the look-back's start (a time, inclusive), up to the oldest mention read (an id,
# exclusive).
MentionGap = tuple[str | datetime, str]


def _gap(member: str) -> MentionGap:
    """A range of mentions from its member of the `mention-gaps` set (`_gap_member`): the upper end, an id, after
    the last colon (a time has colons of its own)."""
    since, _, until = member.rpartition(":")
    return (since if since.isdigit() else datetime.fromisoformat(since)), until


def _gap_member(gap: MentionGap) -> str:
    since, until = gap
    return f"{since.isoformat() if isinstance(since, datetime) else since}:{until}"


@dataclass(frozen=True)
class PagingGap:
    """Mentions a poll could not page down to (the timeline failed after its first pages), read from the timeline
    at the next poll: from `since` (the cursor then, an id, exclusive; or at the very first poll the look-back's
    start, a time) up to `until`, the oldest mention read (exclusive). `newer`: how many mentions above `until`
    have been read since, against the timeline's reach (the latest 800). At most one is kept at a time."""

    since: str | datetime
    until: str
    newer: int

    def to_json(self) -> str:
        since = self.since.isoformat() if isinstance(self.since, datetime) else self.since
        return json.dumps({"since": since, "until": self.until, "newer": self.newer})

    @classmethod
    def from_json(cls, raw: str | None) -> PagingGap | None:
        if not raw:
            return None
        data = json.loads(raw)
        since = data["since"]
        return cls(since if since.isdigit() else datetime.fromisoformat(since), data["until"], int(data["newer"]))


# Seconds a poll's requests are remembered by mention id: X lets a post be edited for 30 minutes, and an edit
# of a summon (a new id) is no second summon (`Store.summoned`).
SUMMONS_KEPT = 6 * 3600


# A poll's writes, one step, unless another poller holds the poller lock now (a poller held up past it, a paused
# process, writes nothing: that poller read and queued those mentions meanwhile, and moved the cursor on).
# Forget the gaps searched again and note those left; count each request for its reader (once per mention) and
# queue it unless the reader is over the limit, noting it summoned; note the poll's time and the paging gap; move
# the cursor, never back (ids compared as decimal strings: Lua's numbers hold 53 bits), last, so that a failure
# part-way leaves it where it was (the mentions are read again, a request queued twice is answered once); give
# the lock back. KEYS: the stream, the cursor, summons, last poll, mention gaps, paging gap, the poller lock, then
# each request's requester key. ARGV: limit (0: none), the requester key's ttl, the new cursor ('' to leave it),
# the lock's token ('' for none: no check), the poll's time as a score and what is older than summons kept, as
# ISO, the paging gap's fate ('keep', 'set', 'del') and JSON, the count of gaps searched then each, the count of
# gaps kept then each, then each request's mention id and JSON. Returns {0} when the lock is another's, else {1,
# the mention ids refused}.
POLL_WRITE = f"""
local limit, ttl, cursor, token = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
if {held_by_another("KEYS[7]", "token")} then return {{0}} end
local at = 10
local searched = tonumber(ARGV[at])
for i = 1, searched do redis.call('SREM', KEYS[5], ARGV[at + i]) end
at = at + searched + 1
local kept = tonumber(ARGV[at])
for i = 1, kept do redis.call('SADD', KEYS[5], ARGV[at + i]) end
at = at + kept
local refused, queued = {{}}, {{}}
for i = 8, #KEYS do
  local mention, request, over = ARGV[at + 1], ARGV[at + 2], false
  at = at + 2
  -- Taken by a poll already (one held up past its lock, whose taker gave the lock back): never queued twice.
  if not redis.call('ZSCORE', KEYS[3], mention) then
    if limit > 0 then
      redis.call('SADD', KEYS[i], mention)
      redis.call('EXPIRE', KEYS[i], ttl)
      over = redis.call('SCARD', KEYS[i]) > limit
    end
    if over then
      refused[#refused + 1] = mention
    else
      redis.call('XADD', KEYS[1], '*', 'request', request, 'mention_id', mention)
      queued[#queued + 1] = mention
    end
    redis.call('ZADD', KEYS[3], ARGV[5], mention)
  end
end
if #KEYS >= 8 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[6]) end
redis.call('SET', KEYS[4], ARGV[7])
if ARGV[8] == 'set' then redis.call('SET', KEYS[6], ARGV[9]) elseif ARGV[8] == 'del' then redis.call('DEL', KEYS[6]) end
if cursor ~= '' then
  local now = redis.call('GET', KEYS[2])
  if not now or #cursor > #now or (#cursor == #now and cursor > now) then redis.call('SET', KEYS[2], cursor) end
end
if token ~= '' and redis.call('GET', KEYS[7]) == token then redis.call('DEL', KEYS[7]) end
return {{1, refused, queued}}
"""


class QueuedPoll(NamedTuple):
    """What a poll's last write did with its requests: refused for the requester limit, or queued (the rest were
    taken by a poll already)."""

    refused: list[str]
    queued: list[str]


class Taking:
    """`take`'s read queued on the poll's last write (`queue_poll(take=…)`), for a process that polls and then
    works (`run --once`): the requests it queued come back taken, without a round trip of their own. `taken`
    stays None when the read did not run or failed; the worker then takes as it always does."""

    def __init__(self, store: StreamStore, consumer: str, min_idle_ms: int, count: int) -> None:
        self.store, self.consumer, self.min_idle_ms, self.count = store, consumer, min_idle_ms, count
        self.taken: tuple[list[tuple[str, UnrollRequest]], bool] | None = None

    def queue(self, pipe: Any) -> None:
        self.store._take_on(pipe, self.consumer, self.min_idle_ms, self.count)

    def received(self, claimed: Any, fresh: Any) -> None:
        if not isinstance(claimed, Exception) and not isinstance(fresh, Exception):
            self.taken = self.store._taken(claimed, fresh, self.count)


@dataclass(frozen=True)
class Queued:
    """A request waiting on the work stream: who holds it (None: not taken yet), how often it was delivered, and
    how long since."""

    entry_id: str
    taken_by: str | None
    deliveries: int
    idle_s: float


class StreamStore(StoreBase):
    """The poll cursor and the work stream: enqueue with the cursor, consumer-group reads, claims, dead letters."""

    # --- poll cursor and work stream ---------------------------------------------------------------
    def get_cursor(self) -> str | None:
        return cast(str | None, self.redis.get(self.key("cursor")))

    def begin_poll(self, timeout: float) -> tuple[Lock | None, str | None, list[MentionGap], PagingGap | None]:
        """Take the poller lock and read the cursor in one round trip: (the lock, or None when another poller
        holds it; the cursor; the gaps of mentions beyond the timeline's reach that wait for a search; the mentions
        an earlier poll could not page down to). The lock goes back with the poll's `queue_poll`."""
        lock = self.lock("poller", timeout)

        def reads(pipe: Any) -> None:
            pipe.get(self.key("cursor"))
            pipe.smembers(self.key("mention-gaps"))
            pipe.get(self.key("mention-paging"))

        got, (cursor, gaps, paging) = lock.acquire_with(reads)
        return (lock if got else None), cast(str | None, cursor), self._gaps(gaps), PagingGap.from_json(paging)

    def paging_gap(self) -> PagingGap | None:
        """The mentions an earlier poll could not page down to, read at the next poll (`PagingGap`)."""
        return PagingGap.from_json(cast(str | None, self.redis.get(self.key("mention-paging"))))

    def mention_gaps(self) -> list[MentionGap]:
        """Ranges of mentions beyond the timeline's reach that wait for a search (`MentionGap`), oldest first."""
        return self._gaps(cast(set[str], self.redis.smembers(self.key("mention-gaps"))))

    @staticmethod
    def _gaps(members: set[str]) -> list[MentionGap]:
        return sorted(map(_gap, members), key=lambda gap: int(gap[1]))  # oldest first

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
        """Put requests on the stream and move the poll cursor in one transaction: both or neither.
        (A poll's own last write is `queue_poll`.)"""
        self.ensure_group()
        pipe = self.redis.pipeline(transaction=True)
        for request in requests:
            pipe.xadd(self.stream, {"request": request.model_dump_json(), "mention_id": request.mention_id})
        if cursor is not None:
            pipe.set(self.key("cursor"), cursor)
        results = pipe.execute()
        return [str(r) for r in (results[:-1] if cursor is not None else results)]

    def queue_poll(
        self,
        requests: list[UnrollRequest],
        *,
        cursor: str | None,
        polled_at: datetime,
        release: Lock | None,
        limit: int,
        window: float,
        gaps_searched: Sequence[MentionGap] = (),
        gaps_kept: Sequence[MentionGap] = (),
        paging: PagingGap | bool | None = False,
        take: Taking | None = None,
    ) -> QueuedPoll:
        """A poll's last write, one transaction: each request counted for its reader in the current window and
        put on the stream unless that reader is over `limit` (0: no limit) or a poll took it already, the cursor
        moved, the poll's time and held counters, the gaps of mentions it searched again forgotten and those left to
        search noted, the poller lock given back; then `take`'s read, when given (answered on it). `paging`: the
        mentions left to page down to, kept (a `PagingGap`), done with (None), or as they were (False). Returns
        the mentions refused for the limit and those queued."""
        self.ensure_group()
        bucket = str(int(polled_at.timestamp() // window))
        token = release.hand_over() if release is not None else None
        lock = release.name if release is not None else self.key("lock", "poller")
        keys = [
            self.stream,
            self.key("cursor"),
            self.key("summons"),  # (refused requests too: a summon all the same, which an edit must not repeat)
            self.key("last-poll"),
            self.key("mention-gaps"),
            self.key("mention-paging"),
            lock,
            *(self.key("requester", r.requester_id, bucket) for r in requests),
        ]
        fate = "set" if isinstance(paging, PagingGap) else "del" if paging is None else "keep"
        now = polled_at.timestamp()
        args: list[str | int | float | bytes] = [limit, int(window) + 1, cursor or "", token or ""]
        gap = paging.to_json() if isinstance(paging, PagingGap) else ""
        args += [now, now - SUMMONS_KEPT, polled_at.isoformat(), fate, gap]
        args += [len(gaps_searched), *map(_gap_member, gaps_searched), len(gaps_kept), *map(_gap_member, gaps_kept)]
        for request in requests:
            args += [request.mention_id, request.model_dump_json()]
        pipe = self.redis.pipeline(transaction=True)
        pipe.eval(POLL_WRITE, len(keys), *keys, *args)
        answers = self._execute_with_held(pipe, after=take.queue if take is not None else None)
        if take is not None:
            take.received(*answers[-2:])
        if not answers[0][0]:
            raise PollTakenOver("the poller lock is another poller's now (this poll was held up past it)")
        return QueuedPoll([str(m) for m in answers[0][1]], [str(m) for m in answers[0][2]])

    def taking(self, consumer: str, min_idle_ms: int, count: int = 10) -> Taking:
        """`take`'s read, to queue on the poll's last write (`queue_poll(take=…)`)."""
        return Taking(self, consumer, min_idle_ms, count)

    def summoned(self, mention_ids: Sequence[str]) -> set[str]:
        """Which of these mentions were requests: taken by a poll within `SUMMONS_KEPT`, or with a record of
        their handling (answered, or ignored for a reason other than naming no keyword)."""
        pipe = self.redis.pipeline(transaction=False)
        for mention in mention_ids:
            pipe.zscore(self.key("summons"), mention)
            pipe.hexists(self.key("handled", "records"), mention)
        found = pipe.execute()
        return {m for i, m in enumerate(mention_ids) if found[2 * i] is not None or found[2 * i + 1]}

    def take(
        self, consumer: str, min_idle_ms: int, count: int = 10, block_ms: int | None = None
    ) -> tuple[list[tuple[str, UnrollRequest]], bool]:
        """Requests for this consumer: those other consumers left idle longer than `min_idle_ms` (their worker
        died), then new ones, up to `count` of each in one round trip; waits up to `block_ms` for a new one
        when there is none. Also says whether more may be waiting (a full batch of either kind)."""

        def both() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            self._take_on(pipe, consumer, min_idle_ms, count)
            return pipe.execute()

        claimed, fresh = self._grouped(both)
        entries, more = self._taken(claimed, fresh, count)
        if not entries and block_ms:
            entries = self.read(consumer, count=count, block_ms=block_ms)
        return entries, more

    def _take_on(self, pipe: Any, consumer: str, min_idle_ms: int, count: int) -> None:
        pipe.xautoclaim(self.stream, GROUP, consumer, min_idle_ms, "0-0", count=count)
        pipe.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count)

    def _taken(self, claimed: Any, fresh: Any, count: int) -> tuple[list[tuple[str, UnrollRequest]], bool]:
        """`_take_on`'s answers: the stale requests claimed, then the new ones; whether more may be waiting."""
        stale, new = self._entries(claimed[1]), self._entries(fresh[0][1] if fresh else [])
        if stale:
            log.info("requests_claimed", count=len(stale))
        more = len(claimed[1]) >= count or len(fresh[0][1] if fresh else []) >= count
        return stale + new, more

    def read(self, consumer: str, count: int = 1, block_ms: int | None = None) -> list[tuple[str, UnrollRequest]]:
        """New requests for this consumer (they stay pending until acked)."""
        reply: Any = self._grouped(
            lambda: self.redis.xreadgroup(GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms)
        )
        return self._entries(reply[0][1] if reply else [])

    def keep_claim(self, consumer: str, entry_id: str) -> None:
        """Reset the idle time of a request we are still working on, so nobody claims it."""
        self.redis.xclaim(self.stream, GROUP, consumer, 0, [entry_id], justid=True)

    def claimable_at(self, consumer: str, entry_id: str | list[str], when: datetime, visibility_ms: int) -> None:
        """Leave a pending request so that any worker may claim it from `when` on (a rate-limit window's reset)
        rather than a whole visibility timeout after now: its idle time is set to what reaches the timeout then.
        Past the timeout, the usual claim comes first, and the request is deferred again until `when`."""
        ahead_ms = max(int((when - utcnow()).total_seconds() * 1000), 0)
        idle = max(visibility_ms - ahead_ms, 0)
        ids: list[Any] = [entry_id] if isinstance(entry_id, str) else list(entry_id)
        self.redis.xclaim(self.stream, GROUP, consumer, 0, ids, idle=idle, justid=True)

    def deliveries(self, entry_id: str) -> int:
        """How many times this entry has been delivered (1 on the first attempt)."""
        info = self._pending_of(entry_id)
        return int(info[0]["times_delivered"]) if info else 0

    def held_by_others(self, consumer: str) -> int:
        """Requests taken and not finished by consumers other than `consumer` (other workers or runs, live or
        stopped: a stopped one's are claimable once idle for the visibility timeout)."""
        summary = self._pending_summary()
        return sum(int(c["pending"]) for c in summary.get("consumers") or [] if str(c["name"]) != consumer)

    def pending_count(self) -> int:
        return int(self._pending_summary().get("pending") or 0)

    def _pending_summary(self) -> Any:
        """XPENDING's summary of the group: pending entries in all, and per consumer ({} without the group)."""
        return self._grouped(lambda: self.redis.xpending(self.stream, GROUP)) or {}

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

    def forget_consumer(self, name: str) -> bool:
        """Forget one consumer of the group, when it holds nothing (`run --once` ending: a consumer is named per
        process, and a cron deployment would leave one a run, forever); whether it was forgotten. One holding
        requests stays: forgetting it would drop them from the group's pending list, claimable by no one."""
        pending: Any = self._grouped(
            lambda: self.redis.xpending_range(self.stream, GROUP, min="-", max="+", count=1, consumername=name)
        )
        if pending:
            return False
        self.redis.xgroup_delconsumer(self.stream, GROUP, name)
        return True

    def prune_consumers(self, idle_ms: int) -> list[str]:
        """Forget the group's consumers that hold nothing and have been silent for `idle_ms` (workers stopped or
        killed long ago: each restart names a new one); returns their names."""
        consumers: Any = self._grouped(lambda: self.redis.xinfo_consumers(self.stream, GROUP))
        gone = [str(c["name"]) for c in consumers if int(c["pending"]) == 0 and int(c["idle"]) >= idle_ms]
        for name in gone:
            self.redis.xgroup_delconsumer(self.stream, GROUP, name)
        return gone

    def find_queued(self, mention_id: str, *, chunk: int = 1000) -> Queued | None:
        """Where a mention's request waits on the work stream (taken by a worker or not), scanning it oldest
        first; None when it is not there (never queued, handled, or a dead letter)."""
        start = "-"
        while True:
            entries: Any = self.redis.xrange(self.stream, min=start, count=chunk)
            for entry_id, fields in entries:
                if fields and fields.get("mention_id") == mention_id:
                    pending = self._pending_of(str(entry_id))
                    taken = pending[0] if pending else None
                    return Queued(
                        entry_id=str(entry_id),
                        taken_by=str(taken["consumer"]) if taken else None,
                        deliveries=int(taken["times_delivered"]) if taken else 0,
                        idle_s=int(taken["time_since_delivered"]) / 1000 if taken else 0.0,
                    )
            if len(entries) < chunk:
                return None
            start = f"({entries[-1][0]}"

    def _pending_of(self, entry_id: str) -> Any:
        """The pending-entries list's line of one entry (empty when nobody holds it)."""
        return self._grouped(lambda: self.redis.xpending_range(self.stream, GROUP, min=entry_id, max=entry_id, count=1))

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

    def requeue_one(self, entry: dict[str, str]) -> None:
        """Put one dead letter (as `dead_letters()` lists it) back on the work stream, with fresh attempts (that
        start from what the earlier ones read; its record counts what they spent)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(self.stream, {"request": entry["request"], "mention_id": entry["mention_id"]})
        pipe.xdel(self.dead_stream, entry["entry_id"])
        pipe.delete(self.key("failures", entry["mention_id"]))
        pipe.execute()
