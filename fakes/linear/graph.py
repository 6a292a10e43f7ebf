"""Store records as GraphQL objects, and the resolver that serves them.

`GraphView` turns records into dicts keyed by schema field names. Links to
other records are zero-argument callables, and connection fields are
callables that return every related node, so nothing is built unless a query
selects it. `resolve_field` is the one field resolver graphql-core calls:
it reads the dict, calls link callables, pages connections, and gives a
schema-typed empty value (false, 0, "", [] or {}) for non-null fields the fake
does not model, so any valid selection executes.
"""

import re
from typing import Any, TypeVar

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    get_named_type,
)

from fakes.linear.connections import SORT_TIMES, JsonObject, paginate
from fakes.linear.errors import not_found_error
from fakes.linear.models import (
    PRIORITY_LABELS,
    Comment,
    Cycle,
    Issue,
    IssueLabel,
    Project,
    ProjectStatus,
    Team,
    User,
    WorkflowState,
    format_optional_time,
    format_time,
)
from fakes.linear.store import LinearStore

# Web links in the data point at Linear's app, as real records do; the fake
# never requests them.
WEB_URL = "https://linear.app"
EMPTY_SCALARS: dict[str, Any] = {
    "Boolean": False,
    "Int": 0,
    "Float": 0.0,
    "String": "",
    "ID": "",
    "JSON": {},
    "JSONObject": {},
    "TimelessDate": "1970-01-01",
    "DateTime": "1970-01-01T00:00:00.000Z",
}
R = TypeVar("R")


