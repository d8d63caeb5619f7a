"""The compliance round's state (its jobs in flight, when it last ended) and what its events do to stored threads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import cast

from bot.models import Thread
from bot.store.threads import ThreadStore

BATCH = 100  # threads read per round trip when listing what is stored


class ComplianceStore(ThreadStore):
    """Compliance jobs in flight and the threads they trim or withdraw."""

    def compliance_state(self) -> dict[str, str]:
        """`job:tweets` / `job:users` (the job in flight, if any), `started_at`, `finished_at` (ISO times)."""
        return cast(dict[str, str], self.redis.hgetall(self.key("compliance")))

    def start_compliance(self, now: datetime) -> None:
        self.redis.hset(self.key("compliance"), "started_at", now.isoformat())

    def note_compliance_job(self, kind: str, job_id: str) -> None:
        self.redis.hset(self.key("compliance"), f"job:{kind}", job_id)

    def end_compliance_job(self, kind: str) -> None:
        self.redis.hdel(self.key("compliance"), f"job:{kind}")

    def finish_compliance(self, now: datetime) -> None:
        """The round is over: the next one is due `UNROLL_COMPLIANCE_INTERVAL` seconds from `now`."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("compliance"), "finished_at", now.isoformat())
        pipe.hdel(self.key("compliance"), "started_at")
        pipe.execute()

    def stored_threads(self) -> Iterator[Thread]:
        """Every stored thread, read a hundred to a round trip."""
        roots = self.all_thread_ids()
        for start in range(0, len(roots), BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for root_id in roots[start : start + BATCH]:
                pipe.get(self.key("thread", root_id))
            yield from (Thread.model_validate_json(raw) for raw in pipe.execute() if raw)

    def stored_ids(self) -> tuple[list[str], list[str]]:
        """Every stored post id (the threads' posts and those they quote) and every stored thread's author id."""
        posts: dict[str, None] = {}
        authors: dict[str, None] = {}
        for thread in self.stored_threads():
            authors[thread.author.id] = None
            for tweet in thread.every_tweet:
                posts[tweet.id] = None
                if tweet.quoted is not None and not tweet.quoted.unavailable:
                    posts[tweet.quoted.id] = None
        return list(posts), [a for a in authors if a]

    def replace_thread(self, thread: Thread, removed: list[str]) -> None:
        """Store a thread trimmed of `removed` posts, as a new version for the page caches (a microsecond later:
        the version is when the thread was last fetched, and its freshness is not changed by a microsecond)."""
        thread = thread.model_copy(update={"fetched_at": thread.fetched_at + timedelta(microseconds=1)})
        self.save_thread(thread)
        if removed:
            self.redis.hdel(self.key("tweet-root"), *removed)

    def withdraw_thread(self, root_id: str) -> None:
        """Remove a thread X says must go (no post left, or its author gone, protected or suspended): its page
        answers 410, saying so."""
        self.delete_thread(root_id)
        self.redis.sadd(self.key("withdrawn"), root_id)

    def was_withdrawn(self, root_id: str) -> bool:
        return bool(self.redis.sismember(self.key("withdrawn"), root_id))
