"""The `parse` functions: body types, unknown events, and every kind of bad payload."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from tests import strategies
from tests.events.cases import (
    EVENTS,
    MODULES,
    PROVIDERS,
    REQUIRED,
    TYPE_FIELD,
    delete_at,
    dig,
    encode,
    parse,
    parsed_sample,
    set_at,
)
from webhook_kit import PayloadError
from webhook_kit._samples import SAMPLES, sample
from webhook_kit.events import (
    EventModel,
    Open,
    UnknownEvent,
    WebhookModel,
    event_type_map,
    make_parser,
)

#: Any standard JSON value (no NaN or Infinity), for replacing parts of a valid payload.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview, "str"])
@pytest.mark.parametrize(("provider", "event_type"), EVENTS)
def test_every_body_type_parses_alike(provider: str, event_type: str, kind: Any) -> None:
    """bytes, bytearray, memoryview and str bodies give the same event."""
    raw = encode(sample(provider, event_type))
    body = raw.decode() if kind == "str" else kind(raw)
    assert parse(provider, body) == parsed_sample(provider, event_type)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_event_type_gives_unknown_event(provider: str) -> None:
    """An event type the library does not model becomes an `UnknownEvent` with the raw payload."""
    payload = {TYPE_FIELD[provider]: "invoice.exploded", "data": {"id": 1, "big": 10**30}}
    event = parse(provider, encode(payload))
    assert isinstance(event, UnknownEvent)
    assert event.provider == provider
    assert event.event_type == "invoice.exploded"
    assert event.payload == payload


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("payload", [{}, {"data": {"id": 1}}, {"unrelated": None}])
def test_missing_event_type_gives_unknown_event_without_type(
    provider: str, payload: dict[str, Any]
) -> None:
    """An object without the type field is an `UnknownEvent` whose `event_type` is None."""
    event = parse(provider, encode(payload))
    assert isinstance(event, UnknownEvent)
    assert event.event_type is None
    assert event.payload == payload


@pytest.mark.parametrize("provider", PROVIDERS)
def test_null_event_type_counts_as_missing(provider: str) -> None:
    """A null type field is treated like a missing one."""
    event = parse(provider, encode({TYPE_FIELD[provider]: None}))
    assert isinstance(event, UnknownEvent)
    assert event.event_type is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_other_providers_type_field_is_not_read(provider: str) -> None:
    """Only the provider's own type field counts: Pulse ignores `event`, the others `type`."""
    other = "event" if TYPE_FIELD[provider] == "type" else "type"
    known = next(iter(MODULES[provider].EVENT_TYPES))
    event = parse(provider, encode({other: known}))
    assert isinstance(event, UnknownEvent)
    assert event.event_type is None


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("tag", [5, 1.5, True, ["job.completed"], {"a": 1}])
def test_non_string_event_type_is_rejected(provider: str, tag: Any) -> None:
    """A type field that is not a string is a `PayloadError` naming the field."""
    with pytest.raises(PayloadError, match=f"{TYPE_FIELD[provider]}: Input should be a valid str"):
        parse(provider, encode({TYPE_FIELD[provider]: tag}))


BAD_BODIES = {
    "empty": b"",
    "invalid JSON": b'{"event": ',
    "trailing garbage": b"{} {}",
    "single quotes": b"{'event': 'x'}",
    "invalid UTF-8": b'{"event": "\xff\xfe"}',
    "truncated UTF-8": b'{"event": "caf\xc3"}',
    "UTF-16": '{"event": "x"}'.encode("utf-16"),
    "lone surrogate str": '{"event": "\ud800"}',
    "array": b"[]",
    "string": b'"x"',
    "number": b"1",
    "true": b"true",
    "null": b"null",
    "deeply nested array": b"[" * 100_000,
    "deeply nested closed": b"[" * 5_000 + b"]" * 5_000,
    "deeply nested in object": b'{"a": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001,
    "huge integer": b'{"event": "x", "n": ' + b"9" * 10_000 + b"}",
    "NUL bytes": b"\x00" * 10,
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize("provider", PROVIDERS)
def test_bad_bodies_raise_payload_error(provider: str, body: bytes | str) -> None:
    """Anything that is not a JSON object raises `PayloadError`, naming the provider."""
    with pytest.raises(PayloadError, match=provider) as caught:
        parse(provider, body)
    assert caught.value.status_code == 400


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"1", b"null", b"[{}]"])
def test_non_object_json_says_so(body: bytes) -> None:
    """Valid JSON that is not an object gets a message asking for an object."""
    with pytest.raises(PayloadError, match="must be a JSON object"):
        parse("struktr", body)


