"""Mention → thread: the fewest X API calls that find the whole thread, then pure assembly.

The mention's `conversation_id` is the root's id (of the conversation: a thread answering someone else's post
starts below it, see the last case), and a snowflake id tells when a tweet was posted
(https://docs.x.com/resources/fundamentals/x-ids), so whether the thread is inside the 7-day window of
recent search is known before any call. Lower bounds (requests; every tweet is read once: searches don't
expand referenced tweets, lookups do, so a lookup also reads its tweets' parents and quoted posts, and the
posts the thread quotes are looked up together in one more request):

- stored copy fetched less than `fresh_for` seconds ago, and more than X's search lag after the summon: 0
  requests (summoned under a post of the author's it lacks, or after the copy was read: as an older copy);
- stored copy, older: 1 search per 100 newer tweets (at least 1), `since_id` its last tweet;
- a post found alone (no thread) less than `fresh_for` seconds ago, summoned under again by a summon made before
  it was read: 0 requests (made after: read again, the author may have gone on);
- new thread of N tweets within the window: 1 root lookup + max(1, ⌈(N-1)/100⌉) recent searches of
  `conversation_id:<root> (from:<handle> OR from:<id>) (to:<handle> OR to:<id>)` (`from:` keeps others' replies
  out of the bill, `to:` the author's answers to them: an author answering fifty readers under their thread
  would have each answer billed at every unroll and refresh);
- older than the window, full archive allowed: 1 root lookup + max(1, ⌈(N-1)/500⌉) full-archive searches, the
  search asked first, of the summoned post's author's posts (the mention names them; the thread's author's but
  for a reader's reply, below): X may refuse the app full-archive search (then resolved as without it, and
  asked again after `bot.refusals.REFUSED_FOR`), and a root read before the refusal would be read again by the
  climb, as the second post's parent, whenever the summoned post's depth is odd;
- older, no full archive, mention under the tweet at depth d (root = 0): 1 recent search + lookups
  climbing the reply chain from the target, each returning its parent in includes: ⌈(d+1)/2⌉, + 1 page of the
  author's timeline in the hour after the thread's newest post found (`bot.walks`: only it tells whether the
  thread went on, as what answered a deleted post is in no reply count); on through the `UNROLL_OLD_THREAD_HOURS`
  after it while X's `reply_count` of a post of the thread says it has a reply not read (a page per 100 of the
  author's posts, every post of theirs there billed, the thread's or not, each once; a span after the posts
  found, by a request more);
  when a span finds nothing and the author made more than the 3,200 posts the timeline reaches, +1 request and
  the thread's newest post read again, to tell a thread beyond reach from one that ended; a deleted post met by
  the climb: +1 page of the timeline between the posts around it, each of its posts read once).
  Each post of the thread is read once (d+1 posts, and those after it). Knowing d, the climb's floor is ⌈d/2⌉:
  for an even d, asking for the root with the target would save a lookup; for an odd d it would read the root
  twice. d is not known before the climb, so the resolver spends the request, never the post. When the thread
  went on into the window and the summoned post is in it (a reply naming its author), its author's posts in the
  window come first from recent search (1 per 100), and the climb reads only the posts before the window (⌈k/2⌉
  lookups for k; no timeline: nothing older than the window follows the thread's newest post);
  summoned under the first post itself, the same: the window's search, then the climb from its oldest post up,
  which meets the first post last (looked up first, it came again as that climb's parent);
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
- a self-reply of the author's whose parent the search did not give (a post deleted, or one search's index left
  out: X does not promise it complete, and only a lookup tells which): +1 lookup of all such parents, each alone
  (their own parents were read), riding on the climb's first lookup when there is one; a deleted post reads
  nothing, one left out is read once and the page holds it instead of a gap.
- the thread's first post deleted (or its author suspended, which X answers alike): the root lookup reads
  nothing, and the thread's search is of the summoned post's author's posts (the mention names them), asked
  before the summoned post is read: when it is a self-reply among them, the thread is the author's chain from
  the deleted post on, each post read once, no request more. +1 lookup, with its parent, when search left the
  summoned post out (posted moments ago), as below; a suspended author's posts are not searched out, so their
  summoned post is asked for too: 3 requests, no post read. Old, without full archive: the climb reads it.
  The same when X won't show the first post (its author protected): a thread answering a question whose asker
  has since protected their account is found so; the protected author's own thread costs those 3 requests.
- the summoned post another author's than the conversation's first post (a reply of someone else's, or a
  thread answering a question, a news post, another thread): +1 search of that author's posts in the
  conversation (also beside a fresh stored copy of the conversation's thread: it can't know of them); their own
  thread, when the summoned post is in one of two posts or more, is the page, kept under its own first post.
  Their answer to someone's reply under a post of theirs, not gone on from: +1 lookup per post of the row of replies
  above it (each alone; not past a post replying to the first post's author, or a self-reply of its author's), and
  the thread that row hangs from is the page. Their reply to a third author's post (a reader's under a thread
  answering the first post), within the window: +1 lookup of that post alone (its parent, asked with it, would be
  read twice: the first post, or a post of the thread searched next), then, when it is a self-reply of its author's
  or a reply to the first post, +1 search of its author's posts after it and +1 before it: it is not read again, and
  their thread holding it is the page when it has two posts or more. A reply to a reader's reply under the first
  author's thread costs that lookup (the climb to the branch it hangs from makes it anyway when the thread
  branched), and those searches only when that reply answers the first post itself. Their answer's row, and that
  post, are read only when the conversation was searched from its start. Older than the window, not tried: full
  archive's search after it would start at its second and read it again.
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
- summoned under a lone post that quotes another (someone's "this 🧵"): that post's lookup (the quoted post comes
  with it) and the search of its author's replies, then the quoted post's thread as for a quote (its search
  reads the quoted post again: +1 post); one hop, never a quote of a quote (the quoted lone post is no thread,
  and what it quotes is not read for a card: no page is made). No lone post's quoted post is read for its card.
- a detour (the author's answer to someone's reply to a post of the thread, or to a reply to that reply, gone on
  from with a self-reply, or through answers within answers down to one), wherever the summoned post is (above
  it too: the thread goes on through it), or the summoned post the author's answer to someone's reply beside
  such a detour: +1 lookup of the answers (`to:` search leaves them out; the self-replies under them say where
  they are: each read alone, all in one request, as any self-reply's missing parent), and +1 post per reader's
  reply above such an answer posted after where the summoned post's way up
  meets the thread (one before hangs above it: no page change), as `from:` search leaves them out, read alone
  (its parent, a post of the thread, was read), all of a round in one lookup (100 a request), bare (no user, media
  or poll: the page shows none of them, and names whom the answer replies to from its own mention): +1 lookup, and +1
  more for each further row of readers' replies or answer within an answer a read shows above (an answer within
  answers is read whole: a post of the page). The summoned post the author's answer to someone: search does not
  give it, so it is climbed from, read with the reply it answers (+1 lookup). A reply X will
  not give (deleted, its author protected; or a post up the row of replies, the author's own included) costs no
  post: the page goes on to the answer over a gap (`assembly.answers_over_gap`, `assembly.detour_over_gap`),
  wherever the summoned post is.
The resolver reads the store but never writes it: the worker saves the thread it returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from bot.answering import Answering
from bot.apimodels import ApiProblem, ApiUser
from bot.assembly import branched
from bot.errors import ApiUnavailable, NotAllowed, ThreadNotFound
from bot.firstsearches import FirstSearches, may_search_archive
from bot.models import Thread, UnrollRequest, utcnow
from bot.reads import Reads
from bot.refusals import REFUSED_FOR, note_refusal, refused
from bot.resolution import Resolution, ResolutionOutcome, first_lookup
from bot.store import FirstRead, Lock, Store
from bot.tweettext import author_of, snowflake_time
from bot.walks import Walks
from bot.xapi import ARCHIVE, RECENT, XApi
from config.settings import Settings

__all__ = ["FRESH_FOR", "Resolution", "ResolutionOutcome", "first_lookup", "resolve"]

log = structlog.get_logger(__name__)

FRESH_FOR = 60.0  # seconds a stored thread is served without asking X for newer tweets
QUOTE_HOPS = 2  # lone quotes followed to the thread they quote: a quote of a quote of it, at most
# How long after posting X lets a post be edited (https://docs.x.com/x-api/fundamentals/edit-posts), a minute more
# for clocks apart.
EDIT_WINDOW = timedelta(minutes=31)


def _unavailable(tweet_id: str, problem: ApiProblem | None, what: str) -> ThreadNotFound:
    """The error for a tweet X would not give: `protected` for a protected or suspended author, else `not_found`."""
    text = f"{problem.title} {problem.detail} {problem.type}".lower() if problem else ""
    if "suspended" in text:
        return ThreadNotFound(f"{what} {tweet_id} is by a suspended account", reason="suspended")
    if "not-authorized" in text or "authorization" in text:
        return ThreadNotFound(f"{what} {tweet_id} is by a protected account", reason="protected")
    return ThreadNotFound(f"{what} {tweet_id} no longer exists", reason="deleted")


class _Resolver(Walks, FirstSearches, Answering):
    """One request's resolution: a stored thread refreshed, or a new one found (the steps' own modules)."""

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
        if self.stored is None and self.lock is not None and self.lock.waited and self.opted_out_since():
            # The worker this one waited for (a lane of the same process, say) was the author's "delete": the
            # first read said nothing of it, and reading the thread now would be refused at the save all the same.
            raise ThreadNotFound(f"the author of {target} opted out", reason="author_opted_out")
        if self.stored is None and root_id in (None, target) and self.found_alone("post", target):
            # A post found alone moments ago (a conversation's first post with no thread), asked for again: a
            # mention under it, a quote of it, its link pasted on the site once more (asked only where it may be
            # one: under a conversation's first post, or a post whose conversation is not known yet).
            return Resolution("no_thread", reason="single_tweet", root_id=target)
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
            # As for a reply: the thread stored under the conversation's first post, else the one holding the post,
            # else the thread answering that first post (whose own first post is another's), to refresh.
            self.stored = self.store.find_thread(root_id, target)
        stored, other = self.stored, self.summoned_author()
        if (
            stored is not None
            and other is not None
            and other != stored.author.id
            and all(t.id != target for t in stored.every_tweet)
        ):
            # The summoned post is another author's, and not in the stored thread: it may be in their own thread
            # answering this one.
            # Even a copy stored a moment ago cannot tell: a thread answering it may have been posted since.
            if stored.conversation_id != stored.root_id:
                self.stored = None  # found by its conversation, itself such an answer: not this thread
            elif (own := self.answering(stored.conversation_id, other, target, stored.author.id)) is not None:
                return own
        if self.stored is not None:
            return self.refresh(self.stored, target)
        assert root_id is not None
        return self.new(root_id, target)

    def refresh(self, stored: Thread, target: str) -> Resolution:
        """A thread unrolled before: only what is newer than its last tweet, nothing at all while fresh."""
        if stored.conversation_id != stored.root_id:
            self.conv = stored.conversation_id  # an author's thread in someone else's conversation
        own = self.request is not None and stored.fetched_for == self.request.mention_id
        # Summoned under a post of the author's that the copy lacks (posted since, or on a branch it does not
        # follow): however fresh, the copy is not the page asked for.
        lacks = self.summoned_author() == stored.author.id and all(t.id != target for t in stored.every_tweet)
        root_id, author_id, last = stored.root_id, stored.author.id, stored.newest_id  # (a section's, it may be)
        complete = self.in_window(last) or self.settings.full_archive
        if (
            (self.now - stored.fetched_at).total_seconds() < self.fresh_for
            and not lacks
            and self.covers(stored.fetched_at)
        ):
            if all(t.id != target for section in stored.sections for t in section.tweets):
                return Resolution("cached", stored, reason="fresh", root_id=stored.root_id, own=own)
            # Summoned under a post of a branch shown after the thread: the page follows that branch now (the
            # others after it), made from the copy alone.
            thread = self.thread(root_id, stored.author, target, complete=complete)
            return Resolution("resolved", thread, reason="branch", root_id=root_id)
        since = last if complete else None  # recent search refuses a since_id older than its window
        full_archive = not self.in_window(last) and self.settings.full_archive
        # The first post, edited after the copy was read (X allows it for 30 minutes), is a new post newer than the
        # copy's last: not a reply, it comes only when the search does not ask for replies alone.
        edited = since is not None and stored.fetched_at < snowflake_time(root_id) + EDIT_WINDOW
        self.search(
            root_id,
            stored.author,
            full_archive=full_archive,
            since_id=since,
            replies_only=not edited,
            self_replies=True,
        )
        nodes = self.nodes(root_id)
        follow = (
            branched(nodes, author_id)
            or self.target_unseen(nodes, author_id, target)
            or self.under_someones_reply(nodes, author_id, target)
        )
        # A newer post whose parent is not stored may answer another branch's post, not a deleted one: read it.
        self.climb(root_id, author_id, target, follow_target=follow, connect=True, detours=True)
        self.read_answered_reply(root_id, author_id, target)
        if not complete:
            # A copy that said it may stop early is followed from its newest post; one read whole then, from then on.
            whole = "older_than_search_window" not in stored.gaps
            read_at = stored.fetched_at - timedelta(seconds=self.settings.search_lag) if whole else None
            self.follow_old_thread(root_id, author_id, target, since=read_at)
        self.fetched.quoted()
        seen = self.fetched.users.get(author_id)  # the author as X shows them now (a renamed handle, say)
        thread = self.thread(root_id, author_of(seen) if seen else stored.author, target, complete=complete)
        if (
            [t.id for t in thread.every_tweet] == [t.id for t in stored.every_tweet]
            and len(thread.tweets) == len(stored.tweets)  # the same posts, the page following the same branch
            and thread.author == stored.author
            and thread.gaps == stored.gaps  # (an old thread's timeline read: it no longer says it may stop early)
        ):
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
        elif not complete and (searched := self.search_under_old_root_first(root_id)) is not None:
            self.climb(root_id, searched, root_id, follow_target=False, connect=True)  # up to the first post
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
            own = self.answering(root_id, other, target, root.author_id)
            if own is not None:
                return own
        if root.author_id and other != root.author_id and self.store.is_opted_out("", root.author_id):
            # Summoned under someone else's post (the first round trip asked about its author only): the first
            # post's author opted out, so there is nothing to search for.
            raise ThreadNotFound(f"the author of {root_id} opted out", reason="author_opted_out")
        user = self.first_author(root_id, root.author_id)
        since = root_id if complete else None  # exclusive: the root was read already
        summoned = self.fetched.get(target)
        if not complete and summoned is not None and summoned.author_id == user.id and self.in_window(summoned.id):
            # The climb read the chain up from the author's summoned post; searching the whole window would read
            # again what of it is in the window. What follows it is all newer than it.
            since = summoned.id
        if self.searched != user.id:  # (searched already when the summoned post said whose it is)
            self.search(root_id, author_of(user), full_archive=full_archive, since_id=since, self_replies=True)
        nodes = self.nodes(root_id)
        follow = (
            not complete
            or branched(nodes, user.id)
            or self.target_unseen(nodes, user.id, target)
            or self.under_someones_reply(nodes, user.id, target)
        )
        # Connected whatever search could see: a self-reply whose parent it did not give hangs from a post deleted, or
        # one search left out (its index is not promised complete): one lookup tells, and reads the post if it is.
        self.climb(root_id, user.id, target, follow_target=follow, connect=True, links_alone=complete, detours=True)
        self.read_answered_reply(root_id, user.id, target)
        if not complete:
            self.follow_old_thread(root_id, user.id, target)
        thread = self.thread(root_id, author_of(user), target, complete=complete)
        if self.gone is not None and not thread.tweets:
            raise self.gone  # no chain of the author's hangs from the deleted first post
        return self.lone_or_thread(self.with_cards(thread, target, complete=complete), root_id, target)

    def opted_out_since(self) -> bool:
        """Whether the summoned post's author (as the mention said) opted out since the request's first read."""
        author = self.ahead.author_id if self.ahead is not None else None
        return bool(author) and self.store.is_opted_out("", author)

    def first_author(self, root_id: str, author_id: str | None) -> ApiUser:
        """The first post's author as X gave them with it; ThreadNotFound when X said they cannot be seen
        (suspended) or they are protected."""
        user = self.fetched.users.get(author_id or "")
        if user is None and author_id and author_id not in self.fetched.user_problems:
            # X gives a post's author with it (or says why not: suspended): an answer without either is broken on
            # its way, not a final word on the thread (retried, as any broken answer, with the post asked again:
            # kept, every later try and attempt failed on it, and the request went to the dead letters).
            self.fetched.forget(root_id)
            raise ApiUnavailable(f"X gave the post {root_id} without its author, saying nothing of them")
        if user is None:
            raise ThreadNotFound(f"the author of {root_id} cannot be seen", reason="suspended")
        if user.protected:
            raise ThreadNotFound(f"@{user.username} is a protected account", reason="protected")
        return user

    def with_cards(self, thread: Thread, target: str, *, complete: bool) -> Thread:
        """The thread with the posts its posts quote read for their cards (made again when that read any); a lone
        post's are not read: no page shows them."""
        if self.lone(thread):
            return thread
        read = len(self.fetched.tweets), len(self.fetched.problems)
        self.fetched.quoted()
        if (len(self.fetched.tweets), len(self.fetched.problems)) == read:
            return thread
        return self.thread(thread.root_id, thread.author, target, complete=complete)

    def lone(self, thread: Thread) -> bool:
        """One post, nothing missing, and UNROLL_SINGLE_TWEET does not unroll it: no page of its own."""
        single = len(thread.tweets) == 1 and "deleted_tweets" not in thread.gaps
        return single and self.settings.single_tweet != "unroll"

    def lone_or_thread(self, thread: Thread, root_id: str, target: str) -> Resolution:
        """A new thread found, unless it is one post (UNROLL_SINGLE_TWEET): then no thread, or the thread of the
        post it quotes (`quoted_thread`)."""
        if self.lone(thread):
            # A lone post quoting another: the quoted post's thread, even when what followed it could not all be
            # read (an old quote whose author posts a lot: `Walks` reads one page of theirs for it).
            if (quoted := self.quoted_thread(root_id, target)) is not None:
                return quoted
            # Older than the window, later self-replies may exist but cannot be seen: say so in the reason.
            reason = "older_than_search_window" if thread.gaps else "single_tweet"
            noted = reason == "single_tweet" and root_id == target  # its next summons read nothing (`run`)
            return Resolution("no_thread", reason=reason, root_id=root_id, lone_post=root_id if noted else None)
        return Resolution("resolved", thread, root_id=root_id)

    def quoted_thread(self, root_id: str, target: str) -> Resolution | None:
        """Summoned under a lone post that quotes another (someone's quote of a thread, "this 🧵"), or quoting
        one: the quoted post's thread, as a summon quoting it would get, and so on from a lone quote of a quote
        (`QUOTE_HOPS` in all). The quoted post came with the lone post's lookup; the thread's search reads it
        again (+1 post). None when the summoned post quotes nothing, or is in a thread."""
        post = self.fetched.get(root_id)
        quoted = post.referenced("quoted") if post is not None and target == root_id else None
        if quoted is None or self.request is None or self.hops >= QUOTE_HOPS:
            return None
        log.info("summoned_under_a_quote", quote=root_id, quoted=quoted)
        request = self.request.model_copy(
            update={"replied_to_id": None, "replied_to_user_id": None, "conversation_id": None, "quoted_id": quoted}
        )
        # The quoted thread's own lock is not taken: the lock held is the lone post's conversation's.
        again = self.again(self.settings)
        again.hops = self.hops + 1
        return again.run(request)

    def again(self, settings: Settings) -> _Resolver:
        """A resolution started over with what this one read (`Reads`), its locks and first read left to it."""
        again = _Resolver(self.fetched.api, self.store, settings, self.now, self.fresh_for, None, None, self.fetched)
        again.bot_id = self.bot_id
        return again


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
    # Another process's refusal (an earlier `run --once`) is asked of Redis only where full archive may be needed.
    if settings.full_archive and refused(api, store, "archive", shared=may_search_archive(request, when)):
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
                note_refusal(api, store, "archive")  # for every process, a later `run --once` too
                log.error(
                    "full_archive_refused",
                    error=str(exc),
                    fix="set UNROLL_FULL_ARCHIVE=false, or get the app full-archive access",
                    asked_again_in=REFUSED_FOR,
                )
                settings = settings.model_copy(update={"full_archive": False})
                # The thread's lock is held already (taken with the first read): not asked for again.
                resolver = resolver.again(settings)
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
        tweets=len(thread.every_tweet) if thread else 0,
        gaps=thread.gaps if thread else [],
        requests=usage.requests,
        tweets_read=usage.tweets_read,
    )
    return resolution
