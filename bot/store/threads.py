"""Stored threads, their indexes and versions, the bot's identity, and authors' opt-outs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, cast

import structlog

from bot.errors import ThreadBusy
from bot.models import Thread, ThreadSummary
from bot.store.base import Lock, StoreBase
from bot.store.records import RESERVE_STEP, RESERVE_TEXT, Reservation

log = structlog.get_logger(__name__)

Alone = Literal["post", "reply"]  # what a post found alone was: a conversation's first post, or someone's reply


def opt_out_member(user_id: str) -> str:
    """How an author's numeric id is noted in the opt-out set, beside their handles."""
    return f"id:{user_id}"


# Store a thread and index it, unless its author opted out, by handle or by id (checked in the same step, so
# an opt-out that lands while a thread is being resolved is never undone by the save); then, when given, reserve
# the reply's text (`RESERVE_STEP`): the reply that links to the thread, reserved only when the thread is stored.
# A renamed author's thread leaves the index of their former handle (KEYS[8]; the author's own when not renamed).
# KEYS: opt-outs, thread, fetched, tweet-root, summaries, latest, author's threads, former handle's threads, then
# the text's key, the mention's reply record and its lock (all three ignored without a reservation)
# ARGV: author (lower case), root id, thread JSON, fetched time, summary JSON, score, author id, then the
# reservation's mention id ('' for none), text window, "posting" record, its ttl, the lock's token, then every
# tweet id
# (the author id's member of the opt-outs spelled as opt_out_member spells it)
# Returns {1} or {1, the text's holder, 1 when reserved now / 0} when stored, {0} when not.
SAVE_THREAD = (
    """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 or redis.call('SISMEMBER', KEYS[1], 'id:' .. ARGV[7]) == 1 then
  return {0}
end
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
for i = 13, #ARGV do redis.call('HSET', KEYS[4], ARGV[i], ARGV[2]) end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[5])
redis.call('ZADD', KEYS[6], ARGV[6], ARGV[2])
redis.call('ZADD', KEYS[7], ARGV[6], ARGV[2])
if KEYS[8] ~= KEYS[7] then redis.call('ZREM', KEYS[8], ARGV[2]) end
if ARGV[8] == '' then return {1} end
local text_key, record_key, claim_key, mention = KEYS[9], KEYS[10], KEYS[11], ARGV[8]
local window, posting, record_ttl, token = ARGV[9], ARGV[10], ARGV[11], ARGV[12]
"""
    + RESERVE_STEP
    + "return {1, owner, new and 1 or 0}"
)


class FirstRead:
    """`find_thread`'s read queued on someone else's round trip, the thread's lock taken first: its answers
    serve the resolver's first read when the lock was taken; otherwise the resolver reads as it always does."""

    def __init__(
        self,
        store: ThreadStore,
        root_id: str | None,
        tweet_id: str,
        lock: Lock | None,
        author_id: str | None = None,
    ) -> None:
        self.store, self.root_id, self.tweet_id, self.lock = store, root_id, tweet_id, lock
        self.author_id = author_id
        self.answers: list[Any] | None = None
        # Whether the summoned post's author (when the mention says who) has opted out: nothing to read then.
        self.author_opted_out = False
        self._settle: Callable[[Any], bool] | None = None

    def queue(self, pipe: Any) -> None:
        """Queue the lock's try and the reads on `pipe`."""
        self._settle = self.lock.acquire_on(pipe) if self.lock is not None else None
        self.store._find_on(pipe, self.root_id, self.tweet_id)
        if self.author_id:
            pipe.sismember(self.store.key("opt-out"), opt_out_member(self.author_id))

    def received(self, answers: list[Any]) -> None:
        """The answers of the commands `queue` added, in order."""
        got = True
        if self._settle is not None:
            got, answers = self._settle(answers[0]), answers[1:]
        if self.author_id:
            self.author_opted_out, answers = bool(answers[-1]), answers[:-1]
        self.answers = list(answers) if got else None

    def take(self, root_id: str | None, tweet_id: str, lock: Lock | None) -> list[Any] | None:
        """The answers, once, if they are this read's (same thread, same lock) and current (the lock taken)."""
        answers, self.answers = self.answers, None
        if (root_id, tweet_id, lock) != (self.root_id, self.tweet_id, self.lock):
            return None
        return answers


