"""`.env.example` and the README's configuration table, generated from the Settings model so they never drift.

Regenerate both with `python -m config.envdoc --write`; a test checks the committed files match.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from config.settings import Settings, env_name

SECTIONS = {
    "x_api_key": "X API credentials and endpoint",
    "redis_url": "Deployment",
    "keywords": "The bot",
    "price_post_read": "Spending (pay-per-use prices, US dollars)",
}


def _default(field: str) -> str:
    info = Settings.model_fields[field]
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and not field.startswith("price_"):
        return str(int(value))
    return str(value)


def env_example() -> str:
    """The text of `.env.example`: every setting with its default and one line of explanation."""
    lines = [
        "# unroll-bot configuration. Copy to .env and fill in; every value shown is the default.",
        "# Generated from config/settings.py by `python -m config.envdoc`; do not edit by hand.",
    ]
    for field, info in Settings.model_fields.items():
        if field in SECTIONS:
            lines += ["", f"# === {SECTIONS[field]} ==="]
        lines.append(f"# {info.description}")
        default = _default(field)
        needs_quotes = any(c in default for c in " {}#'\"")
        lines.append(f"{env_name(field)}={json.dumps(default) if needs_quotes else default}")
    return "\n".join(lines) + "\n"


def markdown_table() -> str:
    """The README's configuration table: variable, default, meaning."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for field, info in Settings.model_fields.items():
        default = _default(field).replace("|", "\\|")
        rows.append(f"| `{env_name(field)}` | {f'`{default}`' if default else '(unset)'} | {info.description} |")
    return "\n".join(rows) + "\n"


START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def with_table(readme: str) -> str:
    """The README text with the configuration table between its markers replaced by the generated one."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _: f"{START}\n{markdown_table()}{END}", readme)


def write(root: Path) -> None:
    (root / ".env.example").write_text(env_example(), encoding="utf-8")
    readme = root / "README.md"
    readme.write_text(with_table(readme.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write(Path(__file__).resolve().parent.parent)
    else:
        sys.stdout.write(markdown_table() if "--markdown" in sys.argv else env_example())
