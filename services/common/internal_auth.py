"""Signed internal tokens that every gRPC call carries.

The gateway issues a short-lived HS256 JWT per call naming the user, their
role, the active project and the request id; services issue one naming
themselves when they call each other. Each service checks it in its server
interceptor and exposes the result through `current_principal()`.
"""

import contextvars
import time
import uuid
from dataclasses import dataclass

import jwt

from services.common.errors import AccessDenied, FailedPrecondition, NotAuthenticated

AUDIENCE = "opsdesk-internal"
ALGORITHM = "HS256"
ROLE_RANK = {"viewer": 0, "member": 1, "admin": 2, "owner": 3, "service": 4}


@dataclass(frozen=True)
class Principal:
    """The caller of an RPC: a user acting in a project, or a service."""

    subject: str
    kind: str  # "user" or "service"
    role: str = ""
    project_id: str = ""
    request_id: str = ""

    @property
    def user_id(self) -> str:
        return self.subject if self.kind == "user" else ""

    def require_project(self) -> str:
        """Return the project id, or raise when the call names none."""
        if not self.project_id:
            raise FailedPrecondition(
                "this call needs an active project", code="active_project_required"
            )
        return self.project_id

    def require_role(self, minimum: str) -> None:
        """Raise AccessDenied unless the principal's role is at least minimum."""
        if ROLE_RANK.get(self.role, -1) < ROLE_RANK[minimum]:
            raise AccessDenied(
                f"this action needs the {minimum} role", code="forbidden"
            )


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "principal", default=None
)


def current_principal() -> Principal:
    """Return the principal of the call being served."""
    principal = _principal.get()
    if principal is None:
        raise NotAuthenticated("no verified caller for this call")
    return principal


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def issue_token(principal: Principal, secret: str, *, ttl_seconds: int = 60) -> str:
    """Sign a token for principal that expires after ttl_seconds."""
    now = int(time.time())
    claims = {
        "sub": principal.subject,
        "kind": principal.kind,
        "role": principal.role,
        "project_id": principal.project_id,
        "request_id": principal.request_id or str(uuid.uuid4()),
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_token(token: str, secret: str) -> Principal:
    """Check the signature, audience and expiry of token and return its principal."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise NotAuthenticated("internal token expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise NotAuthenticated("internal token invalid", code="token_invalid") from exc
    return Principal(
        subject=str(claims["sub"]),
        kind=str(claims.get("kind", "")),
        role=str(claims.get("role", "")),
        project_id=str(claims.get("project_id", "")),
        request_id=str(claims.get("request_id", "")),
    )


def service_principal(
    service: str, project_id: str = "", request_id: str = ""
) -> Principal:
    """Return the identity a service uses when it calls another service."""
    return Principal(
        subject=f"service:{service}",
        kind="service",
        role="service",
        project_id=project_id,
        request_id=request_id,
    )
