"""In-memory data of one fake Linear workspace, changeable while a sync reads it.

Every change to an issue moves its `updated_at` to the store clock's time, and
at least 1 ms past the previous value, so that an `updatedAt > watermark`
query always returns the changed issue. Adding or editing a comment, archiving,
trashing and restoring an issue count as changes to the issue.

Archive rules, as the API applies them: a record with `archived_at` set is
left out of list queries unless they pass `includeArchived: true`. Trashing an
issue sets `trashed` and `archived_at`, so trashed issues are hidden the same
way. `delete_issue` removes an issue and its comments from every result, as
Linear does once the trash retention period ends.

Concurrency: every public method takes `lock`, a reentrant lock. Readers that
walk several records, such as the GraphQL handler, hold `lock` for the whole
query so that a test thread changing data cannot split a response.
"""

import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from fakes.linear.models import (
    PROJECT_STATUS_TYPES,
    STATE_TYPES,
    Comment,
    Cycle,
    Issue,
    IssueLabel,
    Organization,
    Project,
    ProjectStatus,
    Team,
    User,
    WorkflowState,
)

# The workflow every new team starts with: name, type and colour, in board order.
DEFAULT_STATES = (
    ("Backlog", "backlog", "#bec2c8"),
    ("Todo", "unstarted", "#e2e2e2"),
    ("In Progress", "started", "#f2c94c"),
    ("In Review", "started", "#0f783c"),
    ("Done", "completed", "#5e6ad2"),
    ("Canceled", "canceled", "#95a2b3"),
    ("Duplicate", "canceled", "#95a2b3"),
)
DEFAULT_PROJECT_STATUSES = (
    ("Backlog", "backlog", "#bec2c8"),
    ("Planned", "planned", "#e2e2e2"),
    ("In Progress", "started", "#f2c94c"),
    ("Paused", "paused", "#95a2b3"),
    ("Completed", "completed", "#5e6ad2"),
    ("Canceled", "canceled", "#95a2b3"),
)
# Issue fields that update_issue may change.
ISSUE_CHANGEABLE = frozenset(
    {
        "title",
        "description",
        "priority",
        "estimate",
        "due_date",
        "state_id",
        "assignee_id",
        "project_id",
        "cycle_id",
        "parent_id",
        "label_ids",
        "sort_order",
    }
)
CHURN_TITLE_SUFFIX = " (edited)"

T = TypeVar("T")


def new_id() -> str:
    """Return a random UUID string, the form of every Linear id."""
    return str(uuid.uuid4())


