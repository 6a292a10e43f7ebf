import filecmp
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _differences(left: Path, right: Path) -> list[str]:
    comparison = filecmp.dircmp(left, right, ignore=["__pycache__"])
    found = [*comparison.left_only, *comparison.right_only, *comparison.diff_files]
    for name, sub in comparison.subdirs.items():
        found += [
            f"{name}/{item}" for item in _differences(Path(sub.left), Path(sub.right))
        ]
    return found


def test_committed_protobuf_code_is_current(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "scripts/gen_protos.py", "--out", str(tmp_path / "gen")],
        cwd=REPO_ROOT,
        check=True,
    )

    stale = _differences(REPO_ROOT / "gen", tmp_path / "gen")

    assert stale == [], f"gen/ is stale; run `make proto`: {stale}"
