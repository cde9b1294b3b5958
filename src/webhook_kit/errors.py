"""The errors webhook-kit raises, each knowing the HTTP status a receiver should answer with.

::

    WebhookError                       400  base of everything webhook-kit raises about a delivery
    └── VerificationError              401  the delivery is not provably from the provider
        ├── MissingHeaderError         401  a signature, id or timestamp header is absent
        ├── MalformedHeaderError       401  a header is present but cannot be parsed
        ├── SignatureMismatchError     401  well-formed signature(s), none made with our secret(s)
        └── TimestampOutOfToleranceError  401  signed too long ago, or too far in the future
    PayloadError                       400  verified, but not JSON or not a valid event
    PayloadTooLargeError               413  the body is over the receiver's size limit
    MalformedRequestError              400  the platform's request envelope cannot be read
    StoreUnavailableError              503  the idempotency store cannot be reached: retry later
    LeaseLostError                     409  complete() after the lease expired and was taken over
    QueueUnavailableError              503  a deferred delivery was not accepted by the task queue
    SecretsUnavailableError            503  a tenant's secrets could not be looked up: retry later

Messages say what went wrong and what to check; they never contain a secret or the signature
we expected, so they are safe to log and to return to the sender.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "LeaseLostError",
    "MalformedHeaderError",
    "MalformedRequestError",
    "MissingHeaderError",
    "PayloadError",
    "PayloadTooLargeError",
    "QueueUnavailableError",
    "SecretsUnavailableError",
    "SignatureMismatchError",
    "StoreUnavailableError",
    "TimestampOutOfToleranceError",
    "VerificationError",
    "WebhookError",
]


class WebhookError(Exception):
    """Base of every error webhook-kit raises about a delivery.

    `status_code` is the HTTP answer; `code` is a stable machine-readable name for responses
    and logs (``"signature_mismatch"``), never containing anything secret.
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "webhook_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VerificationError(WebhookError):
    """The delivery could not be shown to come from the provider: answer 401, run no handler."""

    status_code: ClassVar[int] = 401
    code: ClassVar[str] = "verification_failed"

    def __init__(self, message: str, *, header: str | None = None) -> None:
        super().__init__(message)
        #: The name of the header at fault, for debugging; never its expected value.
        self.header = header


class MissingHeaderError(VerificationError):
    """A header the scheme needs is absent (or empty)."""

    code: ClassVar[str] = "missing_header"

    def __init__(self, header: str) -> None:
        super().__init__(
            f"missing {header} header: is the endpoint receiving this provider's deliveries?",
            header=header,
        )


class MalformedHeaderError(VerificationError):
    """A header is present but is not in the scheme's format (wrong prefix, length, alphabet)."""

    code: ClassVar[str] = "malformed_header"

    def __init__(self, header: str, problem: str) -> None:
        super().__init__(f"malformed {header} header: {problem}", header=header)


class SignatureMismatchError(VerificationError):
    """The signature is well formed but was not made with any configured secret over these bytes.

    Or it was, with a `SigningKey` outside its validity window: then `key_id` names that key
    and the message says when it is valid (both are safe to log and return to the sender).
    """

    code: ClassVar[str] = "signature_mismatch"

    def __init__(self, header: str, *, key_id: str | None = None, window: str = "") -> None:
        if key_id is None:
            message = (
                f"{header} does not match the body: check the secret, and that the raw request "
                "body is verified exactly as received (not re-serialised JSON)"
            )
        else:
            message = (
                f"{header} was made with key {key_id}, which verifies nothing at this time "
                f"(it is valid {window}): check the key's window, and which key the sender uses"
            )
        super().__init__(message, header=header)
        #: The id of a key that made the signature but is outside its validity window, if one did.
        self.key_id = key_id


class TimestampOutOfToleranceError(VerificationError):
    """The signed timestamp is further from now than the tolerance allows (replay or bad clock)."""

    code: ClassVar[str] = "timestamp_out_of_tolerance"

    def __init__(self, header: str, *, age: int, tolerance: int) -> None:
        direction = "old" if age > 0 else "far in the future"
        super().__init__(
            f"{header} is {abs(age)} s {direction}, outside the {tolerance} s tolerance: "
            "a replayed delivery, or a clock that is off",
            header=header,
        )
        self.age = age
        self.tolerance = tolerance


class PayloadError(WebhookError):
    """The body is not JSON, not a JSON object, or a known event that fails validation."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_payload"


class StoreUnavailableError(WebhookError):
    """The idempotency store did not answer in time: answer 503 so the provider retries later.

    Never treat this as "already processed" or "acquired": acknowledging a delivery we could not
    record would lose it.
    """

    status_code: ClassVar[int] = 503
    code: ClassVar[str] = "store_unavailable"


class LeaseLostError(WebhookError):
    """`complete` came too late: the lease expired and another worker claimed the key.

    The handler ran here, and may also run (or have run) on the new owner: the lease was shorter
    than the handler. The new owner's record is left untouched. A receiver answers 409 so the
    provider retries; the retry finds the new owner's outcome. Raise the lease if this happens.
    """

    status_code: ClassVar[int] = 409
    code: ClassVar[str] = "lease_lost"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"the lease on {key!r} expired and another worker claimed it before complete(): "
            "the handler ran longer than the lease; raise lease= above its longest run"
        )
        self.key = key


class PayloadTooLargeError(WebhookError):
    """The body is larger than the receiver's limit; refused before it is read in full."""

    status_code: ClassVar[int] = 413
    code: ClassVar[str] = "payload_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than the {limit} byte limit")
        self.limit = limit


class MalformedRequestError(WebhookError):
    """A serverless platform's request envelope cannot be read: answer 400, run no handler.

    Raised by `webhook_kit.aws_lambda` for an event that is not an HTTP event it knows, or whose
    body is marked base64 but is not valid base64. The body never reached the verifier.
    """

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "malformed_request"


class QueueUnavailableError(WebhookError):
    """The task queue did not accept a deferred delivery: answer 503 so the provider retries later.

    Raised by a `Defer` (such as `webhook_kit.celery.CeleryDefer`) when the broker is unreachable,
    refuses the message or does not confirm it in time. Nothing was queued, so nothing may be
    acknowledged: the provider's retry is the only copy of the delivery.
    """

    status_code: ClassVar[int] = 503
    code: ClassVar[str] = "queue_unavailable"


class SecretsUnavailableError(WebhookError):
    """A tenant's secrets could not be looked up: answer 503 so the provider retries later.

    Raised when a `TenantSecrets` lookup raises (its database is down) or returns keys that no
    verifier accepts. Never treated as "no such tenant": that would refuse, for good, deliveries
    a working lookup would accept.
    """

    status_code: ClassVar[int] = 503
    code: ClassVar[str] = "secrets_unavailable"
