"""The reply: its text (pure, fits one post with the link counted as 23) and posting it exactly once.

Before a reply is posted the mention gets an idempotency record ("posting"); after, the reply's id.
A retried request whose record says "posting" may have been answered already: the bot's own recent
replies are searched for one to that mention before anything is posted again.
"""

from __future__ import annotations

import structlog

from bot.errors import DuplicateContent
from bot.models import UnrollRequest
from bot.runtime import Bot

log = structlog.get_logger(__name__)

POST = "POST /2/tweets"
# A second request by the same reader within a day would repeat the text X refuses as duplicate content.
VARIANTS = ("", " (again)", " ↩", " ✓", " 🧵")


def compose(template: str, *, requester: str, author: str = "", link: str = "", count: int = 0) -> str:
    """Fill a reply template (validated at start-up to fit 280 characters with the link counted as 23)."""
    return template.format(requester=requester, author=author, link=link, count=count).strip()


def find_existing_reply(bot: Bot, request: UnrollRequest) -> str | None:
    """The id of a reply of the bot to this mention, searched among the bot's recent posts."""
    query = f"from:{bot.username} conversation_id:{request.conversation_id or request.mention_id}"
    token: str | None = None
    for _ in range(5):  # the bot's replies in one conversation fit in a few pages
        page = bot.api.search(query, next_token=token)
        for tweet in page.data:
            if tweet.replied_to == request.mention_id:
                return tweet.id
        token = page.meta.next_token
        if not token:
            break
    return None


def post_once(bot: Bot, request: UnrollRequest, text: str) -> tuple[str | None, str]:
    """Post `text` in reply to the mention unless that was done already; returns (reply id, text posted).

    Dry-run logs the reply instead of posting it and returns no id.
    """
    store = bot.store
    record = store.reply_record(request.mention_id)
    if record and record.state in ("replied", "final"):
        log.info("reply_already_posted", reply_id=record.reply_id)
        return record.reply_id, record.text or text
    uncertain = record is not None and record.state == "posting"
    if uncertain:
        # An earlier attempt may have posted before it could record: look for it, and repeat its exact text
        # so that, if the search cannot see it yet, X refuses the repeat as duplicate content.
        assert record is not None
        text = record.text or text
        existing = find_existing_reply(bot, request)
        if existing:
            store.mark_replied(request.mention_id, existing, text)
            log.info("reply_found_after_uncertain_post", reply_id=existing)
            return existing, text
    if bot.settings.dry_run:
        log.info("reply_dry_run", text=text, in_reply_to=request.mention_id)
        store.mark_replied(request.mention_id, None, text, state="final")
        return None, text
    variants = ("",) if uncertain else VARIANTS
    for variant in variants:
        attempt = text + variant
        store.mark_posting(request.mention_id, attempt)
        try:
            created = bot.api.post(attempt, in_reply_to=request.mention_id)
        except DuplicateContent:
            existing = find_existing_reply(bot, request)
            if existing or uncertain:  # our earlier, uncertain post went through
                store.mark_replied(request.mention_id, existing, attempt)
                log.info("reply_was_posted_before", reply_id=existing)
                return existing, attempt
            # The same reader asked under the same thread earlier today: vary the text, it is a new request.
            log.info("reply_duplicate_text_varied", variant=variant)
            continue
        store.mark_replied(request.mention_id, created.id, attempt)
        log.info("reply_posted", reply_id=created.id, text=attempt)
        return created.id, attempt
    raise DuplicateContent(
        "every variant of the reply text was refused as duplicate content", status=403, endpoint=POST
    )
