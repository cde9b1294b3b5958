"""What the documentation shows agrees with the library: each provider's example payloads."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from webhook_kit import providers, testing

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Events a provider's document lists without an example payload: their page says so, and shows
#: the sample the library made up for them.
WITHOUT_EXAMPLE = {
    "struktr": set(),
    "file_conversion": {"document.uploaded", "document.processing", "document.deleted"},
    "imggo": {"job.queued"},
    "docextract": set(),
    "pulse": {"job.created", "job.processing", "job.cancelled"},
}

EVENT_HEADING = re.compile(r"^### `(?P<event>[^`]+)`: `\w+`$")


@dataclass(frozen=True)
class Example:
    """A JSON block of a provider page, with the event heading it sits under."""

    line: int
    event: str | None
    intro: str
    payload: Any


def examples_of(page: Path) -> list[Example]:
    """Every ```json block of `page`, with its event section and the paragraph before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found, event, number = [], None, 0
    while number < len(lines):
        heading = EVENT_HEADING.match(lines[number])
        if heading is not None:
            event = heading["event"]
        elif lines[number].startswith("#"):
            event = None
        if lines[number].strip() != "```json":
            number += 1
            continue
        end = lines.index("```", number + 1)
        before = lines[:number]
        while before and not before[-1].strip():
            before.pop()
        intro: list[str] = []
        while before and before[-1].strip():
            intro.insert(0, before.pop())
        payload = json.loads("\n".join(lines[number + 1 : end]))
        found.append(Example(number + 1, event, " ".join(intro), payload))
        number = end + 1
    return found


@pytest.mark.parametrize("provider", sorted(providers.PROVIDERS))
def test_every_event_shows_the_sample_the_library_uses(provider: str) -> None:
    """Each event's section shows one JSON example, equal to `testing.sample` of that event."""
    examples = examples_of(DOCS / "providers" / f"{provider}.md")
    shown = [example.event for example in examples]
    assert sorted(map(str, shown)) == sorted(providers.get(provider).event_types), shown
    assert sorted(testing.event_types(provider)) == sorted(providers.get(provider).event_types)
    for example in examples:
        assert example.event is not None
        expected = testing.sample(provider, example.event)
        assert example.payload == expected, f"{provider}.md:{example.line} ({example.event})"


@pytest.mark.parametrize("provider", sorted(providers.PROVIDERS))
def test_events_documented_without_an_example_say_so(provider: str) -> None:
    """An example the provider never gave is introduced as such; a documented one is not."""
    for example in examples_of(DOCS / "providers" / f"{provider}.md"):
        made_up = "documents this event without an example" in example.intro
        assert made_up == (example.event in WITHOUT_EXAMPLE[provider]), example


def test_a_wrong_example_is_caught(tmp_path: Path) -> None:
    """A page whose example differs from the sample by one value fails the comparison."""
    payload = testing.sample("struktr", "batch.progress")
    payload["data"]["pending"] = 4
    page = tmp_path / "struktr.md"
    page.write_text(
        "### `batch.progress`: `BatchProgress`\n\nstruktr's example:\n\n"
        f"```json\n{json.dumps(payload, indent=2)}\n```\n"
    )
    (example,) = examples_of(page)
    assert (example.event, example.intro) == ("batch.progress", "struktr's example:")
    assert example.payload != testing.sample("struktr", example.event)
