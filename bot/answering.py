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

    def answering(self, conv_id: str, author_id: str, target: str, first_author: str | None) -> Resolution | None:
        """`subthread`, else `answered_thread` (the summoned post a reply to a post of such a thread of a third
        author's), unless the summoned post was found a lone reply moments ago, after the summon was made
        (`covers`: a mention is served a stored copy as old; the page's "look for newer posts" asks X whatever).
        `first_author`: whose the conversation's first post is."""
        if self.found_alone("reply", target):
            return None
        self.conv_author = first_author
        own = self.subthread(conv_id, author_id, target)
        if own is None:
            own = self.answered_thread(conv_id, author_id, target)
        if own is None:
            self.lone_reply = target
        return own

    def answered_thread(self, conv_id: str, author_id: str, target: str) -> Resolution | None:
        """Summoned under a reader's reply to a post of a thread answering the conversation's first post (carol's reply
        to alice's part 5, alice's thread answering bob's question): alice's thread, as under a thread she started
        herself. Tried only when the post replied to is a third author's (neither the first post's nor the summoned
        post's) and, read alone (+1 lookup, +1 post: its parent, asked with it, would be read twice, the first post
        read already or a post of the thread the search reads), is a self-reply of theirs or a reply to the first
        post: a reader's reply to another reader's reply under a thread costs that lookup (which the climb to the
        branch it hangs from makes anyway when the thread branched), and a search only when that reply answers the
        first post itself. Their posts in the conversation are searched on both sides of it (+2 searches), so it is
        not read again. Within search's window only (older, the search after it would start at its second, with full
        archive, and read it again)."""
        summoned = self.fetched.get(target)
        if summoned is None or summoned.author_id != author_id or not self.in_window(conv_id):
            return None
        parent, owner = self.fetched.parent(summoned), summoned.in_reply_to_user_id
        if parent is None or owner is None or owner in (self.conv_author, author_id):
            return None
        self.fetched.lookup([parent], referenced=False)
        post = self.fetched.get(parent)
        if post is None or post.author_id != owner:
            return None
        above, first = self.fetched.parent(post), self.fetched.canon(conv_id)
        if post.in_reply_to_user_id != owner and above != first:
            return None  # a reply to someone else's reply: no thread of theirs answering the first post
        self.conv = conv_id
        author = Author(id=owner, username="")
        # Both sides, even above their thread's first post: a later post of theirs may answer an earlier one, which the
        # page would otherwise take for deleted.
        self.search(conv_id, author, full_archive=False, since_id=conv_id, until_id=post.id)
        self.search(conv_id, author, full_archive=False, since_id=post.id)
        return self.own_thread(owner, post.id, complete=True, under_answer=True)

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
        if searched and self.searched_self_replies and (self.in_window(conv_id) or self.settings.full_archive):
            # Searched first for their replies to their own posts only (`search_archive_first`): their thread here
            # starts with a reply to someone else's post, which the rest of their replies holds (`-to:` them).
            self.search(conv_id, author, full_archive=not self.in_window(conv_id), since_id=conv_id, to_others=True)
            self.searched_self_replies = False
        complete = self.in_window(conv_id) or self.settings.full_archive or self.in_window(target)
        # Their posts searched from the conversation's start: a summoned answer not gone on from may be read up to
        # the thread it answers under (else what that thread posted before the answer was not searched).
        whole = self.in_window(conv_id) or self.settings.full_archive
        return self.own_thread(author_id, target, complete=complete, under_answer=whole)

    def own_thread(self, author_id: str, target: str, *, complete: bool, under_answer: bool) -> Resolution | None:
        """The author's thread holding `target` (theirs), their posts in the conversation searched: None when it is
        in no chain of two posts or more of theirs. `under_answer`: `first_of_chain`'s."""
        top = self.first_of_chain(target, author_id, under_answer=under_answer)
        if top is None:
            self.conv = None
            return None
        if not complete:
            # Older than search's window: what followed the summoned post comes from its author's timeline (a
            # summon under the thread's first post found nothing else), when X's reply counts say it may have.
            self.follow_old_thread(top, author_id, target)
        chain = assemble(self.nodes(top), top, author_id, self.fetched.canon(target))
        if len(chain) >= 2:
            # Summoned above a detour (a reader replied under a post of the thread, the author answered and went on
            # from the answer): the thread goes on through it, which the reply answered shows (read alone), as in a
            # thread the author started (`Resolver.new`); their answers after the thread's first post only (that
            # first post is one). Only once the thread is sure: a reply read for a detour that then turns out to be
            # no thread of theirs could be a post of the first author's thread, which its search would read again.
            self.read_answered_reply(top, author_id, target)
            chain = assemble(self.nodes(top), top, author_id, self.fetched.canon(target))
        user = self.fetched.users.get(author_id)
        if len(chain) < 2 or user is None:
            self.conv = None
            return None
        if user.protected:
            raise ThreadNotFound(f"@{user.username} is a protected account", reason="protected")
        self.fetched.quoted()
        return Resolution("resolved", self.thread(top, author_of(user), target, complete=complete), root_id=top)

    def first_of_chain(self, target: str, author_id: str, *, under_answer: bool = False) -> str | None:
        """The first post of the author's chain of self-replies up from `target` (itself the author's), read up
        the chain where search did not bring it; None when the target is not the author's or cannot be read.
        `under_answer`: the target, an answer to someone not gone on from, is read up to the thread it answers
        under (`detour_above`)."""
        at = self.fetched.canon(target)
        self.fetched.lookup([at])  # nothing to ask when search (or the climb) read it
        tweet = self.fetched.get(at)
        if tweet is None or tweet.author_id != author_id:
            return None
        while (parent := self.fetched.parent(tweet)) is not None:
            if tweet.in_reply_to_user_id and tweet.in_reply_to_user_id != author_id:
                # It answers someone else: the thread starts here, or, when the author has an earlier post in the
                # conversation, it may answer a reader's reply under one (a detour), whose way up tells.
                summoned = under_answer and tweet.id == self.fetched.canon(target)
                over = self.detour_above(tweet, author_id, summoned=summoned)
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

    def detour_above(self, answer: ApiTweet, author_id: str, *, summoned: bool = False) -> ApiTweet | None:
        """The author's post that the row of others' posts `answer` answers hangs from (the author answered a reader
        under their own post and went on: a detour), or None: the row reaches the conversation's top or a post X
        cannot give; read only when the author went on from the answer and has an older post in the conversation
        (the common thread answering a question starts there, read no further). Each post of the row is read alone
        (its parent may be read already). The `summoned` answer not gone on from (no part of a thread,
        `assembly.detours`) says which thread of theirs the reader asked for, as under a thread of the first
        post's author's: its row is read too, up to a post of the first author's (not read: an answer under
        their thread, or to their first post, is no part of one of the author's) or past a reader's self-reply."""
        mine = [t for t in self.fetched.tweets.values() if t.author_id == author_id and t.conversation_id == self.conv]
        earlier = any(int(t.id) < int(answer.id) for t in mine)
        went_on = any(self.fetched.parent(t) == answer.id for t in mine)
        if not (earlier and (went_on or summoned)):
            return None
        post: ApiTweet | None = answer
        passed: set[str] = set()
        while post is not None and (parent := self.fetched.parent(post)) is not None and parent not in passed:
            # (a reader's reply of the row that is a self-reply: the row goes on through a thread of theirs, whose
            # posts, read alone here, a search for it would read again)
            mine_too = post is not answer and post.in_reply_to_user_id == post.author_id
            if not went_on and (post.in_reply_to_user_id in (None, self.conv_author) or mine_too):
                return None
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
