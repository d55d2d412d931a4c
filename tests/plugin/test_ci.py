"""Where a run comes from outside CI, or with CI variables left empty: the local git checkout."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_qahub.delivery.ci import Origin, detect

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _repo(path: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=path, check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q", "-b", "trunk")
    (path / "a.txt").write_text("a")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "a")
    return git("rev-parse", "HEAD")


@needs_git
def test_outside_ci_the_local_checkout_says_the_branch_and_commit(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    assert detect({}, tmp_path) == Origin(None, "trunk", commit, None)


@needs_git
def test_a_detached_checkout_has_a_commit_and_no_branch(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    subprocess.run(["git", "checkout", "-q", "--detach"], cwd=tmp_path, check=True)
    assert detect({}, tmp_path) == Origin(None, None, commit, None)


@needs_git
def test_a_ci_variable_left_empty_is_filled_from_git(tmp_path: Path) -> None:
    commit = _repo(tmp_path)
    env = {"JENKINS_URL": "https://jenkins.example.com/", "BUILD_URL": "https://jenkins.example.com/job/1/"}
    assert detect(env, tmp_path) == Origin("Jenkins", "trunk", commit, "https://jenkins.example.com/job/1/")


def test_outside_ci_and_git_nothing_is_known(tmp_path: Path) -> None:
    assert detect({}, tmp_path) == Origin()
