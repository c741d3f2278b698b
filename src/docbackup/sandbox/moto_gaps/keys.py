"""A KMS key's declared settings, which moto's CloudFormation cannot take as written.

moto fails on a key's Tags and breaks DescribeKey on a KeyPolicy given as an object, so
`template` gives it a placeholder policy and no tags; this puts the template's own policy, tags
and rotation on the key once it exists.
"""

from __future__ import annotations

import json
from typing import Any

from docbackup.sandbox.moto_gaps.resolver import Resolver


def key_settings(session: Any, resolver: Resolver, name: str, props: dict[str, Any]) -> None:
    kms = session.client("kms")
    key_id = resolver.physical[name]
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(props["KeyPolicy"]))
    tags = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in props.get("Tags", [])]
    if tags:
        kms.tag_resource(KeyId=key_id, Tags=tags)
    if props.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
