"""Which type a plain (unquoted) YAML scalar reads as, memoised.

PyYAML's resolver tries a list of regular expressions on every scalar, in Python, for each of
the ~50 scalars of every spec loaded and every string written; the same few hundred names,
sizes and keys recur across a repository, so the answer is remembered (`Caches.tags`).
"""

from __future__ import annotations

import yaml

from wukong_core.caches import PassMemo

STR = "tag:yaml.org,2002:str"
_resolve = yaml.resolver.Resolver().resolve
_MEMO_LONGEST = 256  # longer values (URLs, annotations) are rare and resolved afresh


def plain_tag(value: str, memo: PassMemo[str, str] | None = None) -> str:
    """The tag PyYAML's safe resolver gives `value` written plain: str, int, bool, null..."""
    if memo is None or len(value) > _MEMO_LONGEST:
        return _resolve(yaml.ScalarNode, value, (True, False))
    tag = memo.get(value)
    if tag is None:
        tag = _resolve(yaml.ScalarNode, value, (True, False))
        memo.put(value, tag)
    return tag