class ThreadStore(StoreBase):
    """Stored threads, their indexes and versions, the bot's identity, and authors' opt-outs."""

    # --- threads --------------------------------------------------------------------------------------
    def save_thread(
        self,
        thread: Thread,
        *,
        release: Lock | None = None,
        renamed_from: str | None = None,
        reserve: Reservation | None = None,
    ) -> bool:
        """Store a thread, index its tweets by id, and put it at the top of the latest threads; False (nothing
        stored) when its author opted out. `release`: a lock to give back in the same round trip;
        `renamed_from`: the author's former handle, whose index loses the thread; `reserve`: the reply's text,
        reserved in the same step once the thread is stored (its answer noted on it)."""
        handle = thread.author.username.lower()
        author = self.key("author", handle)
        former = self.key("author", renamed_from.lower()) if renamed_from else author
        keys = [
            self.key("opt-out"),
            self.key("thread", thread.root_id),
            self.key("fetched"),
            self.key("tweet-root"),
            self.key("summaries"),
            self.key("latest"),
            author,
            former,
            *(reserve.keys if reserve is not None else ()),
        ]
        args: tuple[str | float, ...] = (
            handle,
            thread.root_id,
            thread.model_dump_json(exclude_defaults=True),  # what it doesn't hold comes back as the default
            thread.fetched_at.isoformat(),
            ThreadSummary.of(thread).model_dump_json(),
            thread.fetched_at.timestamp(),
            thread.author.id,
            *(reserve.args if reserve is not None else ("", "", "", "", "")),
            *(t.id for t in thread.every_tweet),
        )
        pipe = self.redis.pipeline(transaction=False)
        pipe.eval(SAVE_THREAD, len(keys), *keys, *args)
        if thread.conversation_id != thread.root_id:
            # A thread answering someone else's post: found from its conversation too, by a mention under one of its
            # posts newer than the stored copy (no index holds those yet). Last saved wins; the resolver checks
            # that the summoned post's author is the thread's.
            pipe.hset(self.key("conversation-thread"), thread.conversation_id, thread.root_id)
        if release is not None:
            release.release_on(pipe)
        stored, *reserved = pipe.execute()[0]
        if reserve is not None and reserved:
            reserve.received(*reserved)
        return bool(stored)

    def get_thread(self, root_id: str) -> Thread | None:
        pipe = self.redis.pipeline(transaction=False)
        self._get_thread_on(pipe, root_id)
        raw, fetched = pipe.execute()
        return self._thread_of(raw, fetched)

    def find_thread(
        self, root_id: str | None, tweet_id: str, *, lock: Lock | None = None, ahead: FirstRead | None = None
    ) -> Thread | None:
        """The stored thread whose root is `root_id`, else the one holding `tweet_id`: one round trip when
        either is stored under the root or nothing is. With `lock`, the lock is taken first in the same round
        trip; when another holds it, this waits for it (up to its timeout) and reads again. `ahead`: this very
        read, made earlier on another round trip (`first_read`); used once, when it took the lock."""
        answers = ahead.take(root_id, tweet_id, lock) if ahead is not None else None
        if answers is None and lock is not None:
            got, answers = lock.acquire_with(lambda pipe: self._find_on(pipe, root_id, tweet_id))
            if not got:  # another worker is resolving this thread: wait, then read what it stored
                if not lock.acquire(blocking=True, blocking_timeout=lock.timeout):
                    # Still at it (its lock is renewed while it works): reading the thread too would bill it twice.
                    raise ThreadBusy(f"another worker is still resolving the thread of {root_id or tweet_id}")
                lock.waited = True
                return self.find_thread(root_id, tweet_id)
        elif answers is None:
            pipe = self.redis.pipeline(transaction=False)
            self._find_on(pipe, root_id, tweet_id)
            answers = pipe.execute()
        if root_id:
            raw, fetched, holder, answering = answers
            thread = self._thread_of(raw, fetched)
        else:
            thread, (holder,), answering = None, answers, None
        if holder and holder != root_id:  # the post is in another thread of the conversation (one answering it)
            thread = self.get_thread(holder) or thread
        if thread is None and answering:
            thread = self.get_thread(answering)
        return thread

    def first_read(
        self, root_id: str | None, tweet_id: str, lock: Lock | None, author_id: str | None = None
    ) -> FirstRead:
        """`find_thread`'s read (with the lock taken first), to queue on a round trip made before the resolver
        runs: the worker's first of a request (`begin_attempt(also=…)`); with `author_id` (whose post it is),
        whether that author opted out (`FirstRead.author_opted_out`)."""
        return FirstRead(self, root_id, tweet_id, lock, author_id)

    def _find_on(self, pipe: Any, root_id: str | None, tweet_id: str) -> None:
        if root_id:
            self._get_thread_on(pipe, root_id)
        pipe.hget(self.key("tweet-root"), tweet_id)
        if root_id:
            pipe.hget(self.key("conversation-thread"), root_id)

    def _get_thread_on(self, pipe: Any, root_id: str) -> None:
        pipe.get(self.key("thread", root_id))
        pipe.hget(self.key("fetched"), root_id)

    @staticmethod
    def _thread_of(raw: str | None, fetched: str | None) -> Thread | None:
        if not raw:
            return None
        thread = Thread.model_validate_json(raw)
        if fetched:  # checked for newer tweets since it was written (see touch_thread)
            thread.fetched_at = datetime.fromisoformat(fetched)
        return thread

    def thread_version(self, root_id: str) -> str | None:
        """When a stored thread was last fetched, without reading the thread: what page caches key on."""
        return cast(str | None, self.redis.hget(self.key("fetched"), root_id))

    def touch_thread(
        self, root_id: str, fetched_at: datetime, *, release: Lock | None = None, reserve: Reservation | None = None
    ) -> None:
        """Note that a stored thread was checked and nothing changed, without rewriting it. `release`: a lock
        to give back in the same round trip; `reserve`: the reply's text, reserved in the same round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.key("fetched"), root_id, fetched_at.isoformat())
        if reserve is not None:
            pipe.eval(RESERVE_TEXT, 3, *reserve.keys, *reserve.args)
        if release is not None:
            release.release_on(pipe)
        answers = pipe.execute()
        if reserve is not None:
            reserve.received(*answers[1])

    def root_of(self, tweet_id: str) -> str | None:
        """The root id of a stored thread that contains this tweet, if any."""
        return cast(str | None, self.redis.hget(self.key("tweet-root"), tweet_id))

    def note_alone(self, kind: Alone, tweet_id: str, read_at: datetime, seconds: float) -> None:
        """A post found alone as read at `read_at`: a conversation's first post with no thread ("post"), or someone
        else's post in a thread's conversation in no thread of theirs ("reply"). For `seconds` (the freshness of a
        stored copy), a summon under it made before then reads nothing (a post) or does not search their posts
        again (a reply): `alone_at`."""
        self.redis.set(self.key(f"lone-{kind}", tweet_id), str(read_at.timestamp()), px=max(int(seconds * 1000), 1))

    def alone_at(self, kind: Alone, tweet_id: str) -> datetime | None:
        """When the post was found alone (`note_alone`), while that is noted."""
        raw = cast(str | None, self.redis.get(self.key(f"lone-{kind}", tweet_id)))
        try:  # (an older note's "1" reads as 1970: covering no summon)
            return datetime.fromtimestamp(float(raw), UTC) if raw else None
        except (ValueError, OverflowError):
            return None

    def delete_thread(self, root_id: str) -> bool:
        """Remove a stored thread and every index entry pointing at it."""
        thread = self.get_thread(root_id)
        if thread is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.key("thread", root_id))
        pipe.hdel(self.key("fetched"), root_id)
        pipe.hdel(self.key("tweet-root"), *[t.id for t in thread.every_tweet])
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
        summaries = []
        for root_id, raw in zip(ids, raws, strict=True):
            if not raw:
                continue
            try:
                summaries.append(ThreadSummary.model_validate_json(raw))
            except ValueError as exc:
                # One entry that does not read (written by another version, or by hand) is left out of the lists:
                # it failed the home page, every author page and every thread page's "latest" beside it.
                log.error(
                    "thread_summary_unreadable",
                    root_id=root_id,
                    error=str(exc).splitlines()[0],
                    fix="`python -m bot rerender` lists the threads that do not read",
                )
        return summaries

    # --- the bot's identity (GET /2/users/me is asked once) ---------------------------------------
    def get_identity(self) -> dict[str, str] | None:
        raw = cast(dict[str, str], self.redis.hgetall(self.key("me")))
        return raw or None

    def set_identity(self, user_id: str, username: str) -> None:
        self.redis.hset(self.key("me"), mapping={"id": user_id, "username": username})

    # --- authors' control: opt-outs ------------------------------------------------------------------
    def opt_out(self, username: str, user_id: str | None = None) -> list[str]:
        """Record that an author wants none of their threads unrolled; removes the stored ones.

        Noted by handle and by numeric id (given, or learnt from their stored threads), so a new handle does not
        undo it. The opt-out is noted first: from then on no save stores one of their threads (SAVE_THREAD), so
        none can slip in between the removal and the note."""
        handle = username.lower()
        roots = cast(list[str], self.redis.zrange(self.key("author", handle), 0, -1))
        ids = {user_id} if user_id else set()
        ids.update(t.author.id for root in roots if (t := self.get_thread(root)) is not None and t.author.id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.sadd(self.key("opt-out"), handle, *(opt_out_member(i) for i in ids))
        if ids:
            pipe.hset(self.key("opt-out-ids"), handle, ",".join(sorted(ids)))
        pipe.execute()
        removed = [root for root in roots if self.delete_thread(root)]
        if removed:
            self.redis.sadd(self.key("removed"), *removed)
        return removed

    def opt_in(self, username: str, user_id: str | None = None) -> bool:
        """Lift an opt-out made under this handle (and the ids it was noted with), and with `user_id`, the one
        noted under any former handle of that account; False when there was none to lift."""
        handle = username.lower()
        noted = cast(dict[str, str], self.redis.hgetall(self.key("opt-out-ids")))
        ids = {i for i in noted.get(handle, "").split(",") if i} | ({user_id} if user_id else set())
        handles = {handle} | {h for h, joined in noted.items() if ids & set(joined.split(","))}
        pipe = self.redis.pipeline(transaction=True)
        pipe.srem(self.key("opt-out"), *handles, *(opt_out_member(i) for i in ids))
        pipe.hdel(self.key("opt-out-ids"), *handles)
        return bool(pipe.execute()[0])

    def is_opted_out(self, username: str, user_id: str | None = None) -> bool:
        """Whether the author opted out, by handle or (when given) by numeric id; at least one is needed."""
        members = [m for m in (username.lower(), opt_out_member(user_id) if user_id else "") if m]
        if not members:
            return False
        pipe = self.redis.pipeline(transaction=False)
        for member in members:  # (SMISMEMBER would need Redis 6.2)
            pipe.sismember(self.key("opt-out"), member)
        return any(pipe.execute())

    def was_removed(self, root_id: str) -> bool:
        """True for a thread removed at its author's request (its page answers 410)."""
        return bool(self.redis.sismember(self.key("removed"), root_id))
