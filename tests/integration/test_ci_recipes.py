"""The CI recipes in examples/ci/ run as written: their plan, gate and apply command lines are
taken from the workflow files and run against a real lab (no GitHub or GitLab involved: the
comment-posting steps talk to those services and are left out)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
RECIPES = ROOT / "examples" / "ci"


def github_step(step_id: str) -> str:
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    steps = workflow["jobs"]["lxdplan"]["steps"]
    return next(s["run"] for s in steps if s.get("id") == step_id)


def gitlab_script(job: str) -> str:
    pipeline = yaml.safe_load((RECIPES / "gitlab-ci.yml").read_text())
    return "\n".join(pipeline[job]["script"])


def run(script: str, workdir: Path, **env: str) -> subprocess.CompletedProcess:
    """A recipe's script as the CI runner runs it: bash with errexit, in the checkout."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return subprocess.run(["bash", "-e", "-c", script], cwd=workdir, capture_output=True, text=True,
                          env={**os.environ, "PATH": path, "LXDPLAN_FILE": "lxdplan.yaml", **env},
                          stdin=subprocess.DEVNULL, timeout=600)


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_github_actions_recipe_plans_comments_gates_and_applies(make_lab, tmp_path):
    lab = make_lab("lxd")
    checkout = tmp_path / "repo"
    checkout.mkdir()
    shutil.copy(lab.file, checkout / "lxdplan.yaml")
    out, summary = tmp_path / "github_output", tmp_path / "summary"

    def plan_step() -> tuple[subprocess.CompletedProcess, str]:
        out.write_text("")
        done = run(github_step("plan"), checkout, GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary))
        return done, outputs(out)["exitcode"]

    done, code = plan_step()
    assert done.returncode == 0 and code == "2", done.stderr
    comment = (checkout / "plan.md").read_text()
    assert "bootstrap" in comment and "node1" in comment and comment.lstrip().startswith("#")
    applied = run(github_step("apply"), checkout)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    done, code = plan_step()
    assert done.returncode == 0 and code == "0", done.stderr

    (checkout / "lxdplan.yaml").write_text((checkout / "lxdplan.yaml").read_text() + "stroage_pools: []\n")
    done, code = plan_step()
    assert done.returncode == 1 and code == "1"
    assert "stroage_pools" in done.stderr


def test_gitlab_recipe_plans_gates_and_applies(make_lab, tmp_path):
    lab = make_lab("lxd")
    checkout = tmp_path / "repo"
    checkout.mkdir()
    shutil.copy(lab.file, checkout / "lxdplan.yaml")

    planned = run(gitlab_script("lxdplan-plan"), checkout)
    assert planned.returncode == 0, planned.stderr
    assert outputs(checkout / "plan.env") == {"LXDPLAN_EXITCODE": "2"}
    assert "bootstrap" in (checkout / "plan.md").read_text()
    applied = run(gitlab_script("lxdplan-apply"), checkout, LXDPLAN_EXITCODE="2")
    assert applied.returncode == 0, applied.stdout + applied.stderr

    planned = run(gitlab_script("lxdplan-plan"), checkout)
    assert planned.returncode == 0 and outputs(checkout / "plan.env") == {"LXDPLAN_EXITCODE": "0"}
    skipped = run(gitlab_script("lxdplan-apply"), checkout, LXDPLAN_EXITCODE="0")
    assert skipped.returncode == 0 and "No changes." in skipped.stdout

    (checkout / "lxdplan.yaml").write_text("version: 1\ncluster: {members: []}\nstroage_pools: []\n")
    planned = run(gitlab_script("lxdplan-plan"), checkout)
    assert planned.returncode == 1 and outputs(checkout / "plan.env") == {"LXDPLAN_EXITCODE": "1"}
