"""End to end: settings in a pytest subprocess; a bad one stops it before any test runs."""

from __future__ import annotations

import pytest


def test_a_bad_value_stops_pytest_before_any_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QAHUB_BATCH_SIZE", "lots")
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("--qahub-run=r", "--qahub-url=http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: Invalid --qahub-batch-size 'lots' (from QAHUB_BATCH_SIZE): must be a whole number"]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_an_unusable_embedded_database_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QAHUB_URL", raising=False)
    monkeypatch.setenv("QAHUB_DATABASE_URL", "mongodb://nowhere/db")
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest_subprocess("--qahub-run=r")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: QAHub embedded collector: QAHUB_DATABASE_URL 'mongodb://nowhere/db'*"]
    )
    result.stdout.no_fnmatch_line("*passed*")


def test_without_a_run_the_plugin_registers_only_its_options_and_marker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QAHUB_RUN", raising=False)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.qahub("TC-1")
        def test_a(request):
            names = {name for name, _ in request.config.pluginmanager.list_name_plugin()}
            assert not {"qahub-capture", "qahub-reporter", "qahub-xdist"} & names
        """
    )
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".qahub").exists()
