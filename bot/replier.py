"""The reply: its text (pure, fits one post with the link counted as 23) and posting it exactly once.

Before a reply is posted the mention gets an idempotency record ("posting"); after, the reply's id.
A retried request whose record says "posting" may have been answered already: the bot's own recent
replies are searched for one to that mention before anything is posted again.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import structlog

from bot.errors import ApiError, ApiUnavailable, DuplicateContent, InvalidRequest, RateLimited, ShuttingDown
from bot.models import ReplyRecord, UnrollRequest
from bot.runtime import Bot
from bot.store import ANSWERED, TAKEN_OVER, Lock, Reservation, Store, elsewhere
from bot.window import in_recent_window
from bot.xapi import POST_TWEETS, from_user

log = structlog.get_logger(__name__)
_REQUESTER = re.compile(r"\s*@?\{requester\}")  # the requester's handle in a template, with its @

# Recent search may leave out the last 30 seconds: X's reference for `end_time` says it returns "Tweets from as
# recent as 30 seconds ago if you do not include this parameter" (https://docs.x.com/x-api/posts/search/integrate/
# paginate says so only when no start_time, end_time or since_id is given). A reply just posted may not show yet.
SEARCH_LAG = 30.0
# A second request by the same reader within a day would repeat the text X refuses as duplicate content.
# Up to 99 genuine requests by one reader for one thread in a day each get their reply (the requester limit,
# UNROLL_REQUESTER_LIMIT, stops abuse long before); every suffix fits config.settings.VARIANT_ROOM. No suffix says
# "again": with a template without {requester}, the variants go to readers asking for the first time too.
VARIANTS = ("", " ↻", " ↩", " ✓", " 🧵", *(f" #{n}" for n in range(6, 100)))
# Texts this bot never posted that X may refuse as duplicates in one attempt before the reply is given up: one is
# a post made outside the bot's records (by hand, or before Redis lost them); more say X refuses for another reason.
DUPLICATE_REFUSALS = 3


def compose(template: str, *, requester: str, author: str = "", link: str = "", count: int = 0) -> str:
    """Fill a reply template (validated at start-up to fit 280 characters with the link counted as 23). Without
    the requester's handle (X gave the mention without its author), "@{requester}" is left out with the space
    before it ("Hi, here is…"): any word in its place would be some account's handle, mentioned for nothing."""
    if not requester:
        template = _REQUESTER.sub("", template)
    return template.format(requester=requester, author=author, link=link, count=count).strip()


def _found_post(bot: Bot) -> None:
    """A post of the bot's whose answer was lost, found since (or that X says it holds): billed when it was made, so
    the request's meters count it, and so does `unroll_replies_posted_total`, as for a post whose answer came."""
    bot.api.count_found_post()
    bot.store.count("replies_posted")


def find_existing_reply(bot: Bot, request: UnrollRequest) -> str | None:
    """The id of a reply of the bot to this mention: its posts replying to the mention (`in_reply_to_tweet_id:`, one
    post read at most), else, where X refuses that operator, among the bot's posts in the conversation since the
    mention (a reply is newer than what it answers: the bot's earlier replies there are not read, nor billed)."""
    bot_posts = from_user(bot.username, bot.user_id)
    # Recent search refuses a since_id older than its 7 days: an older mention is searched without one.
    since = request.mention_id if in_recent_window(request.mention_id, datetime.now(UTC)) else None
    try:
        page = bot.api.search(f"{bot_posts} in_reply_to_tweet_id:{request.mention_id}", since_id=since)
        return next((tweet.id for tweet in page.data if tweet.replied_to == request.mention_id), None)
    except InvalidRequest as exc:
        log.warning("reply_search_operator_refused", operator="in_reply_to_tweet_id", error=str(exc))
    query = f"{bot_posts} conversation_id:{request.conversation_id or request.mention_id}"
    token: str | None = None
    for _ in range(5):  # the bot's replies in one conversation fit in a few pages
        page = bot.api.search(query, since_id=since, next_token=token)
        for tweet in page.data:
            if tweet.replied_to == request.mention_id:
                return tweet.id
        token = page.meta.next_token
        if not token:
            break
    return None


def reserve_ahead(
    bot: Bot, text: str, record: ReplyRecord | None, mention_id: str, claim: Lock | None = None
) -> Reservation | None:
    """The reservation `post_once` would make first, to run on the thread's write instead (one round trip
    fewer); None when `post_once` would not reserve `text` first: the mention was answered or tried before
    (`record`), a dry run, or replies are on hold (a spent window: `post_once` says so, before anything is
    marked). `claim`: the mention's lock, as `post_once` takes it."""
    if record is not None or bot.settings.dry_run:
        return None
    try:
        bot.api.check(POST_TWEETS)
    except RateLimited:
        return None
    return bot.store.reservation(text, mention_id, claim=claim)


