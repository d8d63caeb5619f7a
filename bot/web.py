"""The web process: thread pages (HTML, text, Markdown, JSON), the home and author pages, health, metrics, forms.

Pages are rendered from the store on request and kept in a small in-process cache keyed by what they show,
so a 250-post thread is rendered once per version. No scripts, cookies or third-party requests: the
Content-Security-Policy says so to the browser too.
"""

from __future__ import annotations

import errno
import hmac
import re
import socket
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime

import redis
import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import metrics, renderer, webforms
from bot.errors import PortUnavailable, StoreUnavailable, ThreadUnreadable
from bot.models import Thread, ThreadSummary
from bot.pagevalues import clean, profile_url
from bot.site import Site
from bot.store import Store
from bot.templating import css, render
from bot.tweetviews import anchor_of
from bot.webedge import (
    GZIP_MIN_SIZE,
    SECURITY_HEADERS,
    EdgeMiddleware,
    GZip,
    PageCache,
    accepts_gzip,
    etag_matches,
    logged_path,
)
from config.settings import Settings

log = structlog.get_logger(__name__)

HTML = "text/html; charset=utf-8"
FORMATS = {
    "": (HTML, renderer.render_html),
    ".txt": ("text/plain; charset=utf-8", renderer.render_txt),
    ".md": ("text/markdown; charset=utf-8", renderer.render_md),
    ".json": ("application/json", renderer.render_json),
}
THREAD_SLUG = re.compile(r"([0-9]{1,25})(\.txt|\.md|\.json)?")
HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
PAGE_MAX_AGE = 60  # a thread can be refreshed and the latest list moves: revalidate with the ETag after a minute
STATIC_MAX_AGE = 365 * 24 * 3600  # the stylesheet's name carries its hash
UNREADABLE_FIX = (
    "python -m bot rerender lists every stored thread this version can't read or render; one another version wrote "
    "reads again under that version"
)