def test_invalid_json_says_where() -> None:
    """Invalid JSON gets a message with the parser's position, not the body."""
    with pytest.raises(PayloadError, match=r"not valid JSON: .*line 1 column 11"):
        parse("imggo", b'{"event": }')


def test_deep_nesting_is_a_payload_error() -> None:
    """A deeply nested body is rejected as a payload error, not a RecursionError."""
    with pytest.raises(PayloadError, match=r"recursion limit|nested too deeply"):
        parse("pulse", b"[" * 100_000)


@pytest.mark.parametrize(("provider", "event_type", "path"), REQUIRED)
def test_missing_required_field_names_its_path(provider: str, event_type: str, path: str) -> None:
    """Removing any required field of a known event raises `PayloadError` with its dotted path."""
    payload = delete_at(sample(provider, event_type), path)
    with pytest.raises(PayloadError, match=rf"{event_type} event: {path}: Field required"):
        parse(provider, encode(payload))


WRONG_TYPES = [
    ("struktr", "document.completed", "data.pages", "three", "Input should be a valid integer"),
    ("struktr", "document.completed", "data.data.fields.total.confidence", "high", "valid number"),
    ("struktr", "document.completed", "data.data.tables", {"a": 1}, "valid array"),
    ("struktr", "document.completed", "data.id", 123, "valid string"),
    ("struktr", "document.completed", "data.status", 5, "Input should be a valid string"),
    ("struktr", "batch.completed", "data.documents.4.status", None, "valid string"),
    ("struktr", "document.failed", "data.error", "boom", "Input should be an object"),
    ("struktr", "batch.progress", "timestamp", "2024-01-15T10:32:00", "timezone info"),
    ("struktr", "batch.progress", "timestamp", "yesterday", "valid datetime"),
    ("file_conversion", "document.completed", "data.document_id", "doc_123", "valid integer"),
    ("file_conversion", "document.completed", "data.document_id", 1.5, "valid integer"),
    ("file_conversion", "document.deleted", "data.document_id", None, "valid integer"),
    ("imggo", "job.completed", "confidence", "high", "valid number"),
    ("imggo", "job.completed", "result", [1, 2], "Input should be an object"),
    ("imggo", "job.failed", "error.code", 42, "valid string"),
    ("docextract", "job.completed", "data.confidence.total_amount", "x", "valid number"),
    ("docextract", "credits.low_balance", "data.current_balance", "low", "valid integer"),
    ("docextract", "webhook.test", "data.timestamp", "2024-11-23", "timezone info"),
    ("pulse", "job.completed", "data.processing_time", "slow", "valid number"),
    ("pulse", "job.failed", "data.status", ["failed"], "Input should be a valid string"),
]


@pytest.mark.parametrize(
    ("provider", "event_type", "path", "value", "problem"),
    [pytest.param(*case, id=f"{case[0]}:{case[1]}:{case[2]}={case[3]!r}") for case in WRONG_TYPES],
)
def test_wrong_type_names_its_path(
    provider: str, event_type: str, path: str, value: Any, problem: str
) -> None:
    """A field of the wrong type raises `PayloadError` with its dotted path and the reason."""
    payload = set_at(sample(provider, event_type), path, value)
    with pytest.raises(PayloadError, match=rf"{event_type} event: {path}: .*{problem}"):
        parse(provider, encode(payload))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_are_rejected(number: str) -> None:
    """NaN and infinite numbers in a typed float field are a `PayloadError`: JSON has none."""
    body = encode(sample("pulse", "job.completed")).replace(b"12.5", number.encode())
    with pytest.raises(PayloadError, match=r"data\.processing_time: Input should be a finite"):
        parse("pulse", body)


