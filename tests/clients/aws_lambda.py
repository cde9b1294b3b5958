"""Drive a `Receiver` through `webhook_kit.aws_lambda`: one client per event shape AWS documents.

Each client builds the event its AWS caller would send for the request, calls the handler as
Lambda's runtime does (``handler(event, context)``), and checks the response document has the
shape that caller reads before turning it into a `Reply`:

- ``lambda-rest-v1``: an API Gateway REST API (payload format 1.0) with ``binaryMediaTypes``
  ``*/*``, as webhook receivers configure it to get the raw bytes: every body arrives base64
  encoded; headers as sent (mixed case) in ``headers`` and ``multiValueHeaders``.
- ``lambda-http-v2``: an HTTP API (payload format 2.0): lower-case header names, repeated headers
  joined by commas, the body as text for a text media type (JSON) and base64 otherwise.
- ``lambda-function-url``: a Lambda Function URL, the 2.0 shape with its own request context.
- ``lambda-alb``: an Application Load Balancer target group with multi-value headers on:
  ``multiValueHeaders`` only, and a response that needs ``statusDescription``.

The event layouts follow AWS's documented examples (the ones aws-lambda-powertools tests with).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.receiving import ClientFactory, Post, Reply, route
from webhook_kit.aws_lambda import webhook_handler
from webhook_kit.receiver import Receiver

Event = dict[str, Any]
#: Build one event from a request: (body, headers, method, path) -> event.
Shape = Callable[[bytes, Mapping[str, str], str, str], Event]

_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/javascript")


def _is_text(headers: Mapping[str, str]) -> bool:
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    return content_type.lower().startswith(_TEXT_TYPES)


def _text_or_base64(body: bytes, headers: Mapping[str, str]) -> tuple[str, bool]:
    """The body as an HTTP API, Function URL or load balancer passes it: text for a text media
    type, base64 otherwise (and for bytes that are not UTF-8, which a JSON string cannot hold)."""
    if _is_text(headers):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _request_id() -> str:
    return secrets.token_hex(8)


def rest_v1_event(body: bytes, headers: Mapping[str, str], method: str, path: str) -> Event:
    """An API Gateway REST API proxy event (format 1.0), with binary media types ``*/*``."""
    sent = {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", **headers}
    return {
        "version": "1.0",
        "resource": "/webhooks/{provider}",
        "path": path,
        "httpMethod": method,
        "headers": dict(sent),
        "multiValueHeaders": {name: [value] for name, value in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "provider"},
            "path": f"/prod{path}",
            "protocol": "HTTP/1.1",
            "requestId": _request_id(),
            "requestTimeEpoch": int(time.time() * 1000),
            "resourcePath": "/webhooks/{provider}",
            "stage": "prod",
        },
        "pathParameters": {"provider": path.rstrip("/").rpartition("/")[2]},
        "stageVariables": None,
        "body": base64.b64encode(body).decode("ascii") if body else None,
        "isBase64Encoded": bool(body),
    }


def _v2_event(
    body: bytes, headers: Mapping[str, str], method: str, path: str, domain: str
) -> Event:
    joined: dict[str, list[str]] = {}
    for name, value in {"host": domain, **headers}.items():
        joined.setdefault(name.lower(), []).append(value)
    text, encoded = _text_or_base64(body, headers)
    event: Event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {name: ",".join(values) for name, values in joined.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".", maxsplit=1)[0],
            "domainName": domain,
            "domainPrefix": domain.split(".", maxsplit=1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "provider",
            },
            "requestId": _request_id(),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if body:
        event["body"] = text
    return event


def http_v2_event(body: bytes, headers: Mapping[str, str], method: str, path: str) -> Event:
    """An API Gateway HTTP API event (payload format 2.0)."""
    return _v2_event(body, headers, method, path, "abc123.execute-api.eu-west-1.amazonaws.com")


def function_url_event(body: bytes, headers: Mapping[str, str], method: str, path: str) -> Event:
    """A Lambda Function URL event: the 2.0 shape, with the URL's own domain."""
    return _v2_event(body, headers, method, path, "abcdefghij.lambda-url.eu-west-1.on.aws")


def alb_event(
    body: bytes, headers: Mapping[str, str], method: str, path: str, *, multi_value: bool = True
) -> Event:
    """An Application Load Balancer target event, with multi-value headers on or off."""
    text, encoded = _text_or_base64(body, headers)
    sent = {"host": "webhooks-123.eu-west-1.elb.amazonaws.com", **headers}
    event: Event = {
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:"
                "targetgroup/webhooks/0123456789abcdef"
            }
        },
        "httpMethod": method,
        "path": path,
        "body": text,
        "isBase64Encoded": encoded,
    }
    if multi_value:
        event["multiValueQueryStringParameters"] = {}
        event["multiValueHeaders"] = {name.lower(): [value] for name, value in sent.items()}
    else:
        event["queryStringParameters"] = {}
        event["headers"] = {name.lower(): value for name, value in sent.items()}
    return event


#: client name -> (event builder, the keys its caller's response must have, multi-valued?)
SHAPES: dict[str, tuple[Shape, frozenset[str], bool]] = {
    "lambda-rest-v1": (
        rest_v1_event,
        frozenset({"statusCode", "multiValueHeaders", "body", "isBase64Encoded"}),
        True,
    ),
    "lambda-http-v2": (
        http_v2_event,
        frozenset({"statusCode", "headers", "body", "isBase64Encoded"}),
        False,
    ),
    "lambda-function-url": (
        function_url_event,
        frozenset({"statusCode", "headers", "body", "isBase64Encoded"}),
        False,
    ),
    "lambda-alb": (
        alb_event,
        frozenset(
            {"statusCode", "statusDescription", "multiValueHeaders", "body", "isBase64Encoded"}
        ),
        True,
    ),
}


class LambdaContext:
    """The attributes of the context object Lambda's Python runtime passes."""

    function_name = "webhooks"
    function_version = "$LATEST"
    memory_limit_in_mb = 256

    def __init__(self) -> None:
        self.aws_request_id = _request_id()

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def reply_of(response: Mapping[str, Any], keys: frozenset[str], multi_value: bool) -> Reply:
    """Check a response document has its caller's shape, and read it as a `Reply`."""
    assert set(response) == keys, sorted(response)
    assert isinstance(response["statusCode"], int)
    assert response["isBase64Encoded"] is False
    if "statusDescription" in response:
        assert response["statusDescription"].startswith(f"{response['statusCode']} ")
    if multi_value:
        headers = {k.lower(): v[0] for k, v in response["multiValueHeaders"].items()}
    else:
        headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["content-type"] == "application/json"
    return Reply(response["statusCode"], json.loads(response["body"]), headers)


def with_tenant_route(event: Event, provider: str, tenant: str) -> Event:
    """`event` as a REST API sends it from a ``/webhooks/{provider}/{tenant}`` resource.

    Only REST API events name their resource and path parameters; the others are unchanged.
    The handler reads the path, not these: they are set so that the event is the one AWS sends.
    """
    if "resource" in event:
        event["resource"] = event["requestContext"]["resourcePath"] = (
            "/webhooks/{provider}/{tenant}"
        )
        event["pathParameters"] = {"provider": provider, "tenant": tenant}
    return event


def _client(name: str) -> ClientFactory:
    shape, keys, multi_value = SHAPES[name]

    def factory(receiver: Receiver, tenant: str | None = None) -> Post:
        handler = webhook_handler(receiver)
        path = route(receiver, tenant)

        def post(body: bytes, headers: Mapping[str, str], method: str = "POST") -> Reply:
            event = shape(body, headers, method, path)
            if tenant is not None:
                event = with_tenant_route(event, receiver.provider.name, tenant)
            response = handler(event, LambdaContext())
            return reply_of(response, keys, multi_value)

        return post

    factory.__name__ = factory.__qualname__ = name.replace("-", "_")
    factory.__doc__ = f"`webhook_handler` called with {name[len('lambda-') :]} events."
    return factory


CLIENTS: dict[str, ClientFactory] = {name: _client(name) for name in SHAPES}
