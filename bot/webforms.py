"""The site's forms: unroll a thread from a pasted post link, wait for it, and look for a thread's newer posts.

Each form puts an `UnrollRequest` on the same work stream as the mentions do; the worker does the rest.
No cookies and no scripts: waiting is a page that reloads itself until the thread is stored.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot import spending
from bot.models import HandledRequest, UnrollRequest
from bot.postlinks import TWEET_ID, parse_tweet_id
from bot.site import Site
from bot.store import Store
from bot.templating import render
from bot.tweetviews import anchor_of

if TYPE_CHECKING:
    from bot.web import Web

log = structlog.get_logger(__name__)

UNROLLS_PER_CLIENT = 5  # per minute, per client address
REFRESH_EVERY = 300  # seconds between two refreshes of one thread
MAX_FORM_BYTES = 4096
PENDING_RELOAD = "3"  # seconds between two reloads of the waiting page
PENDING_RELOAD_SLOW = "600"  # …while requests wait for tomorrow's budget
NOT_KEPT = {"cache-control": "no-store"}  # answers of the moment: a browser showing a kept one would mislead
ASKED_FOR = 86400.0  # seconds a pasted post's waiting page knows it was asked for
OUTCOME_TEXT = {
    "no_thread": "This post is not part of a thread, so there is nothing to unroll.",
    "not_found": "X says this post does not exist, or it can’t be seen without logging in.",
    "protected": "This post is from a protected account, so it can’t be unrolled.",
    "not_allowed": "This thread can’t be unrolled: its author opted out, or X does not allow it.",
    "dead_letter": "Something went wrong while unrolling this thread. Please try again later.",
    "opted_out": "The author of this thread asked for their threads not to be unrolled here.",
    "over_budget": "The bot has used up today’s budget for reading X. Please try again tomorrow.",
    "rate_limited": "Too many threads were asked for just now. Please try again later.",
    "removed": "This thread was removed at its author’s request.",
    "ignored": "This request was not taken up.",
}
# Any other outcome of a finished request without a stored thread to show (none is known today).
OUTCOME_OTHER = "This thread can’t be unrolled here."


def allow(store: Store, name: str, count: int, seconds: float) -> bool:
    """True while `name` has had fewer than `count` turns in the last `seconds` (each turn a throttle slot)."""
    return any(store.throttle(f"{name}:{slot}", seconds) for slot in range(count))


def cross_site(headers: Headers, site: Site) -> bool:
    """A form posted from another site's page (cross-site request forgery: any page could make its visitors'
    browsers ask for paid reads from their own addresses): the browser says so in `Sec-Fetch-Site`, else its
    `Origin` is neither this address nor PUBLIC_BASE_URL's. "null" is another site's too: a form in a sandboxed
    frame posts so, and the site's own pages (Referrer-Policy same-origin) send their true origin
    (https://fetch.spec.whatwg.org/#append-a-request-origin-header). A post with neither header (curl, an old
    browser) is taken."""
    fetch_site = headers.get("sec-fetch-site", "").lower()
    if fetch_site:
        return fetch_site == "cross-site"
    origin = headers.get("origin")
    if origin is None:
        return False
    own = {headers.get("host", "").lower(), urlsplit(site.base_url).netloc.lower()}
    netloc = urlsplit(origin.lower()).netloc  # ("null": none)
    return not netloc or netloc not in own


def in_utc(when: datetime) -> str:
    """A time as a waiting reader is told it: "00:00 UTC (Dec 1)"."""
    return f"{when:%H:%M} UTC ({when:%b} {when.day})"


async def form_field(request: Request, name: str) -> str | None:
    """One field of a small url-encoded form body, or None when the body is too big."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    values = parse_qs(body.decode("utf-8", "replace"), max_num_fields=20)
    return (values.get(name) or [""])[0]


