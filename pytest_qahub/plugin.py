"""The pytest entry point: options, marker, hook specs, and the objects a run needs."""

from __future__ import annotations

import pytest

from .mapping import MARKER_HELP
from .settings import Settings, add_options, resolve_settings

SETTINGS_KEY = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``qahub`` option group and ini keys."""
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Declare the plugin's own hooks."""
    from . import hooks

    pluginmanager.add_hookspecs(hooks)


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker; with a run, register the capture and (not on workers) the reporter."""
    config.addinivalue_line("markers", MARKER_HELP)
    settings = resolve_settings(config)
    if settings is None:
        return
    config.stash[SETTINGS_KEY] = settings
    from .capture import Capture

    config.pluginmanager.register(Capture(config, settings), "qahub-capture")
    if _is_xdist_worker(config):
        return  # workers only capture; the controller sends
    from .reporter import Reporter, XdistHooks
    from .transport import make_transport

    reporter = Reporter(config, settings, make_transport(settings, config))
    config.pluginmanager.register(reporter, "qahub-reporter")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(reporter), "qahub-xdist")