class Web:
    """The app's handlers over one store and one set of settings."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.cache = PageCache()
        self.registry = metrics.registry(store, settings)

    # --- helpers ------------------------------------------------------------------------------------
    def site(self) -> Site:
        """The site as it stands: the bot's handle as X knows it once the bot has started."""
        return Site.of(self.settings, self.store.get_identity())

    def read_thread(self, root_id: str) -> Thread | None:
        """The stored thread, or None; ThreadUnreadable when what is stored does not read as a thread."""
        try:
            return self.store.get_thread(root_id)
        except ValueError as exc:  # pydantic's ValidationError, a time stamp that is none: the data, not Redis
            raise ThreadUnreadable(root_id, f"{type(exc).__name__}: {exc}") from exc

    def latest(self) -> list[ThreadSummary]:
        """The latest threads unrolled, as many as UNROLL_LATEST_SIZE says."""
        return self.store.latest(self.settings.latest_size) if self.settings.latest_size else []

    def page(
        self,
        request: Request,
        key: Hashable,
        render_page: Callable[[], str],
        media_type: str = HTML,
        max_age: int = PAGE_MAX_AGE,
    ) -> Response:
        """A cached page with its ETag; 304 when the browser has it already.

        Gzipped from the cache for a client that takes it, with the ETag made weak (the same page, other bytes),
        as nginx does: either ETag revalidates the page. GZipMiddleware passes a gzipped answer through and adds
        `Vary: Accept-Encoding` to a plain one of that size itself (set here too, it would say it twice)."""
        page = self.cache.get(key, render_page)
        gzipped = page.compressible and accepts_gzip(request.headers.get("accept-encoding"))
        etag = "W/" + page.etag if gzipped else page.etag
        headers = {"etag": etag, "cache-control": f"public, max-age={max_age}"}
        if etag_matches(request.headers.get("if-none-match"), page.etag):
            vary = {"vary": "Accept-Encoding"} if page.compressible else {}
            return Response(status_code=304, headers={**headers, **vary})
        if gzipped:
            gzip_headers = {**headers, "vary": "Accept-Encoding", "content-encoding": "gzip"}
            return Response(page.gzipped, media_type=media_type, headers=gzip_headers)
        return Response(page.body, media_type=media_type, headers=headers)

    def message(
        self,
        status: int,
        heading: str,
        *lines: str,
        next_href: str | None = None,
        next_text: str = "",
        refresh: str | None = None,
        site: Site | None = None,
        headers: dict[str, str] | None = None,
        latest: Sequence[ThreadSummary] = (),
    ) -> Response:
        """A short page that tells the reader what happened and where to go next (errors, waiting, notices), and
        the `latest` threads unrolled when there is nothing else to read."""
        site = site or Site.of(self.settings)
        body = render(
            "message.html",
            site,
            heading=heading,
            lines=lines,
            next_href=next_href,
            next_text=next_text,
            refresh=refresh,
            latest=latest,
        )
        cache = "no-store" if refresh or status >= 500 or status == 429 else "public, max-age=60"
        return Response(body, status_code=status, media_type=HTML, headers={"cache-control": cache, **(headers or {})})

    def not_found(self, site: Site | None = None, latest: Sequence[ThreadSummary] = ()) -> Response:
        """The 404 page; with the latest threads for a thread that does not exist (a broken link to one), so the
        reader finds something to read. Other unknown addresses don't read Redis for them."""
        site = site or Site.of(self.settings)
        return self.message(
            404,
            "Nothing here",
            "This page does not exist, or the thread was never unrolled here.",
            next_href=site.path("/"),
            next_text="Unroll a thread",
            site=site,
            latest=latest,
        )

    # --- pages --------------------------------------------------------------------------------------
    def home(self, request: Request) -> Response:
        site, latest = self.site(), self.latest()
        key = ("home", site, tuple((s.root_id, s.unrolled_at) for s in latest))
        return self.page(
            request, key, lambda: render("home.html", site, latest=latest, error=None, value=None), max_age=30
        )

    def thread(self, request: Request) -> Response:
        match = THREAD_SLUG.fullmatch(request.path_params["slug"])
        site = self.site()
        if not match:
            return self.not_found(site, self.latest())
        root_id, suffix = match.group(1), match.group(2) or ""
        # The version (when the thread was last fetched) keys the page cache, so a cached page costs one small
        # Redis read: the whole thread is read and validated only to render it.
        version = self.store.thread_version(root_id)
        thread = None if version else self.read_thread(root_id)
        if version is None and thread is None:
            return self.missing_thread(root_id, suffix, site)

        def load() -> Thread:
            found = thread or self.read_thread(root_id)
            if found is None:  # removed between the two reads
                raise LookupError(root_id)
            return found

        media_type, render_format = FORMATS[suffix]
        if suffix:
            key: Hashable = (suffix, root_id, version, site)
            return self.page(request, key, lambda: render_format(load(), site=site), media_type)
        latest = self.latest()
        key = ("html", root_id, version, site, tuple((s.root_id, s.unrolled_at) for s in latest))
        return self.page(request, key, lambda: renderer.render_html(load(), site=site, latest=latest))

    def missing_thread(self, root_id: str, suffix: str, site: Site) -> Response:
        """A thread not stored: 410 when removed or withdrawn, else the page of the thread holding it, else 404."""
        gone = None
        if self.store.was_removed(root_id):
            gone = (
                "This thread was removed",
                "Its author asked for their threads not to be unrolled here, so this page is gone for good.",
            )
        elif self.store.was_withdrawn(root_id):
            gone = (
                "This thread is gone",
                "Its posts were deleted on X, or its author's account is now protected, suspended or gone, so this "
                "page is no longer shown.",
            )
        if gone is not None:
            if suffix:
                return export_error(410, *gone, suffix)
            return self.message(410, *gone, next_href=site.path("/"), next_text="Go to the home page", site=site)
        root = self.store.root_of(root_id)
        if root and root != root_id:  # a post in the middle of a stored thread: its thread's page, at that post
            fragment = "" if suffix else "#" + anchor_of(root_id)
            return RedirectResponse(site.thread_path(root, suffix) + fragment, status_code=301)
        if suffix:
            return export_error(404, "Nothing here", "This thread was never unrolled here.", suffix)
        return self.not_found(site, self.latest())

    def author(self, request: Request) -> Response:
        handle = request.path_params["handle"]
        site = self.site()
        if not HANDLE.fullmatch(handle):
            return self.not_found(site, self.latest())
        if self.store.is_opted_out(handle):
            return self.message(
                410,
                f"@{handle} opted out",
                "This author asked for their threads not to be unrolled here.",
                site=site,
            )
        threads = self.store.threads_by_author(handle)
        if not threads:
            return self.message(
                404,
                f"No threads by @{handle} yet",
                "None of this author’s threads has been unrolled here.",
                next_href=profile_url(handle),
                next_text=f"@{handle} on X",
                site=site,
                latest=self.latest(),
            )
        username = threads[0].author_username
        key = ("author", username.lower(), site, tuple((s.root_id, s.unrolled_at) for s in threads))
        return self.page(
            request,
            key,
            lambda: render(
                "author.html",
                site,
                name=clean(threads[0].author_name or username),
                username=clean(username),
                profile=profile_url(username),
                canonical=site.base_url + "/author/" + username,
                threads=threads,
            ),
        )

    def static(self, request: Request) -> Response:
        name, data = css()
        if request.path_params["name"] != name:
            return self.not_found()
        return Response(
            data,
            media_type="text/css; charset=utf-8",
            headers={"cache-control": f"public, max-age={STATIC_MAX_AGE}, immutable"},
        )

    def healthz(self, request: Request) -> Response:
        """200 with the last poll and the queue depth when Redis answers, 503 when it does not."""
        headers = {"cache-control": "no-store"}
        try:
            self.store.ping()
            last_poll = self.store.last_poll()
            depth = self.store.queue_depth()
        except (StoreUnavailable, redis.RedisError) as exc:
            log.warning("health_check_failed", error=str(exc))
            return JSONResponse({"status": "unavailable", "redis": False}, status_code=503, headers=headers)
        age = round((datetime.now(UTC) - last_poll).total_seconds(), 1) if last_poll else None
        body = {
            "status": "ok",
            "redis": True,
            "last_poll": last_poll.isoformat() if last_poll else None,
            "last_poll_age_s": age,
            "queue_depth": depth,
        }
        return JSONResponse(body, headers=headers)

    def prometheus(self, request: Request) -> Response:
        """The bot's metrics in Prometheus text format, read from Redis at scrape time (every process's counts);
        only for a scraper that shows the token when `UNROLL_METRICS_TOKEN` is set."""
        if not self.may_scrape(request.headers.get("authorization", "")):
            return Response(
                "Unauthorized: /metrics needs the bearer token set in UNROLL_METRICS_TOKEN\n",
                status_code=401,
                media_type="text/plain",
                headers={"www-authenticate": 'Bearer realm="metrics"', "cache-control": "no-store"},
            )
        body, content_type = metrics.exposition(self.registry)
        return Response(body, media_type=content_type, headers={"cache-control": "no-store"})

    def may_scrape(self, authorization: str) -> bool:
        """Whether an Authorization header opens /metrics: any when no token is set, else `Bearer <token>`
        (compared in constant time)."""
        token = self.settings.metrics_token
        if token is None:
            return True
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.get_secret_value().encode()
        )

    # --- errors -------------------------------------------------------------------------------------
    def http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return self.not_found()
        # A 405's Allow header says which methods the address takes (RFC 9110 §15.5.6).
        headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
        return self.message(status, "This request can’t be answered", "Go back and try another way.", headers=headers)

    def thread_unreadable(self, request: Request, exc: Exception) -> Response:
        """The site's own 500 for a stored thread that does not read (in the export's format for an export), and
        an event naming it: the traceback alone (uvicorn's) named no thread for the operator to look at."""
        root_id = exc.root_id if isinstance(exc, ThreadUnreadable) else ""
        error = exc.error if isinstance(exc, ThreadUnreadable) else str(exc)
        log.error(
            "thread_unreadable", root_id=root_id, path=logged_path(request.url.path), error=error, fix=UNREADABLE_FIX
        )
        heading = "This thread can’t be shown right now"
        line = "Its stored copy can’t be read. The site’s operator can find out why in its log."
        match = THREAD_SLUG.fullmatch(request.path_params.get("slug", ""))
        if match and match.group(2):
            return export_error(500, heading, line, match.group(2))
        return self.message(
            500, heading, line, next_href=Site.of(self.settings).path("/"), next_text="Go to the home page"
        )

    def server_error(self, request: Request, exc: Exception) -> Response:
        """The site's own 500 page, with the security headers every other answer has (this one is sent outside
        the middleware that adds them), and an event naming the request; uvicorn logs the traceback after."""
        log.error(
            "web_request_failed",
            method=request.method,
            path=logged_path(request.url.path),
            error=f"{type(exc).__name__}: {exc}",
        )
        response = self.message(
            500, "Something went wrong", "This page can’t be shown right now. Please try again later."
        )
        response.headers.update(SECURITY_HEADERS)
        return response

    def store_down(self, request: Request, exc: Exception) -> Response:
        log.error("store_unavailable", path=request.url.path, error=str(exc))
        return self.message(
            503,
            "Back in a moment",
            "The site can’t reach its database right now. Please try again in a minute.",
            headers={"retry-after": "30"},
        )


