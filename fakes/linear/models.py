"""Records of the fake Linear workspace, one dataclass per GraphQL type served.

Times are integer milliseconds since the unix epoch, in UTC, because Linear
sends `DateTime` values with millisecond precision. `fakes.linear.graph`
turns the records into the camelCase objects of Linear's GraphQL schema.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

# Linear's `Issue.priority` numbers and their `priorityLabel` texts.
PRIORITY_LABELS = {0: "No priority", 1: "Urgent", 2: "High", 3: "Medium", 4: "Low"}
# `WorkflowState.type` values, in Linear's board order. Linear's schema documents
# the first five; "triage" occurs in workspaces with triage enabled.
STATE_TYPES = ("triage", "backlog", "unstarted", "started", "completed", "canceled")
# `ProjectStatusType` enum values of the schema.
PROJECT_STATUS_TYPES = (
    "backlog",
    "planned",
    "started",
    "paused",
    "completed",
    "canceled",
)


def format_time(ms: int) -> str:
    """Format epoch milliseconds like Linear, for example 2026-01-05T09:00:00.123Z."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def format_optional_time(ms: int | None) -> str | None:
    """Format epoch milliseconds like format_time, passing None through."""
    return None if ms is None else format_time(ms)


def parse_time(text: str) -> int:
    """Parse an ISO 8601 date-time into epoch milliseconds; naive times are UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


@dataclass
class Organization:
    """The workspace that owns every other record."""

    id: str
    name: str
    url_key: str
    created_at: int


@dataclass
class Team:
    """A team, whose key prefixes the identifiers of its issues (ENG-123)."""

    id: str
    key: str
    name: str
    created_at: int
    updated_at: int
    description: str | None = None
    color: str = "#5e6ad2"
    icon: str | None = None
    timezone: str = "Etc/UTC"
    cycles_enabled: bool = False
    auto_archive_period_months: float = 6.0
    archived_at: int | None = None
    private: bool = False


@dataclass
class WorkflowState:
    """A column of a team's board; `type` is one of STATE_TYPES."""

    id: str
    team_id: str
    name: str
    type: str
    color: str
    position: float
    created_at: int
    updated_at: int
    description: str | None = None
    archived_at: int | None = None


@dataclass
class User:
    """A workspace member."""

    id: str
    name: str
    display_name: str
    email: str
    created_at: int
    updated_at: int
    active: bool = True
    admin: bool = False
    guest: bool = False
    timezone: str | None = None
    avatar_url: str | None = None
    archived_at: int | None = None


@dataclass
class ProjectStatus:
    """A workspace-wide project status; `type` is one of PROJECT_STATUS_TYPES."""

    id: str
    name: str
    type: str
    color: str
    position: float
    created_at: int
    updated_at: int


@dataclass
class Project:
    """A project that can span several teams."""

    id: str
    name: str
    slug_id: str
    status_id: str
    created_at: int
    updated_at: int
    description: str = ""
    content: str | None = None
    color: str = "#bec2c8"
    icon: str | None = None
    priority: int = 0
    team_ids: list[str] = field(default_factory=list)
    lead_id: str | None = None
    creator_id: str | None = None
    member_ids: list[str] = field(default_factory=list)
    # TimelessDate values, "YYYY-MM-DD".
    start_date: str | None = None
    target_date: str | None = None
    started_at: int | None = None
    completed_at: int | None = None
    canceled_at: int | None = None
    archived_at: int | None = None
    auto_archived_at: int | None = None
    trashed: bool | None = None


@dataclass
class Cycle:
    """A team's time-boxed iteration, numbered from 1 within the team."""

    id: str
    team_id: str
    number: int
    starts_at: int
    ends_at: int
    created_at: int
    updated_at: int
    name: str | None = None
    description: str | None = None
    completed_at: int | None = None
    archived_at: int | None = None
    auto_archived_at: int | None = None


@dataclass
class IssueLabel:
    """A label; team_id None makes it a workspace label."""

    id: str
    name: str
    color: str
    created_at: int
    updated_at: int
    team_id: str | None = None
    description: str | None = None
    parent_id: str | None = None
    is_group: bool = False
    creator_id: str | None = None
    archived_at: int | None = None


@dataclass
class Issue:
    """An issue; its identifier is the team key and number, such as ENG-123."""

    id: str
    team_id: str
    number: int
    title: str
    state_id: str
    created_at: int
    updated_at: int
    description: str | None = None
    priority: int = 0
    estimate: float | None = None
    # TimelessDate, "YYYY-MM-DD".
    due_date: str | None = None
    assignee_id: str | None = None
    creator_id: str | None = None
    project_id: str | None = None
    cycle_id: str | None = None
    parent_id: str | None = None
    label_ids: list[str] = field(default_factory=list)
    sort_order: float = 0.0
    started_at: int | None = None
    completed_at: int | None = None
    canceled_at: int | None = None
    archived_at: int | None = None
    auto_archived_at: int | None = None
    auto_closed_at: int | None = None
    # Linear sends null, not false, for issues that were never trashed.
    trashed: bool | None = None


@dataclass
class Comment:
    """A comment on an issue, optionally a reply to another comment."""

    id: str
    issue_id: str
    body: str
    created_at: int
    updated_at: int
    user_id: str | None = None
    parent_id: str | None = None
    edited_at: int | None = None
    archived_at: int | None = None
