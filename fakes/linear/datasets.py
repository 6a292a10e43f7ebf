"""Loaders that fill a LinearStore: real GitHub issues, and a generated demo.

`load_github_issues` reads a JSON Lines file of closed GitHub issues, one
record per line with owner, repo, number, id, title, body, state_reason,
created_at, updated_at, closed_at, author, assignees, labels and comments.
Ids are uuid5 values of the GitHub ids, so every load of the same file gives
the same ids.
"""

import json
import random
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fakes.linear.demo import (
    DEMO_ARCHIVED_COUNT,
    DEMO_COMMENTS,
    DEMO_COMMENTS_RU,
    DEMO_ISSUES,
    DEMO_LABELS,
    DEMO_PEOPLE,
    DEMO_STATE_WEIGHTS,
)
from fakes.linear.models import (
    Cycle,
    Issue,
    IssueLabel,
    Project,
    Team,
    User,
    parse_time,
)
from fakes.linear.store import LinearStore

# Namespace of the uuid5 ids that loaders derive from source ids.
ID_NAMESPACE = uuid.UUID("6f1c3c56-51a4-4bd6-9a52-3d1f4c2b7e10")
# A loaded issue is archived when it was closed more than this many days
# before the newest closing time in the loaded records. Linear auto-archives
# closed issues after a team setting of 1 to 12 months. The longer period keeps
# part of this decade-long data set visible without includeArchived.
ARCHIVE_AFTER_DAYS = 7 * 365
# archivedAt of those issues: their closing time plus 6 months, the default
# auto-archive period of a Linear team.
AUTO_ARCHIVE_DELAY_DAYS = 180
MAX_KEY_LENGTH = 5
DAY_MS = 86_400_000
# Title words that put an English demo issue into the clinic's project.
CLINIC_WORDS = ("clinic", "patient", "doctor", "booking")


def stable_id(kind: str, source_id: object) -> str:
    """Return the uuid5 id of a record of kind with the given source id."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{source_id}"))


def team_key(name: str, taken: set[str]) -> str:
    """Return a unique upper-case key of at most 5 letters for a team name.

    Several words give their initials ("eslint-plugin-react" gives EPR) and a
    single word its first three letters ("webpack" gives WEB). A key already
    in taken grows by the name's next letters, then by A, B, C...
    """
    words = [w for w in re.split(r"[^A-Za-z]+", name) if w]
    letters = "".join(words).upper() or "TEAM"
    if len(words) > 1:
        base = "".join(w[0] for w in words).upper()[:MAX_KEY_LENGTH]
    else:
        base = letters[:3]
    candidates = [base]
    candidates += [letters[:length] for length in range(3, MAX_KEY_LENGTH + 1)]
    candidates += [base[: MAX_KEY_LENGTH - 1] + chr(ord("A") + i) for i in range(26)]
    for candidate in candidates:
        if candidate not in taken:
            return candidate
    raise ValueError(f"no free team key for {name!r}")


def load_github_issues(
    store: LinearStore, path: Path, limit: int | None = None
) -> list[str]:
    """Load closed GitHub issues as Linear issues and return their ids.

    One team per repository, with the GitHub number as the issue number
    (identifier KEY-number). Completed issues go to the team's Done state and
    "not planned" ones to Canceled. GitHub labels become team labels, the
    author the creator, the first assignee the assignee, and comments become
    comments. Records already in the store (same ids) are skipped, so loading
    the same file twice adds nothing.
    """
    records = _read_jsonl(path, limit)
    if not records:
        return []
    newest_close = max(parse_time(r["closed_at"]) for r in records if r["closed_at"])
    issue_ids = []
    with store.lock:
        for record in records:
            issue_id = _load_github_issue(store, record, newest_close)
            if issue_id is not None:
                issue_ids.append(issue_id)
    return issue_ids


def _read_jsonl(path: Path, limit: int | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if limit is not None and len(records) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{line_number} is not valid JSON") from exc
            missing = {"id", "owner", "repo", "number", "title", "created_at"} - set(
                record
            )
            if missing:
                raise ValueError(f"{path}:{line_number} lacks fields {sorted(missing)}")
            records.append(record)
    return records


def _load_github_issue(
    store: LinearStore, record: dict[str, Any], newest_close: int
) -> str | None:
    issue_id = stable_id("github-issue", record["id"])
    if store.get_issue(issue_id) is not None:
        return None
    created = parse_time(record["created_at"])
    team = _github_team(store, record, created)

    closed = parse_time(record["closed_at"]) if record.get("closed_at") else None
    canceled = record.get("state_reason") == "not_planned"
    state = None
    if closed is not None:
        state = store.team_state(team.id, "canceled" if canceled else "completed")

    author = _username(record.get("author"))
    creator = _github_user(store, author, created)
    assignees = record.get("assignees") or []
    assignee = None
    if assignees:
        assignee = _github_user(store, _username(assignees[0]), created)
    label_ids = [
        _github_label(store, team, label, created).id
        for label in record.get("labels") or []
        if label.get("name")
    ]

    updated = parse_time(record.get("updated_at") or record["created_at"])
    issue = store.add_issue(
        team.id,
        record["title"],
        issue_id=issue_id,
        number=int(record["number"]),
        state_id=state.id if state else None,
        created_at=created,
        updated_at=max(created, updated),
        description=record.get("body") or None,
        creator_id=creator.id if creator else None,
        assignee_id=assignee.id if assignee else None,
        label_ids=list(dict.fromkeys(label_ids)),
        completed_at=None if canceled else closed,
        canceled_at=closed if canceled else None,
    )
    _load_github_comments(store, issue, record.get("comments") or [])

    if closed is not None and newest_close - closed > ARCHIVE_AFTER_DAYS * DAY_MS:
        archived = closed + AUTO_ARCHIVE_DELAY_DAYS * DAY_MS
        issue.archived_at = archived
        issue.auto_archived_at = archived
        issue.updated_at = max(issue.updated_at, archived)
    return issue.id


def _load_github_comments(
    store: LinearStore, issue: Issue, comments: list[dict[str, Any]]
) -> None:
    """Add an issue's GitHub comments with their own times, and raise its updated_at."""
    for comment in comments:
        created = parse_time(comment["created_at"])
        author = _github_user(store, _username(comment.get("author")), created)
        loaded = store.add_comment(
            issue.id,
            comment.get("body") or "",
            user_id=author.id if author else None,
            comment_id=stable_id("github-comment", comment["id"]),
            created_at=created,
            touch_issue=False,
        )
        loaded.updated_at = parse_time(
            comment.get("updated_at") or comment["created_at"]
        )
        issue.updated_at = max(issue.updated_at, loaded.updated_at)


