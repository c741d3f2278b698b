"""One rule for which documents a pattern names, the same in `find` and `restore --include`.

A pattern without '/' matches a document's name in any folder; one with a '/' matches the
whole path. Matching ignores case, as office users type names. Paths in a snapshot have no
leading '/', so one typed in front (`/Invoices/*`) anchors at the top instead. `*` and `?`
match '/' too, so `Invoices/*` is everything under Invoices.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

from docbackup.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str  # as the user typed it, for messages
    whole: bool  # match the whole path, not only the name
    _regex: re.Pattern[str]

    def matches(self, path: str) -> bool:
        target = path if self.whole else path.rsplit("/", 1)[-1]
        return self._regex.match(target.lower()) is not None


def pattern(text: str) -> Pattern:
    """The compiled pattern, or ConfigError (exit 2) for one that can match nothing."""
    glob = text.lstrip("/")
    if not glob:
        raise ConfigError(f"the pattern {text!r} is empty")
    # Compiled once: fnmatch.fnmatchcase would look it up in its cache per document.
    return Pattern(text, "/" in text, re.compile(fnmatch.translate(glob.lower())))


class Selection:
    """Any of several patterns; none at all selects every document.

    `under` narrows it to one document or one folder named exactly (case and all, no
    wildcards), as the web app restores what the person clicked on."""

    def __init__(self, texts: tuple[str, ...] = (), *, under: str = "") -> None:
        self.patterns = tuple(pattern(t) for t in texts)
        self.under = under.strip("/")

    def __bool__(self) -> bool:
        return bool(self.patterns) or bool(self.under)

    def matches(self, path: str) -> bool:
        if self.under and path != self.under and not path.startswith(self.under + "/"):
            return False
        return not self.patterns or any(p.matches(path) for p in self.patterns)

    def describe(self) -> str:
        said = " or ".join(repr(p.text) for p in self.patterns)
        if not self.under:
            return said
        return repr(self.under) + (f" matching {said}" if said else "")
