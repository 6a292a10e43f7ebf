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


class LoginThrottled(errors.RateLimited):
    """Too many failed logins for a user name or a client address."""

    code = "too_many_attempts"
    retry_after_seconds: int


class InvalidRole(errors.InvalidArgument):
    code = "invalid_role"


class InvalidUsername(errors.InvalidArgument):
    code = "invalid_username"


class InvalidPassword(errors.InvalidArgument):
    """Initial password missing, of the wrong length, or given for an existing user."""

    code = "invalid_password"


class InvalidAuditFilter(errors.InvalidArgument):
    code = "invalid_audit_filter"


class NotProjectOwner(errors.AccessDenied):
    """Member management by a member of the project who is not its owner."""

    code = "owner_required"


class MemberNotFound(errors.NotFound):
    code = "member_not_found"


class MemberAlreadyExists(errors.AlreadyExists):
    code = "member_exists"


class LastOwner(errors.FailedPrecondition):
    """Demotion or removal that would leave a project without an owner."""

    code = "last_owner"
