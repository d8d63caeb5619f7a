"""`.env.example` and the README's configuration table never drift from the Settings model."""

from __future__ import annotations

from pathlib import Path

from config.envdoc import env_example, with_table
from config.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_is_generated_from_the_settings() -> None:
    """The committed .env.example is what the Settings model generates (`python -m config.envdoc --write`)."""
    assert env_example() == (ROOT / ".env.example").read_text(encoding="utf-8")


def test_readme_table_is_generated_from_the_settings() -> None:
    """The README's configuration table is the generated one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert with_table(readme) == readme


def test_every_setting_is_documented_with_a_description() -> None:
    """Each variable appears in .env.example with one line of explanation above it."""
    lines = env_example().splitlines()
    for field, info in Settings.model_fields.items():
        assert info.description, field
        index = next(i for i, line in enumerate(lines) if line.startswith(env_name(field) + "="))
        assert f"# {info.description}" == lines[index - 1]
