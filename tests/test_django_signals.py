"""Django signals (`webhook_kit.django.signals`) and the receivers of ``WEBHOOK_KIT_RECEIVERS``
(`webhook_kit.django.receivers`), through the real views and Django's dispatcher."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.test.utils import override_settings

from tests.django_settings import URLConf, setup, split_headers
from tests.receiving import SECRETS
from webhook_kit import MemoryStore, Receiver, testing
from webhook_kit.django import webhook_urls
from webhook_kit.django.receivers import receivers
from webhook_kit.django.signals import delivery_processed, send_signals

setup()

PULSE = Receiver("pulse", secret=SECRETS["pulse"], store=MemoryStore())
STRUKTR = Receiver("struktr", secret=SECRETS["struktr"], store=MemoryStore())
#: What the setting may name: a dict, and an object with a receivers mapping (a CeleryDefer).
BY_NAME = {"pulse": PULSE}
DEFER = SimpleNamespace(receivers={"struktr": STRUKTR})
NOT_RECEIVERS = [1, 2]


@pytest.fixture
def processed() -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every `delivery_processed` sent during the test."""
    sent: list[dict[str, Any]] = []

    def record(**kwargs: Any) -> None:
        sent.append(kwargs)

    delivery_processed.connect(record)
    yield sent
    delivery_processed.disconnect(record)


def post(client: Client, url: str, delivery: tuple[bytes, dict[str, str]]) -> Any:
    content_type, others = split_headers(delivery[1])
    return client.post(url, data=delivery[0], content_type=content_type, headers=others)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync-view", "async-view"])
def test_a_processed_delivery_sends_the_signal_once(
    processed: list[dict[str, Any]], asynchronous: bool
) -> None:
    """A delivery through the views sends `delivery_processed` once, from its provider, with the
    event its handler got and the 200 outcome; its duplicate sends nothing."""
    receiver = Receiver("pulse", secret=SECRETS["pulse"], store=MemoryStore())
    handled: list[Any] = []
    receiver.on("job.completed")(handled.append)
    urls = URLConf(*webhook_urls(receiver, asynchronous=asynchronous))
    delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
    with override_settings(ROOT_URLCONF=urls):
        client = Client()
        assert post(client, "/webhooks/pulse", delivery).json() == {"status": "processed"}
        assert post(client, "/webhooks/pulse", delivery).json() == {"status": "duplicate"}
    [sent] = processed
    assert sent["sender"] == "pulse"
    assert sent["signal"] is delivery_processed
    assert sent["event"] == handled[0]
    assert (sent["outcome"].status, sent["outcome"].body) == (200, {"status": "processed"})


def test_a_listener_for_one_provider_hears_only_it(processed: list[dict[str, Any]]) -> None:
    """``sender=`` filters by provider name, as Django's signals do."""
    heard: list[str] = []

    def struktr_only(sender: str, **kwargs: Any) -> None:
        heard.append(sender)

    delivery_processed.connect(struktr_only, sender="struktr")
    try:
        for name in ("pulse", "struktr"):
            receiver = send_signals(Receiver(name, secret=SECRETS[name]))
            event = "job.completed" if name == "pulse" else "document.completed"
            receiver.handle(*testing.signed_delivery(name, SECRETS[name], event))
    finally:
        delivery_processed.disconnect(struktr_only)
    assert heard == ["struktr"]
    assert [sent["sender"] for sent in processed] == ["pulse", "struktr"]


def test_a_failing_listener_is_logged_and_changes_nothing(
    processed: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is logged with its traceback; the other listeners still hear, and
    the delivery is processed (its retry a duplicate)."""

    def broken(**kwargs: Any) -> None:
        raise ValueError("the audit table is gone")

    delivery_processed.connect(broken)
    try:
        receiver = send_signals(Receiver("pulse", secret=SECRETS["pulse"], store=MemoryStore()))
        delivery = testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed")
        with caplog.at_level(logging.ERROR, logger="webhook_kit"):
            assert receiver.handle(*delivery).body == {"status": "processed"}
        assert receiver.handle(*delivery).body == {"status": "duplicate"}
    finally:
        delivery_processed.disconnect(broken)
    assert len(processed) == 1
    [log] = [r for r in caplog.records if "signal listener" in r.getMessage()]
    assert "broken" in log.getMessage()
    assert log.exc_info is not None
    assert log.exc_info[0] is ValueError


def test_send_signals_twice_sends_once(processed: list[dict[str, Any]]) -> None:
    """A receiver behind two views (or given `send_signals` again) still sends one signal."""
    receiver = Receiver("pulse", secret=SECRETS["pulse"])
    webhook_urls(receiver)
    webhook_urls({"billing": receiver}, prefix="hooks/")
    assert send_signals(receiver) is receiver
    receiver.handle(*testing.signed_delivery("pulse", SECRETS["pulse"], "job.completed"))
    assert len(processed) == 1


def test_the_setting_names_receivers_in_every_form() -> None:
    """A dotted path or ``module:attribute``, to a receiver, a dict of them or an object with a
    receivers mapping, alone or in a list: each receiver by its provider's name."""
    setting = [f"{__name__}.BY_NAME", f"{__name__}:DEFER"]
    with override_settings(WEBHOOK_KIT_RECEIVERS=setting):
        assert receivers() == {"pulse": PULSE, "struktr": STRUKTR}
    with override_settings(WEBHOOK_KIT_RECEIVERS=f"{__name__}.PULSE"):
        assert receivers() == {"pulse": PULSE}
    with override_settings(WEBHOOK_KIT_RECEIVERS=[f"{__name__}.PULSE", f"{__name__}.BY_NAME"]):
        assert receivers() == {"pulse": PULSE}  # the same receiver twice is no conflict


def test_receivers_of_the_setting_send_signals(processed: list[dict[str, Any]]) -> None:
    """Receivers found through the setting (the admin's and the commands') send the signal when
    they process, as a replay does through `Receiver.process`."""
    with override_settings(WEBHOOK_KIT_RECEIVERS=f"{__name__}.DEFER"):
        receiver = receivers()["struktr"]
    body, headers = testing.signed_delivery("struktr", SECRETS["struktr"], "document.completed")
    assert receiver.process(body, headers).body == {"status": "processed"}
    assert [sent["sender"] for sent in processed] == ["struktr"]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (None, "set WEBHOOK_KIT_RECEIVERS"),
        ("receivers", "not an import path"),
        ("tests.nowhere.receivers", "cannot import"),
        (f"{__name__}.NOT_RECEIVERS", "is a list, not a Receiver"),
        ([f"{__name__}.PULSE", "tests.test_django_signals.TWIN"], "two receivers for 'pulse'"),
    ],
    ids=["unset", "no-module", "missing", "wrong-type", "two-for-one"],
)
def test_a_wrong_setting_is_improperly_configured(setting: Any, message: str) -> None:
    """Each mistake in the setting is `ImproperlyConfigured` saying what is wrong."""
    with (
        override_settings(WEBHOOK_KIT_RECEIVERS=setting),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        receivers()


TWIN = Receiver("pulse", secret=SECRETS["pulse"])
