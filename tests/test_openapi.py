"""The OpenAPI document of FastAPI webhook routes, as client generators read it.

One app receives all five providers through a nested router, next to a user's own route with
`verified_event`. Its document must be valid (checked by openapi-spec-validator, offline) with and
without `webhook_openapi`; with it, events, answers and unions are named components.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from openapi_spec_validator import validate
from pydantic import TypeAdapter, create_model

from tests.receiving import SECRETS
from webhook_kit import QueuedDelivery, Receiver, TenantSecrets, providers, testing
from webhook_kit.events import EventModel, event_type_map, make_parser
from webhook_kit.fastapi import (
    openapi_request_body,
    verified_event,
    verified_event_responses,
    webhook_openapi,
    webhook_router,
)

SCHEMAS = "#/components/schemas/"

#: The component prefix of each provider: its title in PascalCase. Clients are generated from
#: these names, so they are pinned.
PREFIX = {
    "struktr": "Struktr",
    "file_conversion": "FileConversionSystem",
    "imggo": "ImgGo",
    "docextract": "DocExtract",
    "pulse": "Pulse",
}

#: Each provider's header parameters: (name, required), in the document's order.
HEADERS = {
    "struktr": [
        ("X-Struktr-Signature", True),
        ("X-Struktr-Delivery", False),
        ("X-Struktr-Event", False),
        ("X-Struktr-Timestamp", False),
    ],
    "file_conversion": [("X-Webhook-Signature", True)],
    "imggo": [("X-ImgGo-Signature", True)],
    "docextract": [("X-DocExtract-Signature", True)],
    "pulse": [
        ("webhook-id", True),
        ("webhook-timestamp", True),
        ("webhook-signature", True),
        ("svix-id", False),
        ("svix-timestamp", False),
        ("svix-signature", False),
    ],
}


class ListDefer:
    """A `Defer` that keeps what it is given in a list."""

    def __init__(self) -> None:
        self.queued: list[QueuedDelivery] = []

    def attach(self, receiver: Receiver) -> None:
        """Nothing to remember: no worker runs here."""

    def submit(self, delivery: QueuedDelivery) -> None:
        self.queued.append(delivery)


def make_app(*, linked: bool, deferred: bool = False) -> FastAPI:
    """All five providers under ``/api/webhooks`` (a router in a router) and a user route."""
    receivers = [
        Receiver(name, secret=SECRETS[name], defer=ListDefer() if deferred else None)
        for name in providers.PROVIDERS
    ]
    api = APIRouter(prefix="/api")
    api.include_router(webhook_router(receivers))
    user = APIRouter(prefix="/billing")
    struktr_event = Depends(verified_event(Receiver("struktr", secret=SECRETS["struktr"])))

    @user.post(
        "/struktr-events",
        openapi_extra=openapi_request_body("struktr"),
        responses=verified_event_responses(),
    )
    async def struktr_events(event: Any = struktr_event) -> dict[str, str]:
        return {"received": event.event_type}

    api.include_router(user)
    app = FastAPI()
    app.include_router(api)
    if linked:
        webhook_openapi(app)
    return app


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the test tried to reach the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from _walk(child)


def _refs(node: Any) -> set[str]:
    return {
        n["$ref"] for n in _walk(node) if isinstance(n, dict) and isinstance(n.get("$ref"), str)
    }


def _operation(document: dict[str, Any], name: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][f"/api/webhooks/{name}"]["post"]
    return operation


def _body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(SCHEMAS)]
    return resolved


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "deferred"])
@pytest.mark.parametrize("linked", [False, True], ids=["plain", "webhook_openapi"])
def test_document_is_valid(linked: bool, deferred: bool) -> None:
    """The document validates as OpenAPI, offline, and every ref names one of its components."""
    document = make_app(linked=linked, deferred=deferred).openapi()
    validate(document)
    components = set(document.get("components", {}).get("schemas", {}))
    assert {ref.removeprefix(SCHEMAS) for ref in _refs(document)} <= components
    assert _refs(document) == set() or linked  # without webhook_openapi, nothing refers away


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_each_event_is_a_component_named_after_its_provider(name: str) -> None:
    """The body refers to ``<Prefix>Event``, whose mapping names each event's own component."""
    document = make_app(linked=True).openapi()
    schemas = document["components"]["schemas"]
    prefix = PREFIX[name]
    provider = providers.get(name)
    assert _body_schema(_operation(document, name)) == {"$ref": f"{SCHEMAS}{prefix}Event"}
    union = schemas[f"{prefix}Event"]
    expected = {
        event_type: f"{SCHEMAS}{prefix}{model.__name__}"
        for event_type, model in provider.event_types.items()
    }
    assert union["discriminator"]["mapping"] == expected
    assert union["discriminator"]["propertyName"] == _type_field(name)
    assert [variant["$ref"] for variant in union["oneOf"]] == list(expected.values())
    own = {key: schema for key, schema in schemas.items() if key.startswith(prefix)}
    assert all(ref.startswith(SCHEMAS + prefix) for ref in _refs(own)), "a nested ref escapes"
    for model in provider.event_types.values():  # an unprefixed name would clash
        assert model.__name__ not in schemas


