"""The resolver's lookups up the reply chain: to the first post of a thread search cannot see, to the links
missing between what search gave and the thread, and to the readers' replies a detour answers (the author's
answers to them, gone on from, are part of the thread: `assembly.detours`). Each post is read once: a post whose
parent was read already is asked for alone."""

from __future__ import annotations

from datetime import timedelta

from bot.assembly import Node, detour_likely, detours, missing_link, reachable, self_replies
from bot.resolution import ResolverBase
from bot.tweettext import snowflake_time

JUST_POSTED = timedelta(minutes=2)  # a post this young may be missing from search (its last 30 s), clocks apart


class Climbs(ResolverBase):
    """Reads up the reply chain from the summoned post, or from the author's posts search left unconnected."""

    def climb_to_root(self, root_id: str, target: str) -> None:
        """An old thread that search cannot see: up the reply chain from the summoned post, two posts per lookup
        (the one asked for, its parent in `includes`), until the root or a post X cannot give. The root is met
        last, as a parent, so no post is read twice (asked for with the summoned post, the root would come
        again as the parent of the second post whenever the summoned post's depth is odd)."""
        ask: str | None = target
        while ask is not None:
            # After the window's search, the summoned post's parent, or a reader's post's, is likely read already.
            searched = self.searched
            alone = searched is not None and (ask == target or self.ask_alone(ask, searched))
            self.fetched.lookup([ask], referenced=not alone)
            ask = self.unread_ancestor(ask, root_id)

    def ask_alone(self, post_id: str, author_id: str) -> bool:
        """Whether to look a post up without its parent: when that parent is likely read already, asking for it
        again would bill it twice (a request is spent instead: quota, not money). So for a post a read one says
        is someone else's than the author's: a reader's reply the author answered hangs from a post of the
        thread."""
        owners = {t.in_reply_to_user_id for t in self.fetched.tweets.values() if self.fetched.parent(t) == post_id}
        return any(owner not in (None, author_id) for owner in owners)

    def answer_after_others(self, post_id: str, author_id: str) -> bool:
        """Whether a post a read one says is the author's is best looked up alone too: their thread's search (`to:`
        them) did not give it, so it may be an answer to someone, and someone else's posts were read (the summoned
        post's author's, searched): the post it answers may be one of them."""
        below = {t.id: t for t in self.fetched.tweets.values() if self.fetched.parent(t) == post_id}
        if not any(t.in_reply_to_user_id == author_id for t in below.values()):
            return False
        return any(t.author_id != author_id and t.id not in below for t in self.fetched.tweets.values())

    def unread_ancestor(self, tweet_id: str, root_id: str) -> str | None:
        """The first post up the reply chain from `tweet_id` not read yet; None at the root, at a post without
        a parent, or at one X said it cannot give."""
        seen: set[str] = set()
        root_id, tweet_id = self.fetched.canon(root_id), self.fetched.canon(tweet_id)
        while (tweet := self.fetched.tweets.get(tweet_id)) is not None and tweet_id != root_id:
            parent = self.fetched.parent(tweet)
            if parent is None or parent in seen:
                return None
            seen.add(tweet_id)
            tweet_id = parent
        if self.fetched.known(tweet_id):
            return None
        return tweet_id

    def climb(
        self,
        root_id: str,
        author_id: str,
        target: str,
        *,
        follow_target: bool,
        connect: bool,
        links_alone: bool = False,
        detours: bool = False,
    ) -> None:
        """Look up the missing links up to the root's chain: from the target (so a branch can be chosen
        by it) and, when asked (`connect`), from the author's unconnected self-replies. Each lookup climbs two
        levels: the tweets asked for, and their parents in `includes`; `links_alone`: the self-replies' missing
        parents are asked for alone, theirs being read already (search saw the whole conversation: a missing one
        is deleted, or one post search left out). `detours`: follow the target too once a lookup shows the author
        went on from an answer of theirs to someone (`under_someones_reply`): the thread's search (`to:` the
        author) does not give such answers, the lookups connecting the self-replies under them do."""
        while True:
            nodes = self.nodes(root_id)
            anchored = reachable(nodes, self.fetched.canon(root_id), author_id)
            need: set[str | None] = set()
            if follow_target or (detours and self.under_someones_reply(nodes, author_id, target)):
                need.add(missing_link(nodes, self.fetched.canon(target), anchored))
            linked: set[str | None] = set()
            if connect:
                linked = {
                    missing_link(nodes, n.id, anchored, only_self_replies_of=author_id)
                    for n in nodes.values()
                    if n.id not in anchored and n.author_id == author_id
                }
            wanted = {n for n in need | linked if n and not self.fetched.known(n)}
            if not wanted:
                return
            # A refresh's missing link for a newer post hangs from the stored chain (another branch's post): its
            # parent is stored.
            refreshed = self.stored is not None or links_alone
            alone = {
                n
                for n in wanted
                if (refreshed and n in linked - need)
                or self.ask_alone(n, author_id)
                or self.answer_after_others(n, author_id)
            }
            if alone:
                self.fetched.lookup(sorted(alone), referenced=False)
            if wanted - alone:
                self.fetched.lookup(sorted(wanted - alone))

    def target_unseen(self, nodes: dict[str, Node], author_id: str, target: str) -> bool:
        """Whether the summoned post should be in what was read but is not: it is the author's (the mention
        says whose post it answers) or was posted moments ago. Recent search may leave out its last 30 seconds
        (https://docs.x.com/x-api/posts/search/api-reference/get-2-tweets-search-recent, end_time) and its
        index is not promised complete; without a climb from it, the page would end before the post the
        reader asked about. Someone else's older reply is not looked up: it is not part of the thread."""
        if self.fetched.canon(target) in nodes:  # `nodes`: what is known of the conversation now
            return False
        request = self.request
        by_author = request is not None and target == request.replied_to_id and request.replied_to_user_id == author_id
        if self.stored is not None and int(target) < int(self.stored.last_id):
            # Older than the stored chain's end and not in it: someone else's is no part of the thread; the
            # author's may be another branch, or continue their answer to a reader (read to know, +1 lookup).
            return by_author
        return by_author or snowflake_time(target) > self.now - JUST_POSTED

    def under_someones_reply(self, nodes: dict[str, Node], author_id: str, target: str) -> bool:
        """Whether to climb from the summoned post: it is someone else's reply, or the author's answer to
        someone, and the author went on from an answer of theirs to someone (`assembly.detours`): the summoned
        post may sit under that answer, among its readers' replies, which only the way up tells (each of them
        read alone, `ask_alone`)."""
        node = nodes.get(self.fetched.canon(target))
        if node is None or not detour_likely(nodes, author_id):
            return False
        return node.author_id != author_id or node.parent_author_id not in (None, author_id)

    def read_answered_reply(self, root_id: str, author_id: str, target: str) -> None:
        """Readers' replies the author answered and went on from (`assembly.detours`), which `from:` search leaves
        out: each says whether its answer hangs from a post of the thread (wherever the summoned post is: above a
        detour, the thread goes on through it). All those unread are asked for in one request (100 a request),
        each alone: its parent, asked with it, would often be a post of the thread read twice. A round reads more
        only when one read shows another reader's reply above it, or an answer above that the author went on
        from (answers within answers): each post is read once, the rounds end when none is left to read."""
        top = int(self.fetched.canon(root_id))
        while True:
            nodes = self.nodes(root_id)
            # Answers after the thread's first post: a thread answering someone else's post (`Answering`) starts with
            # such an answer, which is no detour, and the author's posts before it are no part of the thread.
            went_on = {post: kids for post, kids in self_replies(nodes, author_id).items() if int(post) > top}
            likely = detour_likely(nodes, author_id, went_on)
            unread = self.answered_replies(nodes, root_id, author_id, target, went_on, likely)
            if not unread:
                return
            # Bare (no author, media or poll: the page shows none of them), unless the thread quotes one of them (its
            # card shows it, and one read serves both) or one is the author's: an answer within answers that the
            # thread's search (`to:` the author) left out, a post of the page.
            quoted = {q for t in self.fetched.tweets.values() if (q := t.referenced("quoted"))}
            authors = {t.in_reply_to_user_id for t in self.fetched.tweets.values() if self.fetched.parent(t) in unread}
            bare = quoted.isdisjoint(unread) and author_id not in authors
            self.fetched.lookup(sorted(unread, key=int), referenced=False, bare=bare)

    def answered_replies(
        self,
        nodes: dict[str, Node],
        root_id: str,
        author_id: str,
        target: str,
        went_on: dict[str, list[str]],
        any_detour: bool,
    ) -> set[str]:
        """The first unread post up the row of others' posts above each of the author's answers that reading it may
        show a detour for: the author went on from that answer (a self-reply, or a detour below it through an
        answer to a reply to it: answers within answers), or it is the summoned post and the author went on from
        another such answer (its way up may pass it), wherever the answer is (on a branch the page shows after it
        too)."""
        summoned = self.fetched.canon(target)
        nested = set(detours(nodes, author_id, went_on).values())  # answers a detour below goes through
        # Wherever the answer is: one above where the summoned post's way up meets the thread is on a branch the page
        # does not follow, shown after it in a section, which goes on through the answer (its reply read) or stops.
        unread: set[str] = set()
        for tweet_id, node in nodes.items():
            if node.author_id != author_id or node.parent_id is None or node.parent_author_id in (None, author_id):
                continue
            if not (went_on.get(tweet_id) or tweet_id in nested or (tweet_id == summoned and any_detour)):
                continue
            reply = node.parent_id
            # Up the readers' posts in a row (a reader's reply to a reader's, the bot's to a summon) to the first
            # one not read, unless X said it cannot give it.
            passed: set[str] = set()
            while (above := nodes.get(reply)) is not None and above.author_id != author_id and reply not in passed:
                passed.add(reply)
                if above.parent_id is None:
                    break
                reply = above.parent_id
            if reply not in nodes and not self.fetched.known(reply):
                unread.add(reply)
        return unread
