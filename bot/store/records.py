"""Records: one reply per mention, handled requests (the audit log), poller health, shared rate limits."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from bot.errors import AnsweredElsewhere
from bot.models import HandledRequest, ReplyRecord, utcnow
from bot.store.base import DUPLICATE_WINDOW, GROUP, REPLY_RECORD_TTL, Lock, StoreBase, held_by_another

# What a try read stays kept for the request's next attempt (after a rate-limit wait, a failure or a worker's
# end): long enough for any window to reset; X bills a post read again the next UTC day anyway.
READS_TTL = 24 * 3600


Refusable = Literal["archive", "timelines", "to_operator"]  # full-archive search, users' timelines, search's `to:`


@dataclass
class Attempt:
    """What a request's attempt starts from, read with its mention's lock in one round trip."""

    lock: Lock | None  # None: another worker holds the mention
    failures: int = 0  # failed attempts so far (what the dead letter counts)
    tries: int = 1  # attempts begun, this one included (a rate-limit wait or a killed worker's try counts)
    record: ReplyRecord | None = None
    reads: str | None = None  # what earlier tries read, kept for this one (`note_attempt`)
    # What earlier, unfinished attempts spent (`note_attempt`): the audit record of the one that finishes counts it.
    spent_requests: int = 0
    spent_reads: int = 0
    answers: list[Any] = field(default_factory=list)  # of the commands `also` queued
    retry_at: datetime | None = None  # after a failed attempt, not tried again before this (`add_failure`)


@dataclass
class Reservation:
    """`reserve_text` made ahead, on the round trip of the thread's write (`save_thread`, `touch_thread`, with
    `reserve=`): the text, the keys and arguments of `RESERVE_TEXT`, and once that write ran, its answer (the
    mention holding the text, whether reserved now); None when it did not run (nothing written, or the author
    opted out), and the reply reserves its text itself."""

    mention_id: str
    text: str
    keys: tuple[str, str, str]
    args: tuple[str, int, str, int, bytes]
    answer: tuple[str, bool] | None = None

    def received(self, owner: Any, new: Any) -> tuple[str, bool]:
        """Note `RESERVE_TEXT`'s answer; returns it as `reserve_text` does."""
        self.answer = (str(owner or self.mention_id), bool(new))
        return self.answer


# What a reservation finds instead of reserving, while this worker was held up past its claim (a paused process):
# the mention's reply record says it has its reply (or a dry run's final word), set by another worker; or the
# mention's lock (the claim) is another worker's now, which may be about to post in other words (the thread went on:
# another post count), which X's duplicate check would not catch.
ANSWERED = "!answered"
TAKEN_OVER = "!taken"
_DONE = """(string.find(held, '"state":"replied"', 1, true) or string.find(held, '"state":"final"', 1, true))"""
_TAKEN = held_by_another("claim_key", "token")
# Reserve a reply text for a mention and, when the mention holds it, mark the mention "posting" — one step, also
# run inside the thread's save (`SAVE_THREAD`). Its locals: the text's key, the mention's reply record, the
# mention's lock, mention id, text window, "posting" record, its ttl, the lock's token ('' for none); it leaves
# `owner` (who holds the text, or ANSWERED / TAKEN_OVER as above: nothing reserved) and `new` (reserved now).
RESERVE_STEP = f"""
local owner, new = '{ANSWERED}', false
local held = redis.call('GET', record_key)
if {_TAKEN} then
  owner = '{TAKEN_OVER}'
elseif not (held and {_DONE}) then
  new = redis.call('SET', text_key, mention, 'NX', 'EX', window)
  owner = redis.call('GET', text_key)
  if owner == mention then redis.call('SET', record_key, posting, 'EX', record_ttl) end
end
"""
# KEYS: the text's key, the mention's reply record, the mention's lock; ARGV: mention id, text window, "posting"
# record, its ttl, the lock's token.
RESERVE_TEXT = (
    "local text_key, record_key, claim_key = KEYS[1], KEYS[2], KEYS[3]\n"
    + "local mention, window, posting, record_ttl, token = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]"
    + RESERVE_STEP
    + "return {owner, new and 1 or 0}"
)
# A "posting" record's post ended with no answer: the record says when, unless it says something else by now (another
# worker's reply). KEYS: the reply record; ARGV: the new record, its ttl.
POST_UNANSWERED = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['state'] == 'posting' then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end
"""
# Forget a mention's attempt X answered without posting: its reply record, and the text reserved for it (when it still
# holds it). KEYS: the reply record[, the text's key]; ARGV: the mention id.
CLEAR_POSTING = """
redis.call('DEL', KEYS[1])
if KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
"""
# The first of several texts a mention may post (held by nobody, or by it already), reserved, and the mention
# marked "posting" with it — one step. KEYS: the mention's reply record, its lock, then each text's key; ARGV:
# mention id, text window, the record's ttl, its time, the lock's token, then each text. The record is a
# `ReplyRecord` as JSON, written for the one text chosen (cjson: UTF-8 passes through, `/` comes out as `\/`,
# both read back as they were). Returns {0-based index or -1, new}; {-2, 0} when the record says the mention was
# answered meanwhile, {-3, 0} when its lock is another worker's now.
RESERVE_FIRST = f"""
local held, claim_key, token = redis.call('GET', KEYS[1]), KEYS[2], ARGV[5]
if {_TAKEN} then return {{-3, 0}} end
if held and {_DONE} then return {{-2, 0}} end
for i = 3, #KEYS do
  local new = redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[2])
  if new or redis.call('GET', KEYS[i]) == ARGV[1] then
    local record = cjson.encode({{state = 'posting', text = ARGV[i + 3], at = ARGV[4]}})
    redis.call('SET', KEYS[1], record, 'EX', ARGV[3])
    return {{i - 3, new and 1 or 0}}
  end