def test_models_shared_by_name_stay_apart() -> None:
    """Three providers' ``JobCompleted`` and two ``ErrorInfo`` are distinct components."""
    schemas = make_app(linked=True).openapi()["components"]["schemas"]
    completed = {prefix: schemas[f"{prefix}JobCompleted"] for prefix in ("ImgGo", "Pulse")}
    assert completed["ImgGo"]["properties"]["result"]["type"] == "object"
    assert completed["Pulse"]["properties"]["data"] == {"$ref": f"{SCHEMAS}PulseJobCompletedData"}
    assert "DocExtractJobCompleted" in schemas
    failed = schemas["ImgGoJobFailed"]["properties"]["error"]
    assert failed == {"$ref": f"{SCHEMAS}ImgGoErrorInfo"}
    assert schemas["ImgGoErrorInfo"] != schemas["StruktrErrorInfo"]


def _type_field(name: str) -> str:
    model = next(iter(providers.get(name).event_types.values()))
    field: str = model.type_field
    return field


@pytest.mark.parametrize("linked", [False, True], ids=["plain", "webhook_openapi"])
@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_every_variant_requires_the_discriminator(name: str, linked: bool) -> None:
    """Each event schema of the body lists its type field, with its one value, as required."""
    document = make_app(linked=linked).openapi()
    union = _resolve(document, _body_schema(_operation(document, name)))
    variants = [_resolve(document, variant) for variant in union["oneOf"]]
    field = _type_field(name)
    assert [variant["properties"][field]["const"] for variant in variants] == list(
        providers.get(name).event_types
    )
    assert all(field in variant["required"] for variant in variants)


@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_headers_are_parameters(name: str) -> None:
    """The signature's headers are required header parameters, the informational ones optional."""
    parameters = _operation(make_app(linked=True).openapi(), name)["parameters"]
    assert [(p["name"], p["required"]) for p in parameters] == HEADERS[name]
    assert {p["in"] for p in parameters} == {"header"}
    # What the provider really sends satisfies the documented headers.
    delivery = testing.signed_delivery(name, SECRETS[name], testing.event_types(name)[0])
    sent = {key.lower(): value for key, value in delivery.headers.items()}
    for parameter in parameters:
        value = sent.get(parameter["name"].lower())
        assert value is not None or not parameter["required"], parameter["name"]
        pattern = parameter["schema"].get("pattern")
        if value is not None and pattern is not None:
            assert re.fullmatch(pattern, value), (parameter["name"], value)


ANSWERS = {
    False: {200: "WebhookProcessed", 400: "WebhookError", 401: "WebhookError",
            409: "WebhookError", 413: "WebhookError", 500: "WebhookError", 503: "WebhookError"},
    True: {202: "WebhookQueued", 400: "WebhookError", 401: "WebhookError",
           413: "WebhookError", 503: "WebhookError"},
}  # fmt: skip


