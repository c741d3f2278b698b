"""AWS's authorization in front of moto: every signed request is evaluated before moto sees it.

moto 5.2.5 checks no identity, bucket or key policy on its server: its own access control
(INITIAL_NO_AUTH_ACTION_COUNT) evaluates identity policies without their conditions, checks a
`s3:HeadBucket` action that AWS does not have, and authorises every non-S3 call against `*`.
So it stays off, and this WSGI layer does the job instead:
- the caller is found from the access key in the request's signature, through moto's own
  IAM and STS models (a user's access key, or an assumed role's session); the sandbox's own
  key ("sandbox") is the account's root user, which is allowed everything by identity but is
  still bound by bucket and key policies, as on AWS;
- `actions.asks` names the permissions AWS would check, `policy.evaluate` decides each;
- a refusal is answered as the service answers it (403 AccessDenied in S3's XML, KMS's
  AccessDeniedException, ...), naming the action, the resource and the kind of policy, so the
  code's own error paths run.

Signatures are not verified: the layer decides who may do what, not whether a secret is right.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from docbackup.sandbox.rules.actions import Request, UnknownRequest, asks
from docbackup.sandbox.rules.policy import Ask, Decision, Principal, Unmodelled, evaluate
from docbackup.sandbox.rules.state import MotoState

ROOT_KEY = "sandbox"  # the sandbox's own credentials: the account's root user

_JSON_SERVICES = {"kms", "sqs", "logs", "events", "monitoring"}
_REST_JSON_SERVICES = {"lambda", "scheduler"}


@dataclass
class RequestLog:
    """What the layer decided, for the demo's report and the tests' assertions."""

    evaluated: int = 0
    denied: list[str] = field(default_factory=list)
    by_principal: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, principal: str, decisions: list[Decision]) -> None:
        with self._lock:
            self.evaluated += 1
            self.by_principal[principal] += 1
            self.denied.extend(
                f"{principal} {d.ask.action} {d.ask.resource} {d.reason}"
                for d in decisions
                if not d.allowed
            )

    def unmapped(self, what: str) -> None:
        with self._lock:
            self.evaluated += 1
            self.denied.append(f"unmapped: {what}")

    def reset(self) -> None:
        with self._lock:
            self.evaluated = 0
            self.denied.clear()
            self.by_principal.clear()


class Gateway:
    def __init__(self, app: Callable[..., Iterable[bytes]], state: MotoState | None = None) -> None:
        self.app = app
        self.state = state or MotoState()
        self.log = RequestLog()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        signed = _credential(environ)
        path = _raw_path(environ)
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if "CONTENT_TYPE" in environ:
            headers["content-type"] = environ["CONTENT_TYPE"]
        if signed is None:
            # Anonymous, SigV2 or malformed: AWS would evaluate it as the anonymous principal,
            # and the buckets' public access block refuses that. Nothing here may skip the rules,
            # moto's own /moto-api included.
            self.log.unmapped(f"{environ['REQUEST_METHOD']} {path}: not signed with SigV4")
            request = Request(environ["REQUEST_METHOD"], path, {}, headers, b"", "s3", "", False)
            return _deny(environ, start_response, request, "Anonymous access is refused here")
        access_key, region, service = signed
        body = b""
        if service != "s3" or "delete" in environ.get("QUERY_STRING", "").split("&"):
            # Their parameters travel in the body; S3's are in the path, query and headers
            # (but for DeleteObjects' list of keys), and its bodies (documents) are left to
            # stream through untouched.
            body = b"".join(_body_chunks(environ))
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        request = Request(
            method=environ["REQUEST_METHOD"],
            path=path,
            query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            headers=headers,
            body=body,
            service=service,
            region=region,
            secure=environ.get("wsgi.url_scheme") == "https",
        )
        try:
            principal, identity = self._caller(access_key, headers)
            # aws:PrincipalArn names a role, not the session that assumed it.
            needed = asks(request, self.state, principal.role_arn)
            decisions = [evaluate(principal, identity, a) for a in needed]
        except UnknownCaller as exc:
            return _deny(environ, start_response, request, str(exc), code="InvalidAccessKeyId")
        except (UnknownRequest, Unmodelled) as exc:
            self.log.unmapped(str(exc))
            return _deny(
                environ, start_response, request, f"the sandbox cannot authorize this: {exc}"
            )
        self.log.record(principal.arn, decisions)
        refused = next((d for d in decisions if not d.allowed), None)
        if refused is not None:
            message = (
                f"User: {principal.arn} is not authorized to perform: {refused.ask.action} "
                f'on resource: "{refused.ask.resource}" {refused.reason}'
            )
            return _deny(environ, start_response, request, message)
        # moto reads a key from RAW_URI, which werkzeug's server sets and cheroot does not:
        # from the decoded PATH_INFO, a key holding "%3F" ends at its "?" ("a?b.pdf" is stored
        # as "a"), and every request on that key agrees, so only a listing shows it.
        if "RAW_URI" not in environ and "REQUEST_URI" in environ:
            environ["RAW_URI"] = environ["REQUEST_URI"]
        return self.app(environ, start_response)

    def authorize(self, credentials: dict[str, str], action: str, resource: str) -> Decision:
        """What AWS decides when a service acts with these credentials (a state machine's role
        invoking a function): evaluated and logged as a request through here would be."""
        token = credentials.get("AWS_SESSION_TOKEN")
        headers = {"x-amz-security-token": token} if token else {}
        principal, identity = self._caller(credentials["AWS_ACCESS_KEY_ID"], headers)
        base = {
            "aws:securetransport": ["true"],
            "aws:principalarn": [principal.role_arn],
            "aws:principalaccount": [self.state.account],
        }
        decision = evaluate(principal, identity, Ask(action, resource, base))
        self.log.record(principal.arn, [decision])
        return decision

    def _caller(
        self, access_key: str, headers: dict[str, str]
    ) -> tuple[Principal, list[dict[str, Any]] | None]:
        account = self.state.account
        if access_key == ROOT_KEY:
            return Principal(f"arn:aws:iam::{account}:root", account), None
        from moto.iam.access_control import CreateAccessKeyFailure, create_access_key

        moto_headers = (
            {"X-Amz-Security-Token": headers["x-amz-security-token"]}
            if ("x-amz-security-token" in headers)
            else {}
        )
        try:
            key = create_access_key(account, "aws", access_key, moto_headers)
        except CreateAccessKeyFailure:
            key = None
        if key is None or not self.state.access_key_active(access_key):
            raise UnknownCaller("The AWS Access Key Id you provided does not exist in our records.")
        return Principal(key.arn, account), [_document(p) for p in key.collect_policies()]


class UnknownCaller(Exception):
    pass


def _document(policy: Any) -> dict[str, Any]:
    """A policy document from what moto's IAM holds: a managed policy (its default version),
    an inline policy as text, as {"policy_document": ...}, or (made by CloudFormation) parsed."""
    versions = getattr(policy, "versions", None)
    if versions is not None:
        policy = next(v for v in versions if v.is_default).document
    if isinstance(policy, dict) and "policy_document" in policy:
        policy = policy["policy_document"]
    if isinstance(policy, str):
        policy = json.loads(policy)
    if not isinstance(policy, dict):
        raise TypeError(f"not a policy document: {type(policy).__name__}")
    return policy


def _credential(environ: dict[str, Any]) -> tuple[str, str, str] | None:
    """(access key, region, service) of a SigV4 request, read as moto's dispatcher reads it (so
    both agree on the service), or from a presigned URL's query; None for anything else."""
    from moto.moto_server.werkzeug_app import SIGNING_ALIASES

    auth = environ.get("HTTP_AUTHORIZATION", "")
    if auth:
        tokens = auth.split(",")[0].split()
        if len(tokens) != 2 or tokens[0] != "AWS4-HMAC-SHA256":
            return None
        if not tokens[1].startswith("Credential="):
            return None
        scope = tokens[1].removeprefix("Credential=")
    else:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if query.get("X-Amz-Algorithm") != ["AWS4-HMAC-SHA256"]:
            return None
        scope = (query.get("X-Amz-Credential") or [""])[0]
    parts = scope.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        return None
    service = SIGNING_ALIASES.get(parts[3].lower(), parts[3]).lower()
    return parts[0], parts[2], service


