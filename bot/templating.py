"""The pages' templates and stylesheet: the Jinja2 environment, the versioned CSS, and rendering a page for a site."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from bot.pagevalues import clean, profile_url
from bot.site import Site

CSS_FILE = "unroll.css"
# Beside this module, found by its own path: `importlib.resources.files("bot")` merges any folder named `bot` in the
# directory the process starts from (a checkout named so, say) into the package, and its joinpath then fails.
HERE = Path(__file__).resolve().parent
STATIC, TEMPLATES = HERE / "static", HERE / "templates"


@cache
def css() -> tuple[str, bytes]:
    """The one stylesheet: its versioned file name (content hash, so it can be cached for a year) and bytes."""
    data = (STATIC / CSS_FILE).read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"unroll-{digest}.css", data


@cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment: templates from bot/templates, every value escaped, unknown names an error."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.filters["clean"] = clean
    env.filters["profile_url"] = profile_url
    return env


def render(template: str, site: Site, **context: Any) -> str:
    """Render a page template with the site and the stylesheet's address."""
    css_name, _ = css()
    return environment().get_template(template).render(site=site, css_href=site.path(f"/static/{css_name}"), **context)
