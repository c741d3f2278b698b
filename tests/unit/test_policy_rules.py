"""The sandbox's policy evaluation against AWS's documented rules, one rule at a time."""

from __future__ import annotations

from typing import Any

import pytest

from docbackup.sandbox.rules.policy import Ask, Principal, Unmodelled, conditions_hold, evaluate

ACCOUNT = "123456789012"
USER = Principal(f"arn:aws:iam::{ACCOUNT}:user/office", ACCOUNT)
ROLE_SESSION = Principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/Nightly/s1", ACCOUNT)
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"
OBJECT = "arn:aws:s3:::backups/backups/2026-12-01/documents/a.pdf"
KMS_HEADER = "s3:x-amz-server-side-encryption-aws-kms-key-id"


def allow(action: str, resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Statement": [{"Effect": "Allow", "Action": action, "Resource": resource, **extra}]}


def deny_other_keys(operator_block: dict[str, Any]) -> dict[str, Any]:
    return {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::backups/*",
                "Condition": operator_block,
            }
        ]
    }


def put(context: dict[str, list[str]], bucket_policy: dict[str, Any]) -> Ask:
    return Ask("s3:PutObject", OBJECT, context, bucket_policy, "bucket policy")


IDENTITY = [allow("s3:PutObject", "arn:aws:s3:::backups/backups/*")]


def test_if_exists_in_a_deny_refuses_a_request_without_the_header() -> None:
    # The bucket policy's first form: a multipart part carries no encryption header.
    policy = deny_other_keys({"StringNotEqualsIfExists": {KMS_HEADER: KEY}})
    decision = evaluate(USER, IDENTITY, put({}, policy))
    assert not decision.allowed
    assert decision.reason == "with an explicit deny in a resource-based policy"


@pytest.mark.parametrize(
    ("sent", "allowed"),
    [([], True), ([KEY], True), ([f"arn:aws:kms:us-east-1:{ACCOUNT}:key/other"], False)],
)
def test_null_false_with_string_not_equals_denies_only_a_wrong_header(
    sent: list[str], allowed: bool
) -> None:
    policy = deny_other_keys({"StringNotEquals": {KMS_HEADER: KEY}, "Null": {KMS_HEADER: "false"}})
    context = {KMS_HEADER: sent} if sent else {}
    assert evaluate(USER, IDENTITY, put(context, policy)).allowed is allowed


def test_negated_operators_are_true_on_an_absent_key_and_positive_ones_false() -> None:
    assert conditions_hold({"StringNotEquals": {"s3:x": "a"}}, {})
    assert conditions_hold({"ArnNotLike": {"aws:SourceArn": "arn:*"}}, {})
    assert not conditions_hold({"StringEquals": {"s3:x": "a"}}, {})
    assert not conditions_hold({"ArnLike": {"aws:SourceArn": "arn:*"}}, {})
    assert conditions_hold({"StringEqualsIfExists": {"s3:x": "a"}}, {})
    assert conditions_hold({"Null": {"s3:x": "true"}}, {})
    assert not conditions_hold({"Null": {"s3:x": "false"}}, {})


def test_values_are_alternatives_and_operators_and_keys_all_must_hold() -> None:
    assert conditions_hold({"StringEquals": {"s3:x": ["a", "b"]}}, {"s3:x": ["b"]})
    assert not conditions_hold({"StringNotEquals": {"s3:x": ["a", "b"]}}, {"s3:x": ["b"]})
    assert not conditions_hold(
        {"StringEquals": {"s3:x": "a"}, "Bool": {"aws:SecureTransport": "true"}},
        {"s3:x": ["a"], "aws:securetransport": ["false"]},
    )
    # condition key names are case-insensitive, values are not
    assert conditions_hold({"StringEquals": {"S3:X": "a"}}, {"s3:x": ["a"]})
    assert not conditions_hold({"StringEquals": {"s3:x": "A"}}, {"s3:x": ["a"]})


def test_like_operators_use_only_star_and_question_mark() -> None:
    assert conditions_hold({"StringLike": {"k": "a?c"}}, {"k": ["abc"]})
    assert not conditions_hold({"StringLike": {"k": "[ab]c"}}, {"k": ["ac"]})


def test_tls_only_deny_refuses_plain_http_even_for_the_root_user() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": ["arn:aws:s3:::backups", "arn:aws:s3:::backups/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ]
    }
    root = Principal(f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
    plain = Ask("s3:GetObject", OBJECT, {"aws:securetransport": ["false"]}, policy, "bucket policy")
    tls = Ask("s3:GetObject", OBJECT, {"aws:securetransport": ["true"]}, policy, "bucket policy")
    assert not evaluate(root, None, plain).allowed
    assert evaluate(root, None, tls).allowed


def test_an_explicit_deny_in_the_identity_policy_wins_over_an_allow() -> None:
    identity = [
        allow("s3:*"),
        {"Statement": [{"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}]},
    ]
    ask = Ask("s3:DeleteObject", OBJECT)
    decision = evaluate(USER, identity, ask)
    assert not decision.allowed and "identity-based" in decision.reason
    assert evaluate(USER, identity, Ask("s3:GetObject", OBJECT)).allowed


def test_no_allow_means_denied_with_awss_reason() -> None:
    decision = evaluate(USER, [allow("s3:GetObject", OBJECT)], Ask("s3:GetObjectVersion", OBJECT))
    assert not decision.allowed
    assert (
        decision.reason == "because no identity-based policy allows the s3:GetObjectVersion action"
    )


def test_actions_match_case_insensitively_resources_case_sensitively() -> None:
    assert evaluate(USER, [allow("S3:getobject", OBJECT)], Ask("s3:GetObject", OBJECT)).allowed
    assert not evaluate(
        USER, [allow("s3:GetObject", OBJECT.upper())], Ask("s3:GetObject", OBJECT)
    ).allowed


KEY_POLICY = {
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
}


def test_a_key_policy_that_names_the_account_hands_the_decision_to_iam() -> None:
    ask = Ask("kms:GenerateDataKey", KEY, {}, KEY_POLICY, "key policy")
    assert evaluate(USER, [allow("kms:GenerateDataKey", KEY)], ask).allowed
    refused = evaluate(USER, [allow("kms:Decrypt", KEY)], ask)
    assert not refused.allowed and "no identity-based policy" in refused.reason


def test_without_a_key_policy_statement_iam_alone_is_not_enough() -> None:
    other = {
        "Statement": [
            {**KEY_POLICY["Statement"][0], "Principal": {"AWS": "arn:aws:iam::999999999999:root"}}
        ]
    }
    ask = Ask("kms:Decrypt", KEY, {}, other, "key policy")
    refused = evaluate(USER, [allow("kms:*")], ask)
    assert not refused.allowed and "no resource-based policy" in refused.reason


def test_a_role_named_in_a_resource_policy_matches_its_sessions() -> None:
    policy = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Nightly"},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        ]
    }
    assert evaluate(ROLE_SESSION, [], Ask("kms:Decrypt", KEY, {}, policy, "key policy")).allowed
    assert not evaluate(USER, [], Ask("kms:Decrypt", KEY, {}, policy, "key policy")).allowed


def test_what_is_not_modelled_is_refused_loudly() -> None:
    with pytest.raises(Unmodelled):
        conditions_hold(
            {"DateGreaterThan": {"aws:CurrentTime": "2026-01-01"}}, {"aws:currenttime": ["x"]}
        )
    with pytest.raises(Unmodelled):
        evaluate(
            USER,
            [allow("s3:GetObject", "arn:aws:s3:::${aws:username}/*")],
            Ask("s3:GetObject", OBJECT),
        )


def test_arn_like_checks_each_of_the_six_parts_apart() -> None:
    log_group = "arn:aws:logs:us-east-1:1:log-group:/docbackup/stack/nightly"
    assert conditions_hold(
        {"ArnLike": {"k": "arn:aws:logs:*:*:log-group:/docbackup/*"}}, {"k": [log_group]}
    )
    # a wildcard does not reach across the colon into the account part
    assert not conditions_hold(
        {"ArnLike": {"k": "arn:aws:logs:*:log-group:/docbackup/*"}}, {"k": [log_group]}
    )
    assert not conditions_hold({"ArnLike": {"k": "arn:aws:*"}}, {"k": ["not-an-arn"]})


def test_a_key_policy_naming_the_account_and_a_role_grants_only_the_role_directly() -> None:
    mixed = {
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": [f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:role/Nightly"]
                },
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        ]
    }
    ask = Ask("kms:Decrypt", KEY, {}, mixed, "key policy")
    assert evaluate(ROLE_SESSION, [], ask).allowed
    assert not evaluate(USER, [], ask).allowed
    assert evaluate(USER, [allow("kms:Decrypt", KEY)], ask).allowed