def _raw_path(environ: dict[str, Any]) -> str:
    # werkzeug keeps the request line as sent; PATH_INFO would be latin-1 decoded bytes.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return unquote(raw.split("?", 1)[0])
    path: str = environ.get("PATH_INFO", "")
    return path.encode("latin-1").decode("utf-8", "replace")


def _body_chunks(environ: dict[str, Any]) -> Iterator[bytes]:
    """The request's body as it arrives: up to Content-Length, or to the end of a chunked one
    (the server ends that stream itself)."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        while chunk := stream.read(1 << 16):
            yield chunk
        return
    left = int(environ.get("CONTENT_LENGTH") or 0)
    while left > 0 and (chunk := stream.read(min(left, 1 << 16))):
        left -= len(chunk)
        yield chunk


def _deny(
    environ: dict[str, Any],
    start_response: Callable[..., Any],
    request: Request,
    message: str,
    *,
    code: str = "AccessDenied",
) -> list[bytes]:
    # Read what the client sent of its body: left unread, it would be taken for the next
    # request on this kept-alive connection.
    for _ in _body_chunks(environ):
        pass
    request_id = uuid.uuid4().hex.upper()[:16]
    if request.service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>'
            f"{code}</Code><Message>{_xml(message)}</Message><RequestId>{request_id}"
            "</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
        status = "403 Forbidden"
        if request.method == "HEAD":
            body = b""
    elif request.service in _JSON_SERVICES:
        kind = "AccessDeniedException" if code == "AccessDenied" else "UnrecognizedClientException"
        body = json.dumps({"__type": kind, "message": message}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id)]
        status = "400 Bad Request"
    elif request.service in _REST_JSON_SERVICES:
        kind = "AccessDeniedException"
        body = json.dumps({"Message": message}).encode()
        headers = [
            ("Content-Type", "application/json"),
            ("x-amzn-ErrorType", kind),
            ("x-amzn-RequestId", request_id),
        ]
        status = "403 Forbidden"
    else:  # the query protocols: SNS, CloudFormation, IAM, STS
        name = "AuthorizationError" if request.service == "sns" and code == "AccessDenied" else code
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{name}</Code><Message>{_xml(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
        status = "403 Forbidden"
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def _xml(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )
