"""Which paths a source leaves out: gitignore lines, decided the way git decides them.

pathspec turns each line into a regular expression. Those expressions also match everything
below what the line names (`build/` matches `build/a/b.pdf`), which is right for one line but
not for a list of them: git looks at a path one folder at a time, and once a folder is out,
nothing under it comes back, whatever a later `!` line says. So the lines are applied here to
one level of the path at a time, the last matching line deciding, and a walk can leave an
excluded folder unopened without changing the result.

Narrowing an expression to the path itself relies on the shapes pathspec 1.1.1 gives them (the
version is pinned); a test compares whole walks with `git ls-files` to catch a change. Two
differences from git remain, both as pathspec has them: `?` and `[...]` match one character
where git matches one byte of a UTF-8 name (restic, like a reader, counts characters), and POSIX
classes such as `[[:digit:]]` are not understood.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

from docbackup.errors import ConfigError

IGNORE_FILE = ".docbackupignore"
# Patterns in the thousands would be matched against every path of every night; a file this
# large is a mistake, not a list of exclusions.
MAX_IGNORE_FILE = 1024 * 1024

# Left out unless turned off; a user re-includes one with `!pattern`. Each is recreated by its
# program and holds nothing of the user's own, so a restore never misses it.
DEFAULT_EXCLUDES: tuple[str, ...] = (
    # Word, Excel and PowerPoint owner files: who has the document open, removed on close.
    "~$*",
    # LibreOffice and OpenOffice lock files, for the same purpose.
    ".~lock.*#",
    # Office's in-progress saves and scratch copies (~WRL0001.tmp, ~DF3A2B.tmp). Like any
    # pattern without a trailing '/', it also matches a folder of that name, as in git.
    "*.tmp",
    # Access's lock file beside an open database. Not `*.ldb`, the older Access lock: LevelDB
    # stores its tables under that extension.
    "*.laccdb",
    # Windows Explorer's thumbnail cache, rebuilt from the pictures themselves.
    "Thumbs.db",
    # macOS Finder's per-folder window settings, rewritten whenever a folder is browsed.
    ".DS_Store",
    # Deliberately not here: desktop.ini (a folder's custom icon and display name), `._*`
    # (macOS keeps Finder tags and resource forks there on other file systems), and *.bak,
    # *.wbk, *.asd (backup and autorecover copies: what a user may need after a bad save).
)

# pathspec's expression for a folder pattern that matches any folder (`**/`, `/**/`).
_ANY_FOLDER = "(?P<ps_d>/)"


@dataclass(frozen=True, slots=True)
class _Rule:
    exact: re.Pattern[str]  # matches the path itself, not what is below it
    exclude: bool  # False for a `!` line


class Excluder:
    """Decides which paths of a source are left out.

    Built from gitignore lines in increasing priority: the defaults (`defaults=True`), the
    source's ignore file (added by the source with `with_ignore_file`), then `patterns`, from
    the command line or the config file. The last line that matches decides, so a command-line
    `!*.tmp` brings temporary files back. Paths are relative to the source root and
    '/'-separated; a folder is written with a trailing '/'. An invalid pattern is a ConfigError.
    """

    def __init__(self, patterns: Iterable[str] = (), *, defaults: bool = True) -> None:
        self.patterns = tuple(patterns)
        self.defaults = defaults
        self.ignore_file: tuple[str, ...] = ()
        # Checked now, so a mistyped --exclude fails before anything is read or written.
        self._given = _rules(self.patterns)
        self._use([])

    def with_ignore_file(self, lines: Sequence[str], name: str = IGNORE_FILE) -> Excluder:
        """These rules with an ignore file's lines between the defaults and the patterns;
        `name` says where the file is, for the error an invalid line raises."""
        combined = Excluder(self.patterns, defaults=self.defaults)
        combined.ignore_file = tuple(lines)
        combined._use(_rules(combined.ignore_file, name))
        return combined

    def _use(self, ignore_file: list[_Rule]) -> None:
        builtin = _rules(DEFAULT_EXCLUDES if self.defaults else ())
        # Newest first: the first rule that matches is the last line that matches.
        self._rules = tuple(reversed([*builtin, *ignore_file, *self._given]))
        # A listing in key order asks about the same folders key after key.
        self._folder_matches = functools.lru_cache(maxsize=4096)(self.matches)

    @property
    def lines(self) -> tuple[str, ...]:
        """Every line in force, lowest priority first."""
        builtin = DEFAULT_EXCLUDES if self.defaults else ()
        return (*builtin, *self.ignore_file, *self.patterns)

    def matches(self, path: str) -> bool:
        """Is this path itself excluded? Its folders are taken as kept: this is what a walk
        asks of each entry once it has not pruned the folder it is in."""
        for rule in self._rules:
            if rule.exact.search(path):
                return rule.exclude
        return False

    def excluded_at(self, path: str) -> str | None:
        """The outermost excluded part of `path` (one of its folders, with its '/', or the
        path itself), or None when the path is kept."""
        end = path.find("/")
        while end != -1 and end != len(path) - 1:
            folder = path[: end + 1]
            if self._folder_matches(folder):
                return folder
            end = path.find("/", end + 1)
        return path if self.matches(path) else None

    def excludes(self, path: str) -> bool:
        """Is `path` left out, by its own name or by one of its folders?"""
        return self.excluded_at(path) is not None


def ignore_file_lines(data: bytes, name: str) -> list[str]:
    """The lines of an ignore file's bytes; pathspec itself skips comments and blank lines."""
    if len(data) > MAX_IGNORE_FILE:
        raise ConfigError(f"{name} is larger than {MAX_IGNORE_FILE // 1024} KiB")
    # Undecodable bytes become the same surrogate escapes Linux gives undecodable file names,
    # so a line can name such a file byte for byte. A byte order mark is skipped, as git does.
    text = data.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    # Only '\n' ends a line, as in git: str.splitlines would also split at U+0085 and U+2028,
    # which can be part of a file name.
    return [line.removesuffix("\r") for line in text.split("\n")]


def _rules(lines: Iterable[str], where: str | None = None) -> list[_Rule]:
    """Each line as a rule matching only the path it names; comments and blanks give none.
    `where` names the file the lines come from, for the error an invalid one raises."""
    rules = []
    for n, line in enumerate(lines, 1):
        try:
            pattern = GitIgnoreSpecPattern(line)
        except (ValueError, re.error):  # pathspec's GitIgnorePatternError is a ValueError
            origin = "exclude pattern" if where is None else f"{where} line {n}: pattern"
            raise ConfigError(f"{origin} {line!r} is not valid gitignore syntax") from None
        if pattern.regex is not None and pattern.include is not None:
            rules.append(_Rule(_exact(pattern.regex, line), pattern.include))
    return rules


def _exact(regex: re.Pattern[str], line: str) -> re.Pattern[str]:
    """pathspec's expression for `line`, narrowed to the path itself."""
    source = regex.pattern
    if source.endswith("/"):
        # `dir/**`: everything below dir, but not dir itself.
        source += ".+"
    elif line.rstrip().endswith("/**/") and source != _ANY_FOLDER:
        # `dir/**/`: pathspec reads it as `dir/`; git means only the folders below dir.
        source += ".+/"
    # DOTALL: a file name may hold a newline, and `.` must match it as it matches any other.
    return re.compile(f"(?:{source})\\Z", regex.flags | re.DOTALL)
