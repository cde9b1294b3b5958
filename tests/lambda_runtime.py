"""A stand-in for Lambda's Python runtime: load a handler by its handler string, invoke it.

::

    python -m tests.lambda_runtime examples.aws_lambda_app.handler < events.jsonl

As the runtime does, it splits the handler string at its last dot, imports the module once (the
container's cold start) and then calls ``handler(event, context)`` for each invocation, one at a
time. It prints ``{"ready": "<handler>"}`` once the module is loaded, then one JSON line per
event read from stdin: the handler's response, or ``{"errorType": ..., "errorMessage": ...}`` when
it raised, as the runtime reports a failed invocation. A handler that cannot be loaded prints the
runtime's error (``Runtime.ImportModuleError``, ``Runtime.HandlerNotFound``) and exits with 1.
"""

from __future__ import annotations

import importlib
import json
import secrets
import sys
from collections.abc import Callable
from typing import Any


class Context:
    """The attributes of the context object the runtime passes to each invocation."""

    function_name = "webhooks"
    function_version = "$LATEST"
    memory_limit_in_mb = 256

    def __init__(self) -> None:
        self.aws_request_id = secrets.token_hex(16)

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _error(kind: str, error: BaseException | str) -> str:
    return json.dumps({"errorType": kind, "errorMessage": str(error)})


def load(handler: str) -> Callable[[Any, Any], Any]:
    """The function a handler string names; `SystemExit` with the runtime's error if none."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name:
        print(_error("Runtime.MalformedHandlerName", f"bad handler {handler!r}"), flush=True)
        raise SystemExit(1)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as exc:
        print(_error("Runtime.ImportModuleError", exc), flush=True)
        raise SystemExit(1) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        message = f"Handler {function_name!r} missing on module {module_name!r}"
        print(_error("Runtime.HandlerNotFound", message), flush=True)
        raise SystemExit(1)
    return function  # type: ignore[no-any-return]


def main(handler: str) -> None:
    """Load `handler`, then invoke it once per event line on stdin."""
    function = load(handler)
    print(json.dumps({"ready": handler}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            response = function(json.loads(line), Context())
        except Exception as exc:
            print(_error(type(exc).__name__, exc), flush=True)
        else:
            print(json.dumps(response), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
