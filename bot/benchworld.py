"""The benchmark's world: sandbox set-up, threads to unroll, and the settings and environment of the bot under test.

Every measure starts from a world reset to the bot's account alone (same id each time), with rate limits
lifted so a limit never stands in for a cost; a `Recording` notes what was created so the very same world
(ids included) can be built again for a baseline run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.demo import on_sandbox
from bot.models import UnrollRequest
from bot.sandbox import MediaSpec, TweetRef, UserRef, World
from bot.sandbox.limits import DEFAULT_LIMITS
from bot.sandbox.model import LinkPage
from bot.sandbox.samples import BOT_USERNAME, REFERENCE_THREAD, WorldLike, ensure_user
from config.settings import Settings, env_name

UNLIMITED = 10**9
BENCH_CREDENTIALS = {
    "x_api_key": "bench-consumer-key",
    "x_api_secret": "bench-consumer-secret",
    "x_access_token": "bench-access-token",
    "x_access_token_secret": "bench-access-token-secret",
    "x_bearer_token": "bench-bearer-token",
}
FILLER = (
    "is where the argument turns: the numbers above only make sense next to what they replaced, and "
    "https://example.com/notes has the sources. #thread"
)


def free_port() -> int:
    """A port nobody listens on right now, on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a process's log, to say why it failed."""
    text = path.read_text(errors="replace") if path.exists() else ""
    return " | ".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def fresh_world(world: World, bot_id: str | None = None) -> str:
    """Empty the world but for the bot's account (same id as before when given), limits lifted; the bot's id."""
    world.reset()
    me = world.add_user(BOT_USERNAME, name="Unroll Bot", id=bot_id, me=True)
    for endpoint in DEFAULT_LIMITS:
        world.set_rate_limit(endpoint, UNLIMITED)
    world.set_daily_post_limit(user=UNLIMITED, app=UNLIMITED)
    return me.id


@dataclass
class Recording:
    """A `WorldLike` that creates in a world and notes each creation, to build the same world again."""

    world: World
    steps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def now(self) -> datetime:
        return self.world.now()

    def find_user(self, username: str) -> UserRef | None:
        return self.world.find_user(username)

    def add_user(self, username: str, *, name: str | None = None, me: bool = False) -> UserRef:
        user = self.world.add_user(username, name=name, me=me)
        self.steps.append(("user", {"username": username, "name": name, "me": me, "id": user.id}))
        return user

    def add_tweet(
        self,
        author: str,
        text: str,
        *,
        created_at: datetime | str | None = None,
        reply_to: str | None = None,
        quote_of: str | None = None,
        media: Sequence[MediaSpec] = (),
    ) -> TweetRef:
        tweet = self.world.add_tweet(
            author, text, created_at=created_at, reply_to=reply_to, quote_of=quote_of, media=media
        )
        step = {"author": author, "text": text, "reply_to": reply_to, "quote_of": quote_of, "media": tuple(media)}
        self.steps.append(("tweet", {**step, "created_at": tweet.created_at, "id": tweet.id}))
        return tweet

    def set_link_page(self, url: str, page: LinkPage) -> None:
        self.world.set_link_page(url, page)
        self.steps.append(("link_page", {"url": url, "page": page}))

    def replay(self, world: World) -> None:
        """Create everything recorded again, with the same ids and times."""
        for kind, args in self.steps:
            if kind == "user":
                world.add_user(**args)
            elif kind == "link_page":
                world.set_link_page(**args)
            else:
                world.add_tweet(**args)


def add_thread(target: WorldLike, author: str, size: int, *, age: timedelta = timedelta(hours=3)) -> list[str]:
    """A thread of `size` self-replies a minute apart, the first `age` ago; its ids, root first.

    Up to 12 posts it is the reference thread's text; longer ones repeat a post of realistic length.
    """
    ensure_user(target, author, name=author.replace("_", " ").title())
    start = target.now() - age
    ids: list[str] = []
    for index in range(size):
        text = REFERENCE_THREAD[index] if size <= len(REFERENCE_THREAD) else f"{index + 1}/{size} {FILLER}"
        created = target.add_tweet(
            author, text, created_at=start + timedelta(minutes=index), reply_to=ids[-1] if ids else None
        )
        ids.append(created.id)
    return ids


def add_mentions(target: WorldLike, under: str, readers: Sequence[str]) -> list[TweetRef]:
    """One "@bot unroll" reply under `under` by each reader."""
    mentions = []
    for reader in readers:
        ensure_user(target, reader, name="Reader")
        mentions.append(target.add_tweet(reader, f"@{BOT_USERNAME} unroll", reply_to=under))
    return mentions


def request_for(mention: TweetRef, reader: UserRef, under: str) -> UnrollRequest:
    """The request the poller would queue for this mention (for loads the mentions endpoint cannot page)."""
    return UnrollRequest(
        mention_id=mention.id,
        requester_id=reader.id,
        requester_username=reader.username,
        conversation_id=mention.conversation_id,
        replied_to_id=under,
        text=f"@{BOT_USERNAME} unroll",
        created_at=mention.created_at,
    )


def bench_settings(
    base: Settings, *, sandbox_url: str, redis_url: str | None, prefix: str, data_dir: Path, port: int
) -> Settings:
    """The operator's settings (prices, templates…) aimed at the sandbox, the bench's Redis and a key prefix."""
    credentials = {name: SecretStr(value) for name, value in BENCH_CREDENTIALS.items()}
    return on_sandbox(
        base,
        sandbox_url=sandbox_url,
        port=port,
        key_prefix=prefix,
        redis_url=redis_url,
        bot_handle=BOT_USERNAME,
        data_dir=data_dir,
        log_format="json",
        log_level="INFO",
        **credentials,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `python -m bot …` process exactly these settings, and nothing inherited."""
    names = {env_name(field) for field in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith("UNROLL_")}
    for field_name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, list):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[env_name(field_name)] = str(value)
    return env