def _username(person: object) -> str | None:
    if isinstance(person, dict):
        name = person.get("username") or person.get("login")
        return str(name) if name else None
    return None


def _github_team(store: LinearStore, record: dict[str, Any], created: int) -> Team:
    full_name = f"{record['owner']}/{record['repo']}"
    team_id = stable_id("github-repo", full_name)
    team = store.get_team(team_id)
    if team is not None:
        team.created_at = min(team.created_at, created)
        return team
    taken = {t.key for t in store.teams()}
    return store.add_team(
        team_key(record["repo"], taken),
        record["repo"],
        team_id=team_id,
        created_at=created,
        description=f"Issues of the GitHub repository {full_name}",
    )


def _github_user(store: LinearStore, username: str | None, created: int) -> User | None:
    if not username:
        return None
    user = store.get_user(stable_id("github-user", username))
    if user is not None:
        return user
    return store.add_user(
        username,
        f"{username}@users.example.com",
        user_id=stable_id("github-user", username),
        display_name=username,
        created_at=created,
    )


def _github_label(
    store: LinearStore, team: Team, label: dict[str, Any], created: int
) -> IssueLabel:
    label_id = stable_id("github-label", f"{team.id}:{label['name']}")
    existing = store.get_label(label_id)
    if existing is not None:
        return existing
    color = label.get("color") or "bec2c8"
    return store.add_label(
        label["name"],
        team_id=team.id,
        color=f"#{color}",
        label_id=label_id,
        created_at=created,
        description=label.get("description"),
    )


def generate_demo(store: LinearStore, seed: int = 7) -> list[str]:
    """Fill store with the demo agency workspace and return the issue ids.

    Two teams (WEB for client websites, OPS for account work), six people,
    five labels per team, three cycles of the WEB team around now, two client
    projects, forty issues with comments, some in Russian, and four archived
    completed issues. Ids and content depend only on seed; times are placed
    relative to the store clock, so the middle cycle is the active one.
    """
    rng = random.Random(seed)
    now = store.now_ms()
    start = now - 60 * DAY_MS

    def demo_id(kind: str, index: object) -> str:
        return stable_id(f"demo-{seed}-{kind}", index)

    with store.lock:
        users = [
            store.add_user(
                name,
                email,
                user_id=demo_id("user", email),
                admin=admin,
                created_at=start - 300 * DAY_MS,
            )
            for name, email, admin in DEMO_PEOPLE
        ]
        teams = _demo_teams(store, demo_id, start)
        labels = {
            (key, name): store.add_label(
                name,
                team_id=team.id,
                color=color,
                label_id=demo_id("label", f"{key}:{name}"),
                created_at=start - 100 * DAY_MS,
            )
            for key, team in teams.items()
            for name, color in DEMO_LABELS
        }
        # Two-week cycles: the first ended a week ago, the second is running.
        cycles = [
            store.add_cycle(
                teams["WEB"].id,
                now - (21 - 14 * index) * DAY_MS,
                now - (7 - 14 * index) * DAY_MS,
                cycle_id=demo_id("cycle", index),
                created_at=start - 30 * DAY_MS,
                completed_at=now - 7 * DAY_MS if index == 0 else None,
            )
            for index in range(3)
        ]
        projects = _demo_projects(store, demo_id, teams, users, now)
        issue_ids = []
        for index, (key, title, description, label_names) in enumerate(DEMO_ISSUES):
            issue_ids.append(
                _demo_issue(
                    store,
                    rng,
                    index,
                    team=teams[key],
                    title=title,
                    description=description,
                    label_ids=[labels[(key, n)].id for n in label_names],
                    users=users,
                    cycles=cycles if key == "WEB" else [],
                    projects=projects,
                    created=start + index * DAY_MS + rng.randrange(DAY_MS),
                    issue_id=demo_id("issue", index),
                    comment_id=lambda i, n: demo_id("comment", f"{i}:{n}"),
                )
            )
        completed = [
            i.id for i in store.issues() if i.id in issue_ids and i.completed_at
        ]
        for issue_id in completed[:DEMO_ARCHIVED_COUNT]:
            store.archive_issue(issue_id, auto=True)
    return issue_ids


