"""A requests transport whose timeout is one deadline for the whole call: connect, headers and body.

requests hands its timeout to each wait on the socket, so an answer that trickles in (a byte a second) is never
late by it and holds the caller for as long as the server likes. Here a call given a number of seconds fixes its
deadline when it starts; every read of the answer, headers and body alike, may wait only for what is left of it,
and one past it raises the timeout requests raises for a slow read (`ReadTimeout` while the headers are read; in
the body requests wraps the same timeout in a `ConnectionError`). urllib3 closes a connection that failed
mid-answer, so none is reused half-read. Nothing runs beside the call: each read costs a clock read and a
`settimeout`. The connect is bounded by the same number (urllib3's connect timeout); name resolution and the
TLS handshake keep their own limits. A (connect, read) pair or None keeps requests' own meaning, and so does a
call through a SOCKS proxy (urllib3's own connection classes).
"""

from __future__ import annotations

import http.client
import io
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# The deadline of the call this thread is making, read as its answer is opened (on the same thread: the pool's
# connection reads the headers inside `send`); None outside a call given a number of seconds.
_call = threading.local()


class _DeadlineReader(io.RawIOBase):
    """The socket's reader, each of its waits for data bounded by what is left until the deadline."""

    def __init__(self, sock: socket.socket, raw: io.RawIOBase, deadline: float) -> None:
        super().__init__()
        self._sock, self._raw, self._deadline = sock, raw, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's deadline passed before its answer was read in full")
        self._sock.settimeout(left)
        return self._raw.readinto(buffer)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()  # the socket's own reader: lets the socket close once the connection has let go
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    """http.client's answer, read under the deadline of the call that opened it (headers in `begin`, then body)."""

    def __init__(
        self, sock: socket.socket, debuglevel: int = 0, method: str | None = None, url: str | None = None
    ) -> None:
        super().__init__(sock, debuglevel, method, url)
        deadline: float | None = getattr(_call, "deadline", None)
        if deadline is not None:
            raw = self.fp.detach()  # the socket's reader, nothing read from it yet
            self.fp = io.BufferedReader(_DeadlineReader(sock, raw, deadline))


class _HTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class DeadlineHTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS: dict[str, type[HTTPConnectionPool]] = {"http": DeadlineHTTPPool, "https": DeadlineHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """requests' HTTP adapter, a number of seconds given as timeout being the deadline of the whole call."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # a SOCKS proxy connects through connection classes of its own
            manager.pool_classes_by_scheme = POOLS
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        _call.deadline = time.monotonic() + timeout if isinstance(timeout, int | float) else None
        try:
            return super().send(request, stream, timeout, verify, cert, proxies)
        finally:
            _call.deadline = None


def mount(session: requests.Session) -> requests.Session:
    """The session, its HTTP and HTTPS calls made through a `DeadlineAdapter`."""
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
