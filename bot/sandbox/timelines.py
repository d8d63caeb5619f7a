"""Lists of posts, newest first and paged: the mentions timeline, a user's Post timeline and recent / full-archive
search.

Mentions reach only a user's latest 800 mentions, a user's Post timeline only the latest 3,200 posts
(https://docs.x.com/x-api/posts/timelines/introduction); recent search only the last 7 days, and
full-archive search defaults to the last 30 days when no start is given
(https://docs.x.com/x-api/posts/search/introduction). All list an edited post only as its latest
version (https://docs.x.com/x-api/fundamentals/edit-posts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sandbox.fields import FIELD_PARAMETERS
from bot.sandbox.ids import page_token, read_newer_token, snowflake_time
from bot.sandbox.lookup import bill, page_body
from bot.sandbox.model import Tweet, User
from bot.sandbox.params import (
    ApiRequest,
    check_known,
    cursor,
    int_range,
    optional_id,
    short_time,
    snowflake_id,
    time_error,
    time_param,
)
from bot.sandbox.problems import ApiResponse, invalid_request, resource_error
from bot.sandbox.query import Facts, parse
from bot.sandbox.render import Renderer, parse_list, texts, tweet_selection
from bot.sandbox.text import mentioned_usernames
from bot.sandbox.world import World

MENTIONS_REACH = 800
RECENT_WINDOW = timedelta(days=7)
ARCHIVE_DEFAULT_WINDOW = timedelta(days=30)
END_TIME_MARGIN = timedelta(seconds=10)
# Recent search without start_time, end_time or since_id ends 30 seconds before the request
# (https://docs.x.com/x-api/posts/search/integrate/paginate).
DEFAULT_END_LAG = timedelta(seconds=30)
DEFAULT_END_UNLESS = ("start_time", "end_time", "since_id")
WINDOW_PARAMETERS = ("max_results", "since_id", "until_id", "start_time", "end_time")
MENTIONS_PARAMETERS = (*FIELD_PARAMETERS, *WINDOW_PARAMETERS, "pagination_token")
SEARCH_PARAMETERS = (*FIELD_PARAMETERS, *WINDOW_PARAMETERS, "query", "next_token", "pagination_token", "sort_order")
TIMELINE_PARAMETERS = (*FIELD_PARAMETERS, *WINDOW_PARAMETERS, "pagination_token", "exclude")
EXCLUSIONS = ("replies", "retweets")
# "Using pagination, the most recent 3,200 Posts can be retrieved"; "When the exclude=replies parameter is used
# for any value, only the most recent 800 Tweets are available" (developer.x.com, GET /2/users/:id/tweets).
TIMELINE_REACH = 3200
TIMELINE_REACH_WITHOUT_REPLIES = 800
# "Minimum allowable time is 2010-11-06T00:00:00Z" (start_time and end_time, same reference).
TIMELINE_EARLIEST = datetime(2010, 11, 6, tzinfo=UTC)
ONE_SECOND = timedelta(seconds=1)


def mentions(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/users/:id/mentions: max_results 5–100 (default 10), paged with pagination_token."""
    check_known(request.params, MENTIONS_PARAMETERS)
    raw = request.path_params["id"]
    snowflake_id("id", raw)
    size = int_range(request.params, "max_results", 5, 100, 10)
    user = world.users.get(raw)
    if user is None or user.suspended:
        kind = "suspended" if user is not None else "not_found"
        return ApiResponse(200, {"errors": [resource_error(kind, "user", "id", raw)]})
    reachable = world.mentions_of(user)[:MENTIONS_REACH]
    start = time_param(request.params, "start_time")
    end = time_param(request.params, "end_time")
    # since_id takes precedence over start_time, until_id over end_time (OpenAPI, /2/users/{id}/mentions).
    if "since_id" in request.params:
        start = None
    if "until_id" in request.params:
        end = None
    chosen = _window(reachable, request, start, end)
    return _page(world, request, chosen, size, cursor(request.params, "pagination_token"), mentions=True)


