"""Kubernetes name patterns, shared by the spec models and the HTTP layer.

Plain `re`, no pydantic: the HTTP layer checks a namespace with these on every cold start, and
must not pay for building the spec models to do it (README, The HTTP function).
"""

from __future__ import annotations

import re

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = re.compile(DNS_LABEL)


def is_dns_label(text: str) -> bool:
    """A Kubernetes name of a namespace, a label-like name: DNS-1123, at most 63 characters."""
    return len(text) <= 63 and _DNS_LABEL.match(text) is not None
