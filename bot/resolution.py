"""One request's resolution under way, as the resolver's steps share it: what it read, the conversation as
assembly sees it, the search of an author's posts, and the thread it makes (`bot.resolver` puts the steps
together, and says what they cost)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog

from bot.apimodels import ApiTweet, Includes
from bot.assembly import (
    Node,
    answers_over_gap,
    assemble,
    branch_sections,
    broken_self_replies,
    detour_over_gap,
    other_branches,
    self_replies,
)
from bot.errors import InvalidRequest, ThreadNotFound
from bot.models import Author, Section, Thread, ThreadTweet, UnrollRequest
from bot.reads import Reads
from bot.refusals import REFUSED_FOR, note_refusal, refused
from bot.store import Alone, FirstRead, Lock, Store
from bot.trigger import asks_bot
from bot.tweettext import snowflake_time
from bot.window import ARCHIVE_DEFAULT, RECENT_WINDOW, WINDOW_MARGIN, in_recent_window
from bot.xapi import Usage, XApi, from_user, user_operator
from config.settings import Settings

log = structlog.get_logger(__name__)

ResolutionOutcome = Literal["resolved", "cached", "no_thread", "not_found", "protected", "opted_out"]


@dataclass
class Resolution:
    """What resolving one request gave: the thread (when there is one), why not otherwise, and its cost."""

    outcome: ResolutionOutcome
    thread: Thread | None = None
    reason: str | None = None
    detail: str = ""
    root_id: str | None = None
    usage: Usage = field(default_factory=Usage)
    renamed_from: str | None = None  # the author's handle in the stored copy, when X now shows another
    # "cached", but the stored copy was read by an earlier try of this very request (its worker died, or it
    # waited for a rate-limit window, between saving the thread and replying): the request's own read.
    own: bool = False
    # The summoned post, someone else's, was found in no thread of theirs: the worker notes it for a minute.
    lone_reply: str | None = None
    # The summoned post, a conversation's first, was found alone: the worker notes it for a minute, as read then.
    lone_post: str | None = None


def first_lookup(request: UnrollRequest) -> tuple[str | None, str] | None:
    """What the resolver first looks for in the store: (the thread's root when the mention replies under it,
    the post the mention is under or quotes); None when it does neither."""
    target = request.replied_to_id or request.quoted_id
    if target is None:
        return None
    return (request.conversation_id if request.replied_to_id else None), target


class ResolverBase:
    """What a resolution knows and reads, and the thread it makes of it; the resolver's steps build on it
    (`bot.climbs`, `bot.firstsearches`, `bot.answering`, `bot.resolver`)."""

    def __init__(
        self,
        api: XApi,
        store: Store,
        settings: Settings,
        now: datetime,
        fresh_for: float,
        lock: Lock | None = None,
        ahead: FirstRead | None = None,
        reads: Reads | None = None,
    ) -> None:
        self.store = store
        self.lock = lock  # the thread's lock, taken with the first read of the store
        self.ahead = ahead
        self.settings = settings
        self.now = now
        self.fresh_for = fresh_for
        self.fetched = reads if reads is not None else Reads(api)
        self.stored: Thread | None = None
        self.request: UnrollRequest | None = None
        # The thread's first post is deleted (why it would be unavailable) and whose chain starts there instead.
        self.gone: ThreadNotFound | None = None
        # The conversation the thread is part of, when it is not the thread's own: an author's thread answering
        # someone else's post (its first post is a reply to it) lives in that post's conversation.
        self.conv: str | None = None
        self.gone_author: str | None = None
        # Who wrote the conversation's first post, when the summoned post's author's own thread is looked for in it
        # (`Answering`): an answer of theirs under that author's posts is no part of a thread of theirs.
        self.conv_author: str | None = None
        # Whose posts in the conversation a search already gave, as far as the thread's search would reach: recent
        # search's whole window (`search_window_first`), or the whole conversation (`search_archive_first`, and
        # `first_post_deleted`).
        self.searched: str | None = None
        # …when that search gave only their replies to their own posts (`to:`): their answers to others are still to
        # ask for, should their own thread in someone else's conversation be looked for (`Answering.subthread`).
        self.searched_self_replies = False
        self.lone_reply: str | None = None  # the summoned post, found in no thread of its author's (`answering`)
        # An old thread's author's timeline read to its end after its newest post found (`walks`): the page
        # holds every post of it X lets the bot see, and need not say it may stop early.
        self.walked = False
        self.versions_read = False  # the earlier versions of a walked thread's edited posts, read for their counts
        self.bot_id: str | None = None  # who the bot is on X: its mentions are no posts of a thread
        self.hops = 0  # quotes followed to get here (`quoted_thread`): a quote of a quote of a thread, say
        self.summons: dict[str, str | None] = {}  # the author's summons under the thread read, and their parents
        self.asked: dict[str, bool] = {}  # asks_bot's answer per post read (a post's text never changes)

    def follow_old_thread(self, root_id: str, author_id: str, target: str, *, since: datetime | None = None) -> None:
        """An old thread followed past its newest post found, through its author's timeline (`bot.walks.Walks`,
        which the resolver has; the other steps call it through here)."""

    def covers(self, read_at: datetime) -> bool:
        """Whether what was read moments ago (a copy, a lone post, a lone reply) holds every post made before the
        summon: it was read after the summon by more than X's search lag (UNROLL_SEARCH_LAG). A summon made after
        it (the author went on meanwhile) is read again: a copy by a search since its last post (1 request, only
        new posts billed), a lone reply by a search of its author's posts. A request without a time (asked on the
        site) takes what was read as it is."""
        asked = self.request.created_at if self.request is not None else None
        return asked is None or asked <= read_at - timedelta(seconds=self.settings.search_lag)

    def found_alone(self, kind: Alone, target: str) -> bool:
        """The summoned post was found alone moments ago (`Store.note_alone`: a conversation's first post with no
        thread, or a reply in no thread of its author's), after the summon was made (`covers`)."""
        if self.fresh_for <= 0:
            return False
        read_at = self.store.alone_at(kind, target)
        return read_at is not None and self.covers(read_at)

    def in_window(self, tweet_id: str) -> bool:
        return in_recent_window(tweet_id, self.now)

    def summoned_author(self) -> str | None:
        """Who wrote the summoned post, when known without a read: the mention says whose post it answers; a
        quoted post was looked up to learn its conversation."""
        request = self.request
        if request is None:
            return None
        if request.replied_to_id and request.replied_to_user_id:
            return request.replied_to_user_id
        # A quote, or a link pasted on the site (no mention to say whose post it is): the post was looked up.
        summoned = request.quoted_id or request.replied_to_id
        read = self.fetched.get(summoned) if summoned else None
        return read.author_id if read is not None else None

    def search(
        self,
        root_id: str,
        author: Author,
        *,
        full_archive: bool,
        since_id: str | None,
        replies_only: bool = True,
        self_replies: bool = False,
        until_id: str | None = None,
        to_others: bool = False,
    ) -> bool:
        """The author's posts in the conversation; whether only their replies to their own posts were asked
        (`self_replies`, unless the API refused `to:`). `from:` keeps other people's replies out of what is billed;
        `is:reply` keeps out the root, read already, unless `replies_only` is off: a stored thread's refresh while
        X may have let its first post be edited since (an edit is a new post, not a reply). `self_replies`: only
        the author's replies to their own posts (`to:`, https://docs.x.com/x-api/posts/search/integrate/build-a-query:
        "in reply to a particular user"), for the thread's own search: the author's answers to readers are no part
        of it, and an author who answers many would have each billed. An answer they went on from (a detour) is
        found from the self-reply under it, whose parent search did not give (`Climbs.climb`, `connect`). `until_id`:
        only posts older than it (a post of theirs read already, which the search would bill again). `to_others`:
        only their replies to others' posts (`-to:` them: the rest of what a `self_replies` search gave)."""
        api = self.fetched.api
        if to_others:
            others = user_operator("to", author.username, author.id, negated=True)
            self._search(root_id, author, f" is:reply {others}", full_archive, since_id, until_id)
            return False
        # Another process's refusal is read from Redis once per process (a `run --once` a minute would each spend a
        # refused request to learn it), then this process's own is enough.
        if self_replies and replies_only and not refused(api, self.store, "to_operator", once=True):
            try:
                self._search(
                    root_id,
                    author,
                    f" {user_operator('to', author.username, author.id)}",
                    full_archive,
                    since_id,
                    until_id,
                )
                return True
            except InvalidRequest as exc:
                # An API that does not know `to:` (X documents it on every access level): as before it was used, every
                # reply of the author's, for an hour in every process (`REFUSED_FOR`); one refused request per process.
                note_refusal(api, self.store, "to_operator")
                log.warning("search_to_operator_refused", error=str(exc), asked_again_in=REFUSED_FOR)
        self._search(root_id, author, " is:reply" if replies_only else "", full_archive, since_id, until_id)
        return False

    def _search(
        self,
        root_id: str,
        author: Author,
        replies: str,
        full_archive: bool,
        since_id: str | None,
        until_id: str | None = None,
    ) -> None:
        # By handle or id: an author renamed since the thread was stored is still found.
        query = f"conversation_id:{self.conv or root_id} {from_user(author.username, author.id)}{replies}"
        start_time = None
        if not full_archive and since_id is None:
            # Recent search with no since_id (the thread is older than the window) ends 30 seconds ago unless
            # given a time (https://docs.x.com/x-api/posts/search/integrate/paginate): from the window's start.
            start_time = self.now - RECENT_WINDOW + WINDOW_MARGIN
        elif full_archive and since_id is not None and snowflake_time(since_id) < self.now - ARCHIVE_DEFAULT:
            # Full-archive search reaches back 30 days unless given a start_time, and X does not say that a
            # since_id lifts that default: a start_time does, at the second of `since_id` (inclusive, so that
            # post comes again: read and billed twice, the price of not missing what followed it that second).
            start_time, since_id = snowflake_time(since_id), None
        self.fetched.search(
            query, full_archive=full_archive, since_id=since_id, start_time=start_time, until_id=until_id
        )

    def nodes(self, root_id: str) -> dict[str, Node]:
        """What is known of the conversation: the stored thread and every tweet of it read now, each post by
        the id of its latest version (a stored post edited since is the version just read)."""
        canon = self.fetched.canon
        root = canon(root_id)
        nodes: dict[str, Node] = {}
        if self.stored is not None:
            author = self.stored.author.id
            before: str | None = None
            for kept in self.stored.tweets:
                parent = canon(kept.replied_to) if kept.replied_to else None
                if before is not None and parent != before:
                    # The stored chain is the thread as assembled: a post after a deleted one, or the author's
                    # answer to a reader the thread went on from (the reply it answers is not stored), follows
                    # the post before it, as on the page. Else it would pass for a post whose parent is unknown:
                    # looked up again at every refresh, or a newer post of the author's bridged in its place.
                    parent = before
                nodes[canon(kept.id)] = Node(canon(kept.id), author, parent, author if parent else None)
                before = canon(kept.id)
            for section in self.stored.sections:  # each post after the one before it, as on the page
                before = canon(section.after)
                for kept in section.tweets:
                    nodes[canon(kept.id)] = Node(canon(kept.id), author, before, author)
                    before = canon(kept.id)
        # The author's own "@bot unroll" (this request's, or an earlier one) is no post of the thread: a post they
        # wrote under it follows the post it was under.
        self.summons = {t.id: self.fetched.parent(t) for t in self.fetched.tweets.values() if self.asks_bot(t)}
        for tweet in self.fetched.tweets.values():
            if tweet.id in self.summons:
                continue
            if tweet.conversation_id in (root_id, root, self.conv) or tweet.id == root:
                node = Node(tweet.id, tweet.author_id or "", self.parent_of(tweet), tweet.in_reply_to_user_id)
                nodes.setdefault(tweet.id, node)
        owner = self.stored.author.id if self.stored is not None else self.gone_author
        gone = self.gone is not None or (self.stored is not None and self.stored.tweets[0].id != root_id)
        if gone and owner and root not in nodes:  # the deleted first post, as the place the chain starts from
            nodes[root] = Node(root, owner)
        return nodes

    def parent_of(self, tweet: ApiTweet) -> str | None:
        """The post a read post follows in the thread: its parent, or the parent of the summon it was written
        under (`nodes`)."""
        parent, passed = self.fetched.parent(tweet), set()
        while parent in self.summons and parent not in passed:  # (a malformed answer may loop)
            passed.add(parent)
            parent = self.summons[parent]
        return parent

    def asks_bot(self, tweet: ApiTweet) -> bool:
        """This request's mention, or another self-reply asking the bot (its author's summon or delete request).
        The author's own mention that says more than a summon does ("that's all, @bot please unroll this for my
        readers") is a post of their thread, the request or not: the same words make it one under a reader's."""
        own = self.request is not None and tweet.id == self.request.mention_id
        if tweet.author_id is None or tweet.in_reply_to_user_id != tweet.author_id:
            return own
        if tweet.id not in self.asked:
            keywords = [*self.settings.keywords, *self.settings.delete_keywords]
            self.asked[tweet.id] = asks_bot(tweet, keywords, self.bot_id, self.settings.bot_handle)
        return self.asked[tweet.id]

    def thread(self, root_id: str, author: Author, target: str, *, complete: bool) -> Thread:
        nodes = self.nodes(root_id)
        gone = self.fetched.problems
        chain = assemble(nodes, self.fetched.canon(root_id), author.id, self.fetched.canon(target), gone)
        broken = broken_self_replies(nodes, author.id)
        # The author's answer to someone's reply X would not give (deleted, protected), or to a reply under a post
        # that is gone: the thread goes on to it over a gap, and the page says a post is missing there rather than
        # whom it answered. (A thread's first post answering someone's post the search left out is no gap.)
        went_on = self_replies(nodes, author.id)
        over_gap = {n.id for n in answers_over_gap(nodes, author.id, went_on, gone)}
        if (top := detour_over_gap(nodes, author.id, self.fetched.canon(target), went_on)) is not None:
            over_gap.add(top)
        # The branches the thread does not follow, their posts read already: shown after it.
        ways = branch_sections(nodes, chain, author.id, gone)
        over_gap &= set(chain[1:]) | {post for _, way in ways for post in way}
        # The author's post the reader summoned under, deleted before it was read: the page ends before it, and
        # says a post is missing, as for any other of the author's deleted posts.
        request, summoned = self.request, self.fetched.canon(target)
        summoned_gone = (
            request is not None
            and request.replied_to_user_id == author.id
            and summoned in gone
            and summoned not in chain
        )
        deleted = (
            self.gone is not None
            or bool(over_gap)
            or summoned_gone
            # A self-reply whose parent X reported gone; in a full search of a new thread, any missing parent.
            or any(n.parent_id in gone or (complete and not self.stored) for n in broken)
        )
        gaps = ["deleted_tweets"] if deleted or (self.stored and "deleted_tweets" in self.stored.gaps) else []
        if not complete and chain and not self.in_window(chain[-1]) and not self.walked:
            gaps.append("older_than_search_window")
        includes = self.fetched.includes()
        canon, gone = self.fetched.canon, self.fetched.problems
        # A stored post answers its parent's latest version (edited since it was stored: a new id), as read now.
        kept = {
            t.id: t.model_copy(update={"replied_to": canon(t.replied_to)}) if t.replied_to else t
            for t in (self.stored.every_tweet if self.stored else [])
        }

        def posts(ids: list[str]) -> list[ThreadTweet]:
            return [
                kept.get(i) or self.shown(self.fetched.tweets[i], includes, author.id, over_gap=i in over_gap)
                for i in ids
                if i in kept or i in self.fetched.tweets  # not the deleted first post standing in as a gap
            ]

        found: list[Section] = []
        for after, way in ways:
            if tweets := posts(way):
                found.append(Section(after=after, tweets=tweets))
        in_sections = {t.id for section in found for t in section.tweets}
        # A refresh reads only newer posts: the stored branches stay, by their posts' latest versions.
        kept_branches = self.stored.branches if self.stored else {}
        branches = {canon(post): [canon(o) for o in others] for post, others in kept_branches.items()}
        for post, others in other_branches(nodes, chain, author.id).items():
            branches[post] = sorted({*branches.get(post, []), *others}, key=int)
        branches = {
            post: [o for o in others if o not in chain and o not in gone and o not in in_sections]
            for post, others in branches.items()
        }
        return Thread(
            root_id=root_id,
            conversation_id=self.conv or root_id,
            author=author,
            tweets=posts(chain),
            fetched_at=self.now,
            fetched_for=self.request.mention_id if self.request else None,
            gaps=gaps,
            branches={post: others for post, others in branches.items() if post in chain and others},
            sections=found,
        )

    def shown(self, tweet: ApiTweet, includes: Includes, author_id: str, *, over_gap: bool) -> ThreadTweet:
        """A post as the page shows it (`Reads.shown`); `over_gap`, the author's answer to a reply that is gone
        (`assembly.answers_over_gap`, `assembly.detour_over_gap`): no "Replying to", so the page notes a missing
        post before it."""
        shown = self.fetched.shown(tweet, includes, author_id, self.parent_of)
        return shown.model_copy(update={"answers": None}) if over_gap else shown