def post_once(
    bot: Bot,
    request: UnrollRequest,
    text: str,
    record: ReplyRecord | None,
    ahead: Reservation | None = None,
    claim: Lock | None = None,
) -> tuple[str | None, str]:
    """Post `text` in reply to the mention unless that was done already; returns (reply id, text posted).

    Each attempt's text is reserved for its mention for a day, so when X refuses a text as duplicate content
    the bot knows whether its own earlier, uncertain attempt went through (same mention) or the reader asked
    twice today (another mention: the text is varied). Dry-run logs the reply instead of posting it.
    `record` is the mention's idempotency record as the caller read it, holding the mention's lock (`claim`: no
    text is reserved, so none posted, once that lock is another worker's); `ahead`, the first reservation when it
    was made already (`reserve_ahead`, on the thread's write).
    """
    store = bot.store
    mention = request.mention_id
    if record and record.state in ("replied", "final"):
        log.info("reply_already_posted", reply_id=record.reply_id)
        return record.reply_id, record.text or text
    uncertain = record is not None and record.state == "posting"
    if record is not None and uncertain:
        # An earlier attempt may have posted before it could record: look for it, once search surely shows a post
        # X made by the end of that attempt's call (its deadline after the text was reserved), then repeat its
        # exact text. Posted again before search could show it, only X's duplicate check would stop a second reply.
        text = record.text or text
        existing = find_once_searchable(bot, request, record.made_by(bot.settings.http_timeout))
        if existing:
            _found_post(bot)
            store.mark_replied(mention, existing, text)
            log.info("reply_found_after_uncertain_post", reply_id=existing)
            return existing, text
    if bot.settings.dry_run:
        log.info("reply_dry_run", text=text, in_reply_to=mention)
        store.mark_replied(mention, None, text, state="final")
        return None, text
    try:
        bot.api.check(POST_TWEETS)  # a spent window raises here, before anything is marked…
    except RateLimited:
        if ahead is not None and ahead.answer is not None and ahead.answer[0] == mention:
            store.clear_posting(mention, ahead.text)  # …but the thread's save did: nothing was posted
        raise
    candidates = [text] if uncertain else [text + variant for variant in VARIANTS]
    # The mention is marked "posting" with the text (by now, when the thread's write reserved it ahead).
    index, new = _reserve(store, candidates, 0, mention, claim, ahead)
    refused = 0  # texts X refused as duplicates though this bot never posted them
    while index is not None:
        attempt = candidates[index]
        try:
            created = bot.api.post(attempt, in_reply_to=mention)
        except DuplicateContent:
            refused += new
            done, existing = _on_duplicate(bot, request, record, attempt, new=new, refused=refused)
            if done:
                return existing, attempt
            index, new = _reserve(store, candidates, index + 1, mention, claim)
            continue
        except ApiUnavailable as exc:
            if exc.from_x and exc.status is not None and 200 <= exc.status < 300:
                # X made the post (its 2xx, its headers) and the answer's body came broken: never post it again
                # (only X's duplicate check would stop a second reply); find its id once search shows it.
                _found_post(bot)
                existing = find_once_searchable(bot, request, datetime.now(UTC))  # made before its answer came
                store.mark_replied(mention, existing, attempt)
                log.warning("reply_posted_answer_unreadable", reply_id=existing, status=exc.status)
                return existing, attempt
            # Timeout, 5xx, dropped: the post may have gone through; the record stays "posting", saying by when.
            store.post_unanswered(mention, attempt)
            raise
        except ApiError:
            # X answered: nothing was posted, and the text is this mention's no more (refused as a duplicate on the
            # next try, it would be taken for this one's own post gone through)
            store.clear_posting(mention, attempt)
            raise
        store.mark_replied(mention, created.id, attempt)
        log.info("reply_posted", reply_id=created.id, text=attempt)
        return created.id, attempt
    raise DuplicateContent(
        "every variant of the reply text was refused as duplicate content", status=403, endpoint=POST_TWEETS
    )


