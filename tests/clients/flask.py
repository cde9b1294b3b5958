"""Drive a `Receiver` through `webhook_kit.flask`: its blueprint, in Flask's test client."""

from __future__ import annotations

from collections.abc import Mapping

import flask

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.flask import webhook_blueprint
from webhook_kit.receiver import Receiver


def flask_blueprint(receiver: Receiver, tenant: str | None = None) -> Post:
    """The receiver's route in `webhook_blueprint`, registered on a fresh app."""
    app = flask.Flask(__name__)
    app.register_blueprint(webhook_blueprint(receiver))
    client = app.test_client()
    url = route(receiver, tenant)

    def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
        response = client.open(url, method=method, data=body, headers=dict(headers))
        return Reply(
            response.status_code,
            response.get_json(),
            {name.lower(): value for name, value in response.headers.items()},
        )

    return post


CLIENTS: dict[str, ClientFactory] = {"flask": flask_blueprint}
