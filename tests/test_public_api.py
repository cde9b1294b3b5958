"""The public surface: what `webhook_kit` exports, and what importing it costs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import webhook_kit

EXPORTED = {
    "DeadLetter",
    "DeadLetterStore",
    "Replayed",
    "SQLiteDeadLetters",
    "replay",
    "Defer",
    "QueuedDelivery",
    "QueueUnavailableError",
    "AsyncIdempotencyStore",
    "IdempotencyStore",
    "LeaseLostError",
    "MemoryStore",
    "Outcome",
    "PayloadTooLargeError",
    "Receiver",
    "SQLiteStore",
    "Body",
    "EventModel",
    "Provider",
    "UnknownEvent",
    "InvalidEvent",
    "HeadersLike",
    "HexHmacVerifier",
    "MalformedHeaderError",
    "MissingHeaderError",
    "PayloadError",
    "Secret",
    "SignatureMismatchError",
    "SigningKey",
    "StandardWebhooksVerifier",
    "StoreUnavailableError",
    "SecretsUnavailableError",
    "TenantSecrets",
    "current_tenant",
    "TimestampOutOfToleranceError",
    "VerificationError",
    "Verifier",
    "WebhookError",
}


def test_all_is_pinned_and_sorted() -> None:
    """`__all__` is exactly the pinned set, sorted, and every name resolves."""
    assert set(webhook_kit.__all__) == EXPORTED
    assert webhook_kit.__all__ == sorted(webhook_kit.__all__)
    for name in webhook_kit.__all__:
        assert getattr(webhook_kit, name) is not None


def test_no_other_public_names_leak() -> None:
    """Apart from submodules, the package namespace has no public name outside `__all__`."""
    public = {
        name
        for name in dir(webhook_kit)
        if not name.startswith("_") and type(getattr(webhook_kit, name)).__name__ != "module"
    }
    assert public - {"annotations"} == EXPORTED, public ^ EXPORTED


def test_root_import_needs_no_framework() -> None:
    """`import webhook_kit` loads no framework, database client or CLI library."""
    code = (
        "import sys, webhook_kit; "
        "heavy = {'flask', 'werkzeug', 'fastapi', 'starlette', 'django', 'redis', 'sqlalchemy', "
        "'psycopg', 'pymysql', 'celery', 'rq', 'dramatiq', 'pika', 'click', 'typer', 'litestar', "
        "'aiohttp'}; "
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def _after_import(statement: str, report: str) -> str:
    """What `report` prints in a fresh interpreter once `statement` ran (sys is imported)."""
    code = f"import sys; {statement}; print(repr(({report})))"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


_PROVIDER_MODULES = (
    "sorted(m for m in sys.modules if m.startswith('webhook_kit.events.') "
    "and m != 'webhook_kit.events._base')"
)


def test_root_import_is_lazy() -> None:
    """`import webhook_kit` imports no submodule, pydantic nor asyncio until a name is read."""
    tops = "{'webhook_kit', 'pydantic', 'asyncio'}"
    loaded = f"sorted(m for m in sys.modules if m.split('.')[0] in {tops})"
    assert _after_import("import webhook_kit", loaded) == "['webhook_kit']"


def test_a_sync_receiver_builds_no_provider_model_and_no_asyncio() -> None:
    """A Flask-style receiver imports no asyncio, and builds no provider's models before a delivery.

    Building each provider's pydantic models is most of the import cost; they are built when the
    provider's first delivery is parsed, and only that provider's.
    """
    setup = (
        "import webhook_kit; from webhook_kit import MemoryStore, Receiver, providers; "
        "r = Receiver('struktr', secret='s', store=MemoryStore()); "
        "base = sys.modules['webhook_kit.events._base']"
    )
    report = (
        f"'asyncio' in sys.modules, {_PROVIDER_MODULES}, base.UnknownEvent.__pydantic_complete__"
    )
    assert _after_import(setup, report) == "(False, [], False)"
    delivered = (
        f"{setup}; from webhook_kit import testing; "
        "sample = testing.sample('struktr', 'document.completed'); "
        "body, headers = testing.signed_delivery('struktr', 's', sample); "
        "outcome = r.handle(body, headers)"
    )
    report = f"outcome.status, 'asyncio' in sys.modules, {_PROVIDER_MODULES}"
    assert _after_import(delivered, report) == "(200, False, ['webhook_kit.events.struktr'])"


def test_lazy_names_are_the_modules_own() -> None:
    """Every lazily imported root name is the very object of the module that defines it."""
    from webhook_kit import events, providers, receiver  # noqa: PLC0415

    assert webhook_kit.Receiver is receiver.Receiver
    assert webhook_kit.Provider is providers.Provider
    assert webhook_kit.UnknownEvent is events.UnknownEvent
    assert webhook_kit.providers is providers
    assert events.struktr.parse is not None  # a provider module, as an attribute
    assert providers.STRUKTR.event_types is not None
    assert dict(providers.STRUKTR.event_types) == dict(events.struktr.EVENT_TYPES)


def test_errors_know_their_status() -> None:
    """Every error class carries the HTTP status a receiver should answer with."""
    assert webhook_kit.WebhookError.status_code == 400
    assert webhook_kit.VerificationError.status_code == 401
    for error in (
        webhook_kit.MissingHeaderError,
        webhook_kit.MalformedHeaderError,
        webhook_kit.SignatureMismatchError,
        webhook_kit.TimestampOutOfToleranceError,
    ):
        assert issubclass(error, webhook_kit.VerificationError)
        assert error.status_code == 401
    assert webhook_kit.PayloadError.status_code == 400
    assert webhook_kit.StoreUnavailableError.status_code == 503


def test_error_codes_are_distinct_slugs() -> None:
    """Each error class has its own stable snake_case `code` for responses and logs."""
    classes = [webhook_kit.WebhookError, *_subclasses(webhook_kit.WebhookError)]
    codes = [error.code for error in classes]
    assert len(set(codes)) == len(codes)
    assert all(code.replace("_", "").isalpha() and code.islower() for code in codes)
    assert webhook_kit.SignatureMismatchError.code == "signature_mismatch"
    assert webhook_kit.TimestampOutOfToleranceError.code == "timestamp_out_of_tolerance"


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


#: The package's modules from the bottom up: a module may import only from its own layer or below
#: (type-checking imports included), so a reader can follow the dependencies one way.
LAYERS = [
    {
        "errors",
        "_lazy",
        "_headers",
        "_hmac",
        "_keys",
        "_ed25519",
        "signatures",
        "events",
        "idempotency",
        "_samples",
    },
    {"providers", "deadletters", "defer", "tenants", "_openapi"},
    # _on: the receiver's generated on() overloads, its base class; _observe: its observers' seam
    {"receiver", "_on", "_observe"},
    # _worker: every queue's worker
    {"replays", "testing", "_adapters", "_bodies", "_serverless", "_worker"},
    {
        "celery",
        "rq",
        "dramatiq",
        "flask",
        "fastapi",
        "django",
        "starlette",
        "litestar",
        "aiohttp",
        "aws_lambda",
        "gcf",
        "cli",
        "pytest_plugin",
        "prometheus",
        "otel",
        "__init__",
        "__main__",
    },
]


def _layer_of(module: str) -> int:
    top = module.split(".", maxsplit=1)[0]
    for number, layer in enumerate(LAYERS):
        if top in layer:
            return number
    raise AssertionError(f"webhook_kit.{module} is in no layer: add it to LAYERS")


def _imports_of(path: Path, package: list[str]) -> set[str]:
    """The webhook_kit modules `path` imports (`package`: its package's path below the root)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, *(node.module or "").split(".")]).strip(".")
                found |= {f"{target}.{alias.name}".strip(".") for alias in node.names}
                found.add(target)
            elif (node.module or "").startswith("webhook_kit."):
                found.add(node.module.removeprefix("webhook_kit."))  # type: ignore[union-attr]
    return {name for name in found if name}


def test_dependencies_point_one_way() -> None:
    """No module imports from a layer above its own: storage below the receiver, replay above."""
    source = Path(webhook_kit.__file__).parent
    upward = []
    for path in sorted(source.rglob("*.py")):
        parts = list(path.relative_to(source).with_suffix("").parts)
        package = parts[:-1]  # a package's __init__ imports relative to the package itself
        module = ".".join(package if parts[-1] == "__init__" and package else parts)
        own = _layer_of(module)
        for imported in sorted(_imports_of(path, package)):
            top = imported.split(".", maxsplit=1)[0]
            if any(top in layer for layer in LAYERS) and _layer_of(imported) > own:
                upward.append(f"{module} -> {imported}")
    assert upward == []
