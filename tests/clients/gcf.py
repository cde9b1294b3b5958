"""Drive a `Receiver` through `webhook_kit.gcf`: the app functions-framework builds, in-process.

`functions_framework.create_app` loads ``gcf_source.py`` as it loads a deployed ``main.py``,
whose ``webhook`` is the function built for the receiver, and the client posts to that app with
Flask's test client (the end-to-end tests run the real ``functions-framework`` server).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

import flask
from functions_framework import create_app

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.gcf import HttpFunction, webhook_function
from webhook_kit.receiver import Receiver

SOURCE = Path(__file__).with_name("gcf_source.py")

_lock = threading.Lock()
_building: list[HttpFunction] = []


def building() -> HttpFunction:
    """The function being loaded by `create_app` (for ``gcf_source.py``)."""
    return _building[-1]


def app_for(function: HttpFunction) -> flask.Flask:
    """The app functions-framework builds around `function`, as it serves a deployed one."""
    with _lock:
        _building.append(function)
        try:
            app: flask.Flask = create_app("webhook", str(SOURCE), "http")
        finally:
            _building.pop()
    return app


def gcf(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's `webhook_function`, served by the app functions-framework builds."""
    client = app_for(webhook_function(receiver)).test_client()
    url = route(receiver, tenant)

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        response = client.open(url, method=method, data=body, headers=dict(headers))
        return Reply(
            response.status_code,
            response.get_json(),
            {name.lower(): value for name, value in response.headers.items()},
        )

    return post


CLIENTS: dict[str, ClientFactory] = {"gcf": gcf}
