"""The deadline transport: a call given a number of seconds ends by then, however slowly its answer trickles in."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bot import deadline

DEADLINE = 1.0
TRICKLE = 0.2  # seconds between two bytes of a trickling answer: each read gets data well within its timeout
BODY = b'{"text": "' + b"x" * 100 + b'"}'


def head(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)


class TrickleServer:
    """An HTTP/1.1 server on 127.0.0.1 answering every request with `body`, its head or its body a byte at a time
    when told (`slow`), and counting the connections it accepted."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.slow = ""  # "head", "body" or "" (at once)
        self.body = BODY
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while conn.recv(65536):
                    answer = head(self.body) + self.body
                    at_once = {"head": 0, "body": len(answer) - len(self.body)}.get(self.slow, len(answer))
                    conn.sendall(answer[:at_once])
                    for byte in answer[at_once:]:
                        time.sleep(TRICKLE)
                        conn.sendall(bytes([byte]))
            except OSError:
                return  # the client gave up


@pytest.fixture
def server() -> Iterator[TrickleServer]:
    served = TrickleServer()
    yield served
    served.listener.close()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as plain:
        plain.trust_env = False  # no proxy from the environment between the test and its server
        yield deadline.mount(plain)


def timed_failure(session: requests.Session, url: str, expected: type[Exception]) -> float:
    """Seconds a call to `url` took to fail with `expected`."""
    started = time.monotonic()
    with pytest.raises(expected):
        session.get(url, timeout=DEADLINE)
    return time.monotonic() - started


def test_a_head_trickling_in_ends_at_the_deadline(server: TrickleServer, session: requests.Session) -> None:
    """Status line and headers a byte at a time: the call fails as a read timeout, long before the head is in."""
    server.slow = "head"
    assert timed_failure(session, server.url, requests.ReadTimeout) < len(head(BODY)) * TRICKLE / 4


def test_a_body_trickling_in_ends_at_the_deadline_and_its_connection_is_dropped(
    server: TrickleServer, session: requests.Session
) -> None:
    """The body a byte at a time: the call fails as a timeout (requests wraps it in a ConnectionError) long before
    the body is in, and the next call does not read the rest of it: it gets its own answer, on a new connection."""
    server.slow = "body"
    assert timed_failure(session, server.url, requests.ConnectionError) < len(BODY) * TRICKLE / 4
    server.slow = ""
    assert (BODY, 2) == (session.get(server.url, timeout=DEADLINE).content, server.connections)


def test_answers_in_time_keep_their_connection(server: TrickleServer, session: requests.Session) -> None:
    """Calls answered within the deadline share one kept-alive connection, as they do without one."""
    answers = [session.get(server.url, timeout=DEADLINE).content for _ in range(3)]
    assert ([BODY] * 3, 1) == (answers, server.connections)


def test_a_connect_and_read_pair_keeps_requests_meaning(server: TrickleServer, session: requests.Session) -> None:
    """A (connect, read) pair bounds each wait, as requests has it: a trickle, each byte in time, is read in full."""
    server.slow, server.body = "body", b'{"ok": 1}'
    started = time.monotonic()
    assert server.body == session.get(server.url, timeout=(DEADLINE, DEADLINE)).content
    assert time.monotonic() - started > DEADLINE