def test_message_never_quotes_the_body() -> None:
    """Field values never appear in the message, even for the fields that fail."""
    payload = sample("docextract", "job.completed")
    payload["data"]["org_id"] = ["sk_live_very_secret_value"]
    payload["data"]["metadata"] = "sk_live_another_secret"
    with pytest.raises(PayloadError) as caught:
        parse("docextract", encode(payload))
    assert "sk_live" not in str(caught.value)
    assert "data.org_id" in str(caught.value)
    assert "data.metadata" in str(caught.value)


def test_message_is_bounded() -> None:
    """Many failing fields and long sender-chosen keys still give a short message."""
    payload = sample("struktr", "document.completed")
    payload["data"]["data"]["fields"] = {"k" * 10_000 + str(i): "bad" for i in range(1000)}
    with pytest.raises(PayloadError, match=r"and 995 more$") as caught:
        parse("struktr", encode(payload))
    assert len(str(caught.value)) < 1000


def test_payload_error_wraps_the_validation_error() -> None:
    """The pydantic error stays reachable as the cause, for debugging."""
    payload = delete_at(sample("struktr", "document.completed"), "data.pages")
    with pytest.raises(PayloadError) as caught:
        parse("struktr", encode(payload))
    assert isinstance(caught.value.__cause__, ValidationError)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(body=strategies.bodies)
def test_arbitrary_bytes_give_a_model_or_payload_error(provider: str, body: bytes) -> None:
    """Whatever the bytes, `parse` returns a model or raises `PayloadError`, nothing else."""
    try:
        result = parse(provider, body)
    except PayloadError:
        return
    assert isinstance(result, (EventModel, UnknownEvent))


@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data(), value=json_values)
def test_corrupted_samples_give_a_model_or_payload_error(
    provider: str, data: st.DataObject, value: Any
) -> None:
    """Replacing any part of a valid sample with any JSON value never escapes as another error."""
    event_type = data.draw(st.sampled_from(list(SAMPLES[provider])))
    payload = sample(provider, event_type)
    path = data.draw(st.sampled_from(sorted(_paths(payload))))
    body = encode(set_at(payload, path, value))
    result: Any = None
    message = ""
    try:
        result = parse(provider, body)
    except PayloadError as exc:
        message = str(exc)
    assert body.decode() not in message
    assert result is None or isinstance(result, (EventModel, UnknownEvent))
    if isinstance(result, EventModel):
        assert parse(provider, result.model_dump_json(by_alias=True)) == result


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Every dotted path into a JSON payload (keys and list indexes), excluding the root."""
    items: list[tuple[str, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(str(index), item) for index, item in enumerate(value)]
    else:
        return set()
    paths: set[str] = set()
    for key, item in items:
        path = f"{prefix}.{key}" if prefix else key
        paths |= {path} | _paths(item, path)
    return paths


class _Exploding:
    """Stands in for a `TypeAdapter` whose validation recurses too deeply."""

    def validate_json(self, _data: Any) -> Any:
        raise RecursionError("maximum recursion depth exceeded")


def test_recursion_error_becomes_payload_error() -> None:
    """A RecursionError while validating is reported as a `PayloadError`, not raised as is."""
    parse_body = make_parser("custom", _Exploding())  # type: ignore[arg-type]
    with pytest.raises(PayloadError, match="custom payload is nested too deeply"):
        parse_body(b"{}")


class _Ping(EventModel):
    type_field: ClassVar[str] = "kind"
    kind: Literal["ping"] = "ping"
    sent_at: AwareDatetime


class _Pong(EventModel):
    type_field: ClassVar[str] = "kind"
    kind: Literal["pong"] = "pong"


_CUSTOM = TypeAdapter(Annotated[_Ping | _Pong, Field(discriminator="kind")])


def test_make_parser_serves_a_custom_provider() -> None:
    """`make_parser` and `event_type_map` build the same machinery for a user's own provider."""
    parse_custom = make_parser("custom", _CUSTOM, type_field="kind")
    assert dict(event_type_map(_Ping, _Pong)) == {"ping": _Ping, "pong": _Pong}
    event = parse_custom(b'{"kind": "ping", "sent_at": "2024-01-01T00:00:00Z", "x": 1}')
    assert isinstance(event, _Ping)
    assert event.event_type == "ping"
    assert event.model_extra == {"x": 1}
    unknown = parse_custom(b'{"kind": "pang"}')
    assert isinstance(unknown, UnknownEvent)
    assert (unknown.provider, unknown.event_type) == ("custom", "pang")
    with pytest.raises(PayloadError, match="invalid custom ping event: sent_at: Field required"):
        parse_custom(b'{"kind": "ping"}')


