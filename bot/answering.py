"""The summoned post's author's own thread in someone else's conversation: a thread answering a question, a
news post or another thread starts with a reply to it, and is the page when the summoned post is in it."""

from __future__ import annotations

from bot.apimodels import ApiTweet
from bot.assembly import assemble
from bot.climbs import Climbs
from bot.errors import ThreadNotFound
from bot.models import Author
from bot.resolution import Resolution
from bot.tweettext import author_of


class Answering(Climbs):
    """Finds the summoned post's author's thread answering someone else's post."""

    def answering(self, conv_id: str, author_id: str, target: str) -> Resolution | None:
        """`subthread`, unless the summoned post was found a lone reply moments ago, after the summon was made
        (`covers`: a mention is served a stored copy as old; the page's "look for newer posts" asks X whatever)."""
        if self.found_alone("reply", target):
            return None
        own = self.subthread(conv_id, author_id, target)
        if own is None:
            self.lone_reply = target
        return own

    def subthread(self, conv_id: str, author_id: str, target: str) -> Resolution | None:
        """The summoned post's author's own thread in someone else's conversation (a thread answering a question
        or a news post: its first post replies to another's): their posts in the conversation searched, the
        thread's first post found up the chain from the summoned post. None when the summoned post is in no
        chain of theirs (a lone reply): the conversation's own thread is the answer then."""
        self.conv = conv_id
        author = Author(id=author_id, username="")  # by id: their handle is not known yet
        searched = self.searched == author_id  # first, before the root lookup or the climb
        if not searched and (self.in_window(conv_id) or self.settings.full_archive):
            self.search(conv_id, author, full_archive=not self.in_window(conv_id), since_id=conv_id)
        elif not searched and self.in_window(target):
            # The conversation is older than the window: the climb to its first post read the chain up to the
            # summoned post (`new`), so only what came after it is searched.
            self.search(conv_id, author, full_archive=False, since_id=target)
        top = self.first_of_chain(target, author_id)
        if top is None:
            self.conv = None
            return None
        complete = self.in_window(conv_id) or self.settings.full_archive or self.in_window(target)
        if not complete:
            # Older than search's window: what followed the summoned post comes from its author's timeline (a
            # summon under the thread's first post found nothing else), when X's reply counts say it may have.
            self.follow_old_thread(top, author_id, target)
        chain = assemble(self.nodes(top), top, author_id, self.fetched.canon(target))
        user = self.fetched.users.get(author_id)
        if len(chain) < 2 or user is None:
            self.conv = None
            return None
        if user.protected:
            raise ThreadNotFound(f"@{user.username} is a protected account", reason="protected")
        self.fetched.quoted()
        return Resolution("resolved", self.thread(top, author_of(user), target, complete=complete), root_id=top)

    def first_of_chain(self, target: str, author_id: str) -> str | None:
        """The first post of the author's chain of self-replies up from `target` (itself the author's), read up
        the chain where search did not bring it; None when the target is not the author's or cannot be read."""
        at = self.fetched.canon(target)
        self.fetched.lookup([at])  # nothing to ask when search (or the climb) read it
        tweet = self.fetched.get(at)
        if tweet is None or tweet.author_id != author_id:
            return None
        while (parent := self.fetched.parent(tweet)) is not None:
            if tweet.in_reply_to_user_id and tweet.in_reply_to_user_id != author_id:
                # It answers someone else: the thread starts here, or, when the author has an earlier post in the
                # conversation, it may answer a reader's reply under one (a detour), whose way up tells.
                over = self.detour_above(tweet, author_id)
                if over is None:
                    break
                at, tweet = over.id, over
                continue
            self.fetched.lookup([parent])
            above = self.fetched.get(parent)
            if above is None:  # a post of theirs X cannot give (deleted): the chain went on above it
                return self.first_above_gap(at, author_id) or at
            if above.author_id != author_id:
                break  # someone else's post: the thread starts below it
            at, tweet = above.id, above
        return at

    def detour_above(self, answer: ApiTweet, author_id: str) -> ApiTweet | None:
        """The author's post that the row of others' posts `answer` answers hangs from (the author answered a reader
        under their own post and went on: a detour), or None: the row reaches the conversation's top or a post X
        cannot give; read only when the author went on from the answer and has an older post in the conversation
        (the common thread answering a question starts there, read no further). Each post of the row is read alone
        (its parent may be read already)."""
        mine = [t for t in self.fetched.tweets.values() if t.author_id == author_id and t.conversation_id == self.conv]
        earlier = any(int(t.id) < int(answer.id) for t in mine)
        went_on = any(self.fetched.parent(t) == answer.id for t in mine)
        if not (earlier and went_on):  # an answer not gone on from is no part of a thread (`assembly.detours`)
            return None
        post: ApiTweet | None = answer
        passed: set[str] = set()
        while post is not None and (parent := self.fetched.parent(post)) is not None and parent not in passed:
            passed.add(parent)
            self.fetched.lookup([parent], referenced=False)
            post = self.fetched.get(parent)
            if post is not None and post.author_id == author_id:
                return post
        return None

    def first_above_gap(self, below: str, author_id: str) -> str | None:
        """Where the author's thread starts when a post of it is gone above `below`: the latest of their posts
        in the conversation read so far that answers someone else, posted before it (assembly bridges the gap,
        as in any thread)."""
        starts = [
            t.id
            for t in self.fetched.tweets.values()
            if t.author_id == author_id
            and t.conversation_id == self.conv
            and t.in_reply_to_user_id not in (None, author_id)
            and int(t.id) < int(below)
        ]
        return max(starts, key=int, default=None)
