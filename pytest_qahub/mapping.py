"""Map a test item to a QAHub test case: the ``qahub`` marker, then the hook."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from .warning import Notices, describe

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


def base_nodeid(nodeid: str, name: str | None = None) -> str:
    """Return an item's node id without its parametrization (``test_a[1-2]`` -> ``test_a``).

    Only the trailing ``[...]`` of the item's own name counts: a folder or a file may have
    brackets in its name (``cases[v2]/test_a.py::test_one`` stays whole), and a parameter may
    hold brackets and ``::`` (``test_url[ldap://[::1]/x]``). Without ``name`` the suffix is the
    bracket that closes the node id, back to the one that opens it.
    """
    if name is None:
        return nodeid[: _suffix_start(nodeid)]
    bracket = name.find("[")
    if bracket < 0 or not name.endswith("]") or not nodeid.endswith(name):
        return nodeid
    return nodeid[: len(nodeid) - len(name) + bracket]


def _suffix_start(nodeid: str) -> int:
    """Where the node id's closing ``[...]`` begins (brackets nest); its length if it has none."""
    if not nodeid.endswith("]"):
        return len(nodeid)
    depth = 0
    for index in range(len(nodeid) - 1, -1, -1):
        char = nodeid[index]
        if char == "]":
            depth += 1
        elif char == "[":
            depth -= 1
            if depth == 0:
                return index
    return len(nodeid)  # unbalanced: no parameters to strip


def name_title(nodeid: str) -> str:
    """A test's name from its node id: ``t/test_cart.py::TestCart::test_add[1]`` -> ``TestCart.test_add``."""
    return base_nodeid(nodeid).partition("::")[2].replace("::", ".") or nodeid


def doc_title(item: pytest.Item | pytest.Collector) -> str | None:
    """The first line of the test's (or class's, module's) docstring, or None."""
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


def closest_marker(item: pytest.Item) -> tuple[pytest.Mark, pytest.Item | pytest.Collector] | None:
    """``item.get_closest_marker("qahub")`` without its generators (it runs for every item),
    with the node that holds it: the item, its class, its module."""
    node: pytest.Item | pytest.Collector | None = item
    while node is not None:
        for mark in node.own_markers:
            if mark.name == MARKER:
                return mark, node
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


def _from_marker(item: pytest.Item, create_missing: bool, notices: Notices | None) -> CaseMapping | None:
    found = closest_marker(item)
    if found is None:
        return None
    marker, holder = found
    code = marker.args[0] if marker.args else marker.kwargs.get("code")
    extra = marker.kwargs.keys() - _MARKER_KEYWORDS
    if not isinstance(code, str) or not code.strip() or len(marker.args) > 1 or extra:
        shown = f"@pytest.mark.qahub{marker.args!r} {marker.kwargs!r}"
        if notices is not None:
            notices.tell(
                f"marker {shown} on {holder.nodeid}",
                f"QAHub: {shown} on {holder.nodeid} is not qahub(code, bug=, bug_url=, comment=); "
                "the tests it marks are treated as unmapped",
            )
        return None
    title = _title(item, holder) if create_missing else None
    if not marker.kwargs:  # the common case: a code alone
        return CaseMapping(code.strip(), create_title=title)
    return CaseMapping(
        code=code.strip(),
        bug_ticket_key=_optional(marker.kwargs.get("bug")),
        bug_ticket_url=_optional(marker.kwargs.get("bug_url")),
        comment=_optional(marker.kwargs.get("comment")),
        create_title=title,
    )


def _title(item: pytest.Item, holder: pytest.Item | pytest.Collector) -> str:
    """The title of a case created for a marker: the test's (`case_title`), or the marked class's or module's.

    A class or module is titled by the first line of its docstring, else by its name.
    """
    if holder is item:
        return case_title(item)
    return doc_title(holder) or name_title(holder.nodeid)


def _optional(value: object) -> str | None:
    return str(value) if value is not None and str(value) != "" else None


def map_item(
    item: pytest.Item, unmapped: str, create_missing: bool = False, notices: Notices | None = None
) -> CaseMapping | None:
    """Return the case an item reports to, or None when it is unmapped and skipped.

    The marker wins; then the first ``pytest_qahub_test_case`` answer; then, with
    ``unmapped == "create"``, a case whose code is the node id (parameters stripped).
    With ``create_missing`` (the embedded collector, or ``unmapped == "create"``) a marker's
    or hook's code that does not exist yet is created too, titled with `case_title` (a class
    or module marker: after the class or module). A bad marker, or a hook that raises, is
    told to ``notices`` and leaves the item unmapped.
    """
    mapping = _from_marker(item, create_missing, notices)
    if mapping is not None:
        return mapping
    try:
        code = item.config.hook.pytest_qahub_test_case(item=item)
    except Exception as ex:  # a conftest's hook may raise anything; pytest must not see it
        code = None
        if notices is not None:
            notices.tell(
                "pytest_qahub_test_case raised",
                f"QAHub: pytest_qahub_test_case raised {describe(ex)} for {item.nodeid}; "
                "the tests it raises for are treated as unmapped",
            )
    if isinstance(code, str) and code.strip():
        return CaseMapping(code=code.strip(), create_title=case_title(item) if create_missing else None)
    if unmapped == "create":
        # Long node ids keep their end: the test's own name is the useful part.
        return CaseMapping(
            code=base_nodeid(item.nodeid, item.name)[-CODE_LIMIT:], create_title=case_title(item)
        )
    return None