@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "deferred"])
@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_answers_are_named_components(name: str, deferred: bool) -> None:
    """Every status the route can answer is documented with its body's component and headers."""
    document = make_app(linked=True, deferred=deferred).openapi()
    responses = _operation(document, name)["responses"]
    assert {int(status): answer["content"]["application/json"]["schema"]["$ref"]
            for status, answer in responses.items()} == {
        status: SCHEMAS + component for status, component in ANSWERS[deferred].items()
    }  # fmt: skip
    retry = {int(status) for status, answer in responses.items() if "headers" in answer}
    assert retry == ({503} if deferred else {409, 503})
    assert all(set(responses[str(s)]["headers"]) == {"Retry-After"} for s in retry)
    error = document["components"]["schemas"]["WebhookError"]
    assert (set(error["properties"]), error["required"]) == ({"error", "message"}, ["error"])


def _post(app: FastAPI, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(send())


def _conforms(document: dict[str, Any], schema: dict[str, Any], value: dict[str, Any]) -> bool:
    schema = _resolve(document, schema)
    return set(schema["required"]) <= set(value) <= set(schema["properties"])


@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "deferred"])
@pytest.mark.parametrize("name", list(providers.PROVIDERS))
def test_the_receiver_still_answers_and_as_documented(name: str, deferred: bool) -> None:
    """Documented headers and body are not enforced by FastAPI: no 422, the receiver answers."""
    app = make_app(linked=True, deferred=deferred)
    document = app.openapi()
    responses = _operation(document, name)["responses"]
    path = f"/api/webhooks/{name}"
    signed = testing.signed_delivery(name, SECRETS[name], testing.event_types(name)[0])
    not_json = testing.signed_delivery(name, SECRETS[name], b"not json")
    for (body, headers), status in [
        (signed, 202 if deferred else 200),
        ((b"{}", {}), 401),  # unsigned: no header FastAPI would have to refuse first
        (not_json, 400),
    ]:
        response = _post(app, path, body, dict(headers))
        assert response.status_code == status, response.text
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        assert _conforms(document, schema, response.json()), response.json()