end
return {{-1, 0}}
"""
# Keep a handled request's audit record, dropping the oldest beyond the log's size; unless the mention's lock is
# another worker's now (this one was held up past its claim: that worker finishes the request, and records it), or
# that worker recorded this very request already (same request id) and gave the lock back.
# KEYS: the records hash, the order zset, the mention's lock; ARGV: mention id, record JSON, its time, the log's
# size, the lock's token ('' for no check), the request id ('' for none). Returns how many old records were
# dropped, or -1 when not recorded.
RECORD = f"""
if {held_by_another("KEYS[3]", "ARGV[5]")} then return -1 end
if ARGV[5] ~= '' and ARGV[6] ~= '' then
  local kept = redis.call('HGET', KEYS[1], ARGV[1])
  if kept and cjson.decode(kept)['request_id'] == ARGV[6] then return -1 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  for _, old in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do redis.call('HDEL', KEYS[1], old) end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
end
return excess
"""


class RecordStore(StoreBase):
    """Records: one reply per mention, handled requests (the audit log), poller health, shared rate limits."""

    # --- idempotency: one reply per mention -----------------------------------------------------------
    def reply_record(self, mention_id: str) -> ReplyRecord | None:
        raw = self.redis.get(self.key("reply", mention_id))
        return ReplyRecord.model_validate_json(raw) if raw else None

    def begin_attempt(self, mention_id: str, timeout: float, *, also: Callable[[Any], object] | None = None) -> Attempt:
        """Take the mention's lock and read what an attempt starts from, in one round trip: failed attempts so
        far, attempts begun, the reply record, what earlier tries read, and the answers of the commands `also`
        queued after those (e.g. the resolver's first read with the thread's lock)."""
        lock = self.lock(f"mention:{mention_id}", timeout)
        tries = self.key("tries", mention_id)

        def reads(pipe: Any) -> None:
            pipe.get(self.key("failures", mention_id))
            pipe.get(self.key("reply", mention_id))
            pipe.incr(tries)  # counted before the lock is known: given back below when it was not taken
            pipe.expire(tries, REPLY_RECORD_TTL)
            pipe.get(self.key("reads", mention_id))
            pipe.hgetall(self.key("attempt-usage", mention_id))
            pipe.get(self.key("retry-at", mention_id))
            if also is not None:
                also(pipe)

        got, (failures, raw, begun, _, kept, spent, retry, *more) = lock.acquire_with(reads)
        if not got:
            self.redis.decr(tries)  # not an attempt of this worker's: another one holds the mention
            return Attempt(None, answers=more)
        record = ReplyRecord.model_validate_json(raw) if raw else None
        requests, posts = int(spent.get("requests", 0)), int(spent.get("tweets_read", 0))
        retry_at = datetime.fromtimestamp(float(retry), UTC) if retry else None
        return Attempt(lock, int(failures or 0), int(begun), record, kept, requests, posts, more, retry_at)

    def give_back_try(self, mention_id: str) -> None:
        """Uncount an attempt that never asked X (it met a window known to be spent): a wait, not a try."""
        self.redis.decr(self.key("tries", mention_id))

    def note_attempt(self, mention_id: str, snapshot: str | None, requests: int, tweets_read: int) -> None:
        """An attempt left unfinished: what it read (`Reads.snapshot`), kept for the request's next attempt, and
        what it spent, in one round trip; both forgotten when the request finishes (kept for a requeue when it
        finishes as a dead letter)."""
        pipe = self.redis.pipeline(transaction=False)
        if snapshot is not None:
            pipe.set(self.key("reads", mention_id), snapshot, ex=READS_TTL)
        usage = self.key("attempt-usage", mention_id)
        pipe.hincrby(usage, "requests", requests)
        pipe.hincrby(usage, "tweets_read", tweets_read)
        pipe.expire(usage, REPLY_RECORD_TTL)
        pipe.execute()

    def post_unanswered(self, mention_id: str, text: str) -> None:
        """The mention's post of `text` ended with no answer to read (5xx, timeout): it stays "posting", and says
        when X made the post by, if it did (`ReplyRecord.made_by`). Kept only while the record still says so."""
        record = ReplyRecord(state="posting", text=text, ended_at=utcnow()).model_dump_json()
        self.redis.eval(POST_UNANSWERED, 1, self.key("reply", mention_id), record, REPLY_RECORD_TTL)

    def clear_posting(self, mention_id: str, text: str | None = None) -> None:
        """Forget an attempt X answered without posting (429, a refusal): the next attempt starts clean, and `text`,
        reserved for the mention (`reserve_text`), is its no more: X refusing it as a duplicate later would else be
        taken for this mention's own post gone through."""
        keys = [self.key("reply", mention_id), *([self._text_key(text)] if text is not None else [])]
        self.redis.eval(CLEAR_POSTING, len(keys), *keys, mention_id)

    def reserve_text(self, text: str, mention_id: str, *, claim: Lock | None = None) -> tuple[str, bool]:
        """Reserve a reply text for one mention for a day (X refuses the same text twice a day) and, when the
        mention holds it, mark the mention "posting" with it (uncertain until recorded), in one atomic step.

        Returns the mention that holds the text and whether this call reserved it, so a duplicate-content
        refusal can be told apart: our own earlier attempt went through, or the text belongs to another request.
        `claim`: the mention's lock as this attempt took it; nothing is reserved once it is another's
        (TAKEN_OVER), nor once the mention has its reply (ANSWERED).
        """
        ahead = self.reservation(text, mention_id, claim=claim)
        return ahead.received(*cast(list[Any], self.redis.eval(RESERVE_TEXT, 3, *ahead.keys, *ahead.args)))

    def reservation(self, text: str, mention_id: str, *, claim: Lock | None = None) -> Reservation:
        """`reserve_text`'s step, to run on the thread's write (`save_thread(reserve=…)`) instead of a round trip
        of its own."""
        posting = ReplyRecord(state="posting", text=text).model_dump_json()
        claim_key, token = self._fence(mention_id, claim)
        keys = (self._text_key(text), self.key("reply", mention_id), claim_key)
        args = (mention_id, DUPLICATE_WINDOW, posting, REPLY_RECORD_TTL, token)
        return Reservation(mention_id, text, keys, args)

    def reserve_first(
        self, texts: Sequence[str], mention_id: str, *, claim: Lock | None = None
    ) -> tuple[int | None, bool]:
        """`reserve_text` over several texts in one round trip: the first this mention may post (held by nobody,
        or by it already) is reserved and the mention marked "posting" with it. Returns its index and whether
        this call reserved it; (None, False) when other mentions hold them all. Raises AnsweredElsewhere as
        `reserve_text` answers ANSWERED or TAKEN_OVER."""
        if not texts:
            return None, False
        claim_key, token = self._fence(mention_id, claim)
        keys = [self.key("reply", mention_id), claim_key, *(self._text_key(text) for text in texts)]
        index, new = cast(
            list[int],
            self.redis.eval(
                RESERVE_FIRST,
                len(keys),
                *keys,
                mention_id,
                DUPLICATE_WINDOW,
                REPLY_RECORD_TTL,
                utcnow().isoformat(),
                token,
                *texts,
            ),
        )
        if index in (-2, -3):
            raise elsewhere(mention_id, ANSWERED if index == -2 else TAKEN_OVER)
        return (None, False) if index < 0 else (int(index), bool(new))

    def _fence(self, mention_id: str, claim: Lock | None) -> tuple[str, bytes]:
        """The mention's lock and this attempt's token for a reservation's check (no token: no check)."""
        return claim.fence() if claim is not None else (self.key("lock", f"mention:{mention_id}"), b"")

    def _text_key(self, text: str) -> str:
        return self.key("reply-text", hashlib.blake2b(text.encode(), digest_size=16).hexdigest())

    def mark_replied(self, mention_id: str, reply_id: str | None, text: str | None, state: str = "replied") -> None:
        """Note the reply the mention got. Held for the request's last write (`finish`) when writes are held: a
        crash in between leaves the record "posting", and the retry finds the reply among the bot's posts."""
        record = ReplyRecord(state=cast(Any, state), reply_id=reply_id, text=text).model_dump_json()
        key = self.key("reply", mention_id)
        self.hold(lambda pipe: pipe.set(key, record, ex=REPLY_RECORD_TTL))

    def failures(self, mention_id: str) -> int:
        """How many attempts at this request have failed so far."""
        return int(cast(str | None, self.redis.get(self.key("failures", mention_id))) or 0)

    def tries(self, mention_id: str) -> tuple[int, bool]:
        """Attempts begun at this request so far, and whether what they read is kept for the next one."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.key("tries", mention_id))
        pipe.exists(self.key("reads", mention_id))
        begun, kept = pipe.execute()
        return int(begun or 0), bool(kept)

    def add_failure(self, mention_id: str) -> int:
        pipe = self.redis.pipeline(transaction=True)
        pipe.incr(self.key("failures", mention_id))
        pipe.expire(self.key("failures", mention_id), REPLY_RECORD_TTL)
        return int(pipe.execute()[0])

    def retry_after(self, mention_id: str, when: datetime) -> None:
        """A failed request is not tried again before `when` (read by `begin_attempt`)."""
        self.redis.set(self.key("retry-at", mention_id), str(when.timestamp()), ex=REPLY_RECORD_TTL)

    def retry_at(self, mention_id: str) -> datetime | None:
        """When a request that failed an attempt may be tried again (`retry_after`), while that is ahead."""
        raw = cast(str | None, self.redis.get(self.key("retry-at", mention_id)))
        when = datetime.fromtimestamp(float(raw), UTC) if raw else None
        return when if when is not None and when > utcnow() else None

    # --- handled-request log ---------------------------------------------------------------------------
    def record(self, handled: HandledRequest) -> None:
        """Keep the audit record of a handled request; the oldest beyond the configured size are dropped."""
        self._record_on(self.redis.pipeline(transaction=False), handled).execute()

    def finish(self, handled: HandledRequest, entry_id: str | None, *, release: Lock | None = None) -> bool:
        """A request's last write, atomic: its audit record, the counters held while it ran, (for a request
        from the stream) its acknowledgement, and giving back its lock. Until this lands the request is
        retried; after, it is done. False when the record was not written: `release`, the mention's lock, is
        another worker's now (this one was held up past it; that one records the request)."""
        pipe = self.redis.pipeline(transaction=True)
        self._record_on(pipe, handled, release)
        # What earlier tries read, if any was kept, and the count of tries: done with. A dead letter may be requeued
        # (`requeue_one`): its attempts then start from what these read, and its record counts what these spent.
        mention = handled.mention_id
        usage = self.key("attempt-usage", mention)
        if handled.outcome == "dead_letter":
            pipe.delete(self.key("tries", mention))
            pipe.hset(usage, mapping={"requests": handled.api_requests, "tweets_read": handled.tweets_read})
            pipe.expire(usage, REPLY_RECORD_TTL)
        else:
            pipe.delete(self.key("reads", mention), self.key("tries", mention), usage)
        if entry_id is not None:
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
        if release is not None:
            release.release_on(pipe)
        return bool(self._execute_with_held(pipe)[0] != -1)

    def _record_on(self, pipe: Any, handled: HandledRequest, claim: Lock | None = None) -> Any:
        claim_key, token = self._fence(handled.mention_id, claim)
        keys = (self.key("handled", "records"), self.key("handled", "order"), claim_key)
        record = handled.model_dump_json()
        at, size = handled.handled_at.timestamp(), self.handled_log_size
        pipe.eval(RECORD, 3, *keys, handled.log_key, record, at, size, token, handled.request_id)
        if handled.log_key != handled.mention_id:  # the latest of a pasted post's requests, for the site's pages
            pipe.set(self.key("handled", "latest", handled.mention_id), record, ex=REPLY_RECORD_TTL)
        return pipe

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
        """A mention's record; for a post pasted on the site (`web-<post id>`), its latest request's."""
        raw = self.redis.hget(self.key("handled", "records"), mention_id)
        if not raw and mention_id.startswith("web-"):
            raw = self.redis.get(self.key("handled", "latest", mention_id))
        return HandledRequest.model_validate_json(cast(str, raw)) if raw else None

    # --- poller health -----------------------------------------------------------------------------
    def mark_polled(self, at: datetime | None = None) -> None:
        self.redis.set(self.key("last-poll"), (at or utcnow()).isoformat())

    def last_poll(self) -> datetime | None:
        raw = cast(str | None, self.redis.get(self.key("last-poll")))
        return datetime.fromisoformat(raw).astimezone(UTC) if raw else None

    # --- rate limits shared by every process --------------------------------------------------------
    def block_endpoint(self, endpoint: str, until: datetime, reason: str = "") -> None:
        """Remember across processes that an endpoint may not be called before `until`, and why (`RateLimited.reason`:
        "window", "daily", "usage_cap"…), for the operator's views."""
        ttl = int((until - utcnow()).total_seconds()) + 1
        if ttl > 0:
            self.redis.set(self.key("blocked", endpoint), f"{until.isoformat()} {reason}".strip(), ex=ttl)

    def note_refused(self, what: Refusable, seconds: float) -> None:
        """X refused the app an access (403 for good: full-archive search, users' timelines): no process asks it
        for `seconds`, a later `run --once` included."""
        self.redis.set(self.key(f"{what}-refused"), "1", ex=max(int(seconds), 1))

    def refused(self, what: Refusable) -> bool:
        return bool(self.redis.exists(self.key(f"{what}-refused")))

    def blocked_endpoints(self) -> dict[str, tuple[datetime, str]]:
        """Every endpoint a process found spent: until when (as `endpoint_blocked` reads it) and why ('' unsaid)."""
        marker = self.key("blocked", "")
        found = {}
        pattern = "".join("\\" + c if c in "\\*?[]" else c for c in marker) + "*"  # the marker taken as written
        for key in self.redis.scan_iter(match=pattern, count=1000):
            if (block := _block(cast(str | None, self.redis.get(key)))) is not None:
                found[str(key)[len(marker) :]] = block
        return found

    def endpoint_blocked(self, endpoint: str) -> datetime | None:
        block = self.endpoint_block(endpoint)
        return block[0] if block is not None else None

    def endpoint_block(self, endpoint: str) -> tuple[datetime, str] | None:
        """Until when a process found this endpoint spent, and why ('' unsaid); None when it may be called."""
        return _block(cast(str | None, self.redis.get(self.key("blocked", endpoint))))


def _block(raw: str | None) -> tuple[datetime, str] | None:
    """A block as `block_endpoint` wrote it: until when, and why ('' unsaid); None once it is past."""
    if not raw:
        return None
    stamp, _, reason = raw.partition(" ")
    until = datetime.fromisoformat(stamp)
    # A block noted by an older version from a reset header far ahead: no longer than a daily cap lasts.
    now = utcnow()
    return (min(until, now + timedelta(hours=24, minutes=1)), reason) if until > now else None


def elsewhere(mention_id: str, owner: str) -> AnsweredElsewhere:
    """What a reservation's ANSWERED or TAKEN_OVER means, as the error the worker leaves the request aside on."""
    if owner == TAKEN_OVER:
        return AnsweredElsewhere(f"mention {mention_id} is another worker's now (this one was held up past its claim)")
    return AnsweredElsewhere(f"mention {mention_id} was answered by another worker meanwhile")
