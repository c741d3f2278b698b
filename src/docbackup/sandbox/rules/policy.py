"""IAM policy evaluation as AWS documents it, for one account.

What is modelled (AWS's "policy evaluation logic" and "condition operators" pages):
- an explicit Deny in any policy that applies wins; otherwise an Allow is needed;
- for S3 within one account, an Allow in either the caller's identity policies or the bucket
  policy is enough; for KMS the key policy must allow, either the caller directly or the
  account (the `...:root` principal), which hands the decision to the caller's IAM policies;
- Action/NotAction, Resource/NotResource with `*` and `?` wildcards (actions case-insensitive,
  resources case-sensitive); Principal "*", an account, a role (which also matches its assumed
  sessions), a user, a service;
- conditions: every operator in a block, every key under an operator, must hold (AND); the
  values listed for one key are alternatives (OR), and for a negated operator the request value
  must match none of them. A key absent from the request makes positive operators false and
  negated operators true; `...IfExists` makes any operator true on an absent key; `Null` tests
  presence. String*, Arn* (each of an ARN's six parts on its own), Bool, Numeric*, Null,
  `...IfExists`, ForAnyValue:/ForAllValues:.

What is not: policy variables (`${aws:username}`), NotPrincipal, Date and IpAddress operators
(a policy using one raises `Unmodelled` rather than being evaluated wrongly), and permission
boundaries, session policies, SCPs and cross-account access (the sandbox has none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

Context = Mapping[str, Sequence[str]]  # condition key (lower case) -> the request's values


class Unmodelled(Exception):
    """A policy uses something this evaluator does not model: refuse to guess."""


@dataclass(frozen=True, slots=True)
class Principal:
    arn: str  # arn:aws:iam::A:user/N, arn:aws:sts::A:assumed-role/R/S, arn:aws:iam::A:root
    account: str
    service: str = ""  # "s3.amazonaws.com" when a service acts for itself

    @property
    def role_arn(self) -> str:
        """For an assumed-role session, the role it came from (resource policies name roles)."""
        m = re.match(r"arn:([^:]+):sts::(\d+):assumed-role/([^/]+)/", self.arn)
        return f"arn:{m[1]}:iam::{m[2]}:role/{m[3]}" if m else self.arn


@dataclass(frozen=True, slots=True)
class Ask:
    """One permission AWS checks for a request: action on resource, with the request's context."""

    action: str
    resource: str
    context: Context = field(default_factory=dict)
    # The resource-based policy AWS consults for it, and its kind for the denial message.
    resource_policy: dict[str, Any] | None = None
    policy_kind: str = ""  # "bucket policy" or "key policy"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    ask: Ask
    reason: str = ""  # AWS's wording: "with an explicit deny in a resource-based policy", ...


def evaluate(principal: Principal, identity: Iterable[dict[str, Any]] | None, ask: Ask) -> Decision:
    """`identity` None means the account's root user (allowed everything by identity)."""
    identity_statements = [s for doc in identity or () for s in _statements(doc)]
    resource_statements = [
        (s, match)
        for s in _statements(ask.resource_policy or {})
        if (match := _principal_match(s, principal)) is not None
    ]
    for statement in identity_statements:
        if statement["Effect"] == "Deny" and _applies(statement, ask):
            return Decision(False, ask, "with an explicit deny in an identity-based policy")
    for statement, _ in resource_statements:
        # A Deny naming the account applies to every principal in it.
        if statement["Effect"] == "Deny" and _applies(statement, ask):
            return Decision(False, ask, "with an explicit deny in a resource-based policy")
    identity_allows = identity is None or any(
        s["Effect"] == "Allow" and _applies(s, ask) for s in identity_statements
    )
    allows = {
        match for s, match in resource_statements if s["Effect"] == "Allow" and _applies(s, ask)
    }
    # An Allow that names the caller grants by itself. One that names only the account hands
    # the decision to the caller's IAM policies; for a key policy that is the only way IAM
    # policies count at all.
    key_policy = ask.policy_kind == "key policy"
    if "direct" in allows or (identity_allows and (not key_policy or "account" in allows)):
        return Decision(True, ask)
    if key_policy and "account" not in allows:
        return Decision(
            False, ask, f"because no resource-based policy allows the {ask.action} action"
        )
    return Decision(False, ask, f"because no identity-based policy allows the {ask.action} action")


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = doc.get("Statement", [])
    return [found] if isinstance(found, dict) else list(found)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _applies(statement: dict[str, Any], ask: Ask) -> bool:
    if "NotPrincipal" in statement:
        raise Unmodelled("NotPrincipal")
    if "Action" in statement:
        if not any(_glob(p, ask.action, fold=True) for p in _listed(statement["Action"])):
            return False
    elif any(_glob(p, ask.action, fold=True) for p in _listed(statement.get("NotAction"))):
        return False
    if "Resource" in statement:
        if not any(_glob(p, ask.resource) for p in _listed(statement["Resource"])):
            return False
    elif "NotResource" in statement and any(
        _glob(p, ask.resource) for p in _listed(statement["NotResource"])
    ):
        return False
    return conditions_hold(statement.get("Condition", {}), ask.context)


