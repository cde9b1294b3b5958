"""Prometheus metrics under a real gunicorn with several workers: one scrape counts them all."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.harness import ROOT, App, Server, _gunicorn
from webhook_kit import testing

SECRET = "whsec_metrics_e2e_secret"
WORKERS = 3
METRICS_APP = App(
    "metrics", WORKERS, _gunicorn("tests.e2e.metrics_app:app"), ROOT / "tests/e2e/metrics_app.py"
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """The metrics app under gunicorn, its multi-process directory empty at start."""
    workdir = tmp_path_factory.mktemp("metrics")
    multiproc = workdir / "prometheus"
    multiproc.mkdir()
    env = dict(os.environ) | {
        "STRUKTR_WEBHOOK_SECRET": SECRET,
        "WEBHOOK_KIT_STORE": str(workdir / "idempotency.sqlite3"),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    server = Server(METRICS_APP, env, workdir)
    server.start()
    try:
        yield server, multiproc
    finally:
        server.stop()


def send(url: str, deliveries: list[testing.Delivery]) -> Counter[int]:
    """Post every delivery at once, each on its own connection; count the statuses."""

    async def post_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=20, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            return list(
                await asyncio.gather(
                    *(client.post(url, content=d.body, headers=d.headers) for d in deliveries)
                )
            )

    return Counter(response.status_code for response in asyncio.run(post_all()))


def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """One scrape of ``/metrics``, as samples by name and labels."""
    text = httpx.get(base + "/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counts_from_every_worker_add_up_exactly(served: tuple[Server, Path]) -> None:
    """120 new, 60 retried and 60 forged deliveries over 3 workers are counted exactly once each."""
    server, multiproc = served
    url = server.url + "/webhooks/struktr"
    sample = testing.sample("struktr", "document.completed")
    fresh = [  # distinct bodies: struktr deduplicates by the body's digest as well
        testing.signed_delivery("struktr", SECRET, sample | {"n": n}, delivery_id=f"dlv_{n}")
        for n in range(120)
    ]
    forged = [
        testing.signed_delivery("struktr", "whsec_not_ours", "document.completed")
        for _ in range(60)
    ]
    assert send(url, fresh + forged) == Counter({200: 120, 401: 60})
    assert send(url, fresh[:60]) == Counter({200: 60})  # retries: duplicates
    samples = scrape(server.url)

    def total(outcome: str, status: str) -> float:
        labels = {"provider": "struktr", "mode": "request", "outcome": outcome, "status": status}
        return samples.get(("webhook_kit_deliveries_total", frozenset(labels.items())), 0.0)

    assert total("processed", "200") == 120
    assert total("duplicate", "200") == 60
    assert total("signature_mismatch", "401") == 60
    durations = {"provider": "struktr", "mode": "request"}
    count = ("webhook_kit_delivery_duration_seconds_count", frozenset(durations.items()))
    probes = total("method_not_allowed", "405")  # the harness's GETs until the server answered
    assert probes >= 1
    assert samples[count] == 240 + probes
    # The deliveries really were spread over several worker processes.
    writers = {path.stem.rsplit("_", 1)[-1] for path in multiproc.glob("counter_*.db")}
    assert len(writers) >= 2, writers
