"""The searches the resolver asks before the thread's first post is looked up, of the summoned post's author's
posts (the mention says whose it is): inside recent search's window for a thread begun before it, in the full
archive for an older one, and in the conversation of a deleted first post. Each reads the summoned post and its
parent once, where a lookup first would have read them again. And whether a request may ask for full-archive
search at all (X may refuse the app it)."""

from __future__ import annotations

from datetime import datetime

from bot.apimodels import ApiTweet
from bot.errors import ThreadNotFound
from bot.models import Author, UnrollRequest
from bot.resolution import ResolverBase, first_lookup
from bot.window import in_recent_window


class FirstSearches(ResolverBase):
    """The summoned post's author's posts, searched first."""

    def search_window_first(self, root_id: str, target: str) -> None:
        """A thread begun before recent search's window, summoned under a post inside it whose author the mention
        names: their posts in the window come from one search (100 a page) instead of a lookup per two posts
        climbed, and the climb starts above the oldest of them. A running thread (a post a day for weeks, or a
        first post continued days later) costs its window's searches plus a lookup per two posts before it."""
        request = self.request
        if request is None or request.replied_to_id != target or not request.replied_to_user_id:
            return
        if not self.in_window(target):
            return  # nothing after an old summoned post is older than the window: searched after the climb
        author = Author(id=request.replied_to_user_id, username="")  # by id: the handle is not known yet
        self.search(root_id, author, full_archive=False, since_id=None)
        self.searched = author.id

    def search_under_old_root_first(self, root_id: str) -> str | None:
        """Summoned under a first post older than the window, which the mention says is whose: their posts in the
        window are searched before it is looked up, to be climbed from up to it (the caller's next step), so it
        comes last, as a parent, read once. Looked up first, it came again as the parent of the oldest post in the
        window (the second, say). Whose posts were searched, or None."""
        request = self.request
        if request is None or request.replied_to_id != root_id or not request.replied_to_user_id:
            return None
        author = request.replied_to_user_id
        self.search(root_id, Author(id=author, username=""), full_archive=False, since_id=None)
        self.searched = author
        return author

    def search_archive_first(self, root_id: str, target: str) -> None:
        """A thread older than the window, with full archive: the summoned post's author's replies to their own posts
        in the conversation are searched before the root is looked up. X may refuse the app full-archive search
        (`resolve` then climbs as without it): the root read before the refusal would come again as the parent of the
        second post whenever the summoned post's depth is odd. Their posts are the thread's search when the root is
        theirs (the usual case), and their own thread's (`subthread`) when it is not."""
        author = self.summoned_author()
        if author is None or self.found_alone("reply", target):
            return  # (found in no thread of theirs moments ago: not searched again, `answering`)
        # Their replies to their own posts only (`to:`), as the thread's search asks in the window: their answers to
        # readers are no part of their thread (an answer they went on from is found from the self-reply under it).
        narrowed = self.search(
            root_id, Author(id=author, username=""), full_archive=True, since_id=root_id, self_replies=True
        )
        self.searched, self.searched_self_replies = author, narrowed

    def first_post_deleted(
        self, root_id: str, target: str, gone: ThreadNotFound, *, complete: bool, full_archive: bool
    ) -> ApiTweet:
        """The thread's first post is deleted, or X won't show it (its author protected or suspended): the rest of
        it is still its author's, and the summoned post says whose thread it is. Read it and go on from the post
        that stands for the thread's author; the root stands in the conversation as a gap. That post is the
        summoned one when it is a self-reply (a thread of the first post's author's, or someone's thread answering
        that post: the asker of a question protected their account), or its author's answer to someone they went
        on from (a thread through a reader's reply to the deleted post); else the post it answers, when that is
        a self-reply (summoned under a reader's reply to the thread). A quote of a post of the conversation is
        read as the post quoted. Anything else: the thread is gone (`gone`). A protected or suspended author's
        own thread is found so too, at the price of a search that finds nothing and the summoned post's lookup
        (X won't show it either).

        When search sees the whole conversation, the mention names the summoned post's author: their posts are
        searched first (the thread's search when it is theirs), which reads the summoned post and its parent once;
        the summoned post is looked up only when search left it out (posted moments ago: with its parent, as any
        summoned post search left out). Looked up first with its parent, both came again in the search."""
        request = self.request
        under = request is not None and request.replied_to_id == target and request.conversation_id == root_id
        quoted = request is not None and request.quoted_id == target  # read already, for its conversation
        if request is None or gone.reason not in ("deleted", "protected", "suspended") or not (under or quoted):
            raise gone
        author = request.replied_to_user_id
        if complete and author is not None and self.searched is None:
            self.search(root_id, Author(id=author, username=""), full_archive=full_archive, since_id=root_id)
            self.searched = author
        # Nothing to ask when search or the climb read it. Asked before a search (its author unknown), alone: the
        # search brings it again, and its parent.
        self.fetched.lookup([target], referenced=self.searched is not None)
        stand_in = self._thread_post_near(self.fetched.get(target), root_id, complete, full_archive)
        if stand_in is None:
            raise gone
        self.gone, self.gone_author = gone, stand_in.author_id
        return stand_in

    def _thread_post_near(
        self, summoned: ApiTweet | None, root_id: str, complete: bool, full_archive: bool
    ) -> ApiTweet | None:
        """The post that says whose thread the summoned post is in (`first_post_deleted`), or None. The post a
        reader's reply answers comes with its author's posts, searched (the thread's search), else looked up."""
        if summoned is None or not summoned.author_id:
            return None
        if summoned.in_reply_to_user_id == summoned.author_id:
            return summoned  # a self-reply
        went_on = any(
            t.author_id == summoned.author_id and self.fetched.parent(t) == summoned.id
            for t in self.fetched.tweets.values()
        )
        if went_on:
            return summoned  # its author's answer to someone, gone on from (its posts were searched)
        answered, parent_id = summoned.in_reply_to_user_id, summoned.replied_to
        if answered is None or parent_id is None:
            return None
        if not self.fetched.known(parent_id):
            if complete and self.searched != answered:
                self.search(root_id, Author(id=answered, username=""), full_archive=full_archive, since_id=root_id)
                self.searched = answered
            self.fetched.lookup([parent_id], referenced=False)  # (nothing to ask when the search read it)
        parent = self.fetched.get(parent_id)
        if parent is not None and parent.author_id and parent.in_reply_to_user_id == parent.author_id:
            return parent  # a reply to a post of a thread
        return None


def may_search_archive(request: UnrollRequest, now: datetime) -> bool:
    """Whether resolving the request may call full-archive search: a reply's conversation is known up front, and
    one that started within recent search's window never needs it (every post of it is newer); a quote's (or a
    pasted link's) is known only once the post is read."""
    first = first_lookup(request)
    return first is not None and (first[0] is None or not in_recent_window(first[0], now))
