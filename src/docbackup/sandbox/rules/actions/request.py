"""A request as the authorization layer sees it, and the one error for one it cannot map.

Separate so each service's mapping (`s3`, `services`) and the table in `__init__` share the
type without importing one another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState


class UnknownRequest(Exception):
    """A request this layer cannot map to its permissions: answered loudly, never allowed."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # percent-decoded
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes  # read only for the services whose parameters travel in the body
    service: str  # from the signature's credential scope
    region: str
    secure: bool

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


Base = dict[str, list[str]]  # the condition keys every request carries
Mapper = Callable[[Request, MotoState, Base], list[Ask]]
