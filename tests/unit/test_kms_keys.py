"""One rule for "do these name the same KMS key", used by storage's encryption check and by
`status`'s read-back of the bucket's default key."""

from __future__ import annotations

import pytest

from docbackup.storage.base import Encryption, same_key

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ARN = f"arn:aws:kms:eu-west-2:111122223333:key/{KEY_ID}"


@pytest.mark.parametrize(
    ("one", "other", "same"),
    [
        (ARN, ARN, True),
        (KEY_ID, KEY_ID, True),
        # a server may answer either form: a key's ARN names its id
        (ARN, KEY_ID, True),
        (KEY_ID, ARN, True),
        # the same id under another account or region is another key
        (ARN, ARN.replace("111122223333", "444455556666"), False),
        (ARN, ARN.replace("eu-west-2", "us-east-1"), False),
        (ARN, ARN[:-1] + "c", False),
        (KEY_ID, KEY_ID[:-1] + "c", False),
        # an id is the ARN's last part, not any suffix of it
        (ARN, KEY_ID[4:], False),
        (ARN, f"key/{KEY_ID}", False),
        # an alias names whatever key it points at: only KMS can say which
        ("alias/backup-key", ARN, False),
        ("arn:aws:kms:eu-west-2:111122223333:alias/backup-key", ARN, False),
        (f"alias/{KEY_ID}", ARN, False),
        ("alias/backup-key", "alias/backup-key", False),
        ("", ARN, False),
        ("", "", False),
    ],
)
def test_same_key(one: str, other: str, same: bool) -> None:
    assert same_key(one, other) is same
    assert same_key(other, one) is same


def test_an_encryption_asked_by_id_or_arn_is_confirmed_by_the_same_key_only() -> None:
    by_id, by_arn = Encryption("aws:kms", KEY_ID), Encryption("aws:kms", ARN)
    assert by_id.confirmed_by("aws:kms", ARN)
    assert by_arn.confirmed_by("aws:kms", ARN)
    other = ARN.replace("111122223333", "444455556666")
    assert not by_id.confirmed_by("aws:kms", ARN[:-1] + "c")
    assert not by_arn.confirmed_by("aws:kms", other)
    assert not by_arn.confirmed_by("aws:kms", None)
    assert not by_arn.confirmed_by("AES256", ARN)


def test_an_encryption_asked_by_alias_is_confirmed_by_sse_kms_under_any_key() -> None:
    # check_encryption asked KMS about the alias before the run; the answer names a key.
    for alias in ("alias/backup-key", "arn:aws:kms:eu-west-2:111122223333:alias/backup-key"):
        asked = Encryption("aws:kms", alias)
        assert asked.confirmed_by("aws:kms", ARN)
        assert not asked.confirmed_by("AES256", None)


def test_a_key_asked_by_alias_is_not_confirmed_by_an_answer_that_names_no_key() -> None:
    assert not Encryption("aws:kms", "alias/backup-key").confirmed_by("aws:kms", None)


def test_a_key_asked_by_arn_is_not_confirmed_by_a_bare_id() -> None:
    arn = "arn:aws:kms:eu-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    key_id = arn.rsplit("/", 1)[1]
    assert not Encryption("aws:kms", arn).confirmed_by("aws:kms", key_id)
    assert Encryption("aws:kms", key_id).confirmed_by("aws:kms", key_id)
    assert Encryption("aws:kms", key_id).confirmed_by("aws:kms", arn)
    assert Encryption("aws:kms", arn).confirmed_by("aws:kms", arn)
