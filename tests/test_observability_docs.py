"""The alert rules and the Grafana dashboard of docs/observability.md, checked by promtool.

`promtool` comes with Debian's ``prometheus`` package; without it these tests skip, saying so.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from webhook_kit.prometheus import Metrics

DOCS = Path(__file__).resolve().parent.parent / "docs" / "observability"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus')"
)


def promtool(*args: str, cwd: Path = DOCS) -> str:
    """Run promtool; fail the test with its output if it fails."""
    result = subprocess.run(  # noqa: S603
        [str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def metric_names() -> set[str]:
    """Every sample name `Metrics` can expose (counters' _total, histograms' _bucket...)."""
    registry = CollectorRegistry()
    Metrics(registry)
    names = set()
    for family in registry.collect():
        if family.type == "counter":
            names |= {family.name + "_total", family.name + "_created"}
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum", "_created")}
    return names


def dashboard_queries() -> list[str]:
    """The PromQL of every panel of the dashboard."""
    dashboard = json.loads((DOCS / "dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@needs_promtool
def test_alert_rules_are_valid_and_fire_when_they_should() -> None:
    """``promtool check rules`` accepts the rules; their unit tests (alerts_test.yml) pass."""
    assert "SUCCESS: 4 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel's query, with Grafana's variables filled in, is PromQL promtool accepts."""
    queries = dashboard_queries()
    assert len(queries) >= 10
    rules = [
        {"record": f"webhook_kit:dashboard:{number}", "expr": query}
        for number, query in enumerate(queries)
    ]
    text = json.dumps({"groups": [{"name": "dashboard", "rules": rules}]})
    text = text.replace("$__rate_interval", "5m").replace("$provider", ".*")
    (tmp_path / "dashboard-rules.yml").write_text(text)  # JSON is YAML
    assert f"SUCCESS: {len(queries)} rules found" in promtool(
        "check", "rules", "dashboard-rules.yml", cwd=tmp_path
    )


def test_dashboard_and_alerts_name_only_metrics_that_exist() -> None:
    """Every webhook_kit_* name in the dashboard and the rules is one `Metrics` exposes."""
    known = metric_names()
    text = (DOCS / "alerts.yml").read_text() + "\n".join(dashboard_queries())
    used = set(re.findall(r"\bwebhook_kit_[a-z_]+", text))
    assert used, "no metric found"
    assert used <= known, sorted(used - known)