def test_event_type_map_needs_one_literal() -> None:
    """A model whose type field is not a one-value Literal cannot be mapped."""

    class Loose(EventModel):
        event: str

    with pytest.raises(TypeError, match=r"Loose\.event must be a one-value Literal"):
        event_type_map(Loose)


#: Every `Open` status field of a documented event, with the values its provider documents.
OPEN_STATUSES = [
    ("struktr", "document.completed", "data.status", ["completed"]),
    ("struktr", "document.failed", "data.status", ["failed"]),
    ("struktr", "batch.completed", "data.status", ["completed"]),
    ("struktr", "batch.completed", "data.documents.0.status", ["completed", "failed"]),
    ("file_conversion", "document.completed", "data.status", ["completed"]),
    ("file_conversion", "document.error", "data.status", ["error"]),
    ("imggo", "job.completed", "status", ["completed"]),
    ("imggo", "job.failed", "status", ["failed"]),
    ("docextract", "job.completed", "data.status", ["completed"]),
    ("docextract", "job.failed", "data.status", ["failed"]),
    ("pulse", "job.completed", "data.status", ["completed"]),
    ("pulse", "job.failed", "data.status", ["failed"]),
]


@pytest.mark.parametrize(
    ("provider", "event_type", "path", "known"),
    [pytest.param(*case, id=f"{case[0]}:{case[1]}:{case[2]}") for case in OPEN_STATUSES],
)
def test_a_new_status_value_is_kept_as_its_string(
    provider: str, event_type: str, path: str, known: list[str]
) -> None:
    """A status the provider has not documented parses into the same model, keeping the string."""
    payload = set_at(sample(provider, event_type), path, "completed_with_warnings")
    event = parse(provider, encode(payload))
    assert type(event) is MODULES[provider].EVENT_TYPES[event_type]
    *parents, field = path.split(".")
    holder = dig(event, ".".join(parents))
    assert getattr(holder, field) == "completed_with_warnings"
    schema = type(holder).model_json_schema()["properties"][field]
    assert known == next(
        option["examples"] for option in [schema, *schema.get("anyOf", [])] if "examples" in option
    )


def test_every_status_field_of_a_documented_event_is_open() -> None:
    """No documented event keeps a closed `Literal` status, which a new value would break."""
    closed = [
        f"{provider}.{model.__name__}"
        for provider, module in MODULES.items()
        for model in _models_of(module)
        if "status" in model.model_fields
        and "Literal" in str(model.model_fields["status"].annotation)
        and "str" not in str(model.model_fields["status"].annotation)
    ]
    assert closed == []


def _models_of(module: Any) -> list[type[EventModel]]:
    """Every pydantic model class a provider module exports."""
    return [
        value
        for value in (getattr(module, name) for name in module.__all__)
        if isinstance(value, type) and issubclass(value, WebhookModel)
    ]


def test_open_is_a_plain_str_for_custom_models() -> None:
    """`Open[Literal[...]]` in a user's model accepts any string and refuses other JSON types."""

    class Job(WebhookModel):
        state: Open[Literal["queued", "done"]]

    assert Job.model_validate_json(b'{"state": "done"}').state == "done"
    assert Job.model_validate_json(b'{"state": "paused"}').state == "paused"
    with pytest.raises(ValidationError, match="valid string"):
        Job.model_validate_json(b'{"state": 1}')
    assert Job.model_json_schema()["properties"]["state"]["examples"] == ["queued", "done"]
