"""What one resolution read from X: each post asked for at most once, edits followed to their latest version."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import NamedTuple

import structlog
from pydantic import BaseModel, Field, ValidationError

from bot.apimodels import ApiMedia, ApiPoll, ApiProblem, ApiTweet, ApiUser, Includes, TweetsPage
from bot.errors import ApiError
from bot.models import ThreadTweet
from bot.tweettext import thread_tweet
from bot.xapi import XApi

log = structlog.get_logger(__name__)

RECENT_PAGE = 100  # max_results of recent search
ARCHIVE_PAGE = 500  # max_results of full-archive search


class SearchProgress(BaseModel):
    """Where a search cut short (a rate limit, an outage) stopped: the page to ask next (None: every page was
    read) and the newest post its first page held, past which a resumed search looks for posts made since."""

    next_token: str | None = None
    newest_id: str | None = None


class KeptReads(TweetsPage):
    """An attempt's reads as kept for the next one (`Reads.snapshot`): X's own page shape, plus the searches it
    left unfinished, by `search_key`."""

    searches: dict[str, SearchProgress] = Field(default_factory=dict)


class TimelineRead(NamedTuple):
    """What `Reads.timeline` read: the posts kept (the conversations'), the pages read, whether the pages ran out
    first (X gave a `next_token`), and how many posts the last page held (kept or not), its oldest and its newest."""

    kept: list[ApiTweet]
    pages: int
    more: bool
    held: int
    oldest: str | None
    newest: str | None


def search_key(
    query: str, full_archive: bool, since_id: str | None, start_time: datetime | None, until_id: str | None = None
) -> str:
    """One search as asked: the same key on a later attempt resumes it."""
    when = start_time.isoformat() if start_time else ""
    upper = (until_id,) if until_id else ()  # (the keys of searches without one, kept across tries, unchanged)
    return "|".join(("all" if full_archive else "recent", query, since_id or "", when, *upper))


class Reads:
    """Everything read during one resolution (and its quick retries: a retry after a failed search does not read
    the root again), each tweet asked for at most once.

    Edited posts: an edit is a new post with a new id, and replies keep pointing at the version they answered.
    `tweets` holds latest versions only, keyed by their id; every id of an edit history leads to the latest
    (`canon`), so the thread is assembled over latest versions whatever version a reply or a mention names.
    An earlier version read (asked for by its id, or met as a parent) is kept apart, and its latest is read
    too: the page shows what the author finally wrote.
    """

    def __init__(self, api: XApi) -> None:
        self.api = api
        self.tweets: dict[str, ApiTweet] = {}
        self.earlier: dict[str, ApiTweet] = {}  # earlier versions of edited posts, by their own id
        self.latest: dict[str, str] = {}  # every id of an edited post's history → its latest version's id
        self.users: dict[str, ApiUser] = {}
        self.media: dict[str, ApiMedia] = {}
        self.polls: dict[str, ApiPoll] = {}  # the polls of posts read (`includes.polls`), by id
        self.problems: dict[str, ApiProblem] = {}  # tweets X said it cannot give: deleted, protected, suspended
        self.user_problems: set[str] = set()  # users X said it cannot give (a post's author, suspended say)
        self.stopped: dict[str, SearchProgress] = {}  # searches cut short, to resume (`search_key`)
        self.searched: set[str] = set()  # searches read to their end (`search_key`): asked again, they read nothing
        self.bare: set[str] = set()  # posts read without their authors, media or polls (`lookup(bare=True)`)

    def canon(self, tweet_id: str) -> str:
        """The id of the latest version of the post `tweet_id` names (itself, unless it was edited)."""
        return self.latest.get(tweet_id, tweet_id)

    def parent(self, tweet: ApiTweet) -> str | None:
        """The latest version of the post this one replies to."""
        parent = tweet.replied_to
        return self.canon(parent) if parent else None

    def get(self, tweet_id: str) -> ApiTweet | None:
        """The latest version read of the post `tweet_id` names."""
        return self.tweets.get(self.canon(tweet_id))

    def forget(self, tweet_id: str) -> None:
        """Drop what was read of the post `tweet_id` names (an answer broken on its way): the next try, or the
        request's next attempt (`snapshot`), asks X for it again instead of failing on the same answer."""
        latest = self.canon(tweet_id)
        for key in (tweet_id, latest):
            self.tweets.pop(key, None)
            self.earlier.pop(key, None)
            self.bare.discard(key)

    def known(self, tweet_id: str) -> bool:
        """Whether the post is read (some version of it) or X said it cannot give it."""
        latest = self.canon(tweet_id)
        return latest in self.tweets or tweet_id in self.earlier or tweet_id in self.problems or latest in self.problems

    def absorb(self, page: TweetsPage) -> int:
        for tweet in (*page.data, *page.includes.tweets):
            latest = tweet.latest_id
            for version in tweet.edit_history_tweet_ids:
                if version != latest and int(latest) > int(self.latest.get(version, version)):
                    self.latest[version] = latest
                    # Read before as the latest (X may give an earlier version no later ones in its history): an
                    # earlier one now, or the page would show the post twice.
                    if (superseded := self.tweets.pop(version, None)) is not None:
                        self.earlier.setdefault(version, superseded)
            if tweet.id == latest:
                self.tweets.setdefault(tweet.id, tweet)
            else:
                self.earlier.setdefault(tweet.id, tweet)
        self.users.update((u.id, u) for u in page.includes.users)
        self.media.update((m.media_key, m) for m in page.includes.media)
        self.polls.update((p.id, p) for p in page.includes.polls)
        for problem in page.errors:
            if key := problem.post_id:
                self.problems.setdefault(key, problem)
            elif problem.resource_type == "user" and (user := problem.resource_id or problem.value):
                self.user_problems.add(user)
        return len(page.data)

    def lookup(self, ids: Iterable[str], *, referenced: bool = True, bare: bool = False, whole: bool = False) -> None:
        """Look up the tweets not read yet, 100 per request, then the latest versions of edited ones read.
        `referenced`: with the posts they reply to and quote; `bare`: without their authors, media or polls, for
        posts read only for their links (`XApi.lookup`); `whole`: those read bare are read again, for a page to
        show them."""
        wanted = [i for i in dict.fromkeys(ids) if not self.known(i) or (whole and i in self.bare)]
        if not wanted:
            return
        self.absorb(self.api.lookup(wanted, referenced=referenced, bare=bare))
        if bare:
            self.bare.update(i for i in wanted if self.canon(i) in self.tweets)
        else:
            self.bare.difference_update(wanted)
        for tweet_id in wanted:
            if not self.known(tweet_id):
                self.problems.setdefault(tweet_id, ApiProblem(title="Not Found Error", resource_id=tweet_id))
        newer = [latest for old in self.earlier if (latest := self.canon(old)) != old and not self.known(latest)]
        if newer:
            # Latest versions: never earlier ones, so this ends. Alone: an edit keeps the post it replies to and the one
            # it quotes, read already with the version read first, or met by the climb and the quotes' batch.
            self.lookup(newer, referenced=False)

    def quoted(self) -> None:
        """Look up, in one batch, the posts quoted by tweets read without the referenced-tweets expansion."""
        # Alone (their authors and media come, not what they reply to or quote: the cards show neither).
        self.lookup(
            (q for t in list(self.tweets.values()) if (q := t.referenced("quoted"))), referenced=False, whole=True
        )

    def search(
        self,
        query: str,
        *,
        full_archive: bool,
        since_id: str | None,
        start_time: datetime | None = None,
        until_id: str | None = None,
    ) -> int:
        """Every page of a search; how many tweets matched. A search an earlier try cut short (a rate limit, an
        outage: `stopped`) goes on from the page it stopped at, then looks once for posts made since its first
        page: a thread of more pages than a rate-limit window allows is read to its end over several tries,
        each page once, where starting over would never end."""
        key = search_key(query, full_archive, since_id, start_time, until_id)
        if key in self.searched:
            return 0  # its posts are read: asked again (two steps wondering about one author), they came again
        progress = self.stopped.pop(key, None)
        token = progress.next_token if progress is not None else None
        newest = progress.newest_id if progress is not None else None
        found = 0
        try:
            while progress is None or token is not None:
                page = self.api.search(
                    query,
                    full_archive=full_archive,
                    since_id=since_id,
                    start_time=start_time,
                    next_token=token,
                    max_results=ARCHIVE_PAGE if full_archive else RECENT_PAGE,
                    until_id=until_id,
                )
                found += self.absorb(page)
                newest = newest or page.meta.newest_id or max((t.id for t in page.data), key=int, default=None)
                token = page.meta.next_token
                if not token:
                    break
        except ApiError:
            if token is not None:  # pages were read: the next try goes on from here
                self.stopped[key] = SearchProgress(next_token=token, newest_id=newest)
            raise
        if progress is not None and newest is not None:
            try:  # posts made since the interrupted search's first page
                found += self.search(
                    query, full_archive=full_archive, since_id=newest, start_time=None, until_id=until_id
                )
            except ApiError:
                self.stopped[key] = SearchProgress(newest_id=newest)
                raise
        self.searched.add(key)
        return found

    def timeline(
        self,
        user_id: str,
        conversations: set[str],
        *,
        since_id: str | None,
        start_time: datetime | None,
        end_time: datetime | None,
        pages: int,
        until_id: str | None = None,
        until_posts: bool = False,
    ) -> TimelineRead:
        """A user's posts in a span (`XApi.user_posts`: after `since_id` or from `start_time`, to `end_time` or
        before `until_id`), every page up to `pages`; only those of `conversations` are kept, with what they show
        (the others are billed all the same: X has no filter there). `until_posts`: stop after the first page that
        holds any (a page may come short, empty even, with a next_token: `exclude=retweets` is applied after
        `max_results`)."""
        kept: list[ApiTweet] = []
        token: str | None = None
        oldest = newest = None
        for used in range(1, pages + 1):
            page = self.api.user_posts(
                user_id,
                since_id=since_id,
                start_time=start_time,
                end_time=end_time,
                until_id=until_id,
                pagination_token=token,
            )
            mine = [t for t in page.data if t.conversation_id in conversations]
            media = {k for t in mine if t.attachments for k in t.attachments.media_keys}
            polls = {k for t in mine if t.attachments for k in t.attachments.poll_ids}
            includes = page.includes.model_copy(
                update={
                    "media": [m for m in page.includes.media if m.media_key in media],
                    "polls": [p for p in page.includes.polls if p.id in polls],
                    "users": [u for u in page.includes.users if u.id == user_id],
                }
            )
            self.absorb(page.model_copy(update={"data": mine, "includes": includes, "errors": []}))
            kept += mine
            oldest = min((t.id for t in page.data), key=int, default=None)
            newest = max((t.id for t in page.data), key=int, default=None)
            token = page.meta.next_token
            if not token or (until_posts and page.data):
                return TimelineRead(kept, used, bool(token), len(page.data), oldest, newest)
        return TimelineRead(kept, pages, True, len(page.data), oldest, newest)

    def snapshot(self) -> str | None:
        """Everything read, as one page of JSON, for the request's next attempt (`Store.note_attempt`): a request
        that waits for a rate-limit window, fails or loses its worker after reading does not read it again.
        None when nothing was read. Searches run again all the same (they are what finds newer posts), but one cut
        short goes on where it stopped (`stopped`)."""
        if not (self.tweets or self.earlier or self.problems or self.stopped):
            return None
        page = KeptReads(
            data=[*self.tweets.values(), *self.earlier.values()],
            includes=Includes(
                users=list(self.users.values()), media=list(self.media.values()), polls=list(self.polls.values())
            ),
            errors=list(self.problems.values()),
            searches=self.stopped,
        )
        return page.model_dump_json(exclude_none=True, exclude_defaults=True)

    def restore(self, snapshot: str | bytes) -> None:
        """Take back what an earlier attempt read (`snapshot`); a snapshot that no longer validates (written by
        another version of the bot, say) is dropped: the posts are read again."""
        try:
            page = KeptReads.model_validate_json(snapshot)
        except ValidationError as exc:
            log.warning("kept_reads_dropped", error=str(exc).splitlines()[0])
            return
        self.absorb(page)
        self.stopped.update(page.searches)

    def includes(self) -> Includes:
        return Includes(
            users=list(self.users.values()),
            tweets=[*self.tweets.values(), *self.earlier.values()],  # a quote names the version it quoted
            media=list(self.media.values()),
            polls=list(self.polls.values()),
        )

    def shown(
        self,
        tweet: ApiTweet,
        includes: Includes,
        author_id: str,
        parent_of: Callable[[ApiTweet], str | None] | None = None,
    ) -> ThreadTweet:
        """A post as the page shows it, its parent named by the id of the parent's latest version (as the thread
        stores it, so a later refresh needs no lookup to connect an edited post), or by `parent_of` (the post it
        follows in the thread), and whom it answers when that is not the thread's author."""
        shown = thread_tweet(tweet, includes)
        parent = parent_of(tweet) if parent_of is not None else self.parent(tweet)
        update: dict[str, str | None] = {} if parent == shown.replied_to else {"replied_to": parent}
        other = tweet.in_reply_to_user_id
        if parent is not None and other is not None and other != author_id:
            update["answers"] = self.handle_of(other, tweet)
        return shown.model_copy(update=update) if update else shown

    def handle_of(self, user_id: str, tweet: ApiTweet) -> str:
        """A user's @handle from what was read: the users expanded, else the post's mention of them (a reply
        starts with one); "" when neither says."""
        user = self.users.get(user_id)
        if user is not None:
            return user.username
        for entities in (tweet.entities, tweet.note_tweet.entities if tweet.note_tweet else None):
            for mention in entities.mentions if entities else []:
                if mention.id == user_id:
                    return mention.username
        return ""
