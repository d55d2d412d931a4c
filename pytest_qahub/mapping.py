"""Map a test item to a QAHub test case: the ``qahub`` marker, then the hook."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from .warning import QAHubWarning

MARKER = "qahub"
MARKER_HELP = (
    "qahub(code, bug=None, bug_url=None, comment=None): report this test as QAHub test case "
    "`code`, optionally with a bug ticket key, bug URL and a comment"
)
CODE_LIMIT = 200
TITLE_LIMIT = 4000
_MARKER_KEYWORDS = frozenset({"code", "bug", "bug_url", "comment"})


class CaseMapping(NamedTuple):
    """The test case an item reports to, and the extra fields its marker sets."""

    code: str
    bug_ticket_key: str | None = None
    bug_ticket_url: str | None = None
    comment: str | None = None
    #: Set when the case does not exist and should be created with this title.
    create_title: str | None = None


def base_nodeid(nodeid: str) -> str:
    """Return a node id without its parametrization (``test_a[1-2]`` -> ``test_a``)."""
    head, bracket, _ = nodeid.partition("[")
    return head if bracket else nodeid


def name_title(nodeid: str) -> str:
    """A test's name from its node id: ``t/test_cart.py::TestCart::test_add[1]`` -> ``TestCart.test_add``."""
    return base_nodeid(nodeid).partition("::")[2].replace("::", ".") or nodeid


def doc_title(item: pytest.Item) -> str | None:
    """The first line of the test's docstring, or None."""
    doc = getattr(getattr(item, "obj", None), "__doc__", None)
    if isinstance(doc, str):
        for line in doc.splitlines():
            if line.strip():
                return line.strip()[:TITLE_LIMIT]
    return None


def case_title(item: pytest.Item) -> str:
    """The title of a case created for an item: its docstring's first line, else its name."""
    return doc_title(item) or name_title(item.nodeid)


def param_id(item: pytest.Item) -> str | None:
    """Return the item's parametrization id, or None."""
    callspec = getattr(item, "callspec", None)
    return callspec.id if callspec is not None else None


def closest_marker(item: pytest.Item) -> pytest.Mark | None:
    """``item.get_closest_marker("qahub")`` without its generators: it runs for every item."""
    node: pytest.Item | pytest.Collector | None = item
    while node is not None:
        for mark in node.own_markers:
            if mark.name == MARKER:
                return mark
        node = node.parent
    return None


def plain_code(item: pytest.Item) -> str | None:
    """The code of an item whose own ``qahub`` marker is a code alone, as most are; else None.

    None sends the item to `map_item`: no marker of its own, more than a code, or a bad one.
    """
    for mark in item.own_markers:
        if mark.name == MARKER:
            code = mark.args[0] if len(mark.args) == 1 and not mark.kwargs else None
            return (code.strip() or None) if isinstance(code, str) else None
    return None


def _from_marker(item: pytest.Item, create_missing: bool) -> CaseMapping | None:
    marker = closest_marker(item)
    if marker is None:
        return None
    code = marker.args[0] if marker.args else marker.kwargs.get("code")
    extra = marker.kwargs.keys() - _MARKER_KEYWORDS
    if not isinstance(code, str) or not code.strip() or len(marker.args) > 1 or extra:
        item.warn(
            QAHubWarning(
                f"@pytest.mark.qahub{marker.args!r} {marker.kwargs!r} is not "
                "qahub(code, bug=, bug_url=, comment=); the test is treated as unmapped"
            )
        )
        return None
    title = case_title(item) if create_missing else None
    if not marker.kwargs:  # the common case: a code alone
        return CaseMapping(code.strip(), create_title=title)
    return CaseMapping(
        code=code.strip(),
        bug_ticket_key=_optional(marker.kwargs.get("bug")),
        bug_ticket_url=_optional(marker.kwargs.get("bug_url")),
        comment=_optional(marker.kwargs.get("comment")),
        create_title=title,
    )


def _optional(value: object) -> str | None:
    return str(value) if value is not None and str(value) != "" else None


def map_item(item: pytest.Item, unmapped: str, create_missing: bool = False) -> CaseMapping | None:
    """Return the case an item reports to, or None when it is unmapped and skipped.

    The marker wins; then the first ``pytest_qahub_test_case`` answer; then, with
    ``unmapped == "create"``, a case whose code is the node id (parameters stripped).
    With ``create_missing`` (the embedded collector, or ``unmapped == "create"``) a marker's
    or hook's code that does not exist yet is created too. Created cases are titled with
    `case_title`.
    """
    mapping = _from_marker(item, create_missing)
    if mapping is not None:
        return mapping
    code = item.config.hook.pytest_qahub_test_case(item=item)
    if isinstance(code, str) and code.strip():
        return CaseMapping(code=code.strip(), create_title=case_title(item) if create_missing else None)
    if unmapped == "create":
        # Long node ids keep their end: the test's own name is the useful part.
        return CaseMapping(code=base_nodeid(item.nodeid)[-CODE_LIMIT:], create_title=case_title(item))
    return None
