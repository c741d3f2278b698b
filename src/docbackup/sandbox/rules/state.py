"""What the authorization layer needs to know of the resources, read from moto's own backends.

moto runs in this process, so its in-memory models are read directly: the bucket and key
policies AWS would consult, a bucket's default encryption, the key an object or a multipart
upload is encrypted under, a topic's key. Reading (never writing) moto's models is the only
moto-specific part of the layer.
"""

from __future__ import annotations

import json
from typing import Any

ACCOUNT = "123456789012"  # moto's default account, the one the sandbox deploys into


class MotoState:
    def __init__(self, account: str = ACCOUNT) -> None:
        self.account = account

    # -- S3 --------------------------------------------------------------------------------

    def _s3(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account]["aws"]

    def bucket(self, name: str) -> Any:
        return self._s3().buckets.get(name)

    def bucket_policy(self, name: str) -> dict[str, Any] | None:
        bucket = self.bucket(name)
        if bucket is None or not bucket.policy:
            return None
        raw = bucket.policy
        doc: dict[str, Any] = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        return doc

    def bucket_default_key(self, name: str) -> tuple[str, str]:
        """(algorithm, key id) of the bucket's default encryption; ("", "") when none."""
        bucket = self.bucket(name)
        config = getattr(bucket, "encryption", None) or {}
        rule = config.get("Rule", {})
        if isinstance(rule, list):
            rule = rule[0] if rule else {}
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        return default.get("SSEAlgorithm", ""), default.get("KMSMasterKeyID", "")

    def object_key(self, bucket: str, key: str, version: str | None) -> tuple[str, str] | None:
        """(algorithm, KMS key) an object version is stored under; None if there is none."""
        from moto.s3.exceptions import MissingKey, MissingVersion

        try:
            found = self._s3().get_object(bucket, key, version_id=version)
        except (MissingKey, MissingVersion, KeyError, ValueError):
            return None
        if found is None or getattr(found, "is_delete_marker", False):
            return None
        return found.encryption or "", found.kms_key_id or ""

    def upload_key(self, bucket: str, upload_id: str) -> tuple[str, str] | None:
        found = self.bucket(bucket)
        upload = (found.multiparts if found is not None else {}).get(upload_id)
        if upload is None:
            return None
        return upload.sse_encryption or "", upload.kms_key_id or ""

    # -- KMS -------------------------------------------------------------------------------

    def _kms(self, region: str) -> Any:
        from moto.kms.models import kms_backends

        return kms_backends[self.account][region]

    def _key(self, region: str, any_id: str) -> Any:
        """moto's key for a key id, ARN, alias or alias ARN; None if unknown."""
        backend = self._kms(region)
        try:
            return backend.keys[backend.any_id_to_key_id(any_id)]
        except (KeyError, AttributeError, TypeError, IndexError):
            return None

    def kms_key(self, region: str, any_id: str) -> tuple[str, dict[str, Any] | None] | None:
        """(key ARN, key policy) for a key id, ARN, alias or alias ARN; None if unknown."""
        key = self._key(region, any_id)
        if key is None:
            return None
        policy = json.loads(key.policy) if isinstance(key.policy, str) else key.policy
        return key.arn, policy

    def ciphertext_key(self, region: str, blob_b64: str) -> str | None:
        """The key a ciphertext was made under (Decrypt may name none: KMS reads it off)."""
        import base64

        from moto.kms.utils import _deserialize_ciphertext_blob

        try:
            return str(_deserialize_ciphertext_blob(base64.b64decode(blob_b64)).key_id)
        except Exception:  # not one of moto's ciphertexts: let KMS answer for it
            return None

    def is_aws_managed(self, region: str, any_id: str) -> bool:
        key = self._key(region, any_id)
        return key is not None and getattr(key, "key_manager", "CUSTOMER") == "AWS"

    # -- others ----------------------------------------------------------------------------
    def access_key_active(self, access_key: str) -> bool:
        """Is a user's access key active? (moto's own lookup ignores its status.)"""
        from moto.iam.models import iam_backends

        for user in iam_backends[self.account]["aws"].users.values():
            for key in user.access_keys:
                if key.access_key_id == access_key:
                    return bool(key.status == "Active")
        return True  # a role session's key: it has no status

    def topic_key(self, region: str, topic_arn: str) -> str:
        from moto.sns.models import sns_backends

        topic = sns_backends[self.account][region].topics.get(topic_arn)
        return getattr(topic, "kms_master_key_id", "") or ""

    def stack_arn(self, region: str, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        from moto.cloudformation.models import cloudformation_backends

        for stack in cloudformation_backends[self.account][region].stacks.values():
            if stack.name == name_or_arn and not stack.status.startswith("DELETE"):
                return str(stack.stack_id)
        return f"arn:aws:cloudformation:{region}:{self.account}:stack/{name_or_arn}/*"

    def queue_arn(self, region: str, url: str) -> str:
        return f"arn:aws:sqs:{region}:{self.account}:{url.rstrip('/').rsplit('/', 1)[-1]}"
