"""Where a run comes from, read from each CI service's variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_qahub.delivery.ci import Origin, detect

SHA = "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6"

CASES = {
    "GitHub Actions, a push": (
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REF_NAME": "main",
            "GITHUB_SHA": SHA,
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": "acme/shop",
            "GITHUB_RUN_ID": "42",
        },
        Origin("GitHub Actions", "main", SHA, "https://github.com/acme/shop/actions/runs/42"),
    ),
    "GitHub Actions, a pull request": (
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REF_NAME": "17/merge",
            "GITHUB_HEAD_REF": "feature/cart",
            "GITHUB_SHA": SHA,
        },
        Origin("GitHub Actions", "feature/cart", SHA, None),
    ),
    "GitLab CI, a merge request": (
        {
            "GITLAB_CI": "true",
            "CI_COMMIT_REF_NAME": "refs/merge-requests/3/head",
            "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "fix-login",
            "CI_COMMIT_SHA": SHA,
            "CI_JOB_URL": "https://gitlab.example.com/acme/shop/-/jobs/7",
        },
        Origin("GitLab CI", "fix-login", SHA, "https://gitlab.example.com/acme/shop/-/jobs/7"),
    ),
    "Jenkins with the git plugin": (
        {
            "JENKINS_URL": "https://jenkins.example.com/",
            "GIT_BRANCH": "origin/release-2",
            "GIT_COMMIT": SHA,
            "BUILD_URL": "https://jenkins.example.com/job/shop/12/",
        },
        Origin("Jenkins", "release-2", SHA, "https://jenkins.example.com/job/shop/12/"),
    ),
    "CircleCI": (
        {
            "CIRCLECI": "true",
            "CIRCLE_BRANCH": "main",
            "CIRCLE_SHA1": SHA,
            "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/9",
        },
        Origin("CircleCI", "main", SHA, "https://circleci.com/gh/acme/shop/9"),
    ),
    "Buildkite": (
        {
            "BUILDKITE": "true",
            "BUILDKITE_BRANCH": "main",
            "BUILDKITE_COMMIT": SHA,
            "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/5",
        },
        Origin("Buildkite", "main", SHA, "https://buildkite.com/acme/shop/builds/5"),
    ),
    "Azure Pipelines": (
        {
            "TF_BUILD": "True",
            "BUILD_SOURCEBRANCH": "refs/heads/main",
            "BUILD_SOURCEVERSION": SHA,
            "SYSTEM_COLLECTIONURI": "https://dev.azure.com/acme/",
            "SYSTEM_TEAMPROJECT": "shop",
            "BUILD_BUILDID": "77",
        },
        Origin("Azure Pipelines", "main", SHA, "https://dev.azure.com/acme/shop/_build/results?buildId=77"),
    ),
    "Bitbucket Pipelines": (
        {
            "BITBUCKET_BUILD_NUMBER": "31",
            "BITBUCKET_BRANCH": "main",
            "BITBUCKET_COMMIT": SHA,
            "BITBUCKET_GIT_HTTP_ORIGIN": "https://bitbucket.org/acme/shop",
        },
        Origin(
            "Bitbucket Pipelines",
            "main",
            SHA,
            "https://bitbucket.org/acme/shop/addon/pipelines/home#!/results/31",
        ),
    ),
}


@pytest.mark.parametrize("env, expected", CASES.values(), ids=CASES.keys())
def test_each_ci_service_says_the_branch_commit_and_build(env, expected, tmp_path: Path) -> None:
    assert detect(env, tmp_path) == expected
