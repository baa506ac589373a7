"""Kubernetes quantities: what users write for memory and disk sizes, read as Kubernetes does."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from wukong_core.spec.quantity import PATTERN, parse_quantity


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1", Decimal(1)),
        ("512Mi", Decimal(512 * 2**20)),
        ("20Gi", Decimal(20 * 2**30)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("1Ti", Decimal(2**40)),
        ("1Ei", Decimal(2**60)),
        ("1k", Decimal(1000)),
        ("1T", Decimal(10**12)),
        ("1E", Decimal(10**18)),  # one exa, not an exponent without digits
        ("100m", Decimal("0.1")),
        ("250u", Decimal("0.00025")),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("2.5e-3", Decimal("0.0025")),
        ("+5", Decimal(5)),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("0", Decimal(0)),
        (4096, Decimal(4096)),
        (0, Decimal(0)),
    ],
)
def test_a_quantity_reads_as_kubernetes_reads_it(written: str | int, value: Decimal) -> None:
    assert parse_quantity(written) == value
    if isinstance(written, str):
        assert re.match(PATTERN, written), "the CRD pattern must accept what the parser accepts"


@pytest.mark.parametrize(
    "written",
    ["", "Gi", "1 Gi", " 1Gi", "1gi", "1GB", "1G i", "-1Gi", "1.2.3", "0x10", "1e", "1Ki2", "lots"],
)
def test_a_malformed_quantity_is_refused_with_an_example_of_the_form(written: str) -> None:
    with pytest.raises(ValueError, match=r"is not a Kubernetes quantity .*512Mi, 20Gi"):
        parse_quantity(written)
    assert not re.match(PATTERN, written), "the CRD pattern must refuse what the parser refuses"


@pytest.mark.parametrize("flag", [True, False])
def test_true_or_false_is_not_a_quantity(flag: bool) -> None:
    with pytest.raises(ValueError, match="not true/false"):
        parse_quantity(flag)


def test_a_negative_number_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        parse_quantity(-1)


@pytest.mark.parametrize("written", ["1e99999999999", "1e" + "9" * 5000])
def test_an_absurd_exponent_is_out_of_range_not_a_crash(written: str) -> None:
    with pytest.raises(ValueError, match="out of range for a quantity"):
        parse_quantity(written)