def export_error(status: int, heading: str, line: str, suffix: str) -> Response:
    """An export's 404, 410 or 500 in the export's own format (.json: an object with `error` and `detail`), for the
    program that asked for it, not an HTML page."""
    headers = {"cache-control": "no-store"} if status >= 500 else None  # (a 500 of the moment, not to be kept)
    if suffix == ".json":
        return JSONResponse({"error": heading, "detail": line}, status_code=status, headers=headers)
    media_type = FORMATS[suffix][0]
    return Response(f"{heading}\n\n{line}\n", status_code=status, media_type=media_type, headers=headers)


def without_slash(request: Request) -> Response:
    """/thread/5/ → /thread/5, as a link relative to where the reader is (the site may sit under a path)."""
    last = request.path_params["path"].rpartition("/")[2]
    query = f"?{request.url.query}" if request.url.query else ""
    return RedirectResponse(f"../{last}{query}", status_code=301)


def create_app(settings: Settings, store: Store) -> Starlette:
    """The Starlette app serving every page of the site from `store`."""
    web = Web(settings, store)
    forms = webforms.Forms(web)
    routes = [
        Route("/", web.home, methods=["GET"]),
        Route("/healthz", web.healthz, methods=["GET"]),
        Route("/metrics", web.prometheus, methods=["GET"]),
        Route("/static/{name}", web.static, methods=["GET"]),
        Route("/thread/{slug}", web.thread, methods=["GET"]),
        Route("/thread/{root_id}/refresh", forms.refresh, methods=["POST"]),
        Route("/thread/{root_id}/refreshing", forms.refreshing, methods=["GET"]),
        Route("/author/{handle}", web.author, methods=["GET"]),
        Route("/unroll", forms.unroll, methods=["POST"]),
        Route("/pending/{tweet_id}", forms.pending, methods=["GET"]),
        # An address with a slash at its end goes to the one without, by a relative link: Starlette's own
        # redirect names the request's Host (any client's choice) and scheme (http behind a TLS proxy).
        Route("/{path:path}/", without_slash, methods=["GET", "HEAD"]),
    ]
    handlers = {
        HTTPException: web.http_error,
        StoreUnavailable: web.store_down,
        redis.RedisError: web.store_down,
        ThreadUnreadable: web.thread_unreadable,
        Exception: web.server_error,  # (Starlette's outermost middleware answers with it, then raises again)
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.router.redirect_slashes = False
    # The other answers (messages, metrics, the stylesheet) are gzipped as they go; the edge stays outermost, so
    # its request log counts the compression's time.
    app.add_middleware(GZip, minimum_size=GZIP_MIN_SIZE)
    app.add_middleware(EdgeMiddleware)
    return app


def server(settings: Settings, store: Store) -> uvicorn.Server:
    """A uvicorn server for the web app on the configured host and port (`.run()` serves until stopped)."""
    config = uvicorn.Config(
        create_app(settings, store),
        host=settings.host,
        port=settings.port,
        log_config=None,  # logging is structlog's, set up once in config/
        access_log=False,  # EdgeMiddleware logs each request as an event
        server_header=False,
        # The client's address (the paste form's limit counts it) is X-Forwarded-For's from these proxies: read
        # with the other settings, so FORWARDED_ALLOW_IPS in .env counts too (uvicorn reads the environment only).
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    return uvicorn.Server(config)


def listen(settings: Settings) -> socket.socket:
    """The web port, listened on now: a process that can't have it stops with PortUnavailable before it starts
    anything else (uvicorn, binding late, would exit with its own status 3, which here means wrong credentials,
    with the poller and worker already running)."""
    host, port = settings.host, settings.port
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except socket.gaierror as exc:
        raise PortUnavailable(f"HOST {host} is no address of this machine ({exc.strerror}): set HOST.") from exc
    except OSError as exc:
        where = f"Can't listen on HOST {host} PORT {port}"
        if exc.errno == errno.EADDRINUSE:
            why = "another process listens on that port; set PORT to a free one, or stop that process"
        elif exc.errno == errno.EACCES:
            why = "a port below 1024 needs privileges here; set PORT to 1024 or above"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = "HOST is no address of this machine; set HOST (0.0.0.0: every interface)"
        else:
            why = f"{exc.strerror or exc}; check HOST and PORT"
        raise PortUnavailable(f"{where}: {why}.") from exc
    # Each answer goes out at once (uvicorn writes the headers, then the body): with Nagle's algorithm on, a
    # page's last small segment waited for the client's delayed ACK of the headers, 40 ms on every request of a
    # kept-alive connection but the first. asyncio sets TCP_NODELAY only on sockets created with IPPROTO_TCP,
    # which create_server's are not; connections accepted on this socket inherit it.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(settings: Settings, store: Store, sock: socket.socket | None = None) -> None:
    """Run the web app with uvicorn until stopped, on `sock` (from `listen`) or else the configured host and port."""
    sock = sock or listen(settings)
    log.info("web_starting", host=settings.host, port=settings.port, public_base_url=settings.public_base_url)
    with sock:
        server(settings, store).run(sockets=[sock])
