"""Unit tests: each setting resolves CLI > environment > ini > default, and bad values say where."""

from __future__ import annotations

import pytest

from pytest_qahub.journal import KeepJournals
from pytest_qahub.settings import KEEP_WARM_S, Settings, resolve_settings


def resolve(pytester: pytest.Pytester, *args: str, env: dict[str, str] | None = None) -> Settings:
    settings = resolve_settings(pytester.parseconfig(*args), environ=env or {})
    assert settings is not None
    return settings


def test_it_is_off_without_a_run(pytester: pytest.Pytester) -> None:
    assert resolve_settings(pytester.parseconfig(), environ={}) is None


def test_it_uses_defaults_when_only_a_run_is_given(pytester: pytest.Pytester) -> None:
    # No URL means the embedded collector, which reports unmapped tests too.
    assert resolve(pytester, "--qahub-run=r1") == Settings(run="r1", url=None, token=None, unmapped="create")
    assert resolve(pytester, "--qahub-run=r1", "--qahub-url=http://h:1").unmapped == "skip"
    assert resolve(pytester, "--qahub-run=r1", "--qahub-unmapped=skip").unmapped == "skip"


def test_the_cli_beats_the_environment_which_beats_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nqahub_run = ini-run\nqahub_url = http://ini:1\nqahub_batch_size = 7\n"
        "qahub_unmapped = create\nqahub_framework = ini-fw\nqahub_strict = true\n"
    )
    env = {"QAHUB_URL": "http://env:2", "QAHUB_BATCH_SIZE": "8"}
    settings = resolve(pytester, "--qahub-batch-size=9", env=env)
    assert settings.run == "ini-run"
    assert settings.url == "http://env:2"
    assert settings.batch_size == 9
    assert settings.unmapped == "create"
    assert settings.framework == "ini-fw"
    assert settings.strict is True


def test_the_environment_beats_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nqahub_run = ini-run\nqahub_batch_size = 7\n")
    settings = resolve(pytester, env={"QAHUB_RUN": "env-run", "QAHUB_BATCH_SIZE": "8"})
    assert (settings.run, settings.batch_size) == ("env-run", 8)


def test_the_cli_beats_the_environment_for_the_run_and_token(pytester: pytest.Pytester) -> None:
    env = {"QAHUB_RUN": "env-run", "QAHUB_TOKEN": "env-token"}
    settings = resolve(pytester, "--qahub-run=cli-run", "--qahub-token=cli-token", env=env)
    assert (settings.run, settings.token) == ("cli-run", "cli-token")


def test_the_token_is_never_read_from_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nqahub_run = r\nqahub_token = secret\n")
    assert resolve(pytester).token is None


def test_a_trailing_slash_is_dropped_from_the_url(pytester: pytest.Pytester) -> None:
    assert resolve(pytester, "--qahub-run=r", "--qahub-url=http://h:1/").url == "http://h:1"


