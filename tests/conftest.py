"""Shared fixtures: a real Redis (REDIS_URL, else embedded) with a fresh key prefix per test, the X API
sandbox as a real HTTP server, settings pointed at both, and the X API adapter."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings as hypothesis_settings

from bot.sandbox import SandboxServer
from bot.store import Store, embedded
from bot.xapi import XApi
from config.settings import Settings, load_settings

pytest_plugins = ["tests.fixtures_pages"]

# The suite gives one answer for one commit: the property tests draw the same examples every run (a clean check
# and CI agree). HYPOTHESIS_PROFILE=explore draws new ones at random (1,000 where a test sets no count) to hunt
# for new failures.
hypothesis_settings.register_profile("default", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False, max_examples=1000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

BOT_HANDLE = "unrollbot"
CREDENTIALS = {
    "x_api_key": "test-consumer-key",
    "x_api_secret": "test-consumer-secret-SECRET",
    "x_access_token": "test-access-token",
    "x_access_token_secret": "test-access-secret-SECRET",
    "x_bearer_token": "test-bearer-SECRET",
}


@pytest.fixture(autouse=True)
def search_shows_posts_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's search shows a post at once (`World.set_search_lag` hides the newest): a summon need not wait
    for X's index (UNROLL_SEARCH_LAG), unless a test says so."""
    monkeypatch.setenv("UNROLL_SEARCH_LAG", "0")


@pytest.fixture(scope="session")
def redis_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """The Redis the tests use: REDIS_URL when set, else an embedded redis-server on disk."""
    url = os.environ.get("REDIS_URL")
    if url:
        client = redis.Redis.from_url(url, decode_responses=True)
        client.ping()
        yield client
        # A shared Redis (the machine's) keeps nothing of this run: every test prefix's keys go, and only this run's
        # (another run may be using the same database).
        for used in PREFIXES:
            keys = list(client.scan_iter(match="{" + used + "}:*", count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
        client.close()
    else:
        client = embedded(tmp_path_factory.mktemp("redis"))
        yield client
        client.shutdown(nosave=True)  # type: ignore[call-arg]


PREFIXES: set[str] = set()  # the key prefixes this run's tests used


@pytest.fixture
def prefix() -> str:
    used = f"test-{uuid.uuid4().hex[:10]}"
    PREFIXES.add(used)
    return used


@pytest.fixture
def store(redis_client: redis.Redis, prefix: str) -> Iterator[Store]:
    """A Store on the real Redis under a key prefix of its own, deleted after the test."""
    yield Store(redis_client, prefix, handled_log_size=1000)
    keys = list(redis_client.scan_iter(match="{" + prefix + "}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[SandboxServer]:
    server = SandboxServer(port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> SandboxServer:
    """The X API sandbox, emptied for this test, with the bot's account in it."""
    sandbox_server.world.reset()
    sandbox_server.world.add_user(username=BOT_HANDLE, name="Unroll Bot", me=True)
    return sandbox_server


@pytest.fixture
def settings(sandbox: SandboxServer, prefix: str, tmp_path: Path) -> Settings:
    """Settings for a bot that talks to the sandbox and keeps its state under the test's prefix; the sandbox
    expects the bot's credentials and checks every OAuth 1.0a signature, as X does."""
    sandbox.world.configure_credentials(
        consumer_key=CREDENTIALS["x_api_key"],
        access_token=CREDENTIALS["x_access_token"],
        bearer_token=CREDENTIALS["x_bearer_token"],
        consumer_secret=CREDENTIALS["x_api_secret"],
        access_token_secret=CREDENTIALS["x_access_token_secret"],
    )
    return load_settings(
        _env_file=None,
        x_api_base_url=sandbox.url,
        public_base_url="http://127.0.0.1:8000",
        bot_handle=BOT_HANDLE,
        key_prefix=prefix,
        data_dir=tmp_path / "data",
        log_format="json",
        **CREDENTIALS,
    )


@pytest.fixture
def api(settings: Settings) -> XApi:
    return XApi(settings)