def _principal_match(statement: dict[str, Any], who: Principal) -> str | None:
    """ "direct" when the statement names the caller (or everyone), "account" when it names
    only the caller's account, None when it does not apply to the caller."""
    given = statement.get("Principal")
    if given is None:
        if "NotPrincipal" in statement:
            raise Unmodelled("NotPrincipal")
        return None
    if given == "*":
        return "direct"
    if isinstance(given, str):
        # AWS accepts only "*" as a bare string; the sandbox stores the bucket policy's Deny
        # statements with the account's ARN so (see moto_gaps.buckets): read it as such.
        given = {"AWS": given}
    for service in _listed(given.get("Service")):
        if who.service and service == who.service:
            return "direct"
    found = None
    for name in _listed(given.get("AWS")):
        if name == "*" or name in (who.arn, who.role_arn):
            return "direct"
        if name in (who.account, f"arn:aws:iam::{who.account}:root"):
            found = "account"
    return found


@lru_cache(maxsize=4096)
def _pattern(glob: str, fold: bool) -> re.Pattern[str]:
    # IAM's wildcards are * and ? only: no [] classes as fnmatch would read them.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body + r"\Z", re.IGNORECASE | re.DOTALL if fold else re.DOTALL)


def _glob(pattern: str, value: str, *, fold: bool = False) -> bool:
    if "${" in pattern:
        raise Unmodelled(f"policy variable in {pattern!r}")
    return _pattern(pattern, fold).match(value) is not None


# -- conditions -------------------------------------------------------------------------------


def conditions_hold(block: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    lowered = {k.lower(): list(v) for k, v in context.items()}
    return all(
        _operator_holds(operator, key.lower(), _listed_values(wanted), lowered)
        for operator, keys in block.items()
        for key, wanted in keys.items()
    )


def _listed_values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in items]


_NEGATED = {
    "StringNotEquals",
    "StringNotEqualsIgnoreCase",
    "StringNotLike",
    "ArnNotEquals",
    "ArnNotLike",
    "NumericNotEquals",
}


def _operator_holds(
    operator: str, key: str, wanted: list[str], context: dict[str, list[str]]
) -> bool:
    set_op = ""
    if ":" in operator:
        set_op, operator = operator.split(":", 1)
        if set_op not in ("ForAnyValue", "ForAllValues"):
            raise Unmodelled(f"condition set operator {set_op}")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    present = key in context
    if base == "Null":
        return (not present) == (wanted[0].lower() == "true")
    if not present:
        if if_exists:
            return True
        if set_op == "ForAllValues":
            return True
        return base in _NEGATED and not set_op
    values = context[key]
    match = _MATCHERS.get(base.replace("Not", "", 1) if base in _NEGATED else base)
    if match is None:
        raise Unmodelled(f"condition operator {operator}")
    if base in _NEGATED:
        hits = [not any(match(w, v) for w in wanted) for v in values]
    else:
        hits = [any(match(w, v) for w in wanted) for v in values]
    if set_op == "ForAllValues":
        return all(hits)
    return any(hits)


def _arn_like(pattern: str, value: str) -> bool:
    """AWS checks each of an ARN's six colon-separated parts on its own: a wildcard does not
    reach across a colon into the next part (the resource part keeps its own colons)."""
    wanted, got = pattern.split(":", 5), value.split(":", 5)
    return len(wanted) == len(got) == 6 and all(
        _glob(w, g) for w, g in zip(wanted, got, strict=True)
    )


def _number(text: str) -> float:
    return float(text)


_MATCHERS: dict[str, Any] = {
    "StringEquals": lambda w, v: w == v,
    "StringEqualsIgnoreCase": lambda w, v: w.lower() == v.lower(),
    "StringLike": lambda w, v: _glob(w, v),
    "ArnEquals": lambda w, v: _arn_like(w, v),
    "ArnLike": lambda w, v: _arn_like(w, v),
    "Bool": lambda w, v: w.lower() == v.lower(),
    "NumericEquals": lambda w, v: _number(v) == _number(w),
    "NumericLessThan": lambda w, v: _number(v) < _number(w),
    "NumericLessThanEquals": lambda w, v: _number(v) <= _number(w),
    "NumericGreaterThan": lambda w, v: _number(v) > _number(w),
    "NumericGreaterThanEquals": lambda w, v: _number(v) >= _number(w),
}
