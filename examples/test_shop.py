"""A small suite to try pytest-qahub on: ``pytest examples --qahub-run=local-1``.

One test fails and one is skipped on purpose, so the results show more than green.
"""

import pytest

PRICES = {"apple": 0.5, "pear": 0.75}


def basket_total(items: dict[str, int]) -> float:
    return sum(PRICES[name] * count for name, count in items.items())


@pytest.mark.qahub("SHOP-1")
def test_an_empty_basket_costs_nothing():
    assert basket_total({}) == 0


@pytest.mark.qahub("SHOP-2")
@pytest.mark.parametrize("count", [1, 2, 10])
def test_apples_cost_half_a_unit_each(count):
    assert basket_total({"apple": count}) == count * 0.5


@pytest.mark.qahub("SHOP-3", bug="SHOP-BUG-7", comment="pears were repriced")
def test_a_pear_costs_one_unit():
    assert basket_total({"pear": 1}) == 1.0


@pytest.mark.qahub("SHOP-4")
@pytest.mark.skip(reason="checkout is not built yet")
def test_checkout_charges_the_card():
    raise AssertionError("unreachable")


def test_an_unknown_fruit_is_refused():
    with pytest.raises(KeyError):
        basket_total({"mango": 1})
