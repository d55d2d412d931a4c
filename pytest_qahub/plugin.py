"""The pytest entry point: options, marker, hook specs, and the objects a run needs."""

from __future__ import annotations

import pytest

from . import xdist
from .attach import Attacher, PendingStore, new_session_id, pending_root
from .mapping import MARKER_HELP
from .settings import Settings, add_options, resolve_settings

SETTINGS_KEY = pytest.StashKey[Settings]()
STORE_KEY = pytest.StashKey[PendingStore]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``qahub`` option group and ini keys."""
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the plugin's own hooks."""
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


#: Options with which pytest runs no test (it lists tests or fixtures, or only sets fixtures up).
NO_TESTS_RUN = ("collectonly", "setuponly", "setupplan", "showfixtures", "show_fixtures_per_test")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; with a run, register the capture and (not on workers) the reporter."""
    config.addinivalue_line("markers", MARKER_HELP)
    settings = resolve_settings(config)
    if settings is None or any(config.getoption(name, False) for name in NO_TESTS_RUN):
        return  # no results: no run, no journal, no delivery process
    config.stash[SETTINGS_KEY] = settings
    from .capture import Capture
    from .evidence import Evidence

    given = xdist.worker_input(config)
    session = given.get(xdist.SESSION_INPUT) if given is not None else None
    store = PendingStore(pending_root(config.rootpath) / (session or new_session_id()))
    config.stash[STORE_KEY] = store
    evidence = Evidence(store, settings.screenshots == "failed")
    capture = Capture(config, settings, evidence)
    if given is not None:  # workers capture (and name unknown codes); the controller sends
        from .xdist_worker import SentReports, WorkerWarnings

        # Registered before the capture: pluggy calls the later one first among tryfirst hooks,
        # so the capture maps the items, then the warning is given, then xdist reports the
        # collection (and the controller may start tests only after that).
        config.pluginmanager.register(WorkerWarnings(config, capture), "qahub-worker-warnings")
        config.pluginmanager.register(capture, "qahub-capture")
        config.pluginmanager.register(SentReports(), "qahub-sent-reports")
        return
    config.pluginmanager.register(capture, "qahub-capture")
    from .reporter import Reporter

    reporter = Reporter(config, settings, capture, store.directory)
    config.pluginmanager.register(reporter, "qahub-reporter")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove old journals with nothing left to send (after the reporter closed this session's)."""
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None or xdist.is_worker(config):
        return
    from .journal import default_directory, prune_delivered

    prune_delivered(default_directory(config.rootpath), settings.keep_journals)


@pytest.fixture
def qahub_attach(request: pytest.FixtureRequest) -> Attacher:
    """Attach a file or bytes to this test's QAHub result.

    ``qahub_attach(path_or_bytes, name=None, mime=None)``; without a QAHub run it does nothing.
    """
    return Attacher(request.node, request.config.stash.get(STORE_KEY, None))
