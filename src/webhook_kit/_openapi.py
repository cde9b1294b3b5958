"""OpenAPI for webhook routes: what a provider sends, and what it gets back.

Two layers, so that the document is valid whichever of them an app uses:

- `operation_extra` is a route's ``openapi_extra``, complete on its own: the provider's event
  union inline as the request body (a route cannot add to the document's ``components``), the
  headers the signature scheme reads as header parameters, and ``x-webhook-kit-provider``
  naming the provider.
- `link` rewrites a finished document: the body of each operation carrying that marker becomes
  a ``$ref`` to the provider's union, with each event model (and each model inside one) as a
  component named after the provider (``PulseJobCompleted``) and an explicit
  ``discriminator.mapping``; the answers' bodies become refs to ``WebhookError``,
  ``WebhookProcessed`` and ``WebhookQueued``. Components are only ever added next to the refs
  that need them, and a name the document already uses for another schema is left alone (the
  operation keeps its inline schema), so no ref dangles.

No framework is imported here: the FastAPI module wraps these in its public functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic.json_schema import models_json_schema

from .providers import Provider
from .signatures import HexHmacVerifier, StandardWebhooksVerifier

__all__ = [
    "MARKER",
    "event_components",
    "header_parameters",
    "link",
    "operation_extra",
    "router_responses",
    "schema_prefix",
    "verified_event_responses",
]

#: The operation extension naming the provider whose deliveries the operation receives.
MARKER = "x-webhook-kit-provider"

_COMPONENTS = "#/components/schemas/"

# Answers

_ERROR: dict[str, Any] = {
    "title": "WebhookError",
    "description": "Why a delivery was refused or failed; 4xx answers say what was wrong.",
    "type": "object",
    "properties": {
        "error": {
            "type": "string",
            "description": "A stable code: signature_mismatch, invalid_payload, in_progress, ...",
        },
        "message": {"type": "string"},
    },
    "required": ["error"],
}
_PROCESSED: dict[str, Any] = {
    "title": "WebhookProcessed",
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["processed", "duplicate"]}},
    "required": ["status"],
}
_QUEUED: dict[str, Any] = {
    "title": "WebhookQueued",
    "type": "object",
    "properties": {"status": {"type": "string", "const": "queued"}},
    "required": ["status"],
}
#: The inline answer schemas `link` names, by component name.
_NAMED = {schema["title"]: schema for schema in (_ERROR, _PROCESSED, _QUEUED)}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before the next attempt",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _answer(description: str, schema: Mapping[str, Any], *, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if retry:
        answer["headers"] = _RETRY_AFTER
    return answer


def router_responses(*, deferred: bool) -> dict[int | str, dict[str, Any]]:
    """The answers of a webhook route: the status table of `webhook_kit.receiver`.

    A receiver with ``defer`` answers 202 once the queue has the delivery, and never 200, 409
    or 500 (its workers claim and run the handlers). A POST is never answered 405.
    """
    answers: dict[int | str, dict[str, Any]] = {}
    if deferred:
        answers[202] = _answer("Verified and queued: a worker runs the handlers", _QUEUED)
    else:
        answers[200] = _answer("Processed now, or a duplicate of a processed delivery", _PROCESSED)
    answers[400] = _answer("Not JSON, or not a valid event", _ERROR)
    answers[401] = _answer("Signature missing or invalid, or the timestamp is stale", _ERROR)
    if not deferred:
        answers[409] = _answer(
            "Being processed by another request: retry after Retry-After", _ERROR, retry=True
        )
    answers[413] = _answer("The body is over the size limit", _ERROR)
    if not deferred:
        answers[500] = _answer("A handler failed: the provider's retry processes it again", _ERROR)
    unavailable = "the queue" if deferred else "the idempotency store"
    answers[503] = _answer(
        f"{unavailable.capitalize()} or the dead letters did not answer: retry after Retry-After",
        _ERROR,
        retry=True,
    )
    return answers


def verified_event_responses() -> dict[int | str, dict[str, Any]]:
    """The error answers of a route using the `verified_event` dependency (``{"detail": ...}``)."""
    detail = {"type": "object", "properties": {"detail": _ERROR}, "required": ["detail"]}
    return {
        400: _answer("Not JSON, or not a valid event", detail),
        401: _answer("Signature missing or invalid, or the timestamp is stale", detail),
        413: _answer("The body is over the size limit", detail),
        503: _answer(
            "With dead letters: a refused body could not be recorded; retry after Retry-After",
            detail,
            retry=True,
        ),
    }


# The request


def operation_extra(provider: Provider) -> dict[str, Any]:
    """A route's ``openapi_extra`` for `provider`'s deliveries, valid in any document."""
    _remember(provider)
    body, components = event_components(provider)
    return {
        MARKER: provider.name,
        "parameters": header_parameters(provider),
        "requestBody": {
            "required": True,
            "description": (
                f"A signed {provider.title} delivery; event types not listed are acknowledged "
                "as unknown events."
            ),
            "content": {"application/json": {"schema": _inline(body, components, ())}},
        },
    }


def header_parameters(provider: Provider) -> list[dict[str, Any]]:
    """The headers of a delivery: those the signature needs (required), then the others."""
    parameters: dict[str, dict[str, Any]] = {}
    for name, required, description, schema in _signature_headers(provider):
        parameters.setdefault(name.lower(), _header(name, required, description, schema))
    signed = " (signed)" if provider.delivery_id_signed else " (not signed)"
    informational: list[tuple[str | None, str]] = [
        *(
            (name, "The delivery's id, the same on every retry" + signed)
            for name in provider.delivery_id_headers
        ),
        (provider.event_type_header, "The event type; when sent, it must agree with the body"),
        (provider.timestamp_header, "When the delivery was sent; informational, not signed"),
    ]
    for header, description in informational:
        if header:
            parameters.setdefault(header.lower(), _header(header, False, description))
    return list(parameters.values())


def _header(
    name: str, required: bool, description: str, schema: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": dict(schema or {"type": "string"}),
    }


#: A key for a verifier made only to learn its header names; it never checks a delivery.
_HEADER_NAMES_ONLY = b"webhook-kit: header names only"

_SignatureHeader = tuple[str, bool, str, dict[str, Any] | None]


def _signature_headers(provider: Provider) -> list[_SignatureHeader]:
    """The headers `provider`'s verifier reads: those its `sign` writes (as `kept_header_names`)."""
    try:
        verifier = provider.verifier(_HEADER_NAMES_ONLY)
        signed = verifier.sign(b"{}")
    except (TypeError, ValueError):  # a custom verifier that wants another kind of key
        return []
    if isinstance(verifier, StandardWebhooksVerifier):
        return _standard_headers(verifier)
    if isinstance(verifier, HexHmacVerifier):
        digits = len(signed[verifier.header]) - len(verifier.prefix)
        after = f", after `{verifier.prefix}`" if verifier.prefix else ""
        pattern = f"^{_ecma_escape(verifier.prefix)}[0-9a-fA-F]{{{digits}}}$"
        description = f"The HMAC of the raw body with your secret, in hexadecimal{after}"
        return [(verifier.header, True, description, {"type": "string", "pattern": pattern})]
    return [(name, True, f"Part of the {provider.title} signature", None) for name in signed]