def test_user_route_is_named_too() -> None:
    """A route with `verified_event` and `openapi_request_body` gets refs, headers and errors."""
    document = make_app(linked=True).openapi()
    operation = document["paths"]["/api/billing/struktr-events"]["post"]
    assert _body_schema(operation) == {"$ref": f"{SCHEMAS}StruktrEvent"}
    assert [(p["name"], p["required"]) for p in operation["parameters"]] == HEADERS["struktr"]
    for status in ("400", "401", "413", "503"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema["properties"]["detail"] == {"$ref": f"{SCHEMAS}WebhookError"}
    assert operation["responses"]["503"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


@pytest.mark.parametrize("taken", ["WebhookError", "PulseJobCompleted"])
def test_a_name_the_app_uses_is_left_alone(taken: str) -> None:
    """A component name the app uses for its own model keeps it; webhook schemas stay inline."""
    app = make_app(linked=True)
    own = create_model(taken, reference=(str, ...))

    @app.get("/own", response_model=own)
    async def read_own() -> Any:
        return own(reference="r")

    document = app.openapi()
    validate(document)
    schemas = document["components"]["schemas"]
    assert schemas[taken]["properties"] == {"reference": {"title": "Reference", "type": "string"}}
    pulse = _operation(document, "pulse")
    body = _body_schema(pulse)
    error = pulse["responses"]["401"]["content"]["application/json"]["schema"]
    if taken == "WebhookError":
        assert error["title"] == "WebhookError"  # inline
        assert body == {"$ref": f"{SCHEMAS}PulseEvent"}
    else:
        assert "oneOf" in body  # inline, and none of Pulse's components were added
        assert "PulseEvent" not in schemas
        assert error == {"$ref": f"{SCHEMAS}WebhookError"}
        assert _body_schema(_operation(document, "imggo")) == {"$ref": f"{SCHEMAS}ImgGoEvent"}


def test_linking_changes_no_other_app() -> None:
    """Apps sharing one router stay apart: the plain one keeps its inline, valid document."""
    router = webhook_router([Receiver(name, secret=SECRETS[name]) for name in providers.PROVIDERS])
    linked, plain = FastAPI(), FastAPI()
    for app in (linked, plain):
        app.include_router(router)
    webhook_openapi(linked)
    webhook_openapi(linked)  # a second call changes nothing
    first = linked.openapi()
    assert linked.openapi() is first
    document = plain.openapi()
    validate(document)
    assert _refs(document) == set()


def test_routes_added_later_are_named() -> None:
    """A route added after the document was first made is in the next one, named as well."""
    app = FastAPI()
    webhook_openapi(app)
    assert app.openapi()["paths"] == {}
    app.include_router(webhook_router(Receiver("imggo", secret=SECRETS["imggo"])))
    document = app.openapi()
    validate(document)
    assert _body_schema(_operation_at(document, "/webhooks/imggo")) == {
        "$ref": f"{SCHEMAS}ImgGoEvent"
    }


def _operation_at(document: dict[str, Any], path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path]["post"]
    return operation


class OrderPaid(EventModel):
    """A custom provider's event."""

    event: Literal["order.paid"] = "order.paid"
    order_id: str


class OrderRefunded(EventModel):
    """Another custom provider's event."""

    event: Literal["order.refunded"] = "order.refunded"
    order_id: str


def _custom(name: str, model: type[EventModel]) -> providers.Provider:
    """A provider of one event, signed like ImgGo, as in docs/providers/custom.md."""
    return providers.Provider(
        name=name,
        title="Acme Pay",
        make_verifier=providers.IMGGO.make_verifier,
        parse=make_parser(name, TypeAdapter(model)),
        event_types=event_type_map(model),
    )


def test_custom_provider_is_named_after_its_title() -> None:
    """A provider of your own gets components named after its title: ``AcmePayOrderPaid``."""
    app = FastAPI()
    app.include_router(webhook_router(Receiver(_custom("acme", OrderPaid), secret="s")))
    webhook_openapi(app)
    document = app.openapi()
    validate(document)
    schemas = document["components"]["schemas"]
    assert _body_schema(_operation_at(document, "/webhooks/acme")) == {
        "$ref": f"{SCHEMAS}AcmePayEvent"
    }
    assert schemas["AcmePayEvent"]["discriminator"]["mapping"] == {
        "order.paid": f"{SCHEMAS}AcmePayOrderPaid"
    }
    assert schemas["AcmePayOrderPaid"]["required"] == ["event", "order_id"]


def test_two_providers_of_one_name_stay_inline() -> None:
    """Two different providers under one name cannot be told apart: their bodies stay inline."""
    receivers = {
        segment: Receiver(_custom("acme_twin", model), secret="s")
        for segment, model in (("paid", OrderPaid), ("refunded", OrderRefunded))
    }
    app = FastAPI()
    app.include_router(webhook_router(receivers))
    webhook_openapi(app)
    document = app.openapi()
    validate(document)
    for segment, event_type in (("paid", "order.paid"), ("refunded", "order.refunded")):
        body = _body_schema(_operation_at(document, f"/webhooks/{segment}"))
        assert [v["properties"]["event"]["const"] for v in body["oneOf"]] == [event_type]


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("linked", [False, True], ids=["plain", "webhook_openapi"])
def test_a_tenant_route_documents_its_tenant_path_parameter(linked: bool) -> None:
    """A `TenantSecrets` receiver's route is ``/webhooks/<name>/{tenant}``, a valid document."""
    app = FastAPI()
    receiver = Receiver("pulse", secret=TenantSecrets(lambda _tenant: None))
    app.include_router(webhook_router(receiver))
    if linked:
        webhook_openapi(app)
    document = app.openapi()
    validate(document)
    operation = document["paths"]["/webhooks/pulse/{tenant}"]["post"]
    [tenant] = [p for p in operation["parameters"] if p["in"] == "path"]
    assert (tenant["name"], tenant["required"]) == ("tenant", True)
    assert "webhook-signature" in {p["name"].lower() for p in operation["parameters"]}