def _on_duplicate(
    bot: Bot, request: UnrollRequest, record: ReplyRecord | None, attempt: str, *, new: bool, refused: int
) -> tuple[bool, str | None]:
    """X refused `attempt` as duplicate content: (True, the reply's id or None when search does not show it) when
    it is this mention's reply, posted before; (False, None) to try the next variant. `new`: the text was reserved
    for the mention by this attempt; `refused`: how many such texts X refused in it."""
    store, mention = bot.store, request.mention_id
    if not new:
        # Our earlier attempt with this text went through; search may show it only some seconds later. X made it
        # before the earlier attempt's call ended: its deadline after the text was reserved, at most.
        made_by = record.made_by(bot.settings.http_timeout) if record else None
        existing = find_once_searchable(bot, request, made_by)
        _found_post(bot)  # X says it holds the post (found or not yet): billed when it was made
        store.mark_replied(mention, existing, attempt)
        log.info("reply_was_posted_before", reply_id=existing)
        return True, existing
    # Posted outside this bot's records: by hand, or before Redis lost them, and then it may be this very
    # mention's reply. Look for it (once search surely shows it) before answering in other words.
    existing = find_once_searchable(bot, request, request.created_at)
    if existing is not None:  # posted before Redis lost its records: billed then, and counted
        store.mark_replied(mention, existing, attempt)
        log.info("reply_found_after_duplicate", reply_id=existing)
        return True, existing
    if refused >= DUPLICATE_REFUSALS:
        # X refuses as duplicates texts this bot never posted, however varied: something else is at work (an
        # account restricted?). Asking with every variant would spend the posting window, the other replies' too.
        store.clear_posting(mention, attempt)
        raise DuplicateContent(
            f"X refused {refused} reply texts as duplicate content, none of them posted by this bot",
            status=403,
            endpoint=POST_TWEETS,
        )
    log.info("reply_duplicate_text_varied")
    return False, None


def find_once_searchable(bot: Bot, request: UnrollRequest, made_by: datetime | None) -> str | None:
    """The bot's reply to this mention, which X made by `made_by` at the latest: searched for once, when search
    surely shows posts made then (X's index lags up to 30 s: UNROLL_SEARCH_LAG). A search before would spend a
    request of search's window on an answer that cannot be trusted: not found may only mean not indexed yet."""
    lag = bot.settings.search_lag
    wait = search_lag_left(made_by, lag=lag, most=lag + 1.0 + bot.settings.http_timeout)
    if wait > 0:
        log.info("reply_search_waits_for_index", seconds=round(wait, 1))
        wait_for_search(bot, wait)
    return find_existing_reply(bot, request)


def wait_for_search(bot: Bot, seconds: float, what: str = "the reply") -> None:
    """Wait until search surely shows a post (`what`: the reply, or the summoned thread's newest posts), unless the
    process is asked to stop first: then the request is left to another worker (a record that says "posting"
    has that worker look for the post too)."""
    if bot.stopping.wait(seconds):
        raise ShuttingDown(f"stopping while waiting for search to show {what}")


def search_lag_left(
    made_by: datetime | None, now: datetime | None = None, *, lag: float = SEARCH_LAG, most: float | None = None
) -> float:
    """Seconds until a reply X made by `made_by` is surely visible to search, which leaves out its last `lag`
    seconds (and a second for clocks apart); `most` at most (clocks apart: `lag` + 1 unless said)."""
    if made_by is None:
        return 0.0
    elapsed = ((now or datetime.now(UTC)) - made_by).total_seconds()
    return min(max(lag + 1.0 - elapsed, 0.0), lag + 1.0 if most is None else most)


def _reserve(
    store: Store,
    candidates: list[str],
    start: int,
    mention: str,
    claim: Lock | None,
    ahead: Reservation | None = None,
) -> tuple[int | None, bool]:
    """The first text from `start` on that this mention may post, reserved for it: (its index, whether newly
    reserved), or (None, False) when all are taken. The first is asked alone (one short command: the usual
    case, answered already when `ahead` reserved it); when another mention holds it (the same reader asked
    earlier today), all the rest in one step."""
    if start >= len(candidates):
        return None, False
    answer = ahead.answer if ahead is not None and ahead.text == candidates[start] else None
    owner, new = answer or store.reserve_text(candidates[start], mention, claim=claim)
    if owner in (ANSWERED, TAKEN_OVER):
        raise elsewhere(mention, owner)
    if owner == mention:
        return start, new
    found, new = store.reserve_first(candidates[start + 1 :], mention, claim=claim)
    log.info("reply_text_taken_varied", by_mention=owner, variant=None if found is None else start + 1 + found)
    return (None, False) if found is None else (start + 1 + found, new)