def slugify(text: str, max_length: int = 60) -> str:
    """Return the lower-case, dash-separated form of text used in Linear URLs."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def _times(record: Any) -> dict[str, int]:
    return {"createdAt": record.created_at, "updatedAt": record.updated_at}


def _node(record: Any) -> JsonObject:
    """Return the fields every Linear Node type shares."""
    return {
        "id": record.id,
        "createdAt": format_time(record.created_at),
        "updatedAt": format_time(record.updated_at),
        "archivedAt": format_optional_time(getattr(record, "archived_at", None)),
        SORT_TIMES: _times(record),
    }


class GraphView:
    """GraphQL objects of one store, built at one moment for one request."""

    def __init__(self, store: LinearStore) -> None:
        self.store = store
        self.now_ms = store.now_ms()
        self.org = store.organization
        self.org_url = f"{WEB_URL}/{self.org.url_key}"

    # Root fields

    def root(self) -> JsonObject:
        """Return the root value: the Query fields the fake implements."""
        store = self.store
        return {
            "issues": lambda: [self.issue(i) for i in store.issues()],
            "cycles": lambda: [self.cycle(c) for c in store.cycles()],
            "projects": lambda: [self.project(p) for p in store.projects()],
            "teams": lambda: [self.team(t) for t in store.teams()],
            "issueLabels": lambda: [self.label(x) for x in store.labels()],
            "workflowStates": lambda: [self.state(s) for s in store.states()],
            "users": lambda: [self.user(u) for u in store.users()],
            "comments": lambda: [self.comment(c) for c in store.comments()],
            "issue": lambda id: self.issue(self._found("Issue", store.find_issue(id))),
            "team": lambda id: self.team(self._found("Team", store.get_team(id))),
            "project": lambda id: self.project(
                self._found("Project", store.get_project(id))
            ),
            "cycle": lambda id: self.cycle(self._found("Cycle", store.get_cycle(id))),
            "user": lambda id: self.user(self._found("User", store.get_user(id))),
            "workflowState": lambda id: self.state(
                self._found("WorkflowState", store.get_state(id))
            ),
            "issueLabel": lambda id: self.label(
                self._found("IssueLabel", store.get_label(id))
            ),
            "comment": lambda id=None, hash=None: self.comment(
                self._found("Comment", store.get_comment(id or ""))
            ),
            "viewer": lambda: self.user(self._found("User", self._viewer())),
            "organization": self.organization,
        }

    @staticmethod
    def _found(type_name: str, record: R | None) -> R:
        if record is None:
            raise not_found_error(type_name)
        return record

    def _viewer(self) -> User | None:
        users = sorted(self.store.users(), key=lambda u: (not u.admin, u.created_at))
        return users[0] if users else None

    # Types

    def organization(self) -> JsonObject:
        """Return the workspace's Organization object."""
        org = self.org
        store = self.store
        return {
            "id": org.id,
            "name": org.name,
            "urlKey": org.url_key,
            "createdAt": format_time(org.created_at),
            "updatedAt": format_time(org.created_at),
            "archivedAt": None,
            "userCount": len(store.users()),
            "createdIssueCount": len(store.issues()),
            "projectStatuses": [
                self.project_status(s) for s in store.project_statuses()
            ],
            "teams": lambda: [self.team(t) for t in store.teams()],
            "users": lambda: [self.user(u) for u in store.users()],
            "labels": lambda: [self.label(x) for x in store.labels()],
            SORT_TIMES: {"createdAt": org.created_at, "updatedAt": org.created_at},
        }

    def team(self, team: Team) -> JsonObject:
        """Return a Team object."""
        store = self.store
        issues = [i for i in store.issues() if i.team_id == team.id]

        def issue_count(includeArchived: bool = False) -> int:  # noqa: N803
            return sum(1 for i in issues if includeArchived or i.archived_at is None)

        return {
            **_node(team),
            "key": team.key,
            "name": team.name,
            "displayName": team.name,
            "description": team.description,
            "color": team.color,
            "icon": team.icon,
            "timezone": team.timezone,
            "private": team.private,
            "cyclesEnabled": team.cycles_enabled,
            "autoArchivePeriod": team.auto_archive_period_months,
            "issueCount": issue_count,
            "organization": self.organization,
            "states": lambda: [self.state(s) for s in store.states(team.id)],
            "issues": lambda: [self.issue(i) for i in issues],
            "cycles": lambda: [
                self.cycle(c) for c in store.cycles() if c.team_id == team.id
            ],
            "activeCycle": lambda: next(
                (
                    self.cycle(c)
                    for c in store.cycles()
                    if c.team_id == team.id and self._cycle_is_active(c)
                ),
                None,
            ),
            "labels": lambda: [
                self.label(x) for x in store.labels() if x.team_id == team.id
            ],
            "members": lambda: [self.user(u) for u in store.users()],
            "projects": lambda: [
                self.project(p) for p in store.projects() if team.id in p.team_ids
            ],
            "defaultIssueState": lambda: self.state(
                store.team_state(team.id, "unstarted")
            ),
            "parent": None,
            "children": [],
            "ancestors": [],
        }

    def state(self, state: WorkflowState) -> JsonObject:
        """Return a WorkflowState object."""
        store = self.store
        return {
            **_node(state),
            "name": state.name,
            "type": state.type,
            "color": state.color,
            "position": state.position,
            "description": state.description,
            "team": lambda: self.team(
                self._found("Team", store.get_team(state.team_id))
            ),
            "issues": lambda: [
                self.issue(i) for i in store.issues() if i.state_id == state.id
            ],
        }

    def user(self, user: User) -> JsonObject:
        """Return a User object."""
        store = self.store
        initials = "".join(part[0] for part in user.name.split()[:2]).upper()
        return {
            **_node(user),
            "name": user.name,
            "displayName": user.display_name,
            "email": user.email,
            "active": user.active,
            "admin": user.admin,
            "guest": user.guest,
            "app": False,
            "owner": user.admin,
            "isMe": lambda: user is self._viewer(),
            "isAssignable": user.active,
            "isMentionable": user.active,
            "avatarUrl": user.avatar_url,
            "avatarBackgroundColor": "#5e6ad2",
            "initials": initials or "?",
            "timezone": user.timezone,
            "url": f"{self.org_url}/profiles/{user.display_name}",
            "organization": self.organization,
            "createdIssueCount": lambda: sum(
                1 for i in store.issues() if i.creator_id == user.id
            ),
            "assignedIssues": lambda: [
                self.issue(i) for i in store.issues() if i.assignee_id == user.id
            ],
            "createdIssues": lambda: [
                self.issue(i) for i in store.issues() if i.creator_id == user.id
            ],
            "teams": lambda: [self.team(t) for t in store.teams()],
        }

    def project_status(self, status: ProjectStatus) -> JsonObject:
        """Return a ProjectStatus object."""
        return {
            **_node(status),
            "name": status.name,
            "type": status.type,
            "color": status.color,
            "position": status.position,
            "description": None,
            "indefinite": status.type in ("backlog", "paused"),
        }

    def project(self, project: Project) -> JsonObject:
        """Return a Project object; progress is the share of its issues completed."""
        store = self.store
        issues = [i for i in store.issues() if i.project_id == project.id]
        status = self._found(
            "ProjectStatus", store.get_project_status(project.status_id)
        )
        return {
            **_node(project),
            "autoArchivedAt": format_optional_time(project.auto_archived_at),
            "name": project.name,
            "description": project.description,
            "content": project.content,
            "slugId": project.slug_id,
            "url": f"{self.org_url}/project/{slugify(project.name)}-{project.slug_id}",
            "color": project.color,
            "icon": project.icon,
            "priority": project.priority,
            "priorityLabel": PRIORITY_LABELS[project.priority],
            "progress": self._completed_share(issues),
            "scope": float(len(issues)),
            "state": status.type,
            "status": self.project_status(status),
            "startDate": project.start_date,
            "targetDate": project.target_date,
            "startedAt": format_optional_time(project.started_at),
            "completedAt": format_optional_time(project.completed_at),
            "canceledAt": format_optional_time(project.canceled_at),
            "trashed": project.trashed,
            "labelIds": [],
            "lead": lambda: self._optional_user(project.lead_id),
            "creator": lambda: self._optional_user(project.creator_id),
            "teams": lambda: [
                self.team(t) for t in store.teams() if t.id in project.team_ids
            ],
            "members": lambda: [
                self.user(u) for u in store.users() if u.id in project.member_ids
            ],
            "issues": lambda: [self.issue(i) for i in issues],
        }

    def cycle(self, cycle: Cycle) -> JsonObject:
        """Return a Cycle object; progress is the share of its issues completed."""
        store = self.store
        issues = [i for i in store.issues() if i.cycle_id == cycle.id]
        team_cycles = sorted(
            (c for c in store.cycles() if c.team_id == cycle.team_id),
            key=lambda c: c.number,
        )
        active_numbers = [c.number for c in team_cycles if self._cycle_is_active(c)]
        active_number = active_numbers[0] if active_numbers else None
        return {
            **_node(cycle),
            "autoArchivedAt": format_optional_time(cycle.auto_archived_at),
            "number": float(cycle.number),
            "name": cycle.name,
            "description": cycle.description,
            "startsAt": format_time(cycle.starts_at),
            "endsAt": format_time(cycle.ends_at),
            "completedAt": format_optional_time(cycle.completed_at),
            "progress": self._completed_share(issues),
            "isActive": self._cycle_is_active(cycle),
            "isFuture": cycle.starts_at > self.now_ms,
            "isPast": cycle.ends_at <= self.now_ms,
            "isNext": active_number is not None and cycle.number == active_number + 1,
            "isPrevious": active_number is not None
            and cycle.number == active_number - 1,
            "team": lambda: self.team(
                self._found("Team", store.get_team(cycle.team_id))
            ),
            "issues": lambda: [self.issue(i) for i in issues],
        }

    def label(self, label: IssueLabel) -> JsonObject:
        """Return an IssueLabel object."""
        store = self.store
        return {
            **_node(label),
            "name": label.name,
            "color": label.color,
            "description": label.description,
            "isGroup": label.is_group,
            "team": lambda: self._optional_team(label.team_id),
            "parent": lambda: self._optional_label(label.parent_id),
            "creator": lambda: self._optional_user(label.creator_id),
            "children": lambda: [
                self.label(x) for x in store.labels() if x.parent_id == label.id
            ],
            "issues": lambda: [
                self.issue(i) for i in store.issues() if label.id in i.label_ids
            ],
        }

    def issue(self, issue: Issue) -> JsonObject:
        """Return an Issue object with the fields of Linear's Issue type."""
        store = self.store
        team = self._found("Team", store.get_team(issue.team_id))
        identifier = f"{team.key}-{issue.number}"
        slug = slugify(issue.title)
        return {
            **_node(issue),
            "identifier": identifier,
            "number": float(issue.number),
            "title": issue.title,
            "description": issue.description,
            "url": f"{self.org_url}/issue/{identifier}/{slug}",
            "branchName": f"{identifier.lower()}-{slug}"[:80].rstrip("-"),
            "priority": float(issue.priority),
            "priorityLabel": PRIORITY_LABELS[issue.priority],
            "prioritySortOrder": float(issue.priority or 5),
            "estimate": issue.estimate,
            "dueDate": issue.due_date,
            "sortOrder": issue.sort_order,
            "startedAt": format_optional_time(issue.started_at),
            "completedAt": format_optional_time(issue.completed_at),
            "canceledAt": format_optional_time(issue.canceled_at),
            "autoArchivedAt": format_optional_time(issue.auto_archived_at),
            "autoClosedAt": format_optional_time(issue.auto_closed_at),
            "trashed": issue.trashed,
            "labelIds": list(issue.label_ids),
            "previousIdentifiers": [],
            "customerTicketCount": 0,
            "state": lambda: self.state(
                self._found("WorkflowState", store.get_state(issue.state_id))
            ),
            "team": lambda: self.team(team),
            "assignee": lambda: self._optional_user(issue.assignee_id),
            "creator": lambda: self._optional_user(issue.creator_id),
            "project": lambda: self._optional_project(issue.project_id),
            "cycle": lambda: self._optional_cycle(issue.cycle_id),
            "parent": lambda: self._optional_issue(issue.parent_id),
            "labels": lambda: [
                self.label(x)
                for label_id in issue.label_ids
                if (x := store.get_label(label_id)) is not None
            ],
            "comments": lambda: [self.comment(c) for c in store.comments(issue.id)],
            "children": lambda: [
                self.issue(i) for i in store.issues() if i.parent_id == issue.id
            ],
        }

    def comment(self, comment: Comment) -> JsonObject:
        """Return a Comment object."""
        store = self.store
        issue = self._found("Issue", store.get_issue(comment.issue_id))
        identifier = store.identifier(issue)
        return {
            **_node(comment),
            "body": comment.body,
            "editedAt": format_optional_time(comment.edited_at),
            "issueId": comment.issue_id,
            "parentId": comment.parent_id,
            "url": f"{self.org_url}/issue/{identifier}#comment-{comment.id[:8]}",
            "user": lambda: self._optional_user(comment.user_id),
            "issue": lambda: self.issue(issue),
            "parent": lambda: self._optional_comment(comment.parent_id),
            "children": lambda: [
                self.comment(c)
                for c in store.comments(comment.issue_id)
                if c.parent_id == comment.id
            ],
        }

    # Helpers

    def _team_of(self, team_id: str) -> JsonObject:
        return self.team(self._found("Team", self.store.get_team(team_id)))

    def _optional_user(self, user_id: str | None) -> JsonObject | None:
        user = self.store.get_user(user_id) if user_id else None
        return self.user(user) if user else None

    def _optional_team(self, team_id: str | None) -> JsonObject | None:
        team = self.store.get_team(team_id) if team_id else None
        return self.team(team) if team else None

    def _optional_label(self, label_id: str | None) -> JsonObject | None:
        label = self.store.get_label(label_id) if label_id else None
        return self.label(label) if label else None

    def _optional_project(self, project_id: str | None) -> JsonObject | None:
        project = self.store.get_project(project_id) if project_id else None
        return self.project(project) if project else None

    def _optional_cycle(self, cycle_id: str | None) -> JsonObject | None:
        cycle = self.store.get_cycle(cycle_id) if cycle_id else None
        return self.cycle(cycle) if cycle else None

    def _optional_issue(self, issue_id: str | None) -> JsonObject | None:
        issue = self.store.get_issue(issue_id) if issue_id else None
        return self.issue(issue) if issue else None

    def _optional_comment(self, comment_id: str | None) -> JsonObject | None:
        comment = self.store.get_comment(comment_id) if comment_id else None
        return self.comment(comment) if comment else None

    def _cycle_is_active(self, cycle: Cycle) -> bool:
        return (
            cycle.completed_at is None
            and cycle.starts_at <= self.now_ms < cycle.ends_at
        )

    def _completed_share(self, issues: list[Issue]) -> float:
        if not issues:
            return 0.0
        states = {s.id: s.type for s in self.store.states()}
        done = sum(1 for i in issues if states.get(i.state_id) == "completed")
        return done / len(issues)