def _demo_teams(
    store: LinearStore, demo_id: Callable[[str, object], str], start: int
) -> dict[str, Team]:
    return {
        "WEB": store.add_team(
            "WEB",
            "Client Websites",
            team_id=demo_id("team", "WEB"),
            created_at=start - 200 * DAY_MS,
            description="Builds and maintains the client sites.",
        ),
        "OPS": store.add_team(
            "OPS",
            "Client Operations",
            team_id=demo_id("team", "OPS"),
            created_at=start - 200 * DAY_MS,
            description="Account management, hosting and reporting.",
        ),
    }


def _demo_projects(
    store: LinearStore,
    demo_id: Callable[[str, object], str],
    teams: dict[str, Team],
    users: list[User],
    now: int,
) -> list[Project]:
    return [
        store.add_project(
            "Northwind storefront redesign",
            team_ids=[teams["WEB"].id, teams["OPS"].id],
            project_id=demo_id("project", "northwind"),
            created_at=now - 80 * DAY_MS,
            description="New storefront for Northwind before the spring sale.",
            lead_id=users[0].id,
            creator_id=users[0].id,
            member_ids=[u.id for u in users[:3]],
            start_date=_date(now - 80 * DAY_MS),
            target_date=_date(now + 40 * DAY_MS),
            started_at=now - 75 * DAY_MS,
        ),
        store.add_project(
            "Kovalenko Clinic booking app",
            team_ids=[teams["WEB"].id],
            status_type="planned",
            project_id=demo_id("project", "kovalenko"),
            created_at=now - 70 * DAY_MS,
            description="Online booking for a private clinic in Saint Petersburg.",
            lead_id=users[3].id,
            creator_id=users[3].id,
            member_ids=[users[3].id, users[4].id],
            start_date=_date(now - 5 * DAY_MS),
            target_date=_date(now + 90 * DAY_MS),
        ),
    ]


def _demo_issue(
    store: LinearStore,
    rng: random.Random,
    index: int,
    *,
    team: Team,
    title: str,
    description: str,
    label_ids: list[str],
    users: list[User],
    cycles: list[Cycle],
    projects: list[Project],
    created: int,
    issue_id: str,
    comment_id: Callable[[int, int], str],
) -> str:
    russian = bool(re.search("[а-яё]", title, re.IGNORECASE))
    for_clinic = russian or any(word in title.lower() for word in CLINIC_WORDS)
    state_types = [t for t, _ in DEMO_STATE_WEIGHTS]
    weights = [w for _, w in DEMO_STATE_WEIGHTS]
    state = store.team_state(team.id, rng.choices(state_types, weights)[0])
    project = None
    if team.key == "WEB":
        project = projects[1] if for_clinic else projects[0]

    issue = store.add_issue(
        team.id,
        title,
        issue_id=issue_id,
        state_id=state.id,
        created_at=created,
        description=description,
        priority=rng.randrange(5),
        estimate=float(rng.choice((1, 2, 3, 5, 8))) if team.key == "WEB" else None,
        assignee_id=rng.choice(users[3:5] if russian else users).id,
        creator_id=rng.choice(users).id,
        label_ids=label_ids,
        project_id=project.id if project else None,
        cycle_id=rng.choice(cycles).id if cycles and rng.random() < 0.7 else None,
    )

    texts = DEMO_COMMENTS_RU if russian else DEMO_COMMENTS
    moment = created
    for number in range(rng.randrange(1, 4)):
        moment += rng.randrange(3_600_000, 2 * DAY_MS)
        store.add_comment(
            issue.id,
            rng.choice(texts),
            user_id=rng.choice(users).id,
            comment_id=comment_id(index, number),
            created_at=moment,
            touch_issue=False,
        )
    issue.updated_at = max(issue.updated_at, moment)
    if issue.completed_at is not None:
        issue.completed_at = moment
    return issue.id


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()
