"""Mentions → requests on the stream: one `poll_once()` that the scheduler, `run --once` and tests call.

The cursor (newest mention id handled) lives in Redis and moves in the same transaction that puts the
requests on the stream, so a crash never skips a mention nor queues one twice. Only one poller polls
at a time: a Redis lock with expiry, renewed while a long poll pages through mentions. Mentions the
timeline no longer reaches (it lists only the latest 800) are looked for in recent search before the
cursor moves past them: those since the cursor, or at the very first poll those since the look-back's start.
When the timeline fails part-way down its pages, what was read is queued, the cursor moves to the newest, and the
next poll pages down from the oldest read to the old cursor (`PagingGap`): no mention is read twice.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import structlog

from bot import metrics, spending
from bot.apimodels import ApiTweet, TweetsPage
from bot.audit import log_handled
from bot.errors import ApiError, ApiUnavailable, AuthFailed, InvalidRequest, PollTakenOver, RateLimited
from bot.models import HandledRequest, UnrollRequest
from bot.postlinks import linked_handle, linked_post
from bot.runtime import Bot
from bot.store import Lock, MentionGap, PagingGap, Taking, keep_alive
from bot.trigger import matches, mention_text
from bot.tweettext import snowflake_at, snowflake_time
from bot.window import RECENT_WINDOW, WINDOW_MARGIN

log = structlog.get_logger(__name__)

STATE_LOST_FIX = (
    "make Redis keep its data (appendonly yes, or snapshots) or point REDIS_URL at one that does: this poller goes "
    "on from the cursor it last saw; requests queued and replies recorded before the loss are gone"
)
MENTIONS_REACH = 800  # GET /2/users/:id/mentions reaches only the latest 800 mentions
PAGE_SIZE = 100
MAX_PAGES = 4 * MENTIONS_REACH // PAGE_SIZE  # a guard against an API that would page forever
EMPTY_PAGES = 3  # empty pages in a row, each with a next_token, after which the paging stops
REQUESTER_WINDOW = 3600.0  # seconds: UNROLL_REQUESTER_LIMIT counts a reader's requests per hour
LOCK_TIMEOUT = 15.0  # renewed every third of it while a poll runs; a dead poller's lock frees itself soon
# Recent search pages (of 100) one poll may spend on mentions beyond the timeline's reach: 2,000 posts, US$10 at
# X's US$0.005 per post read. A bigger gap is searched down to there, and the rest said lost.
SEARCH_PAGES = 20
SEARCH_QUERY_LIMIT = 512  # characters of a recent search query (X's self-serve limit)
_PLAIN_WORD = re.compile(r"[a-z0-9]+")  # a keyword X's tokenizer keeps whole, as the trigger does
GAPS_PER_POLL = 3  # gaps left by earlier polls (search failed, rate limited) searched again per poll


@dataclass
class PollResult:
    """What one poll did."""

    polled: bool = True
    seen: int = 0
    queued: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None


@dataclass
class Listing:
    """The pages of mentions one paging read: `exhausted` when it stopped at the timeline's reach (latest 800)
    with more still unread; `failed` when the timeline failed after its first pages (what they hold is read)."""

    pages: list[TweetsPage]
    exhausted: bool = False
    failed: ApiError | None = None

    @property
    def tweets(self) -> list[tuple[ApiTweet, TweetsPage]]:
        """Each mention once, as first read: a mention posted while the poll paged can come again on the next page
        (X pages by position), and one API repeating a page would otherwise queue and log it twice."""
        first: dict[str, tuple[ApiTweet, TweetsPage]] = {}
        for page in self.pages:
            for tweet in page.data:
                first.setdefault(tweet.id, (tweet, page))
        return list(first.values())


def fetch_mentions(bot: Bot, since: str | datetime, until: str | None = None, newer: int = 0) -> Listing:
    """Every page of mentions newer than `since` (the cursor, or on first start the look-back's start, a time)
    and, given `until`, older than that id. `newer`: mentions above `until` read already, which count against the
    timeline's reach. A failure for now (a rate limit, an outage) before any mention was read is raised; after,
    the pages read come back, `failed`."""
    pages: list[TweetsPage] = []
    token: str | None = None
    tokens: set[str] = set()
    seen: set[str] = set()
    cursor, start = since_parameters(since)
    while True:
        try:
            page = bot.api.mentions(
                bot.user_id,
                since_id=cursor,
                start_time=start,
                until_id=until,
                pagination_token=token,
                max_results=PAGE_SIZE,
            )
        except (RateLimited, ApiUnavailable) as exc:  # for now; refused (401, 400) is raised as at the first page
            if not any(p.data for p in pages):
                raise
            return Listing(pages, failed=exc)
        pages.append(page)
        token = page.meta.next_token
        # X's rule is "repeat until no next_token is returned": a page may come back short, or even empty,
        # with more after it; stopping there would move the cursor past the mentions still unread.
        if not token:
            return Listing(pages)
        if token in tokens and page.data and all(t.id in seen for t in page.data):
            # The same mentions again, and the same way on: an API paging in a circle, nothing new down there.
            log.warning("mentions_pages_repeat", pages=len(pages), next_token=token)
            return Listing(pages)
        tokens.add(token)
        seen.update(t.id for t in page.data)
        if newer + sum(len(p.data) for p in pages) >= MENTIONS_REACH or len(pages) >= MAX_PAGES:
            return Listing(pages, exhausted=True)
        if len(pages) >= EMPTY_PAGES and not any(p.data for p in pages[-EMPTY_PAGES:]):
            # Empty page after empty page that still says "more": not X's occasional short page but an API
            # paging nowhere. Below mentions read, what may lie past them is left to recent search, as mentions
            # beyond reach are; with none read the cursor stays, and the next poll asks again.
            log.warning("mentions_pages_empty", pages=len(pages), empty=EMPTY_PAGES)
            return Listing(pages, exhausted=any(p.data for p in pages))


def since_time(since: str | datetime) -> datetime:
    """When a gap's lower end stands: the cursor's time, read from its snowflake id, or the look-back's start."""
    return snowflake_time(since) if isinstance(since, str) else since


def since_parameters(since: str | datetime) -> tuple[str | None, datetime | None]:
    """A gap's lower end as X's parameters take it: (since_id, None) for the cursor, (None, start_time) for the
    look-back's start."""
    return (since, None) if isinstance(since, str) else (None, since)


def above(since: str | datetime) -> int:
    """The id every mention newer than a gap's lower end is greater than: the cursor (exclusive), or the last id
    before the look-back's start (inclusive). Ids are snowflakes: they compare as integers, and tell their time."""
    return int(since) if isinstance(since, str) else int(snowflake_at(since)) - 1


def beyond_reach(since: str | datetime, tweets: list[ApiTweet], exhausted: bool) -> str | None:
    """The oldest mention a poll read when mentions between `since` (the cursor, or at the first poll the
    look-back's start) and it may be out of the timeline's reach (None when the poll read everything since).

    X lists only the latest 800 mentions whatever since_id or start_time says, and then just stops paging: a
    poll that read that many (or gave up with more unread) without getting down to `since` cannot tell whether
    mentions between the two exist."""
    if not tweets:
        return None
    oldest = min((t.id for t in tweets), key=int)
    if int(oldest) <= above(since) or not (exhausted or len(tweets) >= MENTIONS_REACH):
        return None
    return oldest


@dataclass
class Recovery:
    """Recent search for the mentions between a gap's lower end (`MentionGap`: the cursor, or at the first poll the
    look-back's start) and the oldest one the timeline gave."""

    since: str | datetime
    oldest: str
    pages: list[TweetsPage] = field(default_factory=list)
    lost: str = ""  # why mentions may still be missing; "" when search found them all
    lost_before: datetime | None = None  # set when all that is missing is older than this
    retry: bool = False  # what is missing may still be found: a later poll searches again (`kept`)

    def found(self) -> list[tuple[ApiTweet, TweetsPage]]:
        """The mentions found, once each and strictly inside the gap: any other was read by an earlier poll or by
        this one's timeline, and would be queued twice."""
        low, high = above(self.since), int(self.oldest)
        return list({t.id: (t, p) for p in self.pages for t in p.data if low < int(t.id) < high}.values())

    @property
    def cursor(self) -> str | None:
        """The cursor the gap starts from; None for the first poll's gap, which starts at a time."""
        return self.since if isinstance(self.since, str) else None

    @property
    def kept(self) -> MentionGap | None:
        """The gap a later poll searches again: from its lower end to the oldest mention found (search pages newest
        first), when search could not finish now (a rate limit, an outage, its page cap, the budget)."""
        if not self.retry:
            return None
        return self.since, min([self.oldest, *(t.id for t, _ in self.found())], key=int)


def recover(bot: Bot, since: str | datetime, oldest: str) -> Recovery:
    """`recover_beyond_reach`, unless the daily budget is spent: searching bills posts, so the gap waits."""
    if spending.over_budget(bot.store, bot.settings):
        return Recovery(since, oldest, lost="the daily budget (UNROLL_DAILY_BUDGET) is spent", retry=True)
    return recover_beyond_reach(bot, since, oldest)


def recovery_query(username: str, user_id: str, keywords: list[str]) -> str:
    """The recent search query for mentions the timeline no longer reaches: the mentions of the bot that ask for
    something, without reposts and the bot's own posts (the timeline leaves those out too); search bills none
    of what it leaves out.

    X matches a keyword against a post's tokens (split on punctuation, symbols and spaces, any case), so a plain
    word ("unroll") finds what the trigger's whole-word match accepts, "#unroll" included. A keyword X would
    tokenize differently (punctuation, scripts written without spaces) could miss a request the trigger takes:
    then every mention is searched for (read and billed), and the trigger picks the requests, as from the timeline.
    The same when the keywords would take the query past recent search's 512 characters."""
    base = f"@{username} -is:retweet -from:{user_id}"
    words = sorted({k.strip().lstrip("#").lower() for k in keywords if k.strip()})
    if not words or not all(_PLAIN_WORD.fullmatch(w) for w in words):
        return base
    terms = " OR ".join(term for w in words for term in (w, f"#{w}"))
    query = f"{base} ({terms})"
    return query if len(query) <= SEARCH_QUERY_LIMIT else base


def recover_beyond_reach(bot: Bot, since: str | datetime, oldest: str) -> Recovery:
    """Page through recent search (newest first) for the mentions between `since` (the cursor, searched from as
    since_id, or the first poll's look-back start, as start_time) and the timeline's oldest; never raises: what
    it could not find is said in `lost`.

    Recent search bills each post as a post read (US$0.005, where a mention read is US$0.001): it is asked only
    when a gap may exist. It refuses a since_id or start_time older than its 7 days (400): a gap starting that
    long ago is searched from the window's start, and the mentions before it are lost."""
    query = recovery_query(bot.username, bot.user_id, [*bot.settings.keywords, *bot.settings.delete_keywords])
    window = datetime.now(UTC) - RECENT_WINDOW + WINDOW_MARGIN
    recovery = Recovery(since, oldest)
    since_id, start = since_parameters(since)
    cut = since_time(since) <= window  # https://docs.x.com/x-api/posts/search/introduction
    if cut:
        since_id, start = None, window
    if snowflake_time(oldest) <= window:  # the whole gap is older than the window: nothing search can give
        recovery.lost, recovery.lost_before = "older than recent search's 7 days", snowflake_time(oldest)
        return recovery
    token: str | None = None
    try:
        for _ in range(SEARCH_PAGES):
            page = bot.api.search(
                query,
                since_id=since_id,
                start_time=start,
                until_id=oldest,
                next_token=token,
                max_results=PAGE_SIZE,
            )
            recovery.pages.append(page)
            token = page.meta.next_token
            if not token:
                if cut:
                    recovery.lost, recovery.lost_before = "older than recent search's 7 days", window
                return recovery
        recovery.lost, recovery.retry = f"more than the {SEARCH_PAGES} pages of recent search a poll spends", True
    except (RateLimited, ApiUnavailable, AuthFailed) as exc:  # for now: a later poll searches again
        # (AuthFailed: X refused the credentials, X_BEARER_TOKEN's most often, which the operator is told to mend.)
        recovery.lost, recovery.retry = f"recent search failed: {exc}", True
    except ApiError as exc:  # refused for good: the poll goes on with what the timeline gave
        recovery.lost = f"recent search failed: {exc}"
    return recovery


def paging_failed(since: str | datetime, tweets: list[tuple[ApiTweet, TweetsPage]], error: ApiError) -> PagingGap:
    """The timeline failed after its first pages: what they hold is queued, the cursor moves to the newest, and
    the mentions below the oldest read are paged down to at the next poll (not read again from the top)."""
    until = min((t.id for t, _ in tweets), key=int)
    log.warning(
        "mentions_paging_failed",
        read=len(tweets),
        oldest_read=until,
        error=str(error),
        done="the mentions read are queued; those older are read from the timeline at the next poll",
    )
    return PagingGap(since, until, newer=len(tweets))


def resume_paging(
    bot: Bot, gap: PagingGap, read_now: int, past_reach: bool
) -> tuple[list[tuple[ApiTweet, TweetsPage]], PagingGap | None, MentionGap | None]:
    """Page down to the mentions an earlier poll could not (`gap`), after this poll read `read_now` newer ones:
    (the mentions found, the gap left to page down to at the next poll (None: done), the range the timeline no
    longer reaches, left to recent search as any beyond its reach). `past_reach`: this poll's own reading reached
    the timeline's end before its cursor; then all of the gap lies beyond it."""
    newer = gap.newer + read_now
    if past_reach or newer >= MENTIONS_REACH:
        return [], None, (gap.since, gap.until)
    try:
        listing = fetch_mentions(bot, gap.since, until=gap.until, newer=newer)
    except InvalidRequest as exc:  # refused for good: recent search looks for them instead
        log.warning("mentions_paging_refused", oldest_read=gap.until, error=str(exc), done="left to recent search")
        return [], None, (gap.since, gap.until)
    except ApiError as exc:  # refused, for now (credentials?): kept until the timeline reaches no further down
        log.warning("mentions_paging_failed", oldest_read=gap.until, error=str(exc), done="asked at the next poll")
        return [], replace(gap, newer=newer), None
    low, high = above(gap.since), int(gap.until)
    found = [(t, p) for t, p in listing.tweets if low < int(t.id) < high]
    bottom = min([gap.until, *(t.id for t, _ in found)], key=int)
    if listing.failed is not None:
        log.warning("mentions_paging_failed", read=len(found), oldest_read=bottom, error=str(listing.failed))
        return found, PagingGap(gap.since, bottom, newer + len(found)), None
    log.info("mentions_paged_down", read=len(found), since=str(gap.since), until=gap.until)
    return found, None, (gap.since, bottom) if listing.exhausted else None


def report_recovery(bot: Bot, recovery: Recovery, found: list[str]) -> None:
    """Say what search recovered: at info when it found every mention; else warn that mentions posted between the
    gap's lower end (the cursor, or the first poll's look-back start) and the oldest one read (timeline or
    search) were not read: kept for a later poll's search when that may still find them, else lost (the cursor
    moves past them, else every poll would read the same 800), and counted."""
    read, prices = sum(len(p.data) for p in recovery.pages), bot.settings
    billed = (
        f"{read} posts read by recent search at US${prices.price_post_read} each "
        f"(US${prices.price_mention_read} from the mentions timeline)"
    )
    if not recovery.lost:
        log.info("mentions_recovered_by_search", count=len(found), cursor=recovery.cursor, billed=billed)
        return
    oldest = min([recovery.oldest, *found], key=int)
    since, until = since_time(recovery.since), recovery.lost_before or snowflake_time(oldest)
    fix = (
        f"poll more often (UNROLL_POLL_INTERVAL): fewer than {MENTIONS_REACH} mentions between two polls"
        if recovery.cursor is not None
        else "at a very first start, an UNROLL_LOOKBACK within recent search's 7 days (less a few minutes)"
    )
    log.warning(
        "mentions_beyond_reach",
        reach=MENTIONS_REACH,
        cursor=recovery.cursor,
        oldest_read=oldest,
        recovered=len(found),
        since=since.isoformat(),
        until=until.isoformat(),
        gap_seconds=(until - since).total_seconds(),
        done=f"not read yet ({recovery.lost}): searched again at the next poll"
        if recovery.retry
        else f"not read ({recovery.lost}): the cursor moved past them, mentions posted in between are not answered",
        fix=fix,
        billed=billed,
    )
    if not recovery.retry:
        metrics.observe_beyond_reach(bot.store)


def action_of(bot: Bot, text: str) -> str | None:
    """What a mention asks for: `unroll`, `delete` (only without an unroll keyword), or None."""
    if matches(text, bot.settings.keywords):
        return "unroll"
    if bot.settings.delete_keywords and matches(text, bot.settings.delete_keywords):
        return "delete"
    return None


def to_request(tweet: ApiTweet, page: TweetsPage, action: str = "unroll") -> UnrollRequest:
    users = {u.id: u for u in page.includes.users}
    author = users.get(tweet.author_id or "")
    return UnrollRequest(
        action="delete" if action == "delete" else "unroll",
        mention_id=tweet.id,
        requester_id=tweet.author_id or "",
        requester_username=author.username if author else "",
        conversation_id=tweet.conversation_id,
        replied_to_id=tweet.replied_to,
        replied_to_user_id=tweet.in_reply_to_user_id if tweet.replied_to else None,
        # Neither under nor quoting a post: the post it links to ("@bot unroll https://x.com/…/status/…"), read as a
        # quote, as the site's form reads a pasted link.
        quoted_id=tweet.referenced("quoted") or (None if tweet.replied_to else linked_post(tweet)),
        text=mention_text(tweet),
        lang=tweet.lang,
        created_at=tweet.created_at,
    )


def earlier_seen(tweet: ApiTweet, cursor: str | None) -> list[str]:
    """The earlier versions of this mention that an earlier poll read already (X gives an edit a new id, newer
    than the cursor)."""
    if cursor is None:
        return []
    return [e for e in tweet.edit_history_tweet_ids if e != tweet.id and int(e) <= int(cursor)]


def why_ignored(
    bot: Bot, tweet: ApiTweet, page: TweetsPage, cursor: str | None = None, summons: Container[str] = ()
) -> str | None:
    """Why a mention is not a request (None when it is one); `cursor`: the newest mention earlier polls read;
    `summons`: which of its earlier versions were requests (`Store.summoned`)."""
    if tweet.author_id == bot.user_id:
        return "own_tweet"
    if any(earlier in summons for earlier in earlier_seen(tweet, cursor)):
        # The first version was the summon, answered or not: one reply per summon. An edit that makes a
        # request of a mention that was none ("unrol" mended) is one.
        return "edited_mention"
    if tweet.referenced("retweeted"):
        return "retweet"
    if action_of(bot, mention_text(tweet)) is None:
        return "no_keyword"
    users = {u.id: u.username.lower() for u in page.includes.users}
    blocked = {b.lower().lstrip("@") for b in bot.settings.blocked_users}
    if tweet.author_id in blocked or users.get(tweet.author_id or "") in blocked:
        return "blocked_user"
    if not tweet.replied_to and not tweet.referenced("quoted") and not linked_post(tweet):
        return "not_under_a_thread"
    if tweet.in_reply_to_user_id == bot.user_id:
        return "reply_to_bot"  # answering the bot's own reply: loop protection against other bots
    shared = None if tweet.replied_to else tweet.referenced("quoted") or linked_post(tweet)
    if shared is not None and linked_handle(tweet, shared) == bot.username.lower():
        # Quoting the bot's own post, or linking to it, as its link names it: nothing to read (the resolver would
        # look it up to learn as much), and loop protection, as for a reply to it.
        return "quotes_bot"
    return None


def poll_once(bot: Bot, take: Taking | None = None) -> PollResult:
    """Fetch new mentions, queue the requests among them and move the cursor, holding the poller lock. `take`:
    a worker's read of the stream, made with the poll's last write (`run --once` works right after polling)."""
    lock, cursor, gaps, paging = bot.store.begin_poll(LOCK_TIMEOUT)
    if lock is None:
        log.info("poll_skipped", reason="another_poller_holds_the_lock")
        return PollResult(polled=False)
    if cursor is None and bot.last_cursor is not None:
        # This process polled past a cursor Redis no longer has: Redis restarted without its data (or was
        # flushed), the reply records with it. Going on from the look-back would answer those mentions again.
        log.error("redis_state_lost", cursor=bot.last_cursor, fix=STATE_LOST_FIX)
        cursor = bot.last_cursor
        bot.store.enqueue([], cursor=cursor)  # kept whether or not this poll finds a newer mention
    try:
        with bot.store.batched():
            result = _poll(bot, lock, cursor, gaps, take, paging)
            bot.last_cursor = result.cursor or bot.last_cursor
            return result
    except PollTakenOver as exc:
        # Held up past the lock (a paused process): another poller queued these mentions and moved the cursor.
        log.warning("poll_taken_over", why=str(exc))
        return PollResult(polled=False)
    finally:
        if lock.held():  # the poll failed before it could give the lock back with its requests
            try:
                lock.release()
            except Exception as exc:  # the lock expired under a very slow poll, or Redis is away
                log.warning("poll_lock_lost", error=str(exc))


def _poll(
    bot: Bot,
    lock: Lock,
    cursor: str | None,
    gaps: list[MentionGap] | None = None,
    take: Taking | None = None,
    paging: PagingGap | None = None,
) -> PollResult:
    """One poll; `gaps`: mentions beyond the timeline's reach that earlier polls could not search for yet;
    `paging`: mentions an earlier poll could not page down to."""
    store = bot.store
    started = datetime.now(UTC)
    again = (gaps or [])[:GAPS_PER_POLL]
    # The first poll reads from the look-back's start (a time), any other from the cursor (an id): beyond the
    # timeline's reach, what lies between that and the oldest mention read is searched for the same way.
    since = cursor if cursor is not None else started - timedelta(seconds=bot.settings.lookback)
    kept: PagingGap | bool | None = False  # the paging gap as it was
    with bot.api.metered() as usage, keep_alive(LOCK_TIMEOUT / 3, lock.reacquire):  # paging can take a while
        listing = fetch_mentions(bot, since)
        # Only mentions newer than the lower end: X gives no other, and one an API gives all the same (since_id
        # ignored) was read by an earlier poll; queued again, it would be answered as a duplicate and logged again.
        tweets = [(t, p) for t, p in listing.tweets if int(t.id) > above(since)]
        if listing.failed is not None and (paging is not None or not tweets):
            # Failing part-way again while older mentions wait to be paged down to: this poll keeps nothing (its
            # mentions are read again at the next), so that one gap at a time knows what lies above it.
            raise listing.failed
        oldest = beyond_reach(since, [t for t, _ in tweets], listing.exhausted)
        wanted = [*again, (since, oldest)] if oldest is not None else list(again)
        resumed: list[tuple[ApiTweet, TweetsPage]] = []
        if listing.failed is not None:
            kept = paging_failed(since, tweets, listing.failed)
        elif paging is not None:
            resumed, kept, past_reach = resume_paging(bot, paging, len(tweets), oldest is not None)
            wanted += [past_reach] if past_reach is not None else []
        recoveries = [recover(bot, low, high) for low, high in wanted]
    spending.record(store, bot.settings, usage)
    # The cursor follows the timeline's newest pages only: mentions paged down to or recovered by search are older
    # than what they gave, and (from a gap left by an earlier poll) older than the cursor itself, which must never
    # move back.
    newest = max((t.id for t, _ in tweets), key=int, default=None)
    tweets += resumed
    for recovery in recoveries:
        found = recovery.found()  # older than every polled one: the sort below queues them first
        tweets += found
        report_recovery(bot, recovery, [t.id for t, _ in found])
    result = PollResult(seen=len(tweets), cursor=cursor)
    requests: list[UnrollRequest] = []
    ignored: list[tuple[UnrollRequest, str]] = []
    edited = [earlier for tweet, _ in tweets for earlier in earlier_seen(tweet, cursor)]
    summons = store.summoned(edited) if edited else set()
    for tweet, page in sorted(tweets, key=lambda tp: int(tp[0].id)):  # oldest first: answered in order
        reason = why_ignored(bot, tweet, page, cursor, summons)
        if reason is None:
            requests.append(to_request(tweet, page, action_of(bot, mention_text(tweet)) or "unroll"))
        else:
            ignored.append((to_request(tweet, page), reason))
    if newest is None and cursor is None:
        # First start and nothing in the look-back: start from just before this poll asked, so the next poll
        # uses since_id and a mention posted while this one ran is not skipped.
        newest = snowflake_at(started - timedelta(seconds=5))
    metrics.observe_poll(store, result.seen)
    moved = newest if newest and (cursor is None or int(newest) > int(cursor)) else None
    # Readers' counts, the requests, the cursor, the poll's counters and the lock: one round trip.
    refused, queued = store.queue_poll(
        requests,
        cursor=moved,
        polled_at=datetime.now(UTC),
        release=lock,
        limit=bot.settings.requester_limit,
        window=REQUESTER_WINDOW,
        gaps_searched=again,  # searched again: done with, or kept anew below
        gaps_kept=[gap for r in recoveries if (gap := r.kept) is not None],
        paging=kept,
        take=take,
    )
    ignored += [(request, "requester_limit") for request in requests if request.mention_id in refused]
    for request, reason in ignored:
        result.ignored[request.mention_id] = reason
        if reason != "no_keyword":  # plain chatter is not a request; the rest are worth an audit line
            record_ignored(bot, request, reason)
    result.queued = queued
    result.cursor = newest or cursor
    if already := [r.mention_id for r in requests if r.mention_id not in refused and r.mention_id not in queued]:
        # A poll held up past its lock, whose taker queued these and gave the lock back: not queued twice.
        log.warning("poll_taken_over", why="another poll queued these mentions already", mentions=already)
    log.info("poll_done", seen=result.seen, queued=len(queued), ignored=len(result.ignored), cursor=result.cursor)
    return result


def record_ignored(bot: Bot, request: UnrollRequest, reason: str) -> None:
    handled = HandledRequest(
        mention_id=request.mention_id,
        mention_url=request.mention_url,
        requester=request.requester_username,
        requester_id=request.requester_id,
        outcome=f"ignored:{reason}",
        reason=reason,
        attempts=0,
    )
    bot.store.record(handled)
    metrics.observe_handled(bot.store, handled)
    log_handled(handled)
