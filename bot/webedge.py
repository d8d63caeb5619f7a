"""What every response of the web app passes through: security headers, the request log, the page cache, ETags,
compression."""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger(__name__)

CSP = (
    "default-src 'none'; img-src 'self' https: data:; media-src 'self' https:; style-src 'self'; "
    "script-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    # No Referer to other sites; on the site's own requests the browser then sends the page's true Origin with a
    # form post ("no-referrer" makes it "null", which a sandboxed frame on another site sends too: `cross_site`).
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
QUIET_PATHS = {"/healthz", "/metrics"}  # polled by platforms every few seconds: logged at debug level only
LOGGED_PATH = 300  # characters of a request's path a log line keeps: a junk path of 100 KB is not logged whole


def logged_path(path: str) -> str:
    """A request's path as its log line says it: cut, with its length, past `LOGGED_PATH` characters."""
    return path if len(path) <= LOGGED_PATH else f"{path[:LOGGED_PATH]}…({len(path)} characters)"


# Smaller answers gain too little from gzip to pay for its header and the time; a 12-post thread is ~10 kB.
GZIP_MIN_SIZE = 1024


class EdgeMiddleware:
    """Puts the security headers on every response and logs each request as one event."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                emit = log.debug if scope["path"] in QUIET_PATHS else log.info
                emit(
                    "http_request",
                    method=scope["method"],
                    path=logged_path(scope["path"]),
                    status=message["status"],
                    ms=round((time.perf_counter() - started) * 1000, 1),
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass(frozen=True)
class Rendered:
    """A rendered page's bytes and their ETag."""

    body: bytes
    etag: str

    @cached_property
    def gzipped(self) -> bytes:
        """The body gzipped, once per cached page (on the first request that accepts it), not once per request:
        a 250-post thread takes milliseconds to compress. No time stamp in it, so it is the same bytes each time."""
        return gzip.compress(self.body, compresslevel=9, mtime=0)

    @property
    def compressible(self) -> bool:
        return len(self.body) >= GZIP_MIN_SIZE


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether the client takes gzip: it names it (or x-gzip) with a weight above 0 ("gzip;q=0" refuses it,
    RFC 9110 §12.5.3). `GZip` reads requests the same way, so a page and the middleware never disagree."""
    for item in (accept_encoding or "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        if coding.lower() not in ("gzip", "x-gzip"):
            continue
        weight = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            return float(weight) > 0
        except ValueError:
            return False
    return False


class GZip(GZipMiddleware):
    """Starlette's GZipMiddleware, which gzips whenever the header mentions gzip, for a client that takes it
    (`accepts_gzip`): to one that refuses it with q=0, the request goes on as if it named no coding."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            named = Headers(scope=scope).get("accept-encoding", "")
            if "gzip" in named and not accepts_gzip(named):
                scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        await super().__call__(scope, receive, send)


class PageCache:
    """The last rendered pages, keyed by everything they show; thread-safe, least recently used dropped first."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._pages: OrderedDict[Hashable, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, render_page: Callable[[], str]) -> Rendered:
        with self._lock:
            if key in self._pages:
                self._pages.move_to_end(key)
                return self._pages[key]
        body = render_page().encode()
        page = Rendered(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)
        return page


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True when the request's If-None-Match names this ETag (weak or strong) or is `*`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