class Forms:
    """The handlers of the forms, over the web app's store and pages."""

    def __init__(self, web: Web) -> None:
        self.web = web
        self.store = web.store

    async def unroll(self, request: Request) -> Response:
        """POST /unroll: a pasted post link → its page if stored, else a request on the stream and a waiting page."""
        text = await form_field(request, "post")
        client = request.client.host if request.client else "unknown"
        return await run_in_threadpool(self._unroll, text, client, request)

    def refused_cross_site(self, request: Request, site: Site) -> Response:
        log.info("web_form_cross_site", path=request.url.path, origin=request.headers.get("origin"))
        return self.web.message(
            403,
            "Asked from another site",
            "This form only takes requests made on this site. Open the home page and paste the post’s link there.",
            next_href=site.path("/"),
            next_text="Unroll a thread",
            site=site,
        )

    def budget_resumes(self) -> datetime | None:
        """When reading X is allowed again, today's budget being spent (UNROLL_DAILY_BUDGET); None while there is
        budget."""
        return spending.next_day() if spending.over_budget(self.store, self.web.settings) else None

    def over_budget(self, site: Site, back: str) -> Response | None:
        """The answer to a request that would read X while today's budget is spent (UNROLL_DAILY_BUDGET): it would
        wait until tomorrow, or (UNROLL_OVER_BUDGET=reply_without_link) spend past it; None while there is budget."""
        if (resumes := self.budget_resumes()) is None:
            return None
        return self.web.message(
            503,
            "Back tomorrow",
            f"The bot has used up today’s budget for reading X. Please ask again after {in_utc(resumes)}.",
            next_href=back,
            next_text="Back",
            site=site,
            headers={"retry-after": str(max(int((resumes - datetime.now(UTC)).total_seconds()), 1))},
        )

    def _unroll(self, text: str | None, client: str, request: Request) -> Response:
        site = self.web.site()  # (reads Redis: off the event loop, as everything here)
        if cross_site(request.headers, site):
            return self.refused_cross_site(request, site)
        tweet_id = parse_tweet_id(text or "")
        if tweet_id is None:
            error = "Paste the link of a post on X (https://x.com/name/status/1234…) or its number."
            body = render("home.html", site, latest=self.web.latest(), error=error, value=(text or "")[:300])
            return Response(body, status_code=400, media_type="text/html; charset=utf-8")
        page = self.stored_page(site, tweet_id, self.store.handled_one(f"web-{tweet_id}"))
        if page is not None:
            return RedirectResponse(page, status_code=303)
        if (spent := self.over_budget(site, site.path("/"))) is not None:
            return spent
        if not allow(self.store, f"web-unroll:{client}", UNROLLS_PER_CLIENT, 60):
            log.info("web_unroll_throttled", client=client, tweet_id=tweet_id)
            return self.web.message(
                429,
                "Slow down a little",
                f"You can ask for {UNROLLS_PER_CLIENT} threads a minute. Please try again in a minute.",
                next_href=site.path("/"),
                next_text="Back to the home page",
                site=site,
                headers={"retry-after": "60"},
            )
        asked = UnrollRequest(
            source="web",
            mention_id=f"web-{tweet_id}",
            requester_id="web",
            replied_to_id=tweet_id,
            conversation_id=None,
        )
        self.store.enqueue([asked])
        self.store.throttle(f"web-asked:{tweet_id}", ASKED_FOR)  # (its waiting page: asked for, so it may wait)
        log.info("web_unroll_requested", tweet_id=tweet_id, client=client)
        return RedirectResponse(site.path(f"/pending/{tweet_id}?since={int(time.time())}"), status_code=303)

    def pending(self, request: Request) -> Response:
        """GET /pending/<id>: the thread's page once stored; until then a page that reloads itself. Every answer
        here is of the moment (a paste or a retry changes it), so none is kept by a browser or a proxy."""
        tweet_id = request.path_params["tweet_id"]
        site = self.web.site()
        if not TWEET_ID.fullmatch(tweet_id):
            return self.web.not_found(site)
        handled = self.store.handled_one(f"web-{tweet_id}")
        page = self.stored_page(site, tweet_id, handled)
        if page is not None:
            return RedirectResponse(page, status_code=303)
        if handled is None and not self.store.noted(f"web-asked:{tweet_id}"):
            # Nobody pasted it here (a made-up link): a page reloading itself forever would wait for nothing.
            return self.web.message(
                404,
                "Nothing to wait for",
                "Nobody asked for this post’s thread here. Paste its link on the home page to unroll it.",
                next_href=site.path("/"),
                next_text="Unroll a thread",
                site=site,
                headers=NOT_KEPT,
            )
        since = request.query_params.get("since", "")
        # (a `since` in the future, made up or from a clock ahead, waits for nothing: read as now)
        asked = min(int(since), int(time.time())) if since.isdigit() else 0
        fresh = handled is not None and handled.handled_at.timestamp() >= asked
        if handled is not None and fresh:  # finished, with no thread stored to show
            # (a post X says does not exist: the page says so with its status too, as the thread's own address does)
            return self.web.message(
                404 if handled.outcome.partition(":")[0] == "not_found" else 200,
                "This thread can’t be unrolled",
                OUTCOME_TEXT.get(handled.outcome.partition(":")[0], OUTCOME_OTHER),
                next_href=site.path("/"),
                next_text="Unroll another thread",
                site=site,
                headers=NOT_KEPT,
            )
        if (resumes := self.budget_resumes()) is not None:  # asked before it ran out: handled tomorrow
            return self.web.message(
                202,
                "Waiting for tomorrow",
                f"The bot has used up today’s budget for reading X. This thread is unrolled after {in_utc(resumes)};"
                " this page reloads now and then until it is.",
                refresh=PENDING_RELOAD_SLOW,
                site=site,
            )
        return self.web.message(
            202,
            "Unrolling the thread…",
            "The bot is fetching the thread from X. This page reloads by itself and shows the thread when it is ready,"
            " usually within a minute.",
            refresh=PENDING_RELOAD,
            site=site,
        )

    def stored_page(self, site: Site, tweet_id: str, handled: HandledRequest | None) -> str | None:
        """The path of the stored thread a pasted post leads to: the thread it is part of (anchored at its place
        there), else the one an earlier request for it unrolled (`handled`, its record: a reader's reply in the
        thread, say, no post of it, so no anchor). Pasting it again then reads nothing on X."""
        root = self.store.root_of(tweet_id)
        if root:
            return site.thread_path(root) + "#" + anchor_of(tweet_id)
        if handled is not None and handled.root_id and self.store.root_of(handled.root_id):
            return site.thread_path(handled.root_id)
        return None

    def refresh(self, request: Request) -> Response:
        """POST /thread/<id>/refresh: ask the worker for posts newer than the stored thread's last one."""
        root_id = request.path_params["root_id"]
        site = self.web.site()
        if cross_site(request.headers, site):
            return self.refused_cross_site(request, site)
        if not TWEET_ID.fullmatch(root_id):
            return self.web.not_found(site)
        thread = self.web.read_thread(root_id)
        if thread is None:  # removed or withdrawn (410), or never unrolled here
            return self.web.missing_thread(root_id, "", site)
        back = site.thread_path(root_id)
        if (spent := self.over_budget(site, back)) is not None:
            return spent
        if not self.store.throttle(f"refresh:{root_id}", REFRESH_EVERY):
            return self.web.message(
                429,
                "Already looking",
                "Someone asked for this thread’s newer posts less than five minutes ago. Please try again later.",
                next_href=back,
                next_text="Back to the thread",
                site=site,
                headers={"retry-after": str(REFRESH_EVERY)},
            )
        ask = UnrollRequest(
            source="refresh",
            mention_id=f"refresh-{root_id}-{int(time.time())}",
            requester_id="web",
            replied_to_id=thread.last_id,
            conversation_id=thread.conversation_id,
        )
        self.store.enqueue([ask])
        log.info("thread_refresh_requested", root_id=root_id, last_id=thread.last_id)
        # Post, then redirect, then get: reloading the page that says so asks nothing again (nor answers "Already
        # looking").
        return RedirectResponse(site.path(f"/thread/{root_id}/refreshing"), status_code=303)

    def refreshing(self, request: Request) -> Response:
        """GET /thread/<id>/refreshing: what a look for newer posts answers, until it leads back to the thread."""
        root_id = request.path_params["root_id"]
        site = self.web.site()
        if not TWEET_ID.fullmatch(root_id):
            return self.web.not_found(site)
        back = site.thread_path(root_id)
        return self.web.message(
            202,
            "Looking for newer posts",
            "The bot is checking X for posts added to this thread. The thread’s page shows them in a minute or so.",
            next_href=back,
            next_text="Back to the thread",
            refresh=f"20; url={back}",
            site=site,
        )
