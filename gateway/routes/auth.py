"""Login, logout and the current session."""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from gateway.routes.common import clients_of, timeout_of
from gateway.security import SessionDep, gateway_metadata, settings_of
from gen.auth.v1 import auth_pb2

router = APIRouter(tags=["auth"])


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


@router.post("/auth/login")
async def login(
    body: LoginBody, request: Request, response: Response
) -> dict[str, Any]:
    """Check credentials, set the session and CSRF cookies and return the CSRF token."""
    result = await clients_of(request).auth.Login(
        auth_pb2.LoginRequest(
            username=body.username,
            password=body.password,
            client_address=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", "")[:300],
        ),
        metadata=gateway_metadata(request),
        timeout=timeout_of(request),
    )
    set_session_cookies(request, response, result.session_token, result.csrf_token)
    return {
        "user": {"id": result.user.id, "username": result.user.username},
        "csrf_token": result.csrf_token,
        "expires_at": result.expires_at.ToJsonString(),
    }


@router.get("/auth/me")
async def me(session: SessionDep) -> dict[str, Any]:
    """Return the session's user, active project, role and a fresh CSRF token."""
    return {
        "user": {"id": session.user_id, "username": session.username},
        "active_project_id": session.active_project_id or None,
        "role": session.role or None,
        "csrf_token": session.csrf_token,
        "expires_at": session.expires_at,
    }


@router.post("/auth/logout")
async def logout(
    session: SessionDep, request: Request, response: Response
) -> dict[str, Any]:
    """Revoke the session at once and clear its cookies."""
    await clients_of(request).auth.Logout(
        auth_pb2.LogoutRequest(session_token=session.token),
        metadata=gateway_metadata(request),
        timeout=timeout_of(request),
    )
    settings = settings_of(request)
    response.delete_cookie(
        settings.session_cookie, path="/", secure=settings.secure_cookies
    )
    response.delete_cookie(
        settings.csrf_cookie, path="/", secure=settings.secure_cookies
    )
    return {"logged_out": True}


def set_session_cookies(
    request: Request, response: Response, session: str, csrf: str
) -> None:
    """Set the HttpOnly session cookie and the script-readable CSRF cookie."""
    settings = settings_of(request)
    common: dict[str, Any] = {
        "path": "/",
        "secure": settings.secure_cookies,
        "samesite": "lax",
    }
    response.set_cookie(settings.session_cookie, session, httponly=True, **common)
    response.set_cookie(settings.csrf_cookie, csrf, httponly=False, **common)