@pytest.mark.parametrize(
    ("args", "env", "ini", "expected"),
    [
        (["--qahub-batch-size=x"], {}, "", "Invalid --qahub-batch-size 'x' (from --qahub-batch-size)"),
        ([], {"QAHUB_BATCH_SIZE": "x"}, "", "Invalid --qahub-batch-size 'x' (from QAHUB_BATCH_SIZE)"),
        ([], {}, "qahub_batch_size = 0", "Invalid --qahub-batch-size '0' (from ini qahub_batch_size"),
        (["--qahub-unmapped=maybe"], {}, "", "Invalid --qahub-unmapped 'maybe' (from --qahub-unmapped)"),
        ([], {"QAHUB_URL": "ftp://x"}, "", "Invalid --qahub-url 'ftp://x' (from QAHUB_URL)"),
        ([], {"QAHUB_URL": "http://"}, "", "Invalid --qahub-url 'http://' (from QAHUB_URL): names no host"),
        (
            ["--qahub-url=http://[::1"],
            {},
            "",
            "Invalid --qahub-url 'http://[::1' (from --qahub-url): cannot be",
        ),
        (
            ["--qahub-url=http://a b"],
            {},
            "",
            "Invalid --qahub-url 'http://a b' (from --qahub-url): must not contain",
        ),
        (
            ["--qahub-url=http://h:99999"],
            {},
            "",
            "Invalid --qahub-url 'http://h:99999' (from --qahub-url): cannot",
        ),
        (
            ["--qahub-url=http://h/?a=1"],
            {},
            "",
            "Invalid --qahub-url 'http://h/?a=1' (from --qahub-url): must not have",
        ),
        ([], {"QAHUB_STRICT": "perhaps"}, "", "Invalid --qahub-strict 'perhaps' (from QAHUB_STRICT)"),
        ([f"--qahub-framework={'x' * 101}"], {}, "", "Invalid --qahub-framework 'xxx"),
        ([], {"QAHUB_FRAMEWORK": "py\x00test"}, "", r"Invalid --qahub-framework 'py\x00test' (from QAHUB"),
        (["--qahub-flush-timeout=-1"], {}, "", "Invalid --qahub-flush-timeout '-1'"),
        (
            [],
            {},
            "qahub_keep_journals = a week",
            "Invalid --qahub-keep-journals 'a week' (from ini qahub_keep_journals",
        ),
        (["--qahub-keep-journals=-1"], {}, "", "Invalid --qahub-keep-journals '-1' (from --qahub-keep"),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_the_setting_and_its_source(
    pytester: pytest.Pytester, args: list[str], env: dict[str, str], ini: str, expected: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    with pytest.raises(pytest.UsageError) as raised:
        resolve(pytester, "--qahub-run=r", *args, env=env)
    assert str(raised.value).startswith(expected)


@pytest.mark.parametrize("token", ["qh_secret\x01", "qh secret", "qh_sécret"])
def test_a_token_unfit_for_a_header_is_a_usage_error_that_does_not_show_it(
    pytester: pytest.Pytester, token: str
) -> None:
    with pytest.raises(pytest.UsageError) as raised:
        resolve(pytester, "--qahub-run=r", env={"QAHUB_TOKEN": token})
    assert str(raised.value) == (
        "Invalid --qahub-token (from QAHUB_TOKEN): "
        "must be printable ASCII without spaces (the value is not shown)"
    )


def test_the_url_keeps_its_path_and_loses_its_trailing_slash(pytester: pytest.Pytester) -> None:
    assert (
        resolve(pytester, "--qahub-run=r", "--qahub-url=https://h.example/qahub/").url
        == "https://h.example/qahub"
    )


def test_journals_are_kept_by_sessions_or_by_days(pytester: pytest.Pytester) -> None:
    assert resolve(pytester, "--qahub-run=r").keep_journals == KeepJournals(sessions=20)
    assert resolve(pytester, "--qahub-run=r", "--qahub-keep-journals=3").keep_journals == KeepJournals(3)
    pytester.makeini("[pytest]\nqahub_keep_journals = 7d\n")
    assert resolve(pytester, "--qahub-run=r").keep_journals == KeepJournals(days=7)
    assert str(KeepJournals(days=1.5)) == "1.5d" and str(KeepJournals(sessions=0)) == "0"


def test_a_run_name_turns_the_plugin_on_without_a_run(pytester: pytest.Pytester) -> None:
    settings = resolve(pytester, "--qahub-run-name=nightly")
    assert (settings.run, settings.run_name) == (None, "nightly")
    assert resolve(pytester, env={"QAHUB_RUN_NAME": "env-name"}).run_name == "env-name"


def test_only_an_embedded_run_the_session_creates_is_completed_by_default(pytester: pytest.Pytester) -> None:
    url = "--qahub-url=http://h:1"
    assert resolve(pytester, "--qahub-run-name=n").completes is True
    assert resolve(pytester, "--qahub-run-name=n", "--qahub-no-complete").completes is False
    assert resolve(pytester, "--qahub-run-name=n", url).completes is False
    assert resolve(pytester, "--qahub-run-name=n", url, "--qahub-complete").completes is True
    assert resolve(pytester, "--qahub-run=r").completes is False
    assert resolve(pytester, "--qahub-run=r", url, env={"QAHUB_COMPLETE": "yes"}).completes is True


def test_run_tags_come_from_the_cli_the_environment_or_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nqahub_commit = ini-commit\nqahub_environment = ini-env\n")
    env = {"QAHUB_BRANCH": "env-branch", "QAHUB_ENVIRONMENT": "env-env"}
    settings = resolve(pytester, "--qahub-run=r", "--qahub-build-url=https://ci/1", env=env)
    assert settings.run_tags == {
        "environment": "env-env",
        "branch": "env-branch",
        "commit": "ini-commit",
        "build_url": "https://ci/1",
    }


def test_the_run_id_file_is_relative_to_where_pytest_was_started(pytester: pytest.Pytester) -> None:
    settings = resolve(pytester, "--qahub-run=r", "--qahub-run-id-file=out/id.txt")
    assert settings.run_id_file == pytester.path / "out" / "id.txt"


def test_missing_cases_are_created_embedded_or_when_asked(pytester: pytest.Pytester) -> None:
    url = "--qahub-url=http://h:1"
    assert resolve(pytester, "--qahub-run=r").creates_cases is True
    assert resolve(pytester, "--qahub-run=r", url).creates_cases is False
    assert resolve(pytester, "--qahub-run=r", url, "--qahub-unmapped=create").creates_cases is True


def test_the_delivery_process_stays_warm_outside_ci_only(pytester: pytest.Pytester) -> None:
    assert resolve(pytester, "--qahub-run=r").keep_warm == KEEP_WARM_S
    for ci in (
        {"CI": "true"},
        {"GITHUB_ACTIONS": "true"},
        {"JENKINS_URL": "https://ci"},
        {"TF_BUILD": "True"},
    ):
        assert resolve(pytester, "--qahub-run=r", env=ci).keep_warm == 0, ci
    assert resolve(pytester, "--qahub-run=r", env={"CI": "false"}).keep_warm == KEEP_WARM_S
    # Asked for, it stays in CI too; 0 turns it off anywhere.
    assert resolve(pytester, "--qahub-run=r", "--qahub-keep-warm=30", env={"CI": "1"}).keep_warm == 30
    assert resolve(pytester, "--qahub-run=r", env={"QAHUB_KEEP_WARM": "0"}).keep_warm == 0
    pytester.makeini("[pytest]\nqahub_keep_warm = 5\n")
    assert resolve(pytester, "--qahub-run=r").keep_warm == 5
    with pytest.raises(pytest.UsageError, match=r"--qahub-keep-warm 'soon' \(from QAHUB_KEEP_WARM\)"):
        resolve(pytester, "--qahub-run=r", env={"QAHUB_KEEP_WARM": "soon"})
