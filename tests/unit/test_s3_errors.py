"""How S3Store turns botocore's errors (after botocore's own retries) into docbackup's."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from docbackup.errors import AccessDenied, KeyUnusable, StoreError
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