def _standard_headers(verifier: StandardWebhooksVerifier) -> list[_SignatureHeader]:
    form = "v1,<base64>" if verifier.encoding == "base64" else "v1,<hex>"
    found: list[_SignatureHeader] = [
        ("webhook-id", True, "The message id, the same on every retry (signed)", None),
        (
            "webhook-timestamp",
            True,
            "When the message was signed, in seconds since the Unix epoch; refused more than "
            f"{verifier.tolerance} seconds from now",
            {"type": "string", "pattern": "^[0-9]+$"},
        ),
        (
            "webhook-signature",
            True,
            f"Space-separated `{form}` signatures of `id.timestamp.body`; one must match",
            None,
        ),
    ]
    svix: list[_SignatureHeader] = [
        (
            "svix-" + name.removeprefix("webhook-"),
            False,
            f"Svix's name for `{name}`, read when that header is absent",
            schema,
        )
        for name, _, _, schema in found
    ]
    return [*found, *svix]


def _ecma_escape(text: str) -> str:
    """`text` as a literal in an ECMA-262 regular expression (the dialect of JSON Schema)."""
    return "".join("\\" + char if char in "^$\\.*+?()[]{}|/" else char for char in text)


def schema_prefix(provider: Provider) -> str:
    """The prefix of `provider`'s component names: its title in PascalCase (``ImgGo``)."""
    for text in (provider.title, provider.name):
        prefix = "".join(word[:1].upper() + word[1:] for word in re.split(r"[^0-9A-Za-z]+", text))
        if prefix:
            return prefix
    return "Provider"


