"""Users' ratings of query runs."""

import uuid

import asyncpg

from services.common.errors import AccessDenied
from services.common.internal_auth import Principal
from services.common.text import strip_nul
from services.rag import repository
from services.rag.errors import InvalidFeedback, QueryRunNotFound

MIN_RATING = 1
MAX_RATING = 5
MAX_COMMENT_CHARS = 2000


async def submit_feedback(
    pool: asyncpg.Pool,
    caller: Principal,
    *,
    query_run_id: str,
    rating: int,
    comment: str,
) -> repository.QueryFeedback:
    """Store the caller's rating of a query run of the caller's project.

    A second rating of the same run by the same user replaces the first.
    Raises QueryRunNotFound for an unknown id or a run of another project,
    and InvalidFeedback for a rating outside 1 to 5 or an overlong comment.
    """
    project_id = caller.require_project()
    if not caller.user_id:
        raise AccessDenied("feedback needs a user caller", code="forbidden")
    if not MIN_RATING <= rating <= MAX_RATING:
        raise InvalidFeedback(
            f"rating must be between {MIN_RATING} and {MAX_RATING}, got {rating}"
        )
    # Postgres text cannot hold NUL.
    comment = strip_nul(comment)
    if len(comment) > MAX_COMMENT_CHARS:
        raise InvalidFeedback(
            f"comment is {len(comment)} characters, over the maximum of"
            f" {MAX_COMMENT_CHARS}"
        )
    try:
        run_id = uuid.UUID(query_run_id)
    except ValueError as exc:
        raise QueryRunNotFound(f"query run {query_run_id!r} not found") from exc
    async with pool.acquire() as conn:
        stored = await repository.upsert_query_feedback(
            conn,
            project_id=project_id,
            query_run_id=run_id,
            user_id=caller.user_id,
            rating=rating,
            comment=comment,
        )
    if stored is None:
        raise QueryRunNotFound(f"query run {query_run_id} not found in this project")
    return stored