class LinearStore:
    """Teams, users, projects, cycles, labels, issues and comments of one workspace."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        organization_name: str = "Fake Workspace",
        url_key: str = "fake",
    ) -> None:
        self.lock = threading.RLock()
        self._clock = clock
        created = self.now_ms()
        self.organization = Organization(new_id(), organization_name, url_key, created)
        self._teams: dict[str, Team] = {}
        self._states: dict[str, WorkflowState] = {}
        self._users: dict[str, User] = {}
        self._project_statuses: dict[str, ProjectStatus] = {}
        self._projects: dict[str, Project] = {}
        self._cycles: dict[str, Cycle] = {}
        self._labels: dict[str, IssueLabel] = {}
        self._issues: dict[str, Issue] = {}
        self._comments: dict[str, Comment] = {}
        for position, (name, status_type, color) in enumerate(DEFAULT_PROJECT_STATUSES):
            status = ProjectStatus(
                new_id(), name, status_type, color, position, created, created
            )
            self._project_statuses[status.id] = status

    def now_ms(self) -> int:
        """Return the store clock's current time in epoch milliseconds."""
        return round(self._clock() * 1000)

    # Creating records

    def add_team(
        self,
        key: str,
        name: str,
        *,
        team_id: str | None = None,
        created_at: int | None = None,
        description: str | None = None,
        cycles_enabled: bool = False,
        states: tuple[tuple[str, str, str], ...] = DEFAULT_STATES,
    ) -> Team:
        """Create a team with the given workflow states (name, type, colour)."""
        with self.lock:
            if any(team.key == key for team in self._teams.values()):
                raise ValueError(f"team key {key!r} already exists")
            created = self._at(created_at)
            team = Team(
                id=team_id or new_id(),
                key=key,
                name=name,
                created_at=created,
                updated_at=created,
                description=description,
                cycles_enabled=cycles_enabled,
            )
            self._insert(self._teams, team.id, team)
            for position, (state_name, state_type, color) in enumerate(states):
                self.add_state(
                    team.id,
                    state_name,
                    state_type,
                    color=color,
                    position=float(position),
                    state_id=str(uuid.uuid5(uuid.UUID(team.id), state_name)),
                    created_at=created,
                )
            return team

    def add_state(
        self,
        team_id: str,
        name: str,
        state_type: str,
        *,
        color: str = "#bec2c8",
        position: float | None = None,
        state_id: str | None = None,
        created_at: int | None = None,
    ) -> WorkflowState:
        """Create a workflow state of a team; state_type is one of STATE_TYPES."""
        with self.lock:
            self._require(self._teams, team_id, "team")
            if state_type not in STATE_TYPES:
                raise ValueError(
                    f"state type {state_type!r} is not one of {STATE_TYPES}"
                )
            created = self._at(created_at)
            if position is None:
                position = float(len(self.states(team_id)))
            state = WorkflowState(
                id=state_id or new_id(),
                team_id=team_id,
                name=name,
                type=state_type,
                color=color,
                position=position,
                created_at=created,
                updated_at=created,
            )
            self._insert(self._states, state.id, state)
            return state

    def add_user(
        self,
        name: str,
        email: str,
        *,
        user_id: str | None = None,
        display_name: str | None = None,
        created_at: int | None = None,
        admin: bool = False,
        active: bool = True,
    ) -> User:
        """Create a user, or raise ValueError when the email is taken."""
        with self.lock:
            if self.find_user_by_email(email) is not None:
                raise ValueError(f"user email {email!r} already exists")
            created = self._at(created_at)
            user = User(
                id=user_id or new_id(),
                name=name,
                display_name=display_name or name.split(" ")[0].lower(),
                email=email,
                created_at=created,
                updated_at=created,
                admin=admin,
                active=active,
            )
            self._insert(self._users, user.id, user)
            return user

    def add_project(
        self,
        name: str,
        *,
        team_ids: list[str],
        status_type: str = "started",
        project_id: str | None = None,
        created_at: int | None = None,
        **fields: object,
    ) -> Project:
        """Create a project in the workspace status of status_type.

        fields sets other Project attributes, such as lead_id, description,
        start_date or target_date.
        """
        with self.lock:
            for team_id in team_ids:
                self._require(self._teams, team_id, "team")
            created = self._at(created_at)
            project_id = project_id or new_id()
            project = Project(
                id=project_id,
                name=name,
                slug_id=project_id.replace("-", "")[:12],
                status_id=self.project_status(status_type).id,
                created_at=created,
                updated_at=created,
                team_ids=list(team_ids),
            )
            project = replace(project, **fields)  # type: ignore[arg-type]
            self._insert(self._projects, project.id, project)
            return project

    def add_cycle(
        self,
        team_id: str,
        starts_at: int,
        ends_at: int,
        *,
        name: str | None = None,
        cycle_id: str | None = None,
        created_at: int | None = None,
        completed_at: int | None = None,
    ) -> Cycle:
        """Create the team's next cycle, numbered after its existing ones."""
        with self.lock:
            team = self._require(self._teams, team_id, "team")
            if ends_at <= starts_at:
                raise ValueError("a cycle must end after it starts")
            number = 1 + max(
                (c.number for c in self._cycles.values() if c.team_id == team_id),
                default=0,
            )
            created = self._at(created_at)
            cycle = Cycle(
                id=cycle_id or new_id(),
                team_id=team_id,
                number=number,
                starts_at=starts_at,
                ends_at=ends_at,
                created_at=created,
                updated_at=created,
                name=name,
                completed_at=completed_at,
            )
            self._insert(self._cycles, cycle.id, cycle)
            team.cycles_enabled = True
            return cycle

    def add_label(
        self,
        name: str,
        *,
        team_id: str | None = None,
        color: str = "#bec2c8",
        label_id: str | None = None,
        created_at: int | None = None,
        description: str | None = None,
    ) -> IssueLabel:
        """Create a label of a team, or a workspace label when team_id is None."""
        with self.lock:
            if team_id is not None:
                self._require(self._teams, team_id, "team")
            created = self._at(created_at)
            label = IssueLabel(
                id=label_id or new_id(),
                name=name,
                color=color,
                created_at=created,
                updated_at=created,
                team_id=team_id,
                description=description,
            )
            self._insert(self._labels, label.id, label)
            return label

    def add_issue(
        self,
        team_id: str,
        title: str,
        *,
        issue_id: str | None = None,
        number: int | None = None,
        state_id: str | None = None,
        created_at: int | None = None,
        updated_at: int | None = None,
        **fields: object,
    ) -> Issue:
        """Create an issue and return it.

        number defaults to the team's next number and state_id to the team's
        first unstarted state. fields sets other Issue attributes, such as
        description, assignee_id, label_ids, completed_at or archived_at.
        Entering a started, completed or canceled state sets startedAt,
        completedAt or canceledAt to the creation time unless fields sets them.
        """
        with self.lock:
            team = self._require(self._teams, team_id, "team")
            if number is None:
                number = 1 + max(
                    (i.number for i in self._issues.values() if i.team_id == team_id),
                    default=0,
                )
            elif self.find_issue(f"{team.key}-{number}") is not None:
                raise ValueError(f"issue {team.key}-{number} already exists")
            state = (
                self._require(self._states, state_id, "workflow state")
                if state_id
                else self.team_state(team_id, "unstarted")
            )
            created = self._at(created_at)
            issue = Issue(
                id=issue_id or new_id(),
                team_id=team_id,
                number=number,
                title=title,
                state_id=state.id,
                created_at=created,
                updated_at=created if updated_at is None else updated_at,
                sort_order=float(-number),
            )
            issue = replace(issue, **fields)  # type: ignore[arg-type]
            self._check_issue_links(issue)
            self._stamp_state_times(issue, state, created, overwrite=False)
            self._insert(self._issues, issue.id, issue)
            return issue

    def add_comment(
        self,
        issue_id: str,
        body: str,
        *,
        user_id: str | None = None,
        comment_id: str | None = None,
        created_at: int | None = None,
        parent_id: str | None = None,
        touch_issue: bool = True,
    ) -> Comment:
        """Add a comment to an issue and, when touch_issue is true, touch the issue.

        Loaders pass touch_issue=False with historic created_at values and set
        the issue's updated_at themselves.
        """
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            if user_id is not None:
                self._require(self._users, user_id, "user")
            if parent_id is not None:
                self._require(self._comments, parent_id, "comment")
            created = self._at(created_at)
            comment = Comment(
                id=comment_id or new_id(),
                issue_id=issue_id,
                body=body,
                created_at=created,
                updated_at=created,
                user_id=user_id,
                parent_id=parent_id,
            )
            self._insert(self._comments, comment.id, comment)
            if touch_issue:
                self._touch(issue)
            return comment

    # Changing issues

    def update_issue(self, issue_id: str, **changes: object) -> Issue:
        """Change fields of an issue and move its updated_at to now.

        A new state_id stamps startedAt, completedAt or canceledAt as Linear
        does when an issue enters a state of that type.
        """
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            unknown = sorted(set(changes) - ISSUE_CHANGEABLE)
            if unknown:
                raise ValueError(
                    f"cannot change issue fields {unknown};"
                    f" use {sorted(ISSUE_CHANGEABLE)}"
                )
            changed = replace(issue, **changes)  # type: ignore[arg-type]
            self._check_issue_links(changed)
            now = self._touch_time(issue)
            if changed.state_id != issue.state_id:
                state = self._states[changed.state_id]
                self._stamp_state_times(changed, state, now, overwrite=True)
            changed.updated_at = now
            self._issues[issue_id] = changed
            return changed

    def touch_issue(self, issue_id: str) -> Issue:
        """Move an issue's updated_at to now without other changes."""
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            self._touch(issue)
            return issue

    def archive_issue(self, issue_id: str, *, auto: bool = False) -> Issue:
        """Archive an issue; auto=True also sets autoArchivedAt like auto-archive."""
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            now = self._touch(issue)
            issue.archived_at = now
            if auto:
                issue.auto_archived_at = now
            return issue

    def unarchive_issue(self, issue_id: str) -> Issue:
        """Restore an archived or trashed issue."""
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            self._touch(issue)
            issue.archived_at = None
            issue.auto_archived_at = None
            issue.trashed = None
            return issue

    def trash_issue(self, issue_id: str) -> Issue:
        """Move an issue to the trash: trashed is true and archivedAt is set."""
        with self.lock:
            issue = self._require(self._issues, issue_id, "issue")
            now = self._touch(issue)
            issue.trashed = True
            issue.archived_at = now
            return issue

    def delete_issue(self, issue_id: str) -> None:
        """Remove an issue and its comments for good.

        Its sub-issues lose their parent, which touches them.
        """
        with self.lock:
            self._require(self._issues, issue_id, "issue")
            del self._issues[issue_id]
            for comment_id in [
                c.id for c in self._comments.values() if c.issue_id == issue_id
            ]:
                del self._comments[comment_id]
            for child in self._issues.values():
                if child.parent_id == issue_id:
                    child.parent_id = None
                    self._touch(child)

    def edit_comment(self, comment_id: str, body: str) -> Comment:
        """Change a comment's body and touch its issue."""
        with self.lock:
            comment = self._require(self._comments, comment_id, "comment")
            now = max(self.now_ms(), comment.updated_at + 1)
            comment.body = body
            comment.updated_at = now
            comment.edited_at = now
            self._touch(self._issues[comment.issue_id])
            return comment

    def mutate(self, rng: random.Random) -> str:
        """Change a random issue for Churn and return what changed.

        Half of the changes edit the title, the other half add a comment by a
        random user. Deleted issues are never picked; archived ones may be.
        """
        with self.lock:
            if not self._issues:
                return "no issue to change"
            issue = rng.choice(sorted(self._issues.values(), key=lambda i: i.id))
            identifier = self.identifier(issue)
            if rng.random() < 0.5:
                base = issue.title.removesuffix(CHURN_TITLE_SUFFIX)
                title = base if issue.title != base else base + CHURN_TITLE_SUFFIX
                self.update_issue(issue.id, title=title)
                return f"changed title of issue {identifier}"
            users = sorted(self._users)
            user_id = rng.choice(users) if users else None
            self.add_comment(issue.id, "Churn comment: status check.", user_id=user_id)
            return f"added comment to issue {identifier}"

    # Reading records

    def teams(self) -> list[Team]:
        """Return every team, archived ones included."""
        with self.lock:
            return list(self._teams.values())

    def states(self, team_id: str | None = None) -> list[WorkflowState]:
        """Return the workflow states of one team, or of all teams."""
        with self.lock:
            return [
                s
                for s in self._states.values()
                if team_id is None or s.team_id == team_id
            ]

    def users(self) -> list[User]:
        """Return every user."""
        with self.lock:
            return list(self._users.values())

    def project_statuses(self) -> list[ProjectStatus]:
        """Return the workspace's project statuses."""
        with self.lock:
            return list(self._project_statuses.values())

    def projects(self) -> list[Project]:
        """Return every project."""
        with self.lock:
            return list(self._projects.values())

    def cycles(self) -> list[Cycle]:
        """Return every cycle."""
        with self.lock:
            return list(self._cycles.values())

    def labels(self) -> list[IssueLabel]:
        """Return every issue label."""
        with self.lock:
            return list(self._labels.values())

    def issues(self) -> list[Issue]:
        """Return every issue not deleted, archived and trashed ones included."""
        with self.lock:
            return list(self._issues.values())

    def comments(self, issue_id: str | None = None) -> list[Comment]:
        """Return the comments of one issue, or of all issues."""
        with self.lock:
            return [
                c
                for c in self._comments.values()
                if issue_id is None or c.issue_id == issue_id
            ]

    def get_team(self, team_id: str) -> Team | None:
        """Return the team with this id, or None."""
        with self.lock:
            return self._teams.get(team_id)

    def find_team_by_key(self, key: str) -> Team | None:
        """Return the team with this key, or None."""
        with self.lock:
            return next((t for t in self._teams.values() if t.key == key), None)

    def get_state(self, state_id: str) -> WorkflowState | None:
        """Return the workflow state with this id, or None."""
        with self.lock:
            return self._states.get(state_id)

    def team_state(self, team_id: str, state_type: str) -> WorkflowState:
        """Return the team's first state of state_type, or raise ValueError."""
        with self.lock:
            matches = [s for s in self.states(team_id) if s.type == state_type]
            if not matches:
                raise ValueError(f"team {team_id} has no {state_type!r} state")
            return min(matches, key=lambda s: s.position)

    def get_user(self, user_id: str) -> User | None:
        """Return the user with this id, or None."""
        with self.lock:
            return self._users.get(user_id)

    def find_user_by_email(self, email: str) -> User | None:
        """Return the user with this email, compared case-insensitively, or None."""
        with self.lock:
            expected = email.lower()
            return next(
                (u for u in self._users.values() if u.email.lower() == expected),
                None,
            )

    def get_project(self, project_id: str) -> Project | None:
        """Return the project with this id, or None."""
        with self.lock:
            return self._projects.get(project_id)

    def get_project_status(self, status_id: str) -> ProjectStatus | None:
        """Return the project status with this id, or None."""
        with self.lock:
            return self._project_statuses.get(status_id)

    def project_status(self, status_type: str) -> ProjectStatus:
        """Return the workspace's project status of status_type."""
        with self.lock:
            if status_type not in PROJECT_STATUS_TYPES:
                raise ValueError(
                    f"project status {status_type!r} is not one of"
                    f" {PROJECT_STATUS_TYPES}"
                )
            return next(
                s for s in self._project_statuses.values() if s.type == status_type
            )

    def get_cycle(self, cycle_id: str) -> Cycle | None:
        """Return the cycle with this id, or None."""
        with self.lock:
            return self._cycles.get(cycle_id)

    def get_label(self, label_id: str) -> IssueLabel | None:
        """Return the label with this id, or None."""
        with self.lock:
            return self._labels.get(label_id)

    def get_issue(self, issue_id: str) -> Issue | None:
        """Return the issue with this id, or None."""
        with self.lock:
            return self._issues.get(issue_id)

    def find_issue(self, id_or_identifier: str) -> Issue | None:
        """Return the issue with this id or identifier (ENG-123), like `issue(id:)`."""
        with self.lock:
            issue = self._issues.get(id_or_identifier)
            if issue is not None:
                return issue
            key, _, number = id_or_identifier.upper().rpartition("-")
            team = self.find_team_by_key(key)
            if team is None or not number.isdigit():
                return None
            return next(
                (
                    i
                    for i in self._issues.values()
                    if i.team_id == team.id and i.number == int(number)
                ),
                None,
            )

    def get_comment(self, comment_id: str) -> Comment | None:
        """Return the comment with this id, or None."""
        with self.lock:
            return self._comments.get(comment_id)

    def identifier(self, issue: Issue) -> str:
        """Return the issue's identifier, its team key and number (ENG-123)."""
        with self.lock:
            return f"{self._teams[issue.team_id].key}-{issue.number}"

    def counts(self) -> dict[str, int]:
        """Return how many records of each kind the store contains."""
        with self.lock:
            return {
                "teams": len(self._teams),
                "users": len(self._users),
                "projects": len(self._projects),
                "cycles": len(self._cycles),
                "labels": len(self._labels),
                "issues": len(self._issues),
                "archived_issues": sum(
                    1 for i in self._issues.values() if i.archived_at is not None
                ),
                "comments": len(self._comments),
            }

    # Helpers

    def _at(self, at: int | None) -> int:
        return self.now_ms() if at is None else at

    def _touch_time(self, issue: Issue) -> int:
        return max(self.now_ms(), issue.updated_at + 1)

    def _touch(self, issue: Issue) -> int:
        issue.updated_at = self._touch_time(issue)
        return issue.updated_at

    @staticmethod
    def _stamp_state_times(
        issue: Issue, state: WorkflowState, at: int, *, overwrite: bool
    ) -> None:
        if state.type in ("started", "completed") and issue.started_at is None:
            issue.started_at = at
        if state.type == "completed" and (overwrite or issue.completed_at is None):
            issue.completed_at = at
        if state.type == "canceled" and (overwrite or issue.canceled_at is None):
            issue.canceled_at = at
        if overwrite and state.type not in ("completed", "canceled"):
            issue.completed_at = None
            issue.canceled_at = None

    def _check_issue_links(self, issue: Issue) -> None:
        state = self._require(self._states, issue.state_id, "workflow state")
        if state.team_id != issue.team_id:
            raise ValueError(f"state {state.name!r} belongs to another team")
        if issue.priority not in range(5):
            raise ValueError(f"priority {issue.priority} is outside 0..4")
        for user_id in (issue.assignee_id, issue.creator_id):
            if user_id is not None:
                self._require(self._users, user_id, "user")
        if issue.project_id is not None:
            self._require(self._projects, issue.project_id, "project")
        if issue.cycle_id is not None:
            cycle = self._require(self._cycles, issue.cycle_id, "cycle")
            if cycle.team_id != issue.team_id:
                raise ValueError(f"cycle {cycle.number} belongs to another team")
        if issue.parent_id is not None:
            if issue.parent_id == issue.id:
                raise ValueError("an issue cannot be its own parent")
            self._require(self._issues, issue.parent_id, "issue")
        for label_id in issue.label_ids:
            self._require(self._labels, label_id, "label")

    @staticmethod
    def _require(records: dict[str, T], record_id: str, kind: str) -> T:
        record = records.get(record_id)
        if record is None:
            raise KeyError(f"{kind} {record_id} not found")
        return record

    @staticmethod
    def _insert(records: dict[str, T], record_id: str, record: T) -> None:
        if record_id in records:
            raise ValueError(f"id {record_id} already exists")
        records[record_id] = record