def event_components(provider: Provider) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The request body's schema (a ``$ref``) and the components it needs, all named.

    One component per event model and per model inside one (pydantic's refs between them
    rewritten to the prefixed names), and ``<Prefix>Event``: the union of the events, with a
    ``discriminator`` whose ``mapping`` names each event type's component.
    """
    prefix = schema_prefix(provider)
    models = list(dict.fromkeys(provider.event_types.values()))
    if not models:
        return {"type": "object", "title": f"{provider.title} event"}, {}
    refs, top = models_json_schema(
        [(model, "validation") for model in models], ref_template=_COMPONENTS + prefix + "{model}"
    )
    components = {prefix + name: schema for name, schema in top.get("$defs", {}).items()}
    union_name = prefix + "Event"
    if union_name in components:  # a model of that very name: keep it, name the union apart
        union_name += "Union"
    components[union_name] = {
        "title": f"{provider.title} event",
        "description": f"Any event {provider.title} documents, told apart by its type field.",
        "oneOf": [refs[(model, "validation")] for model in models],
        "discriminator": {
            "propertyName": getattr(models[0], "type_field", "event"),
            "mapping": {
                event_type: refs[(model, "validation")]["$ref"]
                for event_type, model in provider.event_types.items()
            },
        },
    }
    return {"$ref": _COMPONENTS + union_name}, components


def _inline(node: Any, components: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    """`node` with every ref into `components` replaced by the schema it names."""
    if isinstance(node, list):
        return [_inline(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMPONENTS):
        name = ref.removeprefix(_COMPONENTS)
        # A recursive model would inline forever: its inner occurrence stays an open object.
        if name in seen:
            result = {"title": name}
        else:
            result = _inline(components[name], components, (*seen, name))
        node = {key: value for key, value in node.items() if key != "$ref"}
    for key, value in node.items():
        if key == "discriminator" and isinstance(value, dict):
            # The mapping names components; with the variants inlined, the property suffices.
            result[key] = {k: v for k, v in value.items() if k != "mapping"}
        else:
            result[key] = _inline(value, components, seen)
    return result


# Naming what is inline

#: The providers `operation_extra` documented, by name; None for a name that two providers
#: with different events share (their operations stay inline).
_DOCUMENTED: dict[str, Provider | None] = {}


def _remember(provider: Provider) -> None:
    known = _DOCUMENTED.get(provider.name, provider)
    same = known is not None and (
        known is provider
        or (known.title, dict(known.event_types)) == (provider.title, dict(provider.event_types))
    )
    _DOCUMENTED[provider.name] = known if same else None


def link(document: dict[str, Any]) -> None:
    """Name the schemas of every webhook operation in `document`, in place (see the module).

    `document` must be the app's own: FastAPI's `get_openapi` returns a fresh copy, sharing
    nothing with the routes' ``openapi_extra`` and ``responses``. Linking it again does nothing.
    """
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    added: dict[str, Any] = {}
    bodies: dict[str, dict[str, Any] | None] = {}
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            if isinstance(operation, dict) and isinstance(operation.get(MARKER), str):
                _link_operation(operation, schemas, added, bodies)
    if added:
        components = document.setdefault("components", {})
        components["schemas"] = dict(sorted({**schemas, **added}.items()))


def _link_operation(
    operation: dict[str, Any],
    schemas: Mapping[str, Any],
    added: dict[str, Any],
    bodies: dict[str, dict[str, Any] | None],
) -> None:
    name = operation[MARKER]
    if name not in bodies:
        provider = _DOCUMENTED.get(name)
        bodies[name] = None
        if provider is not None:
            schema, components = event_components(provider)
            if components and _add(components, schemas, added):
                bodies[name] = schema
    body = bodies[name]
    request = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None and isinstance(request, dict):
        request["schema"] = body
    for response in operation.get("responses", {}).values():
        for media in response.get("content", {}).values():
            if isinstance(media, dict) and "schema" in media:
                media["schema"] = _named(media["schema"], schemas, added)


def _named(node: Any, schemas: Mapping[str, Any], added: dict[str, Any]) -> Any:
    """`node` with each of the inline answer schemas replaced by a ref to its component."""
    if isinstance(node, list):
        return [_named(item, schemas, added) for item in node]
    if not isinstance(node, dict):
        return node
    for name, schema in _NAMED.items():
        if node == schema and _add({name: schema}, schemas, added):
            return {"$ref": _COMPONENTS + name}
    return {key: _named(value, schemas, added) for key, value in node.items()}


def _add(new: Mapping[str, Any], schemas: Mapping[str, Any], added: dict[str, Any]) -> bool:
    """Add `new` to the components unless one of its names holds another schema already."""
    for name, schema in new.items():
        existing = added.get(name, schemas.get(name, schema))
        if existing != schema:
            return False
    added.update(new)
    return True
