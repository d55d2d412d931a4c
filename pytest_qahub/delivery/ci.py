"""Where a run comes from: branch, commit and build URL, read from the CI's own environment.

Each supported CI service sets variables of its own; :func:`detect` reads the first service
found, else asks the local ``git``. No Python library keeps this table, so it lives here, one
function per service, each a few lines that can be checked against the service's docs.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from qahub_contract import RUN_TAG_LIMITS

from ..validation import run_label


@dataclass(frozen=True)
class Origin:
    """Where a run comes from; a field is None when it cannot be told."""

    ci: str | None = None  # the CI service's name, e.g. "GitHub Actions"; None outside CI
    branch: str | None = None
    commit: str | None = None
    build_url: str | None = None


def _strip_ref(ref: str | None) -> str | None:
    """``refs/heads/main`` or ``origin/main`` → ``main``; empty → None."""
    if not ref:
        return None
    for prefix in ("refs/heads/", "origin/"):
        ref = ref.removeprefix(prefix)
    return ref or None


def _github(env: Mapping[str, str]) -> Origin:
    # On a pull request GITHUB_REF_NAME is "<n>/merge"; the branch is the PR's head.
    branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
    url = None
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        url = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return Origin("GitHub Actions", branch or None, env.get("GITHUB_SHA"), url)


def _gitlab(env: Mapping[str, str]) -> Origin:
    branch = (
        env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
        or env.get("CI_COMMIT_BRANCH")
        or env.get("CI_COMMIT_REF_NAME")
    )
    return Origin(
        "GitLab CI",
        branch or None,
        env.get("CI_COMMIT_SHA"),
        env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL"),
    )


def _jenkins(env: Mapping[str, str]) -> Origin:
    branch = env.get("CHANGE_BRANCH") or env.get("BRANCH_NAME") or env.get("GIT_BRANCH")
    return Origin("Jenkins", _strip_ref(branch), env.get("GIT_COMMIT"), env.get("BUILD_URL"))


def _circleci(env: Mapping[str, str]) -> Origin:
    return Origin("CircleCI", env.get("CIRCLE_BRANCH"), env.get("CIRCLE_SHA1"), env.get("CIRCLE_BUILD_URL"))


def _buildkite(env: Mapping[str, str]) -> Origin:
    return Origin(
        "Buildkite", env.get("BUILDKITE_BRANCH"), env.get("BUILDKITE_COMMIT"), env.get("BUILDKITE_BUILD_URL")
    )


def _azure(env: Mapping[str, str]) -> Origin:
    branch = env.get("SYSTEM_PULLREQUEST_SOURCEBRANCH") or env.get("BUILD_SOURCEBRANCH")
    url = None
    if env.get("SYSTEM_COLLECTIONURI") and env.get("SYSTEM_TEAMPROJECT") and env.get("BUILD_BUILDID"):
        base = env["SYSTEM_COLLECTIONURI"].rstrip("/")
        url = f"{base}/{env['SYSTEM_TEAMPROJECT']}/_build/results?buildId={env['BUILD_BUILDID']}"
    return Origin("Azure Pipelines", _strip_ref(branch), env.get("BUILD_SOURCEVERSION"), url)


def _bitbucket(env: Mapping[str, str]) -> Origin:
    url = None
    if env.get("BITBUCKET_GIT_HTTP_ORIGIN") and env.get("BITBUCKET_BUILD_NUMBER"):
        origin = env["BITBUCKET_GIT_HTTP_ORIGIN"].removesuffix(".git")
        url = f"{origin}/addon/pipelines/home#!/results/{env['BITBUCKET_BUILD_NUMBER']}"
    return Origin("Bitbucket Pipelines", env.get("BITBUCKET_BRANCH"), env.get("BITBUCKET_COMMIT"), url)


#: (the variable that says the service runs us, how to read it), checked in this order.
SERVICES: tuple[tuple[str, Callable[[Mapping[str, str]], Origin]], ...] = (
    ("GITHUB_ACTIONS", _github),
    ("GITLAB_CI", _gitlab),
    ("JENKINS_URL", _jenkins),
    ("CIRCLECI", _circleci),
    ("BUILDKITE", _buildkite),
    ("TF_BUILD", _azure),
    ("BITBUCKET_BUILD_NUMBER", _bitbucket),
)


def in_ci(env: Mapping[str, str]) -> bool:
    """Whether a CI service runs us: one of `SERVICES`, or the ``CI`` variable most services set."""
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return True
    return any(env.get(variable) for variable, _ in SERVICES)


#: Seconds one ``git`` call may take: a huge or broken repository must not hold up pytest.
GIT_TIMEOUT_S = 3.0


def _git(cwd: Path, *args: str) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip() or None
    return None


def from_git(cwd: Path) -> Origin:
    """The branch and commit of the git checkout at ``cwd`` (none outside one; no branch when detached)."""
    commit = _git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return Origin()
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    return Origin(None, None if branch == "HEAD" else branch, commit, None)


def detect(env: Mapping[str, str], cwd: Path) -> Origin:
    """Return where this run comes from: the CI service's variables, else the local git checkout.

    A CI variable left empty is filled from git when it can be (a CI that checks out a
    detached commit still knows its branch; git then knows at least the commit).
    """
    for variable, read in SERVICES:
        if env.get(variable):
            found = read(env)
            if found.branch and found.commit:
                return found
            local = from_git(cwd)
            return Origin(
                found.ci, found.branch or local.branch, found.commit or local.commit, found.build_url
            )
    return from_git(cwd)


def run_tags(env: Mapping[str, str], cwd: Path) -> dict[str, str]:
    """The tags `detect` finds for a new run (branch, commit, build URL), each one the
    collector accepts: a value it would refuse is left out rather than fail the run."""
    origin = detect(env, cwd)
    found = {"branch": origin.branch, "commit": origin.commit, "build_url": origin.build_url}
    tags: dict[str, str] = {}
    for name, value in found.items():
        with contextlib.suppress(ValueError):
            tags[name] = run_label(value or "", RUN_TAG_LIMITS[name])
    return tags
