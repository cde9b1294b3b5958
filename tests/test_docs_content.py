"""What the documentation shows agrees with the library: examples, reference, diagram, figures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import griffe
import pytest
from benchmarks import plot

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


def exported_names() -> dict[str, set[str]]:
    """Each name in the `__all__` of a public module -> every public path of the same object.

    Read from the source by griffe, as mkdocstrings reads it: `webhook_kit.idempotency.MemoryStore`
    and `webhook_kit.idempotency.memory.MemoryStore` are one class, documented once.
    """
    package = griffe.load("webhook_kit", search_paths=[str(ROOT / "src")], resolve_aliases=True)
    modules, pending = [], [package]
    while pending:
        module = pending.pop()
        if any(part.startswith("_") for part in module.path.split(".")):
            continue
        modules.append(module)
        pending.extend(sub for sub in module.modules.values() if not sub.is_alias)
    places: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for module in modules:
        for name in module.exports or ():
            member = module[name]
            target = member.final_target.path if member.is_alias else member.path
            places.setdefault(target, set()).add(f"{module.path}.{name}")
            names[f"{module.path}.{name}"] = target
    return {name: places[target] for name, target in names.items()}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built as `make docs` builds it (without --strict)."""
    directory = tmp_path_factory.mktemp("site")
    subprocess.run(  # noqa: S603 - our own documentation build
        [sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(directory)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def reference_anchors(site: Path) -> set[str]:
    """The ids of every heading mkdocstrings renders on the API reference page."""
    html = (site / "reference" / "index.html").read_text(encoding="utf-8")
    return set(re.findall(r'id="(webhook_kit[^"]*)"', html))


def test_every_public_name_is_in_the_api_reference(reference_anchors: set[str]) -> None:
    """Each name of each public module's `__all__` has a heading on the reference page."""
    missing = sorted(
        name for name, places in exported_names().items() if not places & reference_anchors
    )
    assert missing == []


def test_the_public_names_include_the_optional_modules() -> None:
    """The names checked come from every public module, the optional integrations included."""
    names = exported_names()
    assert {
        "webhook_kit.Receiver",
        "webhook_kit.celery.CeleryDefer",
        "webhook_kit.idempotency.redis.RedisStore",
        "webhook_kit.idempotency.redis.AsyncRedisStore",
        "webhook_kit.idempotency.sql.SQLStore",
        "webhook_kit.deadletters.sql.SQLDeadLetters",
        "webhook_kit.django.store.DjangoStore",
        "webhook_kit.flask.webhook_blueprint",
        "webhook_kit.fastapi.webhook_router",
        "webhook_kit.starlette.webhook_routes",
        "webhook_kit.aiohttp.webhook_routes",
        "webhook_kit.litestar.webhook_router",
        "webhook_kit.django.webhook_urls",
        "webhook_kit.testing.signed_delivery",
    } <= set(names)
    receiver = {"webhook_kit.Receiver", "webhook_kit.receiver.Receiver"}
    assert names["webhook_kit.Receiver"] == receiver
    assert not any("._" in name for name in names)


def test_every_figure_of_the_performance_page_is_there_and_shown() -> None:
    """Each figure `benchmarks.plot` draws is an SVG under docs/performance/, shown on the page."""
    page = (DOCS / "performance.md").read_text(encoding="utf-8")
    shown = re.findall(r"!\[[^\]]+\]\((performance/[\w-]+\.svg)\)", page)
    assert sorted(shown) == sorted(f"performance/{name}.svg" for name in plot.CHARTS)
    for figure in shown:
        root = ElementTree.parse(DOCS / figure).getroot()  # noqa: S314 - our own file
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "python -m benchmarks.plot" in page  # how to draw them again


def test_the_figures_are_drawn_from_the_saved_results() -> None:
    """The committed figures are exactly what `python -m benchmarks.plot` draws from the results."""
    for name, svg in plot.figures().items():
        committed = (DOCS / "performance" / f"{name}.svg").read_text(encoding="utf-8")
        assert committed == svg, f"docs/performance/{name}.svg: run python -m benchmarks.plot"


def test_a_bar_is_as_long_as_its_value() -> None:
    """Bars share one scale: a value twice another's draws a bar twice as long."""
    bars = (plot.Bar("one", 1.0, "1", "floor"), plot.Bar("two", 2.0, "2", "ours"))
    chart = plot.Chart("t", "s", "axis", (), (plot.Group("g", bars),))
    root = ElementTree.fromstring(plot.render(chart))  # noqa: S314 - drawn just above
    svg = "{http://www.w3.org/2000/svg}"
    _page, one, two = (float(rect.get("width", "")) for rect in root.iter(f"{svg}rect"))
    assert two == pytest.approx(2 * one)


def test_the_pipeline_diagram_shows_every_status_of_the_table(site: Path) -> None:
    """The receiver page's diagram names each status of its status table, drawn by mermaid."""
    page = (DOCS / "receiver.md").read_text(encoding="utf-8")
    (diagram,) = re.findall(r"^```mermaid\n(.*?)^```$", page, flags=re.M | re.S)
    table = page[page.index("| situation | status | handlers run |") :].split("\n\n")[0]
    statuses = {re.findall(r"\d{3}", row.split("|")[2])[0] for row in table.splitlines()[2:]}
    assert statuses >= {"200", "400", "401", "405", "409", "413", "500", "503"}
    assert statuses <= set(re.findall(r"\b[1-5]\d\d\b", diagram))
    html = (site / "receiver" / "index.html").read_text(encoding="utf-8")
    assert '<pre class="mermaid"><code>flowchart TD' in html