def user_tweets(world: World, request: ApiRequest) -> ApiResponse:
    """GET /2/users/:id/tweets: the posts a user wrote, newest first, max_results 5–100 (default 10), paged with
    pagination_token both ways (next_token, and previous_token on a page that has newer posts before it).

    As X documents it (developer.x.com and docs.x.com, "User Posts timeline by User ID"):
    - only the latest 3,200 posts are reachable, the latest 800 with `exclude=replies`. X does not say whether
      the 800 are the latest posts or the latest posts that are not replies; here the reach counts the user's
      posts before the exclusion, as max_results does (below), the stricter reading. A since_id or start_time
      older than the reach reaches no further ("the since_id will be forced to the oldest ID available"), and an
      until_id older than it finds nothing (X's "the until_id will be forced to the most recent ID available"
      reads as a copy of the since_id sentence);
    - since_id and until_id are exclusive and take precedence over start_time and end_time;
    - start_time and end_time are "in second granularity and [...] inclusive (for example, 12:00:01 includes
      the first second of the minute)": a post made at 12:00:01.900 is within end_time 12:00:01Z;
    - max_results counts the posts a page looked at before the exclusion: "Retweets and replies are included in
      the count, even if exclude=retweets,replies are supplied" (the older developer.twitter.com reference;
      the pagination guide: "Do not rely on the results per page always equaling the max_results"), so a
      page may hold fewer posts, or none, and still have a next_token.
    `exclude=retweets` is accepted and leaves nothing out: the sandbox has no retweets. A user not found or
    suspended answers 200 with an `errors` entry, as mentions does; a protected user other than the bot 200 with
    X's not-authorized-for-resource error (the sandbox has no followers, so no caller may see one). Each post
    returned is billed as a post read.
    """
    params = request.params
    check_known(params, TIMELINE_PARAMETERS)
    raw = request.path_params["id"]
    snowflake_id("id", raw)
    size = int_range(params, "max_results", 5, 100, 10)
    excluded = parse_list(params, "exclude", EXCLUSIONS)
    start, end = _timeline_times(params)
    where = _timeline_cursor(params)
    tweet_selection(params)  # a wrong field answers 400 before the user is looked up
    user = world.users.get(raw)
    if user is None or user.suspended or (user.protected and not user.me):
        return ApiResponse(200, {"errors": [_user_error(user, raw)]})
    reach = TIMELINE_REACH_WITHOUT_REPLIES if "replies" in excluded else TIMELINE_REACH
    timeline = _window(world.posts_of(user)[:reach], request, start, end)
    first, last = _span(timeline, size, where)
    shown = [t for t in timeline[first:last] if not ("replies" in excluded and t.reply_to is not None)]
    body = _body(world, request, shown, mentions=False)
    if last < len(timeline):  # older posts remain: resume below the last one looked at
        below = int(timeline[last - 1].id) if last > first else int(timeline[last].id) + 1
        body["meta"]["next_token"] = page_token(below)
    if first > 0:  # newer posts come before this page: the page before ends above the first one looked at
        above = int(timeline[first].id) if last > first else int(timeline[first - 1].id) - 1
        body["meta"]["previous_token"] = page_token(above, newer=True)
    return ApiResponse(200, body)


def _user_error(user: User | None, raw: str) -> dict[str, Any]:
    """The partial error for a timeline X does not show: the user not found, suspended or protected."""
    kind = "not_found" if user is None else "suspended" if user.suspended else "protected"
    return resource_error(kind, "user", "id", raw)


