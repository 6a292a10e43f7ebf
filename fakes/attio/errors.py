"""Attio's error envelope: `{status_code, type, code, message}` on every error."""

from fakes.attio.values import JsonObject


class AttioError(Exception):
    """An error that the API sends as Attio's JSON error envelope."""

    def __init__(self, status_code: int, error_type: str, code: str, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.code = code
        self.message = message

    def body(self) -> JsonObject:
        """Return the JSON body of the error."""
        return {
            "status_code": self.status_code,
            "type": self.error_type,
            "code": self.code,
            "message": self.message,
        }


def filter_error(message: str) -> AttioError:
    """Return the 400 that `records/query` sends for a filter it cannot apply."""
    return AttioError(400, "invalid_request_error", "filter_error", message)


def validation_error(message: str) -> AttioError:
    """Return the 400 for a request body or parameter of the wrong type."""
    return AttioError(400, "invalid_request_error", "validation_type", message)


def not_found(message: str) -> AttioError:
    """Return the 404 for an unknown object, record, attribute or member."""
    return AttioError(404, "invalid_request_error", "not_found", message)