def resolve_field(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    """Resolve one field from the GraphQL object dicts GraphView builds."""
    name = info.field_name
    is_root = info.path.prev is None
    if not isinstance(source, dict) or name not in source:
        if is_root:
            raise GraphQLError(
                f"The fake Linear API does not implement"
                f" {info.parent_type.name}.{name}. It implements the Query fields"
                f" {', '.join(sorted(source))}."
            )
        return empty_value(info.return_type)
    value = source[name]
    connection = _is_connection(info.return_type)
    if callable(value):
        value = value() if connection else value(**args)
    if connection and isinstance(value, list):
        view: GraphView = info.context
        return paginate(value, args, view.now_ms)
    return value


def empty_value(field_type: GraphQLOutputType) -> Any:
    """Return the value the fake gives for a field it does not model."""
    if not isinstance(field_type, GraphQLNonNull):
        return None
    inner = field_type.of_type
    if isinstance(inner, GraphQLList):
        return []
    if isinstance(inner, GraphQLScalarType):
        return EMPTY_SCALARS.get(inner.name, "")
    if isinstance(inner, GraphQLEnumType):
        return next(iter(inner.values))
    if _is_connection(inner):
        return paginate([], {}, 0)
    return {}


def _is_connection(field_type: GraphQLOutputType) -> bool:
    named = get_named_type(field_type)
    return (
        isinstance(named, GraphQLObjectType)
        and named.name.endswith("Connection")
        and "pageInfo" in named.fields
    )