def _timeline_times(params: Any) -> tuple[datetime | None, datetime | None]:
    """start_time and end_time as a window from start's second (inclusive) to the end of end's second (exclusive),
    either left out when since_id or until_id takes precedence over it; 400 for a time before X's minimum, and for
    an end_time with a fraction of a second ("this parameter does not support a millisecond value", developer.x.com;
    said of end_time only, so a start_time's fraction is dropped)."""
    raw_end = params.get("end_time")
    if raw_end is not None and "." in raw_end:
        raise invalid_request(
            "end_time",
            [raw_end],
            f"Invalid 'end_time':'{raw_end}'. 'end_time' must be a valid RFC3339 date-time (YYYY-MM-DDTHH:mm:ssZ)",
        )
    start = time_param(params, "start_time")
    end = time_param(params, "end_time")
    for name, value in (("start_time", start), ("end_time", end)):
        if value is not None and value < TIMELINE_EARLIEST:
            raise time_error(name, value, f"'{name}' must be on or after {short_time(TIMELINE_EARLIEST)}")
    from_second = None if start is None or "since_id" in params else start.replace(microsecond=0)
    to_second = None if end is None or "until_id" in params else end.replace(microsecond=0) + ONE_SECOND
    return from_second, to_second


def _timeline_cursor(params: Any) -> tuple[int, bool] | None:
    """Where pagination_token resumes: (id, False) below that id (a next_token), (id, True) above it (a
    previous_token), None on the first page; 400 for a token that is neither."""
    raw = params.get("pagination_token")
    above = None if raw is None else read_newer_token(raw)
    if above is not None:
        return above, True
    below = cursor(params, "pagination_token")
    return None if below is None else (below, False)


def _span(timeline: Sequence[Tweet], size: int, where: tuple[int, bool] | None) -> tuple[int, int]:
    """The slice [first, last) of the timeline (newest first) one page looks at: `size` posts below the cursor,
    or the `size` just above it for a previous_token."""
    if where is None:
        return 0, min(size, len(timeline))
    at, newer = where
    if newer:
        last = sum(1 for t in timeline if int(t.id) > at)
        return max(last - size, 0), last
    first = sum(1 for t in timeline if int(t.id) >= at)
    return first, min(first + size, len(timeline))


def search(world: World, request: ApiRequest, *, full_archive: bool) -> ApiResponse:
    """GET /2/tweets/search/recent (10–100 a page) or /all (10–500), paged with next_token."""
    params = request.params
    check_known(params, SEARCH_PARAMETERS)
    if "query" not in params:
        raise invalid_request("query", [], "The `query` query parameter can not be empty")
    unknown = frozenset(world.settings.unknown_operators)
    query = parse(params["query"], max_length=1024 if full_archive else 512, unknown=unknown)
    size = int_range(params, "max_results", 10, 500 if full_archive else 100, 10)
    order = params.get("sort_order", "recency")
    if order not in ("recency", "relevancy"):
        raise invalid_request(
            "sort_order", [order], f"The `sort_order` query parameter value [{order}] is not one of [recency,relevancy]"
        )
    now = world.now()
    start = time_param(params, "start_time")
    end = time_param(params, "end_time")
    floor = now - RECENT_WINDOW if not full_archive else datetime(2006, 3, 21, tzinfo=now.tzinfo)
    _check_window(params, now, floor, start, end)
    if start is None:
        # Full-archive search without a start_time reaches back 30 days before its end (X's quickstart; twarc
        # 2.0.6 saw "the month prior to whatever the end date is"). X does not say that a since_id lifts that
        # default, so here it does not: a client must give a start_time to reach further back.
        start = floor if not full_archive else (end or now) - ARCHIVE_DEFAULT_WINDOW
    if not full_archive and not any(name in params for name in DEFAULT_END_UNLESS):
        end = now - DEFAULT_END_LAG
    if world.settings.search_lag > 0:
        lagged = now - timedelta(seconds=world.settings.search_lag)
        end = lagged if end is None else min(end, lagged)
    hidden = world.settings.unsearchable
    candidates = [
        t for t in world.tweets.values() if t.is_latest and world.visibility(t) == "ok" and t.id not in hidden
    ]
    matching = [t for t in candidates if query.matches(facts(world, t))]
    chosen = _window(world.newest_first(matching), request, start, end)
    return _page(world, request, chosen, size, cursor(params, "next_token", "pagination_token"), mentions=False)


