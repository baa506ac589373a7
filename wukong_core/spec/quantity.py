"""Kubernetes resource quantities, parsed without importing the `kubernetes` client.

`kubernetes.utils.parse_quantity` would do, but importing it loads the whole client (~0.5 s of
cold start), so the pure core carries this small parser. Grammar: k8s.io/apimachinery
`resource.Quantity` (a signed decimal number, optional exponent or SI / binary suffix).
"""

from __future__ import annotations

import re
from decimal import Decimal

from wukong_core.errors import quoted

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}

# The pattern the Wukong CRD publishes too, so editors and the API server agree with us.
PATTERN = r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
_RE = re.compile(PATTERN)


def parse_quantity(value: str | int) -> Decimal:
    """Return the quantity's value in base units; ValueError names what is wrong."""
    if isinstance(value, bool):
        raise ValueError("a quantity is a number or a string like 20Gi, not true/false")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a quantity must not be negative")
        return Decimal(value)
    m = _RE.match(value)
    if not m:
        raise ValueError(
            f"{quoted(value)} is not a Kubernetes quantity (write it like 512Mi, 20Gi or 1T)"
        )
    number, suffix = value[: m.start(3)] if m.group(3) else value, m.group(3) or ""
    try:
        if suffix in _SUFFIX:  # before the exponent: "1E" is one exa, "1Ei" one exbi
            return Decimal(number) * _SUFFIX[suffix]
        return Decimal(number) * (Decimal(10) ** int(suffix[1:]))
    except (ArithmeticError, ValueError) as e:  # decimal.Overflow; int() of 5,000 digits
        raise ValueError(f"{quoted(value)} is out of range for a quantity") from e
