"""Which reply template answers a mention: the one for its language when set, else UNROLL_REPLY_TEMPLATE (pure)."""

from __future__ import annotations

from config.settings import Settings, parse_templates


def template_for(settings: Settings, lang: str | None) -> str:
    """The reply template for a mention in `lang` (X's code, e.g. `es`, `pt`, `zh-tw`), falling back to the default.

    An exact code wins (`pt-br`), then its base language (`pt`); X's `und`, `qme`, `zxx`… match nothing.
    """
    templates = parse_templates(settings.reply_templates)
    if lang and templates:
        code = lang.strip().lower()
        for candidate in (code, code.split("-", 1)[0]):
            if candidate in templates:
                return templates[candidate]
    return settings.reply_template
