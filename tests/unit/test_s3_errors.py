"""How S3Store turns botocore's errors (after botocore's own retries) into docbackup's."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from docbackup.errors import AccessDenied, KeyUnusable, ObjectArchived, StoreError
from docbackup.storage import Encryption
from docbackup.storage.s3 import S3Store


def client_error(code: str, message: str = "", op: str = "CopyObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


class FailingClient:
    """A stand-in client whose every call raises the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(**_: Any) -> Any:
            raise self.error

        return call


def copy(store: S3Store, source_bucket: str) -> None:
    store.copy(
        "k",
        source_bucket=source_bucket,
        source_key="s",
        source_version=None,
        if_match=None,
        size=1,
        metadata={},
        encryption=Encryption("AES256"),
    )


def test_denied_source_object_fails_one_document_not_the_night() -> None:
    store = S3Store(FailingClient(client_error("AccessDenied", "denied")), "backups")
    with pytest.raises(StoreError) as caught:
        copy(store, "someone-elses-bucket")
    assert not isinstance(caught.value, AccessDenied)
    with pytest.raises(AccessDenied):  # within the backup bucket it is the night's problem
        copy(store, "backups")


def test_kms_throttling_is_not_an_unusable_key() -> None:
    slow = client_error(
        "SlowDown", "Please reduce your request rate for operations involving AWS KMS"
    )
    with pytest.raises(StoreError) as caught:
        copy(S3Store(FailingClient(slow), "backups"), "backups")
    assert not isinstance(caught.value, KeyUnusable)
    with pytest.raises(KeyUnusable):
        copy(S3Store(FailingClient(client_error("KMS.DisabledException")), "backups"), "backups")


def test_a_connection_lost_mid_download_is_a_store_error() -> None:
    class Body:
        def read(self, size: int | None = None) -> bytes:
            raise ResponseStreamingError(error="connection reset")

        def close(self) -> None:
            pass

    class Client:
        def get_object(self, **_: Any) -> dict[str, Any]:
            return {"Body": Body()}

    with (
        S3Store(Client(), "backups").open("k") as body,
        pytest.raises(StoreError, match="download interrupted"),
    ):
        body.read(10)


def test_a_source_object_under_a_key_we_may_not_use_fails_only_that_document() -> None:
    store = S3Store(FailingClient(client_error("KMS.DisabledException", "key disabled")), "b")
    with pytest.raises(StoreError) as caught:
        copy(store, "someone-elses-bucket")
    assert not isinstance(caught.value, KeyUnusable)


@pytest.mark.parametrize("code", ["ExpiredToken", "RequestTimeTooSkewed"])
def test_credentials_or_clock_wrong_stop_the_run(code: str) -> None:
    with pytest.raises(AccessDenied):
        copy(S3Store(FailingClient(client_error(code)), "backups"), "backups")


def test_archived_copies_are_their_own_error_not_a_denial() -> None:
    # Both are 403s; each fails one document and says what holds it.
    refused_copy = client_error("ObjectNotInActiveTierError", "not in the active tier")
    with pytest.raises(ObjectArchived) as copied:
        copy(S3Store(FailingClient(refused_copy), "backups"), "backups")
    assert copied.value.storage_class is None
    refused_read = ClientError(
        {"Error": {"Code": "InvalidObjectState", "Message": "", "StorageClass": "DEEP_ARCHIVE"}},
        "GetObject",
    )
    with pytest.raises(ObjectArchived, match="is in DEEP_ARCHIVE") as read:
        S3Store(FailingClient(refused_read), "backups").open("k")
    assert read.value.storage_class == "DEEP_ARCHIVE"


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        ({"ResponseMetadata": {"HTTPStatusCode": 202}}, "requested"),
        ({"ResponseMetadata": {"HTTPStatusCode": 200}}, "ready"),
        (client_error("RestoreAlreadyInProgress", op="RestoreObject"), "in-progress"),
        (
            ClientError(
                {"Error": {"Code": "InvalidObjectState", "StorageClass": "STANDARD"}},
                "RestoreObject",
            ),
            "ready",
        ),
    ],
)
def test_restore_requests_say_what_s3_answered(answer: Any, state: str) -> None:
    asked: dict[str, Any] = {}

    class Client:
        def restore_object(self, **kwargs: Any) -> Any:
            asked.update(kwargs)
            if isinstance(answer, Exception):
                raise answer
            return answer

    store = S3Store(Client(), "backups")

    assert store.request_restore("k", "v1", tier="bulk", days=7) == state
    assert asked == {
        "Bucket": "backups",
        "Key": "k",
        "VersionId": "v1",
        "RestoreRequest": {"Days": 7, "GlacierJobParameters": {"Tier": "Bulk"}},
    }


def test_heads_restore_header_says_whether_a_restore_is_under_way() -> None:
    from docbackup.storage.s3.store import _restore_state

    # as S3 sends x-amz-restore (the S3 API reference, HeadObject)
    assert _restore_state('ongoing-request="true"') == "in-progress"
    assert (
        _restore_state('ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"')
        == "ready"
    )
    assert _restore_state(None) is None and _restore_state("") is None


def test_restore_wait_looks_every_15_minutes_for_at_most_72_hours() -> None:
    # As the README says (Restoring): the figures a person plans a wait around.
    from docbackup.cli import snapshots

    (poll,) = [p for p in snapshots.restore_cmd.params if p.name == "wait_poll"]
    assert poll.default == 15 * 60
    assert snapshots.WAIT_LIMIT_S == 72 * 3600
