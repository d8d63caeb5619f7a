"""Fixtures of the page and web tests: a clean store per test, settings, sample threads and a live server.

Loaded from tests/conftest.py with `pytest_plugins = ["tests.fixtures_pages"]`. Names start with `pages_` (or
say what they make) so they never shadow the suite's own fixtures.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from bot import web
from bot.models import Author, Media, QuotedTweet, Segment, Thread, ThreadTweet
from bot.store import Store
from config.settings import Settings

ThreadFactory = Callable[..., Thread]
FIRST_TEXT = "Tweet 1: how we rebuilt the old mill by the river, one beam at a time."


@pytest.fixture
def pages_redis(redis_client: redis.Redis) -> redis.Redis:
    """The suite's one real Redis (REDIS_URL when set, else the embedded one)."""
    return redis_client


@pytest.fixture
def pages_store(pages_redis: redis.Redis) -> Iterator[Store]:
    """A store under a key prefix of its own; its keys are deleted afterwards."""
    store = Store(pages_redis, prefix=f"test-{uuid.uuid4().hex}")
    yield store
    keys = list(pages_redis.scan_iter(match=store.key("*"), count=500))
    if keys:
        pages_redis.delete(*keys)


@pytest.fixture
def pages_settings() -> Settings:
    """Settings of a site at https://unroll.example for the bot @unrollbot."""
    return Settings(
        _env_file=None,
        public_base_url="https://unroll.example",
        bot_handle="unrollbot",
        keywords=["unroll", "#unroll"],
        latest_size=5,
    )


def build_thread(
    count: int = 12,
    *,
    root_id: str = "1000",
    username: str = "millwright",
    media_base: str = "https://pbs.twimg.com",
    fetched_at: datetime | None = None,
    gaps: list[str] | None = None,
) -> Thread:
    """A thread of `count` tweets by @millwright: links, mentions, hashtags, line breaks, photos, a video,
    a GIF and a quoted tweet, each tweet's text starting with `Tweet <n>:`."""
    start = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    author = Author(id="42", username=username, name="Ada Millwright", profile_image_url=f"{media_base}/a_normal.jpg")
    tweets = []
    for n in range(1, count + 1):
        text = FIRST_TEXT if n == 1 else f"Tweet {n}: the next step of the work, told in a few plain words."
        segments = [Segment(text=text)]
        media: list[Media] = []
        quoted = None
        if n == 1:
            segments += [
                Segment(text="\nPlans at "),
                Segment(kind="url", text="example.org/mill", href="https://example.org/mill?from=x"),
                Segment(text=" with "),
                Segment(kind="mention", text="@carpenter"),
                Segment(text=" "),
                Segment(kind="hashtag", text="#restoration"),
                Segment(text="\n\nCosts in "),
                Segment(kind="cashtag", text="$EUR"),
            ]
            media = [
                Media(key="p1", type="photo", url=f"{media_base}/mill.png", alt_text="The mill", width=800, height=600)
            ]
        elif n == 3:
            media = [
                Media(
                    key="v1",
                    type="video",
                    url=f"{media_base}/beam.mp4",
                    preview_url=f"{media_base}/beam.png",
                    alt_text="Raising a beam",
                )
            ]
        elif n == 4:
            media = [
                Media(key="g1", type="animated_gif", url=f"{media_base}/wheel.mp4", preview_url=f"{media_base}/w.png")
            ]
        elif n == 5:
            quoted = QuotedTweet(
                id="900",
                author=Author(id="7", username="historian", name="Local Historian"),
                created_at=start - timedelta(days=30),
                segments=[Segment(text="The mill was built in 1802.")],
            )
        tweets.append(
            ThreadTweet(
                id=str(int(root_id) + n - 1),
                created_at=start + timedelta(minutes=n),
                segments=segments,
                lang="en",
                media=media,
                quoted=quoted,
                replied_to=None if n == 1 else str(int(root_id) + n - 2),
            )
        )
    return Thread(
        root_id=root_id,
        conversation_id=root_id,
        author=author,
        tweets=tweets,
        fetched_at=fetched_at or datetime(2024, 3, 2, tzinfo=UTC),
        gaps=gaps or [],
    )


@pytest.fixture
def make_thread() -> ThreadFactory:
    """The sample thread builder (`build_thread`), as a fixture."""
    return build_thread


@pytest.fixture
def web_client(pages_settings: Settings, pages_store: Store) -> Iterator[TestClient]:
    """An HTTP client talking to the web app in-process over the test store."""
    with TestClient(web.create_app(pages_settings, pages_store), follow_redirects=False) as client:
        yield client


@pytest.fixture
def live_server(pages_settings: Settings, pages_store: Store, tmp_path: Path) -> Iterator[str]:
    """The web app served by a real uvicorn on 127.0.0.1 in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = pages_settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    server = web.server(settings, pages_store)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start within 10 s")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
