"""The observability page's picture: a real Prometheus scraping a real gunicorn under load.

Run with ``.venv/bin/python -m benchmarks.dashboard`` (about two minutes). Needs the
``prometheus`` binary (Debian package ``prometheus``). It serves the metrics test app
(``tests/e2e/metrics_app.py``: struktr, a SQLite store, ``/metrics``) under gunicorn with three
workers in multi-process mode, starts Prometheus on loopback scraping it every second, and sends
signed deliveries from a few client threads in phases:

1. steady: new deliveries, one in ten a provider's retry (a duplicate);
2. forgeries: the same, plus as many deliveries signed with a wrong secret (401s);
3. slow handler: one delivery in five is a ``document.failed``, whose handler sleeps 50 ms.

It then asks Prometheus's query API for four of the dashboard's graphs over the run and draws them
in ``docs/observability/dashboard.svg`` (by hand, like ``benchmarks.plot``), which
docs/observability.md shows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

from tests.e2e.harness import ROOT, App, Server, _gunicorn, free_port

from webhook_kit import testing

SECRET = "whsec_dashboard_benchmark"
FIGURE = ROOT / "docs" / "observability" / "dashboard.svg"
PHASES = ("steady", "forgeries", "slow handler")
GRAPHS = [
    (
        "Deliveries per second by status",
        'sum by (status) (rate(webhook_kit_deliveries_total{mode="request"}[5s]))',
        "status",
        "/s",
    ),
    (
        "Refused (401) by reason",
        "sum by (reason) (rate(webhook_kit_verification_failures_total[5s]))",
        "reason",
        "/s",
    ),
    (
        "Delivery duration p50 / p99",
        [
            (
                "p50",
                "histogram_quantile(0.5, sum by (le) "
                "(rate(webhook_kit_delivery_duration_seconds_bucket[5s])))",
            ),
            (
                "p99",
                "histogram_quantile(0.99, sum by (le) "
                "(rate(webhook_kit_delivery_duration_seconds_bucket[5s])))",
            ),
        ],
        "",
        "s",
    ),
    (
        "Handler p99 by handler",
        "histogram_quantile(0.99, sum by (handler, le) "
        "(rate(webhook_kit_handler_duration_seconds_bucket[5s])))",
        "handler",
        "s",
    ),
]
COLOURS = ["#3949ab", "#ef6c00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f"]
SANS = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', sans-serif"


def load(url: str, phase: str, seconds: float, threads: int, serial: list[int]) -> None:
    """Send `phase`'s mix of deliveries from `threads` threads for `seconds`."""
    lock = threading.Lock()
    sample = testing.sample("struktr", "document.completed")
    failed = testing.sample("struktr", "document.failed")
    deadline = time.monotonic() + seconds

    def next_delivery(rng: random.Random, sent: list[testing.Delivery]) -> testing.Delivery:
        with lock:
            serial[0] += 1
            number = serial[0]
        if sent and rng.random() < 0.1:
            return rng.choice(sent)  # the provider's retry
        if phase == "forgeries" and rng.random() < 0.5:
            return testing.signed_delivery("struktr", "whsec_forged", sample | {"n": number})
        payload = failed if phase == "slow handler" and rng.random() < 0.2 else sample
        delivery = testing.signed_delivery(
            "struktr", SECRET, payload | {"n": number}, delivery_id=f"dlv_{number}"
        )
        sent.append(delivery)
        return delivery

    def client(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311 - a load mix, not a secret
        sent: list[testing.Delivery] = []
        while time.monotonic() < deadline:
            body, headers = next_delivery(rng, sent)
            request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    response.read()
            except urllib.error.HTTPError as error:
                error.read()
            time.sleep(0.01)

    workers = [threading.Thread(target=client, args=(seed,)) for seed in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def start_prometheus(workdir: Path, target: str) -> tuple[subprocess.Popen[bytes], str]:
    """Prometheus on a free loopback port, scraping `target` every second."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("needs the prometheus binary: apt-get install prometheus")
    port = free_port()
    config = workdir / "prometheus.yml"
    config.write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "webhooks", "static_configs": [{"targets": [target]}]}
                ],
            }
        )
    )
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1):
                return process, api
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("prometheus did not start:\n" + (workdir / "prometheus.log").read_text())


def query_range(api: str, query: str, start: float, end: float) -> list[dict[str, object]]:
    """One range query's series, every second from `start` to `end`."""
    parameters = urllib.parse.urlencode({"query": query, "start": start, "end": end, "step": 1})
    with urllib.request.urlopen(f"{api}/query_range?{parameters}", timeout=30) as response:  # noqa: S310
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def draw(
    graphs: list[tuple[str, str, list[tuple[str, list[tuple[float, float]]]]]],
    phases: list[tuple[str, float, float]],
    start: float,
    end: float,
) -> str:
    """Four line charts in a 2 x 2 grid, the phases shaded, as SVG text."""
    width, height, pad = 420.0, 200.0, 40.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width:.0f}" '
        f'height="{2 * height:.0f}" font-family="{SANS}" font-size="11">',
        f'<rect width="{2 * width:.0f}" height="{2 * height:.0f}" fill="white"/>',
    ]
    for index, (title, unit, series) in enumerate(graphs):
        left = (index % 2) * width + pad
        top = (index // 2) * height + 24
        plot_w, plot_h = width - pad - 16, height - 64
        peak = max([value for _, points in series for _, value in points] + [1e-9])
        peak *= 1.1

        def x(t: float, left: float = left, plot_w: float = plot_w) -> float:
            return left + (t - start) / (end - start) * plot_w

        def y(v: float, top: float = top, plot_h: float = plot_h, peak: float = peak) -> float:
            return top + plot_h - v / peak * plot_h

        parts.append(
            f'<text x="{left:.1f}" y="{top - 8:.1f}" font-weight="bold">{escape(title)}</text>'
        )
        for name, phase_start, phase_end in phases:
            shade = "#f5f5f5" if PHASES.index(name) % 2 else "#e8eaf6"
            parts.append(
                f'<rect x="{x(phase_start):.1f}" y="{top:.1f}" '
                f'width="{x(phase_end) - x(phase_start):.1f}" '
                f'height="{plot_h:.1f}" fill="{shade}"/>'
            )
            parts.append(
                f'<text x="{x(phase_start) + 3:.1f}" y="{top + 11:.1f}" '
                f'fill="#757575">{escape(name)}</text>'
            )
        parts.append(_line(left, top + plot_h, left + plot_w, "#9e9e9e"))
        label = f"{peak / 1.1 * 1000:.0f} ms" if unit == "s" else f"{peak / 1.1:.0f}{unit}"
        parts.append(
            f'<text x="{left - 4:.1f}" y="{y(peak / 1.1) + 4:.1f}" text-anchor="end">{label}</text>'
        )
        parts.append(_line(left, y(peak / 1.1), left + plot_w, "#e0e0e0"))
        parts.append(
            f'<text x="{left - 4:.1f}" y="{top + plot_h + 4:.1f}" text-anchor="end">0</text>'
        )
        for number, (name, points) in enumerate(series):
            colour = COLOURS[number % len(COLOURS)]
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            )
            parts.append(
                f'<text x="{left + plot_w - 4:.1f}" y="{top + plot_h + 16 + 12 * number:.1f}" '
                f'text-anchor="end" fill="{colour}">{escape(name)}</text>'
            )
        parts.append(
            f'<text x="{left:.1f}" y="{top + plot_h + 16:.1f}" '
            f'fill="#757575">{end - start:.0f} s of load</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _line(x1: float, y: float, x2: float, colour: str) -> str:
    """A horizontal line of a chart."""
    return f'<line x1="{x1:.1f}" y1="{y:.1f}" x2="{x2:.1f}" y2="{y:.1f}" stroke="{colour}"/>'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per phase")
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="webhook-kit-dashboard-"))
    multiproc = workdir / "prometheus-multiproc"
    multiproc.mkdir()
    env = dict(os.environ) | {
        "STRUKTR_WEBHOOK_SECRET": SECRET,
        "WEBHOOK_KIT_STORE": str(workdir / "idempotency.sqlite3"),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "WEBHOOK_KIT_SLOW_HANDLER": "0.05",
    }
    app = App(
        "metrics",
        3,
        _gunicorn("tests.e2e.metrics_app:app", "--threads", "4"),
        ROOT / "tests/e2e/metrics_app.py",
    )
    server = Server(app, env, workdir)
    server.start()
    prometheus = None
    try:
        prometheus, api = start_prometheus(workdir, f"127.0.0.1:{server.port}")
        time.sleep(3)
        start = time.time()
        phases = []
        serial = [0]
        for phase in PHASES:
            began = time.time()
            load(server.url + "/webhooks/struktr", phase, args.seconds, args.threads, serial)
            phases.append((phase, began, time.time()))
            print(f"{phase}: done, {serial[0]} deliveries so far")
        time.sleep(4)  # the last scrapes
        end = time.time()
        graphs = []
        for title, queries, label, unit in GRAPHS:
            named = queries if isinstance(queries, list) else [("", queries)]
            series = []
            for name, query in named:
                for result in query_range(api, query, start, end):
                    metric = result["metric"]  # type: ignore[index]
                    points = [
                        (float(t), float(v))
                        for t, v in result["values"]  # type: ignore[index]
                        if v not in ("NaN", "+Inf", "-Inf")
                    ]
                    series.append((name or str(metric.get(label, "")), points))  # type: ignore[union-attr]
            graphs.append((title, unit, series))
        FIGURE.write_text(draw(graphs, phases, start, end))
        print(f"wrote {FIGURE.relative_to(ROOT)}")
    finally:
        if prometheus is not None:
            prometheus.terminate()
            prometheus.wait(10)
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
