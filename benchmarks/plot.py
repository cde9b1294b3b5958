"""Draw the performance page's figures from the saved benchmark results, as SVG.

Run ``python -m benchmarks.plot`` (``make bench`` runs it after the benchmarks): it reads
``benchmarks/results/{verify,parse,stores}.json``, which ``--save`` runs of the benchmarks write,
and writes ``docs/performance/{verify,parse,stores}.svg``, which docs/performance.md shows.

Horizontal bar charts, written by hand with the standard library rather than a plotting
package: the figures are a few bars and labels, and the same results always give the same
bytes, so a test checks that the committed figures are the ones the committed results draw.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from benchmarks import results

FIGURES = Path(__file__).resolve().parent.parent / "docs" / "performance"

COLOURS = {"ours": "#3949ab", "floor": "#9e9e9e", "other": "#ef6c00"}
MONO = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"
CHAR = 6.6  # width of one character of the 11 px monospace font
SANS_CHAR = 6.2  # a generous width of one character of the 11 px sans-serif font
MARGIN, PLOT_WIDTH, BAR, STEP = 16.0, 300.0, 16.0, 22.0


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its length on the chart's axis, the text after it, its colour."""

    label: str
    value: float
    note: str
    kind: str  # a key of COLOURS


@dataclass(frozen=True)
class Group:
    """Bars drawn together under a title."""

    title: str
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart with one axis shared by every group."""

    title: str
    subtitle: str
    axis: str
    legend: tuple[tuple[str, str], ...]  # (kind, what it means)
    groups: tuple[Group, ...]
    marks: tuple[tuple[float, str], ...] = ()  # vertical reference lines: (value, label)
    source: str = ""  # a last line: when and where the figures were measured


def nice_step(top: float) -> float:
    """A round tick step that divides 0..`top` into at most 6 intervals."""
    magnitude = 10 ** math.floor(math.log10(top / 6))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if top / (m * magnitude) <= 6)


def render(chart: Chart) -> str:
    """The chart as a standalone SVG document."""
    bars = [bar for group in chart.groups for bar in group.bars]
    label_width = max(len(bar.label) for bar in bars) * CHAR + 12
    note_width = max(len(bar.note) for bar in bars) * CHAR + 16
    x0 = MARGIN + label_width
    lines = (chart.subtitle, chart.source)
    width = max(x0 + PLOT_WIDTH + note_width, *(len(line) * SANS_CHAR for line in lines)) + MARGIN
    step = nice_step(max([bar.value for bar in bars] + [value for value, _ in chart.marks]))
    top = step * math.ceil(max(bar.value for bar in bars) / step)
    top = max([top] + [step * math.ceil(value / step) for value, _ in chart.marks])

    def x(value: float) -> float:
        return x0 + PLOT_WIDTH * value / top

    out: list[str] = []
    text = out.append
    y = (72.0 if chart.legend else 54.0) + (24.0 if chart.marks else 12.0)
    plot_top = y - 6
    for group in chart.groups:
        text(_text(MARGIN, y, group.title, weight="bold", family=SANS, size=12))
        y += 8
        for bar in group.bars:
            text(_text(x0 - 8, y + 12, bar.label, anchor="end"))
            end = x(bar.value)
            text(
                f'<rect x="{x0:.1f}" y="{y:.1f}" width="{end - x0:.1f}" height="{BAR:.1f}" '
                f'fill="{COLOURS[bar.kind]}"/>'
            )
            text(_text(end + 6, y + 12, bar.note, fill="#424242", halo=True))
            y += STEP
        y += 18
    plot_bottom = y - 18
    ticks = [step * index for index in range(round(top / step) + 1)]
    grid = [
        f'<line x1="{x(tick):.1f}" y1="{plot_top:.1f}" x2="{x(tick):.1f}" '
        f'y2="{plot_bottom:.1f}" stroke="#e0e0e0"/>'
        for tick in ticks
    ]
    for index, (value, label) in enumerate(chart.marks):
        grid.append(
            f'<line x1="{x(value):.1f}" y1="{plot_top - 10:.1f}" x2="{x(value):.1f}" '
            f'y2="{plot_bottom:.1f}" stroke="#212121" stroke-dasharray="4 3"/>'
        )
        # One label centred on its line; of several, the first to the left, the others right.
        if len(chart.marks) == 1:
            grid.append(_text(x(value), plot_top - 14, label, anchor="middle"))
        elif index == 0:
            grid.append(_text(x(value) - 3, plot_top - 14, label, anchor="end"))
        else:
            grid.append(_text(x(value) + 3, plot_top - 14, label))
    axis = [
        f'<line x1="{x0:.1f}" y1="{plot_bottom:.1f}" x2="{x(top):.1f}" y2="{plot_bottom:.1f}" '
        'stroke="#616161"/>',
        *(_text(x(tick), plot_bottom + 14, f"{tick:g}", anchor="middle") for tick in ticks),
        _text(x0 + PLOT_WIDTH / 2, plot_bottom + 32, chart.axis, anchor="middle", family=SANS),
    ]
    height = plot_bottom + 48
    if chart.source:
        axis.append(_text(MARGIN, height, chart.source, family=SANS, fill="#616161"))
        height += 16
    legend: list[str] = []
    lx = MARGIN
    for kind, meaning in chart.legend:
        legend.append(f'<rect x="{lx:.1f}" y="54" width="12" height="12" fill="{COLOURS[kind]}"/>')
        legend.append(_text(lx + 18, 64, meaning, family=SANS))
        lx += 18 + len(meaning) * SANS_CHAR + 24
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-labelledby="title desc" '
        f'font-family="{MONO}" font-size="11">',
        f'<title id="title">{escape(chart.title)}</title>',
        f'<desc id="desc">{escape(chart.subtitle)}</desc>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        _text(MARGIN, 24, chart.title, weight="bold", family=SANS, size=15),
        _text(MARGIN, 42, chart.subtitle, family=SANS, fill="#616161"),
    ]
    return "\n".join([*head, *legend, *grid, *out, *axis, "</svg>"]) + "\n"


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    weight: str = "normal",
    family: str | None = None,
    size: int | None = None,
    fill: str = "#212121",
    halo: bool = False,
) -> str:
    attributes = f'x="{x:.1f}" y="{y:.1f}" fill="{fill}"'
    if halo:  # legible across the grid and reference lines
        attributes += ' stroke="#ffffff" stroke-width="3" paint-order="stroke"'
    if anchor != "start":
        attributes += f' text-anchor="{anchor}"'
    if weight != "normal":
        attributes += f' font-weight="{weight}"'
    if family is not None:
        attributes += f' font-family="{family}"'
    if size is not None:
        attributes += f' font-size="{size}"'
    return f"<text {attributes}>{escape(content)}</text>"


def _kind(name: str) -> str:
    if name.startswith("webhook-kit"):
        return "ours"
    if name.startswith("floor") or name == "json.loads(body)":
        return "floor"
    return "other"


def _measured(data: dict[str, Any]) -> str:
    return f"Measured {data['measured']} on {data['machine']}."


def verify_chart(data: dict[str, Any]) -> Chart:
    """Verification time of each verifier, relative to the hand-written floor of its scheme."""
    groups = tuple(
        Group(
            f"{size['size']} body",
            tuple(
                Bar(
                    row["name"],
                    row["ratio"],
                    f"{row['ns']:,} ns · {row['ratio']:.2f}x",
                    _kind(row["name"]),
                )
                for row in size["rows"]
            ),
        )
        for size in data["sizes"]
    )
    return Chart(
        title="Verifying a signature, relative to hmac by hand (shorter is faster)",
        subtitle="Nanoseconds per verification, best of 5 repeats.",
        source=_measured(data),
        axis="time / the floor of the same scheme (hex, or id.timestamp.body)",
        legend=(("ours", "webhook-kit"), ("floor", "floor: hmac by hand"), ("other", "others")),
        groups=groups,
        marks=((1.0, "floor"),),
    )


def parse_chart(data: dict[str, Any]) -> Chart:
    """Parsing (and verifying and parsing) time, relative to the untyped baseline."""
    groups = []
    for body in data["bodies"]:
        for baseline, title in (("json.loads", "parse"), ("floor", "verify + parse")):
            rows = [row for row in body["rows"] if row["baseline"] == baseline]
            bars = tuple(
                Bar(row["name"], row["ratio"], f"{row['us']:.2f} µs · {row['ratio']:.2f}x", kind)
                for row in rows
                for kind in [_kind(row["name"])]
            )
            groups.append(Group(f"{body['body']} struktr body: {title}", bars))
    return Chart(
        title="Parsing a struktr delivery, relative to untyped code (shorter is faster)",
        subtitle="Microseconds per call, best of 5 repeats.",
        source=_measured(data),
        axis="time / json.loads (parse) or the hand-written floor (verify + parse)",
        legend=(
            ("ours", "webhook-kit"),
            ("floor", "untyped: json.loads, hmac by hand"),
            ("other", "the usual typed parse"),
        ),
        groups=tuple(groups),
        marks=((1.0, "untyped"),),
    )


def stores_chart(data: dict[str, Any]) -> Chart:
    """Each store's overhead: the raw client's pairs per second over the store's."""
    bars = tuple(
        Bar(
            row["name"],
            row["ratio"],
            f"{row['store']:,} vs {row['raw']:,} pairs/s · {row['ratio']:.2f}x",
            "ours",
        )
        for row in data["backends"]
    )
    return Chart(
        title="Idempotency stores beside their raw client (shorter is less overhead)",
        subtitle="Claim + complete pairs per second on fresh keys, best of 3 one-second runs.",
        source=_measured(data),
        axis="raw client pairs/s / store pairs/s (store vs raw client after each bar)",
        legend=(),
        groups=(Group("each store, beside its raw client", bars),),
        marks=((1.0, "raw client"), (1.2, "target")),
    )


CHARTS: dict[str, Callable[[dict[str, Any]], Chart]] = {
    "verify": verify_chart,
    "parse": parse_chart,
    "stores": stores_chart,
}


def figures(directory: Path = results.RESULTS) -> dict[str, str]:
    """Each figure's SVG, by name, drawn from the results saved in `directory`."""
    return {name: render(chart(results.load(name, directory))) for name, chart in CHARTS.items()}


def main() -> None:
    """Write every figure under docs/performance/."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=results.RESULTS, help="saved results")
    parser.add_argument("--out", type=Path, default=FIGURES, help="where to write the SVGs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, svg in figures(args.results).items():
        path = args.out / f"{name}.svg"
        path.write_text(svg, encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
