"""The sandbox's authorization layer on the wire: requests AWS refuses are refused here too.

Each test makes an IAM user (or a role session) in moto with exactly the policy it needs and
sends real requests through boto3 to the HTTPS server on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError

from docbackup.sandbox.server import LocalAWS

_names = itertools.count(1)


def user(aws: LocalAWS, *statements: dict[str, Any]) -> dict[str, str]:
    """Credentials of a new IAM user whose only policy holds these statements."""
    iam = aws.client("iam")
    name = f"rules-user-{next(_names)}"
    iam.create_user(UserName=name)
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(document))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def allow(actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resource}


def refused(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] in ("AccessDenied", "AccessDeniedException", "InvalidAccessKeyId"), error
    return str(error.get("Message", ""))


def test_an_unsigned_request_is_refused_and_reaches_nothing(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    context = ssl.create_default_context(cafile=moto.ca_file)
    for method, path in (
        ("GET", f"/{bucket}"),
        ("PUT", f"/{bucket}?versioning"),
        ("GET", "/moto-api/data.json"),
    ):
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            moto.endpoint + path, method=method, data=b"" if method == "PUT" else None
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, context=context)  # noqa: S310 - our own loopback server
        assert caught.value.code == 403
    versioning = moto.client("s3").get_bucket_versioning(Bucket=bucket)
    assert versioning["Status"] == "Enabled"


def test_a_signature_scope_that_is_not_sigv4_is_refused(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    context = ssl.create_default_context(cafile=moto.ca_file)
    for auth in (
        "AWS sandbox:c2lnbmF0dXJl",
        "AWS4-HMAC-SHA256 Credential=sandbox/d/us-east-1/sts/aws4_request/x, S=1",
    ):
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            f"{moto.endpoint}/{bucket}?versioning",
            method="PUT",
            data=b"",
            headers={"Authorization": auth},
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, context=context)  # noqa: S310 - our own loopback server
        assert caught.value.code == 403


def test_delete_objects_is_authorised_key_by_key_and_version_by_version(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    root = moto.client("s3")
    version = root.put_object(Bucket=bucket, Key="keep/a.pdf", Body=b"a")["VersionId"]
    creds = user(moto, allow(["s3:DeleteObject"], f"arn:aws:s3:::{bucket}/keep/*"))
    s3 = moto.client("s3", creds)

    message = refused(
        s3.delete_objects,
        Bucket=bucket,
        Delete={"Objects": [{"Key": "keep/a.pdf", "VersionId": version}]},
    )

    assert "s3:DeleteObjectVersion" in message
    assert root.head_object(Bucket=bucket, Key="keep/a.pdf", VersionId=version)


def test_the_governance_bypass_needs_its_own_permission(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    version = moto.client("s3").put_object(Bucket=bucket, Key="d/x", Body=b"x")["VersionId"]
    creds = user(moto, allow(["s3:DeleteObjectVersion"], f"arn:aws:s3:::{bucket}/*"))
    message = refused(
        moto.client("s3", creds).delete_object,
        Bucket=bucket,
        Key="d/x",
        VersionId=version,
        BypassGovernanceRetention=True,
    )
    assert "s3:BypassGovernanceRetention" in message


def test_an_inactive_access_key_is_not_accepted(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    creds = user(moto, allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}"))
    iam = moto.client("iam")
    (name,) = [
        u["UserName"]
        for u in iam.list_users()["Users"]
        if any(
            k["AccessKeyId"] == creds["AWS_ACCESS_KEY_ID"]
            for k in iam.list_access_keys(UserName=u["UserName"])["AccessKeyMetadata"]
        )
    ]
    iam.update_access_key(UserName=name, AccessKeyId=creds["AWS_ACCESS_KEY_ID"], Status="Inactive")
    refused(moto.client("s3", creds).list_objects_v2, Bucket=bucket)


def test_principal_arn_of_a_role_session_is_the_role(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    iam, s3 = moto.client("iam"), moto.client("s3")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(
        RoleName=f"rules-role-{next(_names)}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    read = {
        "Version": "2012-10-17",
        "Statement": [allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}")],
    }
    iam.put_role_policy(
        RoleName=role["RoleName"], PolicyName="read", PolicyDocument=json.dumps(read)
    )
    only_the_role = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"ArnNotEquals": {"aws:PrincipalArn": role["Arn"]}},
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(only_the_role))
    got = moto.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="nightly")[
        "Credentials"
    ]
    session = {
        "AWS_ACCESS_KEY_ID": got["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": got["SecretAccessKey"],
        "AWS_SESSION_TOKEN": got["SessionToken"],
    }
    moto.client("s3", session).list_objects_v2(Bucket=bucket)
    other = user(moto, allow(["s3:ListBucket"], f"arn:aws:s3:::{bucket}"))
    assert "explicit deny" in refused(moto.client("s3", other).list_objects_v2, Bucket=bucket)
    s3.delete_bucket_policy(Bucket=bucket)


def test_a_multipart_upload_under_the_bucket_default_key_needs_kms_decrypt(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    creds = user(
        moto,
        allow(["s3:PutObject", "s3:AbortMultipartUpload"], f"arn:aws:s3:::{bucket}/*"),
        allow(["kms:GenerateDataKey"], "*"),
    )
    s3 = moto.client("s3", creds)
    message = refused(s3.create_multipart_upload, Bucket=bucket, Key="big.bin")
    assert "kms:Decrypt" in message


def test_a_sub_resource_the_layer_does_not_know_is_refused(
    moto: LocalAWS, moto_bucket: tuple[str, str]
) -> None:
    bucket, _ = moto_bucket
    message = refused(moto.client("s3").list_bucket_inventory_configurations, Bucket=bucket)
    assert "cannot authorize" in message


def test_describe_alarms_is_authorised_against_every_alarm(moto: LocalAWS) -> None:
    creds = user(
        moto,
        allow(
            ["cloudwatch:DescribeAlarms"], "arn:aws:cloudwatch:us-east-1:123456789012:alarm:mine-*"
        ),
    )
    message = refused(moto.client("cloudwatch", creds).describe_alarms, AlarmNamePrefix="mine-")
    assert "alarm:*" in message
