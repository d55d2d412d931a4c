"""The shortcut for the commonest marker, ``qahub("CODE")``, agrees with the full mapping rules."""

from __future__ import annotations

import pytest

from pytest_qahub.mapping import CaseMapping, base_nodeid, case_title, map_item, plain_code

ITEMS = """
import pytest

@pytest.mark.qahub("A-1")
def test_code():
    pass

@pytest.mark.qahub("  A-2 ")
def test_code_with_spaces():
    pass

@pytest.mark.qahub(code="A-3")
def test_code_by_keyword():
    pass

@pytest.mark.qahub("A-4", bug="LIN-4")
def test_code_and_bug():
    pass

@pytest.mark.qahub("")
def test_empty_code():
    pass

@pytest.mark.qahub(5)
def test_code_not_a_string():
    pass

@pytest.mark.qahub("A-6")
@pytest.mark.qahub("A-7")
def test_two_markers():
    pass

@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.qahub("A-8"))])
def test_parameters(n):
    pass

@pytest.mark.qahub("A-9")
class TestMarkedClass:
    def test_in_class(self):
        pass

def test_no_marker():
    pass
"""


def test_the_shortcut_takes_a_code_alone_and_leaves_every_other_marker_to_the_full_rules(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    qahub: test case")
    items = {item.name: item for item in pytester.getitems(ITEMS)}
    assert {name: plain_code(item) for name, item in items.items()} == {
        "test_code": "A-1",
        "test_code_with_spaces": "A-2",
        "test_code_by_keyword": None,
        "test_code_and_bug": None,
        "test_empty_code": None,
        "test_code_not_a_string": None,
        "test_two_markers": map_item(items["test_two_markers"], "skip").code,  # type: ignore[union-attr]
        "test_parameters[1]": None,
        "test_parameters[2]": "A-8",
        "test_in_class": None,  # the class's marker: found by the full rules
        "test_no_marker": None,
    }
    for name, item in items.items():
        code = plain_code(item)
        if code is not None:
            assert map_item(item, "skip") == CaseMapping(code), name
    assert map_item(items["test_in_class"], "skip") == CaseMapping("A-9")


@pytest.mark.parametrize(
    ("nodeid", "name", "base"),
    [
        ("t.py::test_a[1-2]", "test_a[1-2]", "t.py::test_a"),
        ("t.py::test_a[x[1]]", "test_a[x[1]]", "t.py::test_a"),
        ("t.py::TestC::test_a[a::b]", "test_a[a::b]", "t.py::TestC::test_a"),
        ("cases[v2]/test_a.py::test_one", "test_one", "cases[v2]/test_a.py::test_one"),
        ("cases[v2]/test_a.py::test_p[1]", "test_p[1]", "cases[v2]/test_a.py::test_p"),
        ("t.py::test_a[1]x", "test_a[1]x", "t.py::test_a[1]x"),
    ],
)
def test_only_the_trailing_brackets_of_the_items_name_are_its_parameters(
    nodeid: str, name: str, base: str
) -> None:
    assert base_nodeid(nodeid, name) == base
    assert base_nodeid(nodeid) == base  # the item's name read off its node id


def test_a_parameter_holding_brackets_and_colons_is_still_the_parameter() -> None:
    nodeid = "tests/test_urlutils.py::test_query_params[ldap://[::192.9.5.5]/dc=example??sub]"
    assert base_nodeid(nodeid) == "tests/test_urlutils.py::test_query_params"
    assert base_nodeid(nodeid, "test_query_params[ldap://[::192.9.5.5]/dc=example??sub]") == (
        "tests/test_urlutils.py::test_query_params"
    )


TITLED = '''
import pytest

def test_with_doc():
    """

    Adds two apples.
    More lines.
    """

@pytest.mark.parametrize("n", [1])
def test_plain(n):
    pass

class TestCart:
    def test_method(self):
        pass
'''


def test_a_created_case_is_titled_by_the_docstring_else_the_test_name(pytester: pytest.Pytester) -> None:
    items = {item.name: item for item in pytester.getitems(TITLED)}
    assert {name: case_title(item) for name, item in items.items()} == {
        "test_with_doc": "Adds two apples.",
        "test_plain[1]": "test_plain",
        "test_method": "TestCart.test_method",
    }
    assert map_item(items["test_plain[1]"], "create").create_title == "test_plain"  # type: ignore[union-attr]
