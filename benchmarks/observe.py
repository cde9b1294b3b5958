"""What observing costs: `Receiver.handle` with Prometheus metrics and OpenTelemetry traces, vs off.

Run with ``.venv/bin/python -m benchmarks.observe`` (about 20 s). One receiver per setting, each
with its own `MemoryStore` and one no-op handler, takes freshly signed struktr deliveries (each
a new delivery: verify, parse, claim, handler, complete); the settings take turns, round after
round, so that a slower moment of the machine costs them alike. Printed: the microseconds per
delivery of each setting in its best round (the least disturbed by other work on the machine) and
the median over the rounds, each with its ratio to "off".

- off: no observer attached (the receiver tests one flag per delivery);
- metrics: `webhook_kit.prometheus` into a registry of its own;
- traces: `webhook_kit.otel` with the OpenTelemetry SDK, a batch span processor and an exporter
  that drops every batch (what an application pays before the network), every delivery sampled:
  six spans each;
- traces 10%, traces 1%: the same with a parent-based 10% or 1% ratio sampler, the usual set-ups
  under load;
- both, both 1%: metrics and traces.

The target: observing at most 1.05 times "off"; each line says whether it meets it (by the best
rounds). Wall-clock ratios move from run to run on a busy machine; `benchmarks.observe_instructions`
counts the same settings in CPU instructions, which do not.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import CollectorRegistry

from webhook_kit import MemoryStore, Receiver, testing
from webhook_kit.otel import Tracing
from webhook_kit.otel import instrument as trace
from webhook_kit.prometheus import Metrics
from webhook_kit.prometheus import instrument as count

SECRET = "whsec_benchmark_observe"
SETTINGS = ("off", "metrics", "traces", "traces 10%", "traces 1%", "both", "both 1%")
#: The sampling ratio each setting's suffix names; every delivery is sampled without one.
RATIOS = {"all": 1.0, "10%": 0.1, "1%": 0.01}
TARGET = 1.05


class _Drop(SpanExporter):
    """An exporter that accepts every batch and sends it nowhere."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:  # noqa: ARG002
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def provider(ratio: float) -> TracerProvider:
    """An SDK tracer provider sampling `ratio` of the traces, exporting to nowhere."""
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(_Drop(), max_queue_size=65536))
    return provider


def receiver(setting: str, providers: dict[str, TracerProvider]) -> Receiver:
    """A receiver with a no-op handler, observed as `setting` says."""
    receiver = Receiver("struktr", secret=SECRET, store=MemoryStore())
    receiver.on("document.completed")(lambda _event: None)
    if setting.startswith(("metrics", "both")):
        count(receiver, metrics=Metrics(CollectorRegistry()))
    if setting.startswith(("traces", "both")):
        sampled = setting.rsplit(" ", 1)[-1] if setting.endswith("%") else "all"
        trace(receiver, tracing=Tracing(providers[sampled]))
    return receiver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--deliveries", type=int, default=2000, help="per setting per round")
    args = parser.parse_args()
    providers = {name: provider(ratio) for name, ratio in RATIOS.items()}
    receivers = {setting: receiver(setting, providers) for setting in SETTINGS}
    sample = testing.sample("struktr", "document.completed")
    times: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
    serial = 0
    for _ in range(args.rounds + 1):  # the first round warms up and is not counted
        for setting in SETTINGS:
            deliveries = []
            for _ in range(args.deliveries):
                serial += 1
                deliveries.append(
                    testing.signed_delivery(
                        "struktr", SECRET, sample | {"n": serial}, delivery_id=f"dlv_{serial}"
                    )
                )
            handle = receivers[setting].handle
            started = time.perf_counter()
            for body, headers in deliveries:
                handle(body, headers)
            times[setting].append((time.perf_counter() - started) / args.deliveries)
    for setting in SETTINGS:
        del times[setting][0]
    best_off, median_off = min(times["off"]), statistics.median(times["off"])
    print(f"Receiver.handle, struktr, MemoryStore, {args.rounds} rounds of {args.deliveries}")
    print(f"  {'setting':10} {'best us':>8} {'x off':>6}  {'median us':>9} {'x off':>6}  target")
    for setting in SETTINGS:
        best, median = min(times[setting]), statistics.median(times[setting])
        verdict = "" if setting == "off" else "met" if best / best_off <= TARGET else "missed"
        print(
            f"  {setting:10} {best * 1e6:8.1f} {best / best_off:6.3f}"
            f"  {median * 1e6:9.1f} {median / median_off:6.3f}  {verdict}"
        )
    for tracer_provider in providers.values():
        tracer_provider.shutdown()


if __name__ == "__main__":
    main()
