"""Domain errors of the auth service, each with a stable machine code."""

from services.common import errors


class InvalidCredentials(errors.NotAuthenticated):
    """Wrong password, unknown user or disabled user, all reported alike."""

    code = "invalid_credentials"


class SessionNotFound(errors.NotAuthenticated):
    """Unknown, revoked or expired session token."""

    code = "session_invalid"


class UserNotActive(errors.NotAuthenticated):
    """User of a valid internal token who was deleted or disabled since."""

    code = "user_inactive"


class ProjectNotFound(errors.NotFound):
    """Unknown project, or one the user is not a member of, reported alike."""

    code = "project_not_found"


class InvalidProjectName(errors.InvalidArgument):
    code = "invalid_project_name"


class CallerNotAllowed(errors.AccessDenied):
    """Call from the wrong kind of principal, such as a user calling Login."""

    code = "caller_not_allowed"
