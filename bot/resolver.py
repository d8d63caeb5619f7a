"""Mention → thread: the fewest X API calls that find the whole thread, then pure assembly.

The mention's `conversation_id` is the root's id (of the conversation: a thread answering someone else's post
starts below it, see the last case), and a snowflake id tells when a tweet was posted
(https://docs.x.com/resources/fundamentals/x-ids), so whether the thread is inside the 7-day window of
recent search is known before any call. Lower bounds (requests; every tweet is read once: searches don't
expand referenced tweets, lookups do, so a lookup also reads its tweets' parents and quoted posts, and the
posts the thread quotes are looked up together in one more request):

- stored copy fetched less than `fresh_for` seconds ago: 0 requests (summoned under a post of the author's it
  lacks, as an older copy);
- stored copy, older: 1 search per 100 newer tweets (at least 1), `since_id` its last tweet;
- new thread of N tweets within the window: 1 root lookup + max(1, ⌈(N-1)/100⌉) recent searches of
  `conversation_id:<root> (from:<handle> OR from:<id>) is:reply` (`from:` keeps others' replies out of the bill);
- older than the window, full archive allowed: 1 root lookup + max(1, ⌈(N-1)/500⌉) full-archive searches, the
  search asked first, of the summoned post's author's posts (the mention names them; the thread's author's but
  for a reader's reply, below): X may refuse the app full-archive search (then resolved as without it, and
  asked again after `ARCHIVE_REFUSED_FOR`), and a root read before the refusal would be read again by the
  climb, as the second post's parent, whenever the summoned post's depth is odd;
- older, no full archive, mention under the tweet at depth d (root = 0): 1 recent search + lookups
  climbing the reply chain from the target, each returning its parent in includes: ⌈(d+1)/2⌉. Each post
  is read once (d+1 posts). Knowing d, the floor is ⌈d/2⌉: for an even d, asking for the root with the
  target would save a lookup; for an odd d it would read the root twice. d is not known before the climb,
  so the resolver spends the request, never the post. When the thread went on into the window and the
  summoned post is in it (a reply naming its author), its author's posts in the window come first from
  recent search (1 per 100), and the climb reads only the posts before the window (⌈k/2⌉ lookups for k);
- a quote instead of a reply (or a web request, which has no conversation id): +1 lookup of that tweet alone
  to learn its conversation (+1 post: the search reads it again); the root lookup is skipped when it is the
  root. Asked with its parent, that parent would be read twice too whenever it is not the root: the request
  is spent, never the post;
- an edited post (a new id per edit): searches list only latest versions, but a lookup by an earlier id
  (the root's, a parent's) answers that version: +1 lookup, batched, for the latest ones;
- full-archive search past its default 30 days is bounded by a start_time instead of a since_id: the stored
  thread's last post comes again, +1 post read.
- the summoned post missing from the search although it is the author's, or posted moments ago (recent
  search may leave out its last 30 seconds): +1 lookup per two posts climbed from it, no post read twice.
- the thread's first post deleted (or its author suspended, which X answers alike): the root lookup reads
  nothing, and the thread's search is of the summoned post's author's posts (the mention names them), asked
  before the summoned post is read: when it is a self-reply among them, the thread is the author's chain from
  the deleted post on, each post read once, no request more. +1 lookup, with its parent, when search left the
  summoned post out (posted moments ago), as below; a suspended author's posts are not searched out, so their
  summoned post is asked for too: 3 requests, no post read. Old, without full archive: the climb reads it.
- the summoned post another author's than the conversation's first post (a reply of someone else's, or a
  thread answering a question, a news post, another thread): +1 search of that author's posts in the
  conversation (also beside a fresh stored copy of the conversation's thread: it can't know of them); their own
  thread, when the summoned post is in one of two posts or more, is the page, kept under its own first post.
  A post found in no thread of its author's is noted for `fresh_for` seconds: summoned under again meanwhile,
  it costs nothing more (beside a fresh copy, 0 requests).
- the summoned post's author opted out: 0 requests (the request's first read of the store says so); under
  someone else's reply, the root lookup alone (its author is asked about before the search; older than the
  window with full archive, after the first search, of the summoned post's author's posts); a quote or a
  pasted link (no mention says whose the post is), the one lookup that reads it.
- the author's own "@bot unroll" under their thread: read from the mentions page, then again by the thread's
  `from:` search (+1 post). No search operator leaves that one post out: `-@<bot>` would leave out the thread's
  posts naming the bot too, `until_id` the posts the author adds after asking, and X has none excluding an id.
- a quote of the bot's own post (its reply, say): the one lookup that shows whose it is.
- a detour (the author's answer to someone's reply to a post of the thread, or to a reply to that reply, gone on
  from with a self-reply, or through answers within answers down to one), wherever the summoned post is (above
  it too: the thread goes on through it), or the summoned post the author's answer to someone's reply beside
  such a detour: +1 post per reader's reply above such an answer posted after where the summoned post's way up
  meets the thread (one before hangs above it: no page change), as `from:` search leaves them out, read alone
  (its parent, a post of the thread, was read), all of a round in one lookup (100 a request): +1 lookup, and +1
  more for each further row of readers' replies or answer within an answer a read shows above. A reply X will
  not give (deleted, its author protected) costs no post: the page goes on to the answer over a gap
  (`assembly.detour_over_gap`).
The resolver reads the store but never writes it: the worker saves the thread it returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import structlog

from bot.apimodels import ApiProblem, ApiTweet, Includes
from bot.assembly import (
    Node,
    ancestry,
    assemble,
    branched,
    broken_self_replies,
    detour_likely,
    detour_over_gap,
    detours,
    missing_link,
    other_branches,
    reachable,
    self_replies,
)
from bot.errors import NotAllowed, ThreadNotFound
from bot.models import Author, Thread, ThreadTweet, UnrollRequest, utcnow
from bot.reads import Reads
from bot.store import FirstRead, Lock, Store
from bot.trigger import asks_bot
from bot.tweettext import author_of, snowflake_time
from bot.window import ARCHIVE_DEFAULT, RECENT_WINDOW, WINDOW_MARGIN, in_recent_window
from bot.xapi import ARCHIVE, RECENT, Usage, XApi, from_user
from config.settings import Settings

log = structlog.get_logger(__name__)

JUST_POSTED = timedelta(minutes=2)  # a post this young may be missing from search (its last 30 s), clocks apart
FRESH_FOR = 60.0  # seconds a stored thread is served without asking X for newer tweets
ARCHIVE_REFUSED_FOR = 3600.0  # seconds full-archive search is not asked for again after X refused the app it

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


def _unavailable(tweet_id: str, problem: ApiProblem | None, what: str) -> ThreadNotFound:
    """The error for a tweet X would not give: `protected` for a protected or suspended author, else `not_found`."""
    text = f"{problem.title} {problem.detail} {problem.type}".lower() if problem else ""
    if "suspended" in text:
        return ThreadNotFound(f"{what} {tweet_id} is by a suspended account", reason="suspended")
    if "not-authorized" in text or "authorization" in text:
        return ThreadNotFound(f"{what} {tweet_id} is by a protected account", reason="protected")
    return ThreadNotFound(f"{what} {tweet_id} no longer exists", reason="deleted")


class _Resolver:
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
        # Whose posts in the conversation a search already gave, as far as the thread's search would reach: recent
        # search's whole window (`search_window_first`), or the whole conversation (`search_archive_first`, and
        # `first_post_deleted`).
        self.searched: str | None = None
        self.lone_reply: str | None = None  # the summoned post, found in no thread of its author's (`answering`)
        self.bot_id: str | None = None  # who the bot is on X: its mentions are no posts of a thread
        self.summons: dict[str, str | None] = {}  # the author's summons under the thread read, and their parents
        self.asked: dict[str, bool] = {}  # asks_bot's answer per post read (a post's text never changes)

    def in_window(self, tweet_id: str) -> bool:
        return in_recent_window(tweet_id, self.now)

    def run(self, request: UnrollRequest) -> Resolution:
        self.request = request
        first = first_lookup(request)
        if first is None:
            raise ThreadNotFound("the mention neither replies to nor quotes a post", reason="nothing_to_unroll")
        root_id, target = first
        if self.ahead is not None and self.ahead.author_opted_out:
            # The summoned post's author had their threads removed (no copy of theirs is stored): read nothing.
            raise ThreadNotFound(f"the author of {target} opted out", reason="author_opted_out")
        self.stored = self.store.find_thread(root_id, target, lock=self.lock, ahead=self.ahead)
        if self.stored is None and root_id is None:
            # A quote (or a link pasted on the site): that tweet's conversation is the thread's. Its parent and
            # what it quotes are not asked with it: the thread's search (or the climb, the quotes' batch) reads them.
            self.fetched.lookup([target], referenced=False)
            quoted = self.fetched.get(target)
            if quoted is None:
                raise _unavailable(target, self.fetched.problems.get(target), "the quoted post")
            if self.bot_id is not None and quoted.author_id == self.bot_id:
                # A quote of the bot's own post (its reply with a link, say): no thread to look for.
                return Resolution("no_thread", reason="bots_own_post")
            if quoted.author_id and self.store.is_opted_out("", quoted.author_id):
                # As for a reply (`FirstRead.author_opted_out`), known only now: no mention said whose it is.
                raise ThreadNotFound(f"the author of {target} opted out", reason="author_opted_out")
            root_id = quoted.conversation_id or quoted.id
            self.stored = self.store.get_thread(root_id)
        stored, other = self.stored, self.summoned_author()
        if (
            stored is not None
            and other is not None
            and other != stored.author.id
            and all(t.id != target for t in stored.tweets)
        ):
            # The summoned post is another author's, and not in the stored thread: it may be in their own thread
            # answering this one.
            # Even a copy stored a moment ago cannot tell: a thread answering it may have been posted since.
            if stored.conversation_id != stored.root_id:
                self.stored = None  # found by its conversation, itself such an answer: not this thread
            elif (own := self.answering(stored.conversation_id, other, target)) is not None:
                return own
        if self.stored is not None:
            return self.refresh(self.stored, target)
        assert root_id is not None
        return self.new(root_id, target)

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

    def refresh(self, stored: Thread, target: str) -> Resolution:
        """A thread unrolled before: only what is newer than its last tweet, nothing at all while fresh."""
        if stored.conversation_id != stored.root_id:
            self.conv = stored.conversation_id  # an author's thread in someone else's conversation
        own = self.request is not None and stored.fetched_for == self.request.mention_id
        # Summoned under a post of the author's that the copy lacks (posted since, or on a branch it does not
        # follow): however fresh, the copy is not the page asked for.
        lacks = self.summoned_author() == stored.author.id and all(t.id != target for t in stored.tweets)
        if (self.now - stored.fetched_at).total_seconds() < self.fresh_for and not lacks:
            return Resolution("cached", stored, reason="fresh", root_id=stored.root_id, own=own)
        root_id, author_id, last = stored.root_id, stored.author.id, stored.last_id
        complete = self.in_window(last) or self.settings.full_archive
        since = last if complete else None  # recent search refuses a since_id older than its window
        full_archive = not self.in_window(last) and self.settings.full_archive
        self.search(root_id, stored.author, full_archive=full_archive, since_id=since)
        nodes = self.nodes(root_id)
        follow = (
            branched(nodes, author_id)
            or self.target_unseen(nodes, author_id, target)
            or self.under_someones_reply(nodes, author_id, target)
        )
        # A newer post whose parent is not stored may answer another branch's post, not a deleted one: read it.
        self.climb(root_id, author_id, target, follow_target=follow, connect=True)
        self.read_answered_reply(root_id, author_id, target)
        self.fetched.quoted()
        seen = self.fetched.users.get(author_id)  # the author as X shows them now (a renamed handle, say)
        thread = self.thread(root_id, author_of(seen) if seen else stored.author, target, complete=complete)
        if [t.id for t in thread.tweets] == [t.id for t in stored.tweets] and thread.author == stored.author:
            return Resolution("cached", thread, reason="nothing_new", root_id=root_id, own=own)
        renamed = stored.author.username if thread.author.username != stored.author.username else None
        return Resolution("resolved", thread, root_id=root_id, renamed_from=renamed)

    def new(self, root_id: str, target: str) -> Resolution:
        """A thread never unrolled: the root, then the author's replies in the conversation."""
        recent = self.in_window(root_id)
        complete = recent or self.settings.full_archive
        full_archive = not recent and self.settings.full_archive
        # Every new thread needs a search: with its window spent, the lookups before it would be spent for
        # nothing (the request waits for the reset and starts over), so ask first, without calling X.
        self.fetched.api.check(ARCHIVE if full_archive else RECENT)
        if not complete and target != root_id:
            self.search_window_first(root_id, target)
            self.climb_to_root(root_id, target)  # from the first post up the chain that search did not bring
        elif full_archive:
            self.search_archive_first(root_id, target)
        self.fetched.lookup([root_id])  # nothing to ask when the climb met the root
        root = self.fetched.get(root_id)
        if root is None:
            gone = _unavailable(root_id, self.fetched.problems.get(root_id), "the thread's first post")
            root = self.first_post_deleted(root_id, target, gone, complete=complete, full_archive=full_archive)
        other = self.summoned_author()
        if other is not None and root.author_id and other != root.author_id:
            # The summoned post is someone else's than the conversation's first post: their own thread, when it
            # is in one, answers that post (a thread replying to a question, a news post, another thread).
            own = self.answering(root_id, other, target)
            if own is not None:
                return own
        if root.author_id and other != root.author_id and self.store.is_opted_out("", root.author_id):
            # Summoned under someone else's post (the first round trip asked about its author only): the first
            # post's author opted out, so there is nothing to search for.
            raise ThreadNotFound(f"the author of {root_id} opted out", reason="author_opted_out")
        user = self.fetched.users.get(root.author_id or "")
        if user is None:
            raise ThreadNotFound(f"the author of {root_id} cannot be seen", reason="suspended")
        if user.protected:
            raise ThreadNotFound(f"@{user.username} is a protected account", reason="protected")
        since = root_id if complete else None  # exclusive: the root was read already
        summoned = self.fetched.get(target)
        if not complete and summoned is not None and summoned.author_id == user.id and self.in_window(summoned.id):
            # The climb read the chain up from the author's summoned post; searching the whole window would read
            # again what of it is in the window. What follows it is all newer than it.
            since = summoned.id
        if self.searched != user.id:  # (searched already when the summoned post said whose it is)
            self.search(root_id, author_of(user), full_archive=full_archive, since_id=since)
        nodes = self.nodes(root_id)
        follow = (
            not complete
            or branched(nodes, user.id)
            or self.target_unseen(nodes, user.id, target)
            or self.under_someones_reply(nodes, user.id, target)
        )
        self.climb(root_id, user.id, target, follow_target=follow, connect=not complete)
        self.read_answered_reply(root_id, user.id, target)
        self.fetched.quoted()
        thread = self.thread(root_id, author_of(user), target, complete=complete)
        if self.gone is not None and not thread.tweets:
            raise self.gone  # no chain of the author's hangs from the deleted first post
        if len(thread.tweets) == 1 and "deleted_tweets" not in thread.gaps and self.settings.single_tweet != "unroll":
            # Older than the window, later self-replies may exist but cannot be seen: say so in the reason.
            reason = "older_than_search_window" if thread.gaps else "single_tweet"
            return Resolution("no_thread", reason=reason, root_id=root_id)
        return Resolution("resolved", thread, root_id=root_id)

    def answering(self, conv_id: str, author_id: str, target: str) -> Resolution | None:
        """`subthread`, unless the summoned post was found a lone reply moments ago (a mention is served a stored
        copy as old; the page's "look for newer posts" asks X whatever)."""
        if self.fresh_for > 0 and self.store.is_lone_reply(target):
            return None
        own = self.subthread(conv_id, author_id, target)
        if own is None:
            self.lone_reply = target
        return own

    def subthread(self, conv_id: str, author_id: str, target: str) -> Resolution | None:
        """The summoned post's author's own thread in someone else's conversation (a thread answering a question
        or a news post: its first post replies to another's): their posts in the conversation searched, the
        thread's first post found up the chain from the summoned post. None when the summoned post is in no
        chain of theirs (a lone reply): the conversation's own thread is the answer then."""
        self.conv = conv_id
        author = Author(id=author_id, username="")  # by id: their handle is not known yet
        searched = self.searched == author_id  # first, before the root lookup or the climb
        if not searched and (self.in_window(conv_id) or self.settings.full_archive):
            self.search(conv_id, author, full_archive=not self.in_window(conv_id), since_id=conv_id)
        elif not searched and self.in_window(target):
            # The conversation is older than the window: the climb to its first post read the chain up to the
            # summoned post (`new`), so only what came after it is searched.
            self.search(conv_id, author, full_archive=False, since_id=target)
        top = self.first_of_chain(target, author_id)
        if top is None:
            self.conv = None
            return None
        chain = assemble(self.nodes(top), top, author_id, self.fetched.canon(target))
        user = self.fetched.users.get(author_id)
        if len(chain) < 2 or user is None:
            self.conv = None
            return None
        if user.protected:
            raise ThreadNotFound(f"@{user.username} is a protected account", reason="protected")
        self.fetched.quoted()
        complete = self.in_window(conv_id) or self.settings.full_archive or self.in_window(target)
        return Resolution("resolved", self.thread(top, author_of(user), target, complete=complete), root_id=top)

    def first_of_chain(self, target: str, author_id: str) -> str | None:
        """The first post of the author's chain of self-replies up from `target` (itself the author's), read up
        the chain where search did not bring it; None when the target is not the author's or cannot be read."""
        at = self.fetched.canon(target)
        self.fetched.lookup([at])  # nothing to ask when search (or the climb) read it
        tweet = self.fetched.get(at)
        if tweet is None or tweet.author_id != author_id:
            return None
        while (parent := self.fetched.parent(tweet)) is not None:
            if tweet.in_reply_to_user_id and tweet.in_reply_to_user_id != author_id:
                break  # it answers someone else: the thread starts here (no need to read whose post it answers)
            self.fetched.lookup([parent])
            above = self.fetched.get(parent)
            if above is None:  # a post of theirs X cannot give (deleted): the chain went on above it
                return self.first_above_gap(at, author_id) or at
            if above.author_id != author_id:
                break  # someone else's post: the thread starts below it
            at, tweet = above.id, above
        return at

    def first_above_gap(self, below: str, author_id: str) -> str | None:
        """Where the author's thread starts when a post of it is gone above `below`: the latest of their posts
        in the conversation read so far that answers someone else, posted before it (assembly bridges the gap,
        as in any thread)."""
        starts = [
            t.id
            for t in self.fetched.tweets.values()
            if t.author_id == author_id
            and t.conversation_id == self.conv
            and t.in_reply_to_user_id not in (None, author_id)
            and int(t.id) < int(below)
        ]
        return max(starts, key=int, default=None)

    def first_post_deleted(
        self, root_id: str, target: str, gone: ThreadNotFound, *, complete: bool, full_archive: bool
    ) -> ApiTweet:
        """The thread's first post is deleted: the rest of it is still the author's, and the post the mention
        replies to says whose thread it is when it is a self-reply. Read it and go on from it; the root stands in
        the conversation as a gap. Anything else: the thread is gone (`gone`).

        When search sees the whole conversation, the mention names the summoned post's author: their posts are
        searched first (the thread's search when it is theirs), which reads the summoned post and its parent once;
        the summoned post is looked up only when search left it out (posted moments ago: with its parent, as any
        summoned post search left out). Looked up first with its parent, both came again in the search."""
        request = self.request
        under = request is not None and request.replied_to_id == target and request.conversation_id == root_id
        if request is None or gone.reason != "deleted" or not under:
            raise gone
        author = request.replied_to_user_id
        if complete and author is not None and self.searched is None:
            self.search(root_id, Author(id=author, username=""), full_archive=full_archive, since_id=root_id)
            self.searched = author
        # Nothing to ask when search or the climb read it. Asked before a search (its author unknown), alone: the
        # search brings it again, and its parent.
        self.fetched.lookup([target], referenced=self.searched is not None)
        summoned = self.fetched.get(target)
        if summoned is None or not summoned.author_id or summoned.in_reply_to_user_id != summoned.author_id:
            raise gone  # not a self-reply: someone else's answer in the conversation, no part of a thread
        self.gone, self.gone_author = gone, summoned.author_id
        return summoned

    def search(self, root_id: str, author: Author, *, full_archive: bool, since_id: str | None) -> None:
        # from: keeps other people's replies out of what is billed; is:reply keeps out the root, read already.
        # By handle or id: an author renamed since the thread was stored is still found.
        query = f"conversation_id:{self.conv or root_id} {from_user(author.username, author.id)} is:reply"
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
        self.fetched.search(query, full_archive=full_archive, since_id=since_id, start_time=start_time)

    def target_unseen(self, nodes: dict[str, Node], author_id: str, target: str) -> bool:
        """Whether the summoned post should be in what was read but is not: it is the author's (the mention
        says whose post it answers) or was posted moments ago. Recent search may leave out its last 30 seconds
        (https://docs.x.com/x-api/posts/search/api-reference/get-2-tweets-search-recent, end_time) and its
        index is not promised complete; without a climb from it, the page would end before the post the
        reader asked about. Someone else's older reply is not looked up: it is not part of the thread."""
        if self.fetched.canon(target) in nodes:  # `nodes`: what is known of the conversation now
            return False
        request = self.request
        by_author = request is not None and target == request.replied_to_id and request.replied_to_user_id == author_id
        if self.stored is not None and int(target) < int(self.stored.last_id):
            # Older than the stored chain's end and not in it: someone else's is no part of the thread; the
            # author's may be another branch, or continue their answer to a reader (read to know, +1 lookup).
            return by_author
        return by_author or snowflake_time(target) > self.now - JUST_POSTED

    def under_someones_reply(self, nodes: dict[str, Node], author_id: str, target: str) -> bool:
        """Whether to climb from the summoned post: it is someone else's reply, or the author's answer to
        someone, and the author went on from an answer of theirs to someone (`assembly.detours`): the summoned
        post may sit under that answer, among its readers' replies, which only the way up tells (each of them
        read alone, `ask_alone`)."""
        node = nodes.get(self.fetched.canon(target))
        if node is None or not detour_likely(nodes, author_id):
            return False
        return node.author_id != author_id or node.parent_author_id not in (None, author_id)

    def read_answered_reply(self, root_id: str, author_id: str, target: str) -> None:
        """Readers' replies the author answered and went on from (`assembly.detours`), which `from:` search leaves
        out: each says whether its answer hangs from a post of the thread (wherever the summoned post is: above a
        detour, the thread goes on through it). All those unread are asked for in one request (100 a request),
        each alone: its parent, asked with it, would often be a post of the thread read twice. A round reads more
        only when one read shows another reader's reply above it, or an answer above that the author went on
        from (answers within answers): each post is read once, the rounds end when none is left to read."""
        while True:
            nodes = self.nodes(root_id)
            went_on = self_replies(nodes, author_id)
            likely = detour_likely(nodes, author_id, went_on)
            unread = self.answered_replies(nodes, root_id, author_id, target, went_on, likely)
            if not unread:
                return
            self.fetched.lookup(sorted(unread, key=int), referenced=False)

    def answered_replies(
        self,
        nodes: dict[str, Node],
        root_id: str,
        author_id: str,
        target: str,
        went_on: dict[str, list[str]],
        any_detour: bool,
    ) -> set[str]:
        """The first unread post up the row of others' posts above each of the author's answers that reading it may
        show a detour for: the author went on from that answer (a self-reply, or a detour below it through an
        answer to a reply to it: answers within answers), or it is the summoned post and the author went on from
        another such answer (its way up may pass it). Not for an answer older than where the summoned post's way
        up meets the thread (`anchor`)."""
        summoned = self.fetched.canon(target)
        nested = set(detours(nodes, author_id, went_on).values())  # answers a detour below goes through
        # Where the summoned post's way up meets the thread by known links (no gap bridged): the thread takes the way
        # to it at every post above, so an answer posted before that post hangs from one of them (its reply came
        # after the post it replies to) and cannot change the page: its reply is not read.
        linked = reachable(nodes, self.fetched.canon(root_id), author_id, through_detours=True)
        anchor = next((i for i in ancestry(nodes, summoned) if i in linked), None)
        unread: set[str] = set()
        for tweet_id, node in nodes.items():
            if node.author_id != author_id or node.parent_id is None or node.parent_author_id in (None, author_id):
                continue
            if anchor is not None and int(tweet_id) < int(anchor) and tweet_id != summoned:
                continue
            if not (went_on.get(tweet_id) or tweet_id in nested or (tweet_id == summoned and any_detour)):
                continue
            reply = node.parent_id
            # Up the readers' posts in a row (a reader's reply to a reader's, the bot's to a summon) to the first
            # one not read, unless X said it cannot give it.
            passed: set[str] = set()
            while (above := nodes.get(reply)) is not None and above.author_id != author_id and reply not in passed:
                passed.add(reply)
                if above.parent_id is None:
                    break
                reply = above.parent_id
            if reply not in nodes and not self.fetched.known(reply):
                unread.add(reply)
        return unread

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

    def search_window_first(self, root_id: str, target: str) -> None:
        """A thread begun before recent search's window, summoned under a post inside it whose author the mention
        names: their posts in the window come from one search (100 a page) instead of a lookup per two posts
        climbed, and the climb starts above the oldest of them. A running thread (a post a day for weeks, or a
        first post continued days later) costs its window's searches plus a lookup per two posts before it."""
        request = self.request
        if request is None or request.replied_to_id != target or not request.replied_to_user_id:
            return
        if not self.in_window(target):
            return  # nothing after an old summoned post is older than the window: searched after the climb
        author = Author(id=request.replied_to_user_id, username="")  # by id: the handle is not known yet
        self.search(root_id, author, full_archive=False, since_id=None)
        self.searched = author.id

    def search_archive_first(self, root_id: str, target: str) -> None:
        """A thread older than the window, with full archive: the summoned post's author's posts in the
        conversation are searched before the root is looked up. X may refuse the app full-archive search (`resolve`
        then climbs as without it): the root read before the refusal would come again as the parent of the second
        post whenever the summoned post's depth is odd. Their posts are the thread's search when the root is theirs
        (the usual case), and their own thread's (`subthread`) when it is not."""
        author = self.summoned_author()
        if author is None or (self.fresh_for > 0 and self.store.is_lone_reply(target)):
            return  # (found in no thread of theirs moments ago: not searched again, `answering`)
        self.search(root_id, Author(id=author, username=""), full_archive=True, since_id=root_id)
        self.searched = author

    def climb_to_root(self, root_id: str, target: str) -> None:
        """An old thread that search cannot see: up the reply chain from the summoned post, two posts per lookup
        (the one asked for, its parent in `includes`), until the root or a post X cannot give. The root is met
        last, as a parent, so no post is read twice (asked for with the summoned post, the root would come
        again as the parent of the second post whenever the summoned post's depth is odd)."""
        ask: str | None = target
        while ask is not None:
            # After the window's search, the summoned post's parent, or a reader's post's, is likely read already.
            searched = self.searched
            alone = searched is not None and (ask == target or self.ask_alone(ask, searched))
            self.fetched.lookup([ask], referenced=not alone)
            ask = self.unread_ancestor(ask, root_id)

    def ask_alone(self, post_id: str, author_id: str) -> bool:
        """Whether to look a post up without its parent: when that parent is likely read already, asking for it
        again would bill it twice (a request is spent instead: quota, not money). So for a post a read one says
        is someone else's than the author's: a reader's reply the author answered hangs from a post of the
        thread."""
        owners = {t.in_reply_to_user_id for t in self.fetched.tweets.values() if self.fetched.parent(t) == post_id}
        return any(owner not in (None, author_id) for owner in owners)

    def unread_ancestor(self, tweet_id: str, root_id: str) -> str | None:
        """The first post up the reply chain from `tweet_id` not read yet; None at the root, at a post without
        a parent, or at one X said it cannot give."""
        seen: set[str] = set()
        root_id, tweet_id = self.fetched.canon(root_id), self.fetched.canon(tweet_id)
        while (tweet := self.fetched.tweets.get(tweet_id)) is not None and tweet_id != root_id:
            parent = self.fetched.parent(tweet)
            if parent is None or parent in seen:
                return None
            seen.add(tweet_id)
            tweet_id = parent
        if self.fetched.known(tweet_id):
            return None
        return tweet_id

    def climb(self, root_id: str, author_id: str, target: str, *, follow_target: bool, connect: bool) -> None:
        """Look up the missing links up to the root's chain: from the target (so a branch can be chosen
        by it) and, when search could not see the whole conversation, from the author's unconnected
        self-replies. Each lookup climbs two levels: the tweets asked for, and their parents in `includes`.
        """
        while True:
            nodes = self.nodes(root_id)
            anchored = reachable(nodes, self.fetched.canon(root_id), author_id)
            need: set[str | None] = set()
            if follow_target:
                need.add(missing_link(nodes, self.fetched.canon(target), anchored))
            linked: set[str | None] = set()
            if connect:
                linked = {
                    missing_link(nodes, n.id, anchored, only_self_replies_of=author_id)
                    for n in nodes.values()
                    if n.id not in anchored and n.author_id == author_id
                }
            wanted = {n for n in need | linked if n and not self.fetched.known(n)}
            if not wanted:
                return
            # A refresh's missing link for a newer post hangs from the stored chain (another branch's post): its
            # parent is stored.
            refreshed = self.stored is not None
            alone = {n for n in wanted if (refreshed and n in linked - need) or self.ask_alone(n, author_id)}
            if alone:
                self.fetched.lookup(sorted(alone), referenced=False)
            if wanted - alone:
                self.fetched.lookup(sorted(wanted - alone))

    def thread(self, root_id: str, author: Author, target: str, *, complete: bool) -> Thread:
        nodes = self.nodes(root_id)
        chain = assemble(nodes, self.fetched.canon(root_id), author.id, self.fetched.canon(target))
        broken = broken_self_replies(nodes, author.id)
        # The author's answer to someone's reply X would not give (deleted, protected): the thread goes on to it
        # over a gap, and the page says a post is missing there rather than whom it answered. (A thread's first
        # post answering someone's post the search left out is no gap.)
        over_gap = detour_over_gap(nodes, author.id, self.fetched.canon(target), self_replies(nodes, author.id))
        over_gap = over_gap if over_gap in chain[1:] else None
        # A self-reply whose parent X reported gone; in a full search of a new thread, any missing parent.
        deleted = (
            self.gone is not None
            or over_gap is not None
            or any(n.parent_id in self.fetched.problems or (complete and not self.stored) for n in broken)
        )
        gaps = ["deleted_tweets"] if deleted or (self.stored and "deleted_tweets" in self.stored.gaps) else []
        if not complete and chain and not self.in_window(chain[-1]):
            gaps.append("older_than_search_window")
        includes = self.fetched.includes()
        canon, gone = self.fetched.canon, self.fetched.problems
        # A stored post answers its parent's latest version (edited since it was stored: a new id), as read now.
        kept = {
            t.id: t.model_copy(update={"replied_to": canon(t.replied_to)}) if t.replied_to else t
            for t in (self.stored.tweets if self.stored else [])
        }
        # A refresh reads only newer posts: the stored branches stay, by their posts' latest versions.
        kept_branches = self.stored.branches if self.stored else {}
        branches = {canon(post): [canon(o) for o in others] for post, others in kept_branches.items()}
        for post, others in other_branches(nodes, chain, author.id).items():
            branches[post] = sorted({*branches.get(post, []), *others}, key=int)
        branches = {post: [o for o in others if o not in chain and o not in gone] for post, others in branches.items()}
        return Thread(
            root_id=root_id,
            conversation_id=self.conv or root_id,
            author=author,
            tweets=[
                kept.get(i) or self.shown(self.fetched.tweets[i], includes, author.id, over_gap=i == over_gap)
                for i in chain
                if i in kept or i in self.fetched.tweets  # not the deleted first post standing in as a gap
            ],
            fetched_at=self.now,
            fetched_for=self.request.mention_id if self.request else None,
            gaps=gaps,
            branches={post: others for post, others in branches.items() if post in chain and others},
        )

    def shown(self, tweet: ApiTweet, includes: Includes, author_id: str, *, over_gap: bool) -> ThreadTweet:
        """A post as the page shows it (`Reads.shown`); `over_gap`, the author's answer to a reply that is gone
        (`assembly.detour_over_gap`): no "Replying to", so the page notes a missing post before it."""
        shown = self.fetched.shown(tweet, includes, author_id, self.parent_of)
        return shown.model_copy(update={"answers": None}) if over_gap else shown


