"""The demo users are pointed to runs, covers every delivery it promises, and reports failures."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from webhook_kit import providers, testing

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo.py"
EXTRAS = {
    "tampered body": (401, "signature_mismatch", False),
    "signed 600 s ago": (401, "timestamp_out_of_tolerance", False),
    "document.completed again": (200, "duplicate", False),
    "report.ready (unknown)": (200, "processed", True),
}


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    """The demo script, imported as a module."""
    spec = importlib.util.spec_from_file_location("webhook_kit_demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through it
    spec.loader.exec_module(module)
    return module


def test_demo_runs_under_a_minute_and_every_outcome_is_expected() -> None:
    """`make demo`'s script exits 0 within a minute, with one 'yes' row per delivery sent."""
    started = time.monotonic()
    result = subprocess.run(  # noqa: S603
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    documented = sum(len(testing.event_types(name)) for name in providers.PROVIDERS)
    rows = [line for line in result.stdout.splitlines() if "  yes  " in line]
    assert len(rows) == documented + len(EXTRAS)
    assert f"all {documented + len(EXTRAS)} outcomes as expected" in result.stdout
    assert " NO " not in result.stdout
    assert elapsed < 60


def test_demo_sends_every_documented_event_and_the_four_bad_deliveries(demo: ModuleType) -> None:
    """The tour holds each documented event once, expecting it handled, then the four extras."""
    tour = demo.cases(demo.demo_secrets())
    documented = [(case.provider, case.sent) for case in tour[: -len(EXTRAS)]]
    expected = [
        (name, event) for name in providers.PROVIDERS for event in testing.event_types(name)
    ]
    assert documented == expected
    assert all(
        (case.status, case.result, case.handled) == (200, "processed", True)
        for case in tour[: -len(EXTRAS)]
    )
    extras = {case.sent: (case.status, case.result, case.handled) for case in tour[-len(EXTRAS) :]}
    assert extras == EXTRAS


def test_demo_secrets_are_random_and_never_printed(
    demo: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run makes fresh secrets, and none of them appears in what the demo prints."""
    keys = demo.demo_secrets()
    assert keys != demo.demo_secrets()
    monkeypatch.setattr(demo, "demo_secrets", lambda: keys)
    assert demo.main() == 0
    printed = capsys.readouterr().out
    assert not any(secret in printed for secret in keys.values())


def test_demo_exits_1_when_an_outcome_is_not_the_expected_one(
    demo: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A delivery whose expected outcome is wrong makes the demo say so and return 1."""
    original = demo.cases

    def one_wrong(keys: dict[str, str]) -> list[object]:
        tour = original(keys)
        tour[-1] = demo.Case(**{**vars(tour[-1]), "status": 401})
        return tour

    monkeypatch.setattr(demo, "cases", one_wrong)
    assert demo.main() == 1
    out = capsys.readouterr().out
    assert "1 unexpected outcomes" in out
    assert out.count(" NO ") == 1


# The Django project

DJANGO_PROJECT = ROOT / "examples" / "django_project"

#: Run with the Django project's folder as argument: migrate, post one signed struktr delivery,
#: print the status and the claimed keys.
DJANGO_DELIVERY = """
import os
import sys

import django
from django.core.management import call_command

sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "webhooks_site.settings"
django.setup()
call_command("migrate", verbosity=0)

from django.test import Client

from webhook_kit import testing
from webhook_kit.django.models import IdempotencyRecord

body, headers = testing.signed_delivery(
    "struktr", os.environ["STRUKTR_WEBHOOK_SECRET"], "document.completed", delivery_id="dlv_1"
)
others = {name: value for name, value in headers.items() if name.lower() != "content-type"}
response = Client().post(
    "/webhooks/struktr", data=body, content_type="application/json", headers=others
)
keys = IdempotencyRecord.objects.order_by("claim_key").values_list("claim_key", flat=True)
print(response.status_code, *keys)
"""


@pytest.mark.parametrize(
    ("prefix", "key"),
    [(None, "webhook-kit:struktr:dlv_1"), ("tenant-a", "tenant-a:struktr:dlv_1")],
    ids=["default", "from-the-environment"],
)
def test_django_project_store_uses_the_store_prefix(
    tmp_path: Path, prefix: str | None, key: str
) -> None:
    """The Django project's DjangoStore keys its records with WEBHOOK_KIT_STORE_PREFIX."""
    env = {
        **os.environ,
        "WEBHOOK_KIT_STORE": "django",
        "DJANGO_DATABASE": str(tmp_path / "db.sqlite3"),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "WEBHOOK_KIT_EVENTS_DB": str(tmp_path / "events.sqlite3"),
        "STRUKTR_WEBHOOK_SECRET": "example-test-secret",
    }
    env.pop("WEBHOOK_KIT_STORE_PREFIX", None)
    if prefix is not None:
        env["WEBHOOK_KIT_STORE_PREFIX"] = prefix
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", DJANGO_DELIVERY, str(DJANGO_PROJECT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    status, id_key, body_key = result.stdout.split()  # struktr: the id and the body's digest
    assert (status, id_key) == ("200", key)
    assert body_key.startswith(key.removesuffix("dlv_1") + "sha256:")
