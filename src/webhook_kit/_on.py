"""`Receiver.on`, typed per built-in provider and event type. Generated: do not edit.

``python -m tests.overloads`` writes this file from each provider's ``EVENT_TYPES``.

A receiver of a built-in provider is a ``Receiver[<its event union>]`` (``Receiver("struktr",
...)`` is a ``Receiver[struktr.StruktrEvent]``); for it, each event type string selects the
handler type ``on`` takes, so a handler of another model is a type error. A string that is not
a literal (a variable) takes a handler of the provider's whole union. Receivers of other
providers, or of a provider unknown to the type checker (``Receiver[Any]``), take any handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Generic, Literal, overload

from typing_extensions import TypeVar

from .providers import EventT

if TYPE_CHECKING:
    from .events import docextract, file_conversion, imggo, pulse, struktr
    from .providers import Provider
    from .receiver import Handler

__all__ = ["On"]

AnyHandler = TypeVar("AnyHandler", bound="Handler")
StruktrHandler = TypeVar("StruktrHandler", bound="Handler[struktr.StruktrEvent]")
StruktrDocumentCompletedHandler = TypeVar(
    "StruktrDocumentCompletedHandler", bound="Handler[struktr.DocumentCompleted]"
)
StruktrDocumentFailedHandler = TypeVar(
    "StruktrDocumentFailedHandler", bound="Handler[struktr.DocumentFailed]"
)
StruktrBatchCompletedHandler = TypeVar(
    "StruktrBatchCompletedHandler", bound="Handler[struktr.BatchCompleted]"
)
StruktrBatchProgressHandler = TypeVar(
    "StruktrBatchProgressHandler", bound="Handler[struktr.BatchProgress]"
)
FileConversionHandler = TypeVar(
    "FileConversionHandler", bound="Handler[file_conversion.FileConversionEvent]"
)
FileConversionDocumentUploadedHandler = TypeVar(
    "FileConversionDocumentUploadedHandler", bound="Handler[file_conversion.DocumentUploaded]"
)
FileConversionDocumentProcessingHandler = TypeVar(
    "FileConversionDocumentProcessingHandler", bound="Handler[file_conversion.DocumentProcessing]"
)
FileConversionDocumentCompletedHandler = TypeVar(
    "FileConversionDocumentCompletedHandler", bound="Handler[file_conversion.DocumentCompleted]"
)
FileConversionDocumentErrorHandler = TypeVar(
    "FileConversionDocumentErrorHandler", bound="Handler[file_conversion.DocumentError]"
)
FileConversionDocumentDeletedHandler = TypeVar(
    "FileConversionDocumentDeletedHandler", bound="Handler[file_conversion.DocumentDeleted]"
)
ImgGoHandler = TypeVar("ImgGoHandler", bound="Handler[imggo.ImgGoEvent]")
ImgGoJobCompletedHandler = TypeVar("ImgGoJobCompletedHandler", bound="Handler[imggo.JobCompleted]")
ImgGoJobFailedHandler = TypeVar("ImgGoJobFailedHandler", bound="Handler[imggo.JobFailed]")
ImgGoJobQueuedHandler = TypeVar("ImgGoJobQueuedHandler", bound="Handler[imggo.JobQueued]")
DocExtractHandler = TypeVar("DocExtractHandler", bound="Handler[docextract.DocExtractEvent]")
DocExtractJobCompletedHandler = TypeVar(
    "DocExtractJobCompletedHandler", bound="Handler[docextract.JobCompleted]"
)
DocExtractJobFailedHandler = TypeVar(
    "DocExtractJobFailedHandler", bound="Handler[docextract.JobFailed]"
)
DocExtractCreditsLowBalanceHandler = TypeVar(
    "DocExtractCreditsLowBalanceHandler", bound="Handler[docextract.CreditsLowBalance]"
)
DocExtractCreditsDepletedHandler = TypeVar(
    "DocExtractCreditsDepletedHandler", bound="Handler[docextract.CreditsDepleted]"
)
DocExtractWebhookTestHandler = TypeVar(
    "DocExtractWebhookTestHandler", bound="Handler[docextract.WebhookTest]"
)
PulseHandler = TypeVar("PulseHandler", bound="Handler[pulse.PulseEvent]")
PulseJobCreatedHandler = TypeVar("PulseJobCreatedHandler", bound="Handler[pulse.JobCreated]")
PulseJobProcessingHandler = TypeVar(
    "PulseJobProcessingHandler", bound="Handler[pulse.JobProcessing]"
)
PulseJobCompletedHandler = TypeVar("PulseJobCompletedHandler", bound="Handler[pulse.JobCompleted]")
PulseJobFailedHandler = TypeVar("PulseJobFailedHandler", bound="Handler[pulse.JobFailed]")
PulseJobCancelledHandler = TypeVar("PulseJobCancelledHandler", bound="Handler[pulse.JobCancelled]")


class _Untyped:
    """Never made: only ``On[Any]`` matches ``On[_Untyped]``, so it takes the untyped overload."""


class On(Generic[EventT]):
    """The `on` decorator of `Receiver`."""

    provider: Provider[EventT]
    _handlers: dict[str, list[Handler]]

    @overload
    def on(self: On[_Untyped], event_type: str) -> Callable[[AnyHandler], AnyHandler]: ...

    @overload
    def on(
        self: On[struktr.StruktrEvent], event_type: Literal["document.completed"]
    ) -> Callable[[StruktrDocumentCompletedHandler], StruktrDocumentCompletedHandler]: ...

    @overload
    def on(
        self: On[struktr.StruktrEvent], event_type: Literal["document.failed"]
    ) -> Callable[[StruktrDocumentFailedHandler], StruktrDocumentFailedHandler]: ...

    @overload
    def on(
        self: On[struktr.StruktrEvent], event_type: Literal["batch.completed"]
    ) -> Callable[[StruktrBatchCompletedHandler], StruktrBatchCompletedHandler]: ...

    @overload
    def on(
        self: On[struktr.StruktrEvent], event_type: Literal["batch.progress"]
    ) -> Callable[[StruktrBatchProgressHandler], StruktrBatchProgressHandler]: ...

    @overload
    def on(
        self: On[struktr.StruktrEvent], event_type: str
    ) -> Callable[[StruktrHandler], StruktrHandler]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: Literal["document.uploaded"]
    ) -> Callable[
        [FileConversionDocumentUploadedHandler], FileConversionDocumentUploadedHandler
    ]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: Literal["document.processing"]
    ) -> Callable[
        [FileConversionDocumentProcessingHandler], FileConversionDocumentProcessingHandler
    ]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: Literal["document.completed"]
    ) -> Callable[
        [FileConversionDocumentCompletedHandler], FileConversionDocumentCompletedHandler
    ]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: Literal["document.error"]
    ) -> Callable[[FileConversionDocumentErrorHandler], FileConversionDocumentErrorHandler]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: Literal["document.deleted"]
    ) -> Callable[[FileConversionDocumentDeletedHandler], FileConversionDocumentDeletedHandler]: ...

    @overload
    def on(
        self: On[file_conversion.FileConversionEvent], event_type: str
    ) -> Callable[[FileConversionHandler], FileConversionHandler]: ...

    @overload
    def on(
        self: On[imggo.ImgGoEvent], event_type: Literal["job.completed"]
    ) -> Callable[[ImgGoJobCompletedHandler], ImgGoJobCompletedHandler]: ...

    @overload
    def on(
        self: On[imggo.ImgGoEvent], event_type: Literal["job.failed"]
    ) -> Callable[[ImgGoJobFailedHandler], ImgGoJobFailedHandler]: ...

    @overload
    def on(
        self: On[imggo.ImgGoEvent], event_type: Literal["job.queued"]
    ) -> Callable[[ImgGoJobQueuedHandler], ImgGoJobQueuedHandler]: ...

    @overload
    def on(
        self: On[imggo.ImgGoEvent], event_type: str
    ) -> Callable[[ImgGoHandler], ImgGoHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: Literal["job.completed"]
    ) -> Callable[[DocExtractJobCompletedHandler], DocExtractJobCompletedHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: Literal["job.failed"]
    ) -> Callable[[DocExtractJobFailedHandler], DocExtractJobFailedHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: Literal["credits.low_balance"]
    ) -> Callable[[DocExtractCreditsLowBalanceHandler], DocExtractCreditsLowBalanceHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: Literal["credits.depleted"]
    ) -> Callable[[DocExtractCreditsDepletedHandler], DocExtractCreditsDepletedHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: Literal["webhook.test"]
    ) -> Callable[[DocExtractWebhookTestHandler], DocExtractWebhookTestHandler]: ...

    @overload
    def on(
        self: On[docextract.DocExtractEvent], event_type: str
    ) -> Callable[[DocExtractHandler], DocExtractHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: Literal["job.created"]
    ) -> Callable[[PulseJobCreatedHandler], PulseJobCreatedHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: Literal["job.processing"]
    ) -> Callable[[PulseJobProcessingHandler], PulseJobProcessingHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: Literal["job.completed"]
    ) -> Callable[[PulseJobCompletedHandler], PulseJobCompletedHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: Literal["job.failed"]
    ) -> Callable[[PulseJobFailedHandler], PulseJobFailedHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: Literal["job.cancelled"]
    ) -> Callable[[PulseJobCancelledHandler], PulseJobCancelledHandler]: ...

    @overload
    def on(
        self: On[pulse.PulseEvent], event_type: str
    ) -> Callable[[PulseHandler], PulseHandler]: ...

    @overload
    def on(self, event_type: str) -> Callable[[AnyHandler], AnyHandler]: ...

    def on(self, event_type: str) -> Callable[[AnyHandler], AnyHandler]:
        """Register a handler for one event type; it receives exactly that type's model.

        Type checkers know which model that is for the built-in providers, from the event type
        string. An event type the provider does not document raises `ValueError`: register
        event types the library does not model yet with `on_unknown`.
        """
        if event_type not in self.provider.event_types:
            known = ", ".join(self.provider.event_types)
            raise ValueError(
                f"{self.provider.title} has no {event_type!r} event; known: {known}. "
                "Use on_unknown for event types the library does not model yet."
            )

        def register(handler: AnyHandler) -> AnyHandler:
            self._handlers.setdefault(event_type, []).append(handler)
            return handler

        return register
