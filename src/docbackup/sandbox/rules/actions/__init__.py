"""Which permissions AWS checks for an HTTP request: the action, the resource, the condition
keys, the resource-based policy that applies, and the permissions a service uses on the
caller's behalf (S3's calls to KMS, the source of a copy, SNS's calls to KMS).

`asks` picks the mapping of the request's service (from its signature's credential scope):
`s3` for S3, with `s3_kms` for the calls S3 makes to KMS as the caller, and `services` for
the others. A service without a mapping is refused loudly, never allowed.
"""

from __future__ import annotations

from docbackup.sandbox.rules.actions import services
from docbackup.sandbox.rules.actions.request import Mapper, Request, UnknownRequest
from docbackup.sandbox.rules.actions.s3 import s3_asks
from docbackup.sandbox.rules.policy import Ask
from docbackup.sandbox.rules.state import MotoState

__all__ = ["Request", "UnknownRequest", "asks"]


def asks(request: Request, state: MotoState, principal_arn: str) -> list[Ask]:
    base = {
        "aws:securetransport": ["true" if request.secure else "false"],
        "aws:principalarn": [principal_arn],
        "aws:principalaccount": [state.account],
    }
    mapper = _MAPPERS.get(request.service)
    if mapper is None:
        raise UnknownRequest(f"no permission mapping for service {request.service!r}")
    return mapper(request, state, base)


_MAPPERS: dict[str, Mapper] = {
    "s3": s3_asks,
    "kms": services.kms,
    "sns": services.sns,
    "monitoring": services.cloudwatch,
    "cloudformation": services.cloudformation,
    "sts": services.sts,
    "iam": services.query("iam"),
    "sqs": services.json_service("sqs", services.queue),
    "logs": services.json_service("logs"),
    "events": services.json_service("events"),
    "lambda": services.lambda_function,
    "states": services.json_service("states"),
    "scheduler": services.scheduler,
}