def facts(world: World, tweet: Tweet) -> Facts:
    """What the query language can ask about a post."""
    composed, note = texts(world, tweet)
    entities = note or composed
    author = world.users[tweet.author_id]
    replied = world.users.get(tweet.in_reply_to_user_id or "")
    names = (*tweet.reply_prefix, *mentioned_usernames(tweet.typed_text))
    return Facts(
        id=tweet.id,
        conversation_id=tweet.conversation_id,
        author=author.username.lower(),
        author_id=author.id,
        text=tweet.typed_text,
        in_reply_to_tweet_id=tweet.reply_to,
        in_reply_to_user=replied.username.lower() if replied else None,
        in_reply_to_user_id=replied.id if replied else None,
        quote_of=tweet.quote_of,
        mentions=frozenset(n.lower() for n in names),
        hashtags=frozenset(h.tag.lower() for h in entities.hashtags),
        cashtags=frozenset(c.tag.lower() for c in entities.cashtags),
        urls=tuple(u.expanded_url for u in composed.urls),
        media_types=frozenset(m.type for m in tweet.media),
        lang=tweet.lang,
        verified=author.verified,
    )


def _check_window(params: Any, now: datetime, floor: datetime, start: datetime | None, end: datetime | None) -> None:
    """400 for times and ids outside what search can reach, with X's wording."""
    if start is not None and start < floor:
        raise time_error("start_time", start, f"'start_time' must be on or after {short_time(floor)}")
    if end is not None and end > now - END_TIME_MARGIN:
        raise time_error("end_time", end, "'end_time' must be a minimum of 10 seconds prior to the request time.")
    if start is not None and end is not None and start >= end:
        raise time_error("start_time", start, f"'start_time' must be before 'end_time':'{short_time(end)}'")
    since = optional_id(params, "since_id")
    if since is not None and snowflake_time(since) < floor:
        raise invalid_request(
            "since_id",
            [str(since)],
            f"Invalid 'since_id':'{since}'. 'since_id' must be a tweet id created after {short_time(floor)}",
        )


def _window(tweets: Sequence[Tweet], request: ApiRequest, start: datetime | None, end: datetime | None) -> list[Tweet]:
    """The posts within since_id/until_id (exclusive) and start_time (inclusive)/end_time (exclusive)."""
    since = optional_id(request.params, "since_id")
    until = optional_id(request.params, "until_id")
    return [
        t
        for t in tweets
        if (since is None or int(t.id) > since)
        and (until is None or int(t.id) < until)
        and (start is None or t.created_at >= start)
        and (end is None or t.created_at < end)
    ]


def _page(
    world: World, request: ApiRequest, tweets: list[Tweet], size: int, below: int | None, *, mentions: bool
) -> ApiResponse:
    remaining = [t for t in tweets if below is None or int(t.id) < below]
    chosen = remaining[:size]
    body = _body(world, request, chosen, mentions=mentions)
    if len(remaining) > size:
        body["meta"]["next_token"] = page_token(int(chosen[-1].id))
    return ApiResponse(200, body)


def _body(world: World, request: ApiRequest, chosen: list[Tweet], *, mentions: bool) -> dict[str, Any]:
    """A page of posts as X answers it, billed: data, includes, and meta with the count and the ids at both ends."""
    page = Renderer(world, tweet_selection(request.params)).page(chosen)
    bill(world, page, mentions=mentions)
    body = page_body(page, [])
    meta: dict[str, Any] = {"result_count": len(chosen)}
    if chosen:
        meta = {"newest_id": chosen[0].id, "oldest_id": chosen[-1].id, **meta}
    body["meta"] = meta
    return body
