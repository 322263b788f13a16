"""Near-miss hints for error messages about unknown names (variants, profiles, keys, tables)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, options: Iterable[str]) -> str:
    """`; did you mean 'x'?` naming the option closest to `name`, or "" when none is close.

    Args:
        name: the unknown name as the user wrote it.
        options: the names that would have been accepted.
    """
    close = difflib.get_close_matches(name, [str(option) for option in options], n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
