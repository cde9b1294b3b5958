"""The provider pages in docs/providers stay accurate to the models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from tests.events.cases import MODULES, PROVIDERS, TYPE_FIELD

DOCS = Path(__file__).resolve().parents[2] / "docs" / "providers"


def _section(page: str, model: type[BaseModel]) -> str:
    """The text under the heading that ends with the model's name, up to the next heading."""
    match = re.search(rf"^#+ .*`{model.__name__}`\n(.*?)(?=^#|\Z)", page, re.M | re.S)
    assert match, f"no section for {model.__name__}"
    return match.group(1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_page_lists_every_event_with_its_model(provider: str) -> None:
    """The page's events table has one row per event type, naming its model class."""
    page = (DOCS / f"{provider}.md").read_text()
    rows = re.findall(rf"^\| `([a-z_.]+)` \| `{provider}\.(\w+)` \|", page, re.M)
    expected = [
        (event_type, model.__name__) for event_type, model in MODULES[provider].EVENT_TYPES.items()
    ]
    assert rows == expected


@pytest.mark.parametrize("provider", PROVIDERS)
def test_page_fields_match_the_models(provider: str) -> None:
    """Every model the module exports has a table with exactly its fields and required flags."""
    module = MODULES[provider]
    page = (DOCS / f"{provider}.md").read_text()
    models = [getattr(module, name) for name in module.__all__]
    models = [model for model in models if isinstance(model, type) and issubclass(model, BaseModel)]
    assert models
    for model in models:
        rows = re.findall(r"^\| `(\w+)` \| .* \| (yes|no)\b.*\|$", _section(page, model), re.M)
        expected = [
            (name, "yes" if field.is_required() or name == TYPE_FIELD[provider] else "no")
            for name, field in model.model_fields.items()
        ]
        assert rows == expected, model.__name__
