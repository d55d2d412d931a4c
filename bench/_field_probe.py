"""A probe for ``bench/field.py``: what a suite should leave in the collector, seen from pytest.

In the process that owns the session it records, and writes as JSON to the file named by
``BENCH_FIELD_FILE`` at ``pytest_unconfigure``:

- ``codes``: each collected item's node id and the test case code an unmapped test reports to
  (``--qahub-unmapped=create``): the node id without the item's own parametrization id, its
  last 200 characters. Taken from the item (``callspec.id``), not from the text of its node
  id, so that brackets elsewhere in it (a folder's name) do not count as parameters. Empty
  on an xdist controller, which collects nothing.
- ``outcomes``: each node id's outcome class from its reports: ``failed`` when a phase
  failed (a result of FAILED or BROKEN), else ``passed`` when its call passed (an xpass
  too), else ``skipped`` (skipped, xfailed).

The same in every variant, with or without the plugin, so that its cost is the same.
Loaded with ``-p _field_probe`` (this folder on ``PYTHONPATH``); not part of the package.
"""

from __future__ import annotations

import json
import os

import pytest

FILE_ENV = "BENCH_FIELD_FILE"
CODE_LIMIT = 200  # what the plugin keeps of a long node id: its end

_codes: dict[str, str] = {}
_outcomes: dict[str, str] = {}


def case_code(item: pytest.Item) -> str:
    """The code an unmapped item reports to: its node id without its parametrization."""
    nodeid = item.nodeid
    callspec = getattr(item, "callspec", None)
    suffix = f"[{callspec.id}]" if callspec is not None else ""
    if suffix and nodeid.endswith(suffix):
        nodeid = nodeid[: -len(suffix)]
    return nodeid[-CODE_LIMIT:]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    for item in session.items:
        _codes[item.nodeid] = case_code(item)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    nodeid = report.nodeid
    if report.failed:
        _outcomes[nodeid] = "failed"
    elif report.when == "call" and report.passed and _outcomes.get(nodeid) != "failed":
        _outcomes[nodeid] = "passed"
    else:
        _outcomes.setdefault(nodeid, "skipped")


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get(FILE_ENV)
    if path and not hasattr(config, "workerinput"):  # not on an xdist worker
        with open(path, "w") as out:
            json.dump({"codes": _codes, "outcomes": _outcomes}, out)
