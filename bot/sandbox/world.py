"""The sandbox's in-memory world: accounts, posts as typed, the clock, limits, faults and counters.

One lock guards everything, because uvicorn serves from its own thread while tests and the control
interface change the world from theirs. Every public method takes the lock; the server takes it
too (`with world.lock:`) around a whole request so a response is never half old, half new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bot.sandbox import derive, edits, ids
from bot.sandbox.faults import FaultQueue
from bot.sandbox.limits import Budget, Context
from bot.sandbox.model import (
    Fault,
    LinkPage,
    MediaSpec,
    PollSpec,
    Posted,
    Stats,
    Tweet,
    TweetRef,
    User,
    UserRef,
    Withholding,
)
from bot.sandbox.switches import Switches, aware
from bot.sandbox.text import mentioned_usernames

if TYPE_CHECKING:
    from bot.sandbox.compliance import Job

Visibility = Literal["ok", "not_found", "protected", "suspended"]
_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")


class World(Switches):
    """Everything the fake X API knows; safe to use from any thread."""

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        """Forget every user, post, setting, fault and counter; the clock goes back to real time."""
        with self.lock:
            self.reset_switches()
            self.users: dict[str, User] = {}
            self.tweets: dict[str, Tweet] = {}
            # A post's id → the ids of the posts made in reply to it, and of those quoting it (public_metrics).
            self._replies: dict[str, set[str]] = {}
            self._quotes: dict[str, set[str]] = {}
            self.faults = FaultQueue()
            self.stats = Stats()
            self.answers_dropped = 0  # requests handled whose answer an `after` fault dropped
            self._posted: list[Posted] = []
            self.compliance_jobs: dict[str, Job] = {}
            self.compliance_delay = 0  # status reads a job answers `in_progress` before it completes
            self.compliance_fails = False  # jobs end `failed` instead of `complete`
            self._sequence: dict[int, int] = {}
            self.link_pages: dict[str, LinkPage] = {}  # a typed URL (as expanded) → what X learnt of its page

    # -- users ---------------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        name: str | None = None,
        protected: bool = False,
        suspended: bool = False,
        verified: bool = False,
        profile_image_url: str | None = None,
        description: str = "",
        id: str | None = None,
        me: bool = False,
    ) -> UserRef:
        """Create an account; `me=True` makes it the authenticated account (the bot)."""
        if not _USERNAME.match(username):
            raise ValueError(f"a username is 1 to 15 letters, digits or underscores, got {username!r}")
        with self.lock:
            if self.user_by_username(username) is not None:
                raise ValueError(f"a user @{username} already exists in the sandbox")
            created = self.now() - timedelta(days=400)
            user_id = id or str(self._next_id(created))
            if not user_id.isdigit() or user_id in self.users:
                raise ValueError(f"user id must be a new numeric string, got {user_id!r}")
            if me:
                for other in self.users.values():
                    other.me = False
            image = profile_image_url or f"https://pbs.twimg.com/profile_images/{user_id}/avatar_normal.jpg"
            user = User(
                user_id, username, name or username, created, protected, suspended, verified, image, description, me
            )
            self.users[user_id] = user
            return UserRef(user.id, user.username, user.name)

    def rename_user(self, user_id: str, username: str) -> None:
        """Change an account's handle, as its owner can on X (ids never change)."""
        if not _USERNAME.match(username):
            raise ValueError(f"a username is 1 to 15 letters, digits or underscores, got {username!r}")
        with self.lock:
            taken = self.user_by_username(username)
            if taken is not None and taken.id != user_id:
                raise ValueError(f"a user @{username} already exists in the sandbox")
            self.users[user_id].username = username

    def find_user(self, username: str) -> UserRef | None:
        """The account with this username, if any."""
        with self.lock:
            user = self.user_by_username(username)
            return None if user is None else UserRef(user.id, user.username, user.name)

    def user_by_username(self, username: str) -> User | None:
        """The stored account, matched without regard to case as X does."""
        with self.lock:
            wanted = username.lstrip("@").lower()
            return next((u for u in self.users.values() if u.username.lower() == wanted), None)

    def me(self) -> User | None:
        """The account marked `me` (the bot), if any."""
        with self.lock:
            return next((u for u in self.users.values() if u.me), None)

    # -- posts ---------------------------------------------------------------------------------------

    def add_tweet(
        self,
        author: str,
        text: str,
        *,
        created_at: datetime | str | None = None,
        reply_to: str | None = None,
        quote_of: str | None = None,
        media: Sequence[MediaSpec | Mapping[str, Any]] = (),
        id: str | None = None,
        lang: str | None = None,
        poll: PollSpec | Mapping[str, Any] | None = None,
    ) -> TweetRef:
        """Post `text` as `author` typed it (optionally in the past, as a reply, quote, with media or a poll)."""
        with self.lock:
            user = self.user_by_username(author)
            if user is None:
                raise ValueError(f"no user @{author} in the sandbox; add it first with add_user")
            when = self.now() if created_at is None else aware(created_at)
            specs = [m if isinstance(m, MediaSpec) else MediaSpec.from_json(m) for m in media]
            asked = poll if poll is None or isinstance(poll, PollSpec) else PollSpec.from_json(poll)
            if asked is not None and (specs or quote_of):
                raise ValueError("a post with a poll can have no media and quote no post, as on X")
            tweet = self._create(user, text, when, reply_to, quote_of, specs, id, lang, via_api=False)
            if asked is not None:
                tweet.poll = derive.poll(asked, self._next_id(when), when)
            return TweetRef(tweet.id, tweet.conversation_id, tweet.author_id, tweet.created_at)

    def edit_tweet(self, tweet_id: str, text: str) -> TweetRef:
        """Edit the latest version of a post, as its author can on X: a new post id, now, with the new text.

        Refused (ValueError) for a post that is unknown, deleted or not the latest version, a reply to
        someone else's post, a chain already edited 5 times, or 30 minutes after the original.
        """
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            if tweet is None:
                raise ValueError(f"no post {tweet_id} to edit")
            now = self.now()
            problem = edits.refusal(tweet, self.tweets[tweet.edit_history[0]], now)
            if problem is not None:
                raise ValueError(problem)
            version = edits.edited(tweet, text, str(self._next_id(now)), now)
            self.tweets[version.id] = version
            for earlier in tweet.edit_history:
                self.tweets[earlier].edit_history = version.edit_history
            return TweetRef(version.id, version.conversation_id, version.author_id, version.created_at)

    def withhold(self, tweet_id: str, country_codes: Sequence[str] = (), *, copyright: bool = False) -> None:
        """Withhold a post in these countries, or over a copyright claim, as X does on a legal demand: reads then
        carry its `withheld` field. No country and no claim lifts it."""
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            if tweet is None or tweet.deleted:
                raise ValueError(f"no post {tweet_id} to withhold")
            withholding = Withholding(tuple(dict.fromkeys(country_codes)), copyright)
            tweet.withheld = withholding if withholding.country_codes or copyright else None

    def set_link_page(self, url: str, page: LinkPage) -> None:
        """What X knows of the web page at `url` (as typed, with its scheme): the posts linking to it then carry
        its title, description, preview image and unwound URL in their `entities.urls`."""
        with self.lock:
            self.link_pages[url] = page

    def mark_sensitive(self, tweet_id: str, sensitive: bool = True) -> None:
        """Mark a post possibly sensitive, as X does for media it flags (the post's `possibly_sensitive`)."""
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            if tweet is None or tweet.deleted:
                raise ValueError(f"no post {tweet_id} to mark")
            tweet.possibly_sensitive = sensitive

    def metrics(self, tweet: Tweet) -> tuple[int, int]:
        """How many posts not deleted reply to this version of the post and quote it (public_metrics' reply_count
        and quote_count), each once whatever its own edits: X gives each version of an edited post its own
        metrics, the engagements made while it was the one shown (https://docs.x.com/x-api/fundamentals/edit-posts)."""

        def live(index: dict[str, set[str]]) -> int:
            return sum(not self.tweets[r].deleted for r in index.get(tweet.id, ()))

        with self.lock:
            return live(self._replies), live(self._quotes)

    def delete_tweet(self, tweet_id: str) -> None:
        """Delete a post and every version of its edit chain: lookups then answer resource-not-found for them."""
        with self.lock:
            tweet = self.tweets.get(tweet_id)
            if tweet is None or tweet.deleted:
                raise ValueError(f"no post {tweet_id} to delete")
            for version in tweet.edit_history:
                self.tweets[version].deleted = True

    def visibility(self, tweet: Tweet | None) -> Visibility:
        """Whether a post can be returned, and if not, which error X gives instead."""
        with self.lock:
            if tweet is None or tweet.deleted:
                return "not_found"
            author = self.users[tweet.author_id]
            if author.suspended:
                return "suspended"
            return "protected" if author.protected and not author.me else "ok"

    def newest_first(self, tweets: Iterable[Tweet]) -> list[Tweet]:
        """Posts ordered as X lists them: by id, highest (newest) first."""
        return sorted(tweets, key=lambda t: int(t.id), reverse=True)

    def mentions_of(self, user: User) -> list[Tweet]:
        """Visible posts that @mention `user` (typed or as reply prefix), newest first, edited ones as last edited."""
        with self.lock:
            name = user.username.lower()
            found = [
                t
                for t in self.tweets.values()
                if t.author_id != user.id
                and t.is_latest
                and self.visibility(t) == "ok"
                and name in {n.lower() for n in (*t.reply_prefix, *mentioned_usernames(t.typed_text))}
            ]
            return self.newest_first(found)

    def posts_of(self, user: User) -> list[Tweet]:
        """Visible posts `user` wrote (replies too), newest first, edited ones as last edited: the user's timeline
        before X's reach and exclusions."""
        with self.lock:
            found = [
                t for t in self.tweets.values() if t.author_id == user.id and t.is_latest and self.visibility(t) == "ok"
            ]
            return self.newest_first(found)

    def post(self, text: str, *, reply_to: str | None = None, quote_of: str | None = None) -> Tweet:
        """Create a post as the bot (what POST /2/tweets does once the request passed every check)."""
        with self.lock:
            me = self.me()
            if me is None:
                raise ValueError("no account is marked me=True")
            tweet = self._create(me, text, self.now(), reply_to, quote_of, [], None, None, via_api=True)
            self._posted.append(Posted(tweet.id, text, reply_to, tweet.created_at, quote_of))
            return tweet

    def posted(self) -> list[Posted]:
        """What the bot posted, oldest first."""
        with self.lock:
            return list(self._posted)

    # -- faults and counters -------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str,
        path_prefix: str,
        *,
        status: int | None = None,
        count: int = 1,
        delay: float = 0.0,
        drop: bool = False,
        reset_in: float | None = None,
        after: bool = False,
        usage_capped: bool = False,
        empty_page: bool = False,
        errors_only: bool = False,
        truncate: bool = False,
        drip: float = 0.0,
        malformed: bool = False,
        skip: int = 0,
        no_users: bool = False,
    ) -> None:
        """Answer the next `count` matching requests with `status`, after `delay`, or drop the connection.

        `method` may be `*`; `path_prefix` matches the start of the path (`/2/tweets` also matches
        `/2/tweets/search/recent`). `reset_in` sets x-rate-limit-reset of an injected 429. With `drop` and
        `after`, the request is handled first (a post is created) and its answer lost, `delay` seconds later:
        the network failing after X accepted a post, or answering after the client gave up. `usage_capped`
        answers X's 429 for a spent usage cap: a `usage-capped` problem whose rate-limit headers are not
        spent out, so a client cannot mistake it for a rate limit that resets in 15 minutes. `empty_page`
        answers a page of a list (mentions, a user's posts, search) holding no post but a next_token to where it
        was asked: X documents paging as "repeat until no next_token is returned", not until a page comes back
        empty.
        `errors_only` answers 200 with an `errors` array and nothing else (no data, no meta). `truncate` handles the
        request (a post is created), then sends half of the answer's body and closes the connection. `drip` handles
        the request, then sends the answer's head at once and its body in 20 pieces spread over `drip` seconds:
        each piece within a per-read timeout, the whole answer past a deadline. `malformed` handles the request,
        then answers its status and headers with the first half of its JSON body, complete as HTTP goes (its
        length is the half's): a body broken on its way, which only the JSON tells. `skip` lets that many matching
        requests through first: the second page of a list failing, say. `no_users` handles the request and answers
        without its `includes.users`, saying nothing of them: a broken answer, not one X gives.
        """
        with self.lock:
            self.faults.add(
                Fault(
                    method.upper(),
                    path_prefix,
                    count,
                    status,
                    delay,
                    drop,
                    reset_in,
                    after,
                    usage_capped,
                    empty_page,
                    errors_only,
                    truncate,
                    drip,
                    malformed,
                    skip,
                    no_users,
                )
            )

    def pending_faults(self) -> tuple[Fault, ...]:
        """The injected faults not used up yet."""
        with self.lock:
            return self.faults.pending()

    def answer_dropped(self) -> None:
        """Count a request handled whose answer is dropped (an `after` fault), as soon as it was handled."""
        with self.lock:
            self.answers_dropped += 1

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first pending fault matching this request, counted down by one."""
        with self.lock:
            return self.faults.take(method, path)

    def record(self, endpoint: str, status: int) -> None:
        """Count one answered request (status 0: connection dropped)."""
        with self.lock:
            codes = self.stats.requests.setdefault(endpoint, {})
            codes[status] = codes.get(status, 0) + 1

    def arrived(self) -> None:
        """A request is being answered (until `answered`): counted towards `most_in_flight`."""
        with self.lock:
            self.stats.in_flight += 1
            self.stats.most_in_flight = max(self.stats.most_in_flight, self.stats.in_flight)

    def answered(self) -> None:
        with self.lock:
            self.stats.in_flight = max(self.stats.in_flight - 1, 0)

    def most_in_flight(self) -> int:
        """The most requests answered at once since the world was reset (clients' concurrency)."""
        with self.lock:
            return self.stats.most_in_flight

    def request_counts(self) -> dict[str, dict[int, int]]:
        """How many requests each endpoint (`GET /2/tweets/:id`…) answered, per HTTP status."""
        with self.lock:
            return {key: dict(codes) for key, codes in self.stats.requests.items()}

    def snapshot_stats(self) -> Stats:
        """Request counts and billed reads (posts, mentions, users) so far, and the most requests answered at once."""
        with self.lock:
            stats = self.stats
            return Stats(
                self.request_counts(),
                stats.post_reads,
                stats.mention_reads,
                stats.user_reads,
                most_in_flight=stats.most_in_flight,
            )

    def take_rate_limit(self, endpoint: str, context: Context) -> Budget:
        """Spend one request of the endpoint's 15-minute window by the sandbox clock."""
        with self.lock:
            return self.limiter.take(endpoint, context, self.now().timestamp())

    # -- internals -----------------------------------------------------------------------------------

    def _next_id(self, when: datetime) -> int:
        ms = int(when.timestamp() * 1000)
        sequence = self._sequence.get(ms, 0)
        self._sequence[ms] = sequence + 1
        return ids.snowflake(when, sequence)

    def _create(
        self,
        user: User,
        text: str,
        when: datetime,
        reply_to: str | None,
        quote_of: str | None,
        media: Sequence[MediaSpec],
        tweet_id: str | None,
        lang: str | None,
        *,
        via_api: bool,
    ) -> Tweet:
        parent = self.tweets.get(reply_to) if reply_to else None
        if reply_to and parent is None:
            raise ValueError(f"cannot reply to {reply_to}: no such post in the sandbox")
        if quote_of and quote_of not in self.tweets:
            raise ValueError(f"cannot quote {quote_of}: no such post in the sandbox")
        if len(media) > 4:
            raise ValueError(f"a post holds at most 4 media, got {len(media)}")
        new_id = tweet_id or str(self._next_id(when))
        if not new_id.isdigit() or new_id in self.tweets:
            raise ValueError(f"post id must be a new numeric string, got {new_id!r}")
        prefix: tuple[str, ...] = ()
        if parent is not None and not via_api:
            prefix = derive.reply_prefix(self.users[parent.author_id].username, parent.reply_prefix, user.username)
        tweet = Tweet(
            id=new_id,
            author_id=user.id,
            typed_text=text,
            created_at=when,
            conversation_id=parent.conversation_id if parent else new_id,
            reply_to=reply_to,
            in_reply_to_user_id=parent.author_id if parent else None,
            quote_of=quote_of,
            media=tuple(derive.media(spec, self._next_id(when)) for spec in media),
            reply_prefix=prefix,
            lang=lang or derive.language(text),
            via_api=via_api,
        )
        self.tweets[new_id] = tweet
        if reply_to:
            self._replies.setdefault(reply_to, set()).add(new_id)
        if quote_of:
            self._quotes.setdefault(quote_of, set()).add(new_id)
        return tweet