def archive_refused(api: XApi) -> bool:
    """Whether X refused this process full-archive search lately (`ARCHIVE_REFUSED_FOR`): access may be granted
    meanwhile, so it is asked again after that, at the price of one refused request."""
    refused = api.archive_refused_at
    return refused is not None and time.monotonic() - refused < ARCHIVE_REFUSED_FOR


def may_search_archive(request: UnrollRequest, now: datetime) -> bool:
    """Whether resolving the request may call full-archive search: a reply's conversation is known up front, and
    one that started within recent search's window never needs it (every post of it is newer); a quote's (or a
    pasted link's) is known only once the post is read."""
    first = first_lookup(request)
    return first is not None and (first[0] is None or not in_recent_window(first[0], now))


def first_lookup(request: UnrollRequest) -> tuple[str | None, str] | None:
    """What the resolver first looks for in the store: (the thread's root when the mention replies under it,
    the post the mention is under or quotes); None when it does neither."""
    target = request.replied_to_id or request.quoted_id
    if target is None:
        return None
    return (request.conversation_id if request.replied_to_id else None), target


def resolve(
    api: XApi,
    store: Store,
    request: UnrollRequest,
    settings: Settings,
    *,
    now: datetime | None = None,
    fresh_for: float = FRESH_FOR,
    lock: Lock | None = None,
    ahead: FirstRead | None = None,
    reads: Reads | None = None,
    bot_id: str | None = None,
) -> Resolution:
    """Find the thread a request asks for; transient API errors (RateLimited, ApiUnavailable) propagate.

    `lock` (the thread's, not yet taken) is taken with the first read of the store, so that mentions of one
    thread resolve one at a time; the caller gives it back. `ahead`: that first read, made by the caller on
    a round trip of its own (`Store.first_read`). `reads`: what an earlier try of the same request read, kept
    by the caller across its quick retries. `bot_id`: the bot's user id, which tells an author's summon under
    their own thread from a post of it (UNROLL_BOT_HANDLE does without it)."""
    when = now or utcnow()
    may_need = settings.full_archive and not archive_refused(api) and may_search_archive(request, when)
    if may_need and store.archive_refused():  # another process (an earlier `run --once`) was refused
        api.archive_refused_at = time.monotonic()
    if settings.full_archive and archive_refused(api):
        settings = settings.model_copy(update={"full_archive": False})
    resolver = _Resolver(api, store, settings, when, fresh_for, lock, ahead, reads)
    resolver.bot_id = bot_id
    with api.metered() as usage:
        try:
            try:
                resolution = resolver.run(request)
            except NotAllowed as exc:
                if exc.endpoint != ARCHIVE:
                    raise
                # The app has no full-archive access (403 client-forbidden): a refusal for good, not a failure of
                # this request. Resolve as without it (recent search, climbing), and don't ask again for a while.
                api.archive_refused_at = time.monotonic()
                store.note_archive_refused(ARCHIVE_REFUSED_FOR)  # for every process, a later `run --once` too
                log.error(
                    "full_archive_refused",
                    error=str(exc),
                    fix="set UNROLL_FULL_ARCHIVE=false, or get the app full-archive access",
                    asked_again_in=ARCHIVE_REFUSED_FOR,
                )
                settings = settings.model_copy(update={"full_archive": False})
                # The thread's lock is held already (taken with the first read): not asked for again.
                resolver = _Resolver(api, store, settings, resolver.now, fresh_for, None, None, resolver.fetched)
                resolver.bot_id = bot_id
                resolution = resolver.run(request)
        except ThreadNotFound as exc:
            outcome: ResolutionOutcome = (
                "protected"
                if exc.reason in ("protected", "suspended")
                else "opted_out"
                if exc.reason == "author_opted_out"
                else "not_found"
            )
            resolution = Resolution(outcome, reason=exc.reason, detail=str(exc))
    resolution.usage = usage
    resolution.lone_reply = resolver.lone_reply
    thread = resolution.thread
    log.info(
        "thread_resolved",
        mention_id=request.mention_id,
        outcome=resolution.outcome,
        reason=resolution.reason,
        root_id=resolution.root_id,
        tweets=len(thread.tweets) if thread else 0,
        gaps=thread.gaps if thread else [],
        requests=usage.requests,
        tweets_read=usage.tweets_read,
    )
    return resolution
