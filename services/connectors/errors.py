"""Domain errors of the connectors service."""

from services.common import errors


class ConnectorError(errors.DomainError):
    """Base of the connectors service's own errors."""


class ConnectorNotFound(errors.NotFound):
    code = "connector_not_found"


class SyncRunNotFound(errors.NotFound):
    code = "run_not_found"


class ConnectorNotConfigured(errors.FailedPrecondition):
    code = "connector_not_configured"


class InvalidSyncRequest(errors.InvalidArgument):
    code = "invalid_sync_request"


class InvalidExternalId(errors.InvalidArgument):
    code = "invalid_external_id"


class SourceError(ConnectorError):
    """A source system rejected a request or returned an unusable response."""

    code = "source_error"
    kind = "transient"


class SourceAuthenticationFailed(SourceError):
    code = "source_authentication_failed"
    kind = "authentication"


class SourceRateLimited(SourceError):
    code = "source_rate_limited"
    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SourceUnavailable(SourceError):
    code = "source_unavailable"
    kind = "transient"
    retryable = True


class SourceResponseInvalid(SourceError):
    code = "source_response_invalid"
    kind = "invalid_response"
    retryable = True


class SourceRecordNotFound(SourceError):
    code = "source_record_not_found"
    kind = "not_found"


class SourceRecordMissing(errors.NotFound):
    code = "record_not_found"


class ConnectorErrorNotFound(errors.NotFound):
    code = "connector_error_not_found"
