"""Domain error kinds shared by every service.

Domain modules raise subclasses of these and know nothing of gRPC or HTTP; the
server interceptor in `grpc_server.py` maps each kind to one gRPC status code
and puts the subclass's `code` into `google.rpc.ErrorInfo.reason`.
"""


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "internal"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"


class AlreadyExists(DomainError):
    code = "already_exists"


class InvalidArgument(DomainError):
    code = "invalid_argument"


class FailedPrecondition(DomainError):
    code = "failed_precondition"


class Aborted(DomainError):
    code = "aborted"
    retryable = True


class NotAuthenticated(DomainError):
    code = "not_authenticated"


class AccessDenied(DomainError):
    code = "access_denied"


class RateLimited(DomainError):
    code = "rate_limited"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message, code=code)
        # When set, the status carries a RetryInfo with this delay.
        self.retry_after_seconds = retry_after_seconds


class Unavailable(DomainError):
    code = "unavailable"
    retryable = True


class DeadlineExceeded(DomainError):
    code = "deadline_exceeded"
    retryable = True
