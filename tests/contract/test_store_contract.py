"""One contract, two stores: the in-memory store must behave as S3 does (here, moto on loopback)."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
from collections.abc import Callable, Iterator

import pytest

from docbackup import compose
from docbackup.errors import (
    BucketNotFound,
    KeyUnusable,
    ObjectArchived,
    ObjectNotFound,
    PreconditionFailed,
)
from docbackup.sandbox import archive_aging
from docbackup.sandbox.server import LocalAWS
from docbackup.storage import Encryption, MemoryBackend, Store
from docbackup.storage.s3 import S3Store

_n = itertools.count(1)
SMALL_PARTS = 5 * 1024 * 1024  # S3's smallest part


def sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture(params=["memory", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend(known_kms_keys=("k1",))


@pytest.fixture
def pair(
    kind: str, memory: MemoryBackend, request: pytest.FixtureRequest
) -> Iterator[tuple[Store, Encryption, Store]]:
    """(store, the encryption it supports, a second bucket on the same endpoint)."""
    if kind == "memory":
        backend = memory
        backend.create_bucket("main", default_encryption=Encryption("aws:kms", "k1"))
        backend.create_bucket("other")
        yield backend.store("main"), Encryption("aws:kms", "k1"), backend.store("other")
        return
    aws: LocalAWS = request.getfixturevalue("aws_env")
    name, other = f"contract-{next(_n)}", f"contract-src-{next(_n)}"
    key = aws.create_backup_bucket(name)
    aws.client("s3").create_bucket(Bucket=other)
    store = compose.backup_store(name, workers=4, multipart_threshold=SMALL_PARTS)
    yield store, Encryption("aws:kms", key), S3Store(store.client, other)


def test_put_then_read_back(pair: tuple[Store, Encryption, Store]) -> None:
    store, enc, _ = pair
    data = b"invoice\n" * 100
    stored = store.put("a/b c.txt", data, sha256_b64=sha(data), metadata={"m": "1"}, encryption=enc)

    assert enc.confirmed_by(stored.sse, stored.kms_key_id)
    assert stored.version_id
    with store.open("a/b c.txt", stored.version_id) as body:
        assert body.read() == data
    info = store.head("a/b c.txt")
    assert info is not None
    assert (info.size, info.version_id, info.sse) == (len(data), stored.version_id, "aws:kms")
    assert info.metadata == {"m": "1"}


def test_versions_are_kept(pair: tuple[Store, Encryption, Store]) -> None:
    store, enc, _ = pair
    v1 = store.put("k", b"one", sha256_b64=sha(b"one"), metadata={}, encryption=enc)
    v2 = store.put("k", b"two", sha256_b64=sha(b"two"), metadata={}, encryption=enc)

    assert v1.version_id != v2.version_id
    with store.open("k", v1.version_id) as body:
        assert body.read() == b"one"
    with store.open("k") as body:
        assert body.read() == b"two"


def test_a_size_hint_reads_what_is_stored_whatever_it_says(
    pair: tuple[Store, Encryption, Store], kind: str
) -> None:
    store, enc, _ = pair
    store.check_access()  # on S3, what the CRT fast path is built from (as restore does)
    one, two = b"one " * 1000, os.urandom(3000) + b"two"
    v1 = store.put("a/k é.txt", one, sha256_b64=sha(one), metadata={}, encryption=enc)
    store.put("a/k é.txt", two, sha256_b64=sha(two), metadata={}, encryption=enc)
    empty = store.put("empty", b"", sha256_b64=sha(b""), metadata={}, encryption=enc)

    for version, hint, expected in [
        (v1.version_id, len(one), one),  # an older version, by its id
        (None, len(two), two),
        (v1.version_id, 10, one),  # a hint that is wrong either way reads it all the same
        (None, 10**9, two),
        (empty.version_id, 0, b""),
    ]:
        with store.open("a/k é.txt" if expected else "empty", version, size=hint) as body:
            assert body.read() == expected
    with pytest.raises(ObjectNotFound):
        store.open("nope", size=10)
    if kind == "s3":
        assert isinstance(store, S3Store) and store._fast_path() is not None  # it was tried


def test_missing_things(pair: tuple[Store, Encryption, Store], kind: str) -> None:
    store, enc, _ = pair
    assert store.head("nope") is None
    with pytest.raises(ObjectNotFound):
        store.open("nope")
    with pytest.raises(KeyUnusable):
        store.check_encryption(Encryption("aws:kms", "no-such-key"))
    store.check_encryption(enc)
    store.check_access()


def test_missing_bucket(kind: str, request: pytest.FixtureRequest) -> None:
    if kind == "memory":
        missing: Store = MemoryBackend().store("nowhere")
    else:
        request.getfixturevalue("aws_env")
        missing = compose.backup_store("nowhere-at-all", workers=1)
    with pytest.raises(BucketNotFound):
        missing.check_access()


def test_multipart_upload_reads_the_stream_once_in_order(
    pair: tuple[Store, Encryption, Store],
) -> None:
    store, enc, _ = pair
    data = os.urandom(SMALL_PARTS * 2 + 123)
    reads = []

    class OnceReader:
        def __init__(self) -> None:
            self._f = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def read(self, size: int = -1) -> bytes:
            reads.append(self._f.tell())
            return self._f.read(size)

    stored = store.upload("big", OnceReader(), metadata={"x": "y"}, encryption=enc)

    assert reads == sorted(reads)
    assert enc.confirmed_by(stored.sse, stored.kms_key_id)
    with store.open("big", stored.version_id) as body:
        assert body.read() == data


def test_copy_within_and_across_buckets(pair: tuple[Store, Encryption, Store], kind: str) -> None:
    store, enc, other = pair
    src = store.put("orig", b"abc", sha256_b64=sha(b"abc"), metadata={"s": "1"}, encryption=enc)

    same = store.copy(
        "copy",
        source_bucket=store.bucket,
        source_key="orig",
        source_version=src.version_id,
        if_match=None,
        size=3,
        metadata=None,
        encryption=enc,
    )
    assert enc.confirmed_by(same.sse, same.kms_key_id)
    info = store.head("copy")
    assert info is not None and info.metadata == {"s": "1"}

    # From another bucket (an S3 source), replacing the metadata.
    elsewhere = other.put(
        "doc.pdf", b"xyz", sha256_b64=sha(b"xyz"), metadata={}, encryption=Encryption("AES256")
    )
    across = store.copy(
        "from-source",
        source_bucket=other.bucket,
        source_key="doc.pdf",
        source_version=None,
        if_match=elsewhere.etag,
        size=3,
        metadata={"fp": "2"},
        encryption=enc,
    )
    assert enc.confirmed_by(across.sse, across.kms_key_id)
    with store.open("from-source", across.version_id) as body:
        assert body.read() == b"xyz"
    assert (store.head("from-source") or pytest.fail()).metadata == {"fp": "2"}

    with pytest.raises(ObjectNotFound):
        store.copy(
            "copy3",
            source_bucket=store.bucket,
            source_key="absent",
            source_version=None,
            if_match=None,
            size=3,
            metadata={},
            encryption=enc,
        )
    if kind == "s3":
        pytest.skip("moto 5.2.5 ignores CopySourceIfMatch")
    with pytest.raises(PreconditionFailed):
        store.copy(
            "copy2",
            source_bucket=store.bucket,
            source_key="orig",
            source_version=None,
            if_match='"0000"',
            size=3,
            metadata={},
            encryption=enc,
        )


def test_listing_pages_and_folders(pair: tuple[Store, Encryption, Store]) -> None:
    store, enc, _ = pair
    keys = [f"backups/2025-10-{d:02d}/documents/{i}.txt" for d in (1, 2) for i in range(3)]
    keys.append("backups/2025-10-02/documents.manifest.json")
    for key in keys:
        store.put(key, b"x", sha256_b64=sha(b"x"), metadata={}, encryption=enc)

    assert [o.key for o in store.objects("backups/")] == sorted(keys)
    assert store.folders("backups/") == ["backups/2025-10-01/", "backups/2025-10-02/"]
    assert [o.key for o in store.objects("backups/2025-10-02/documents/")] == sorted(
        k for k in keys if k.startswith("backups/2025-10-02/documents/")
    )


def test_versions_listing(pair: tuple[Store, Encryption, Store]) -> None:
    # GIVEN two copies, one written twice, and a key outside the prefix
    store, enc, _ = pair

    def put(key: str, data: bytes) -> str | None:
        return store.put(key, data, sha256_b64=sha(data), metadata={}, encryption=enc).version_id

    first, second = put("backups/d/set/a", b"1"), put("backups/d/set/a", b"22")
    other = put("backups/d/set/b", b"333")
    put("backups/d/sets", b"x")

    listed = list(store.versions("backups/d/set/"))

    # THEN key order, newest first within a key, with sizes and which one is current
    assert [(v.key, v.version_id, v.size, v.latest) for v in listed] == [
        ("backups/d/set/a", second, 2, True),
        ("backups/d/set/a", first, 1, False),
        ("backups/d/set/b", other, 3, True),
    ]


def test_one_level_of_a_listing(pair: tuple[Store, Encryption, Store]) -> None:
    # GIVEN objects beside folders, deeper keys, and a key outside the prefix
    store, enc, _ = pair
    for key in (
        "backups/d/a.json",
        "backups/d/set/x",
        "backups/d/set/y/z",
        "backups/d/t.2/x",
        "backups/e/a.json",
    ):
        store.put(key, b"1", sha256_b64=sha(b"1"), metadata={}, encryption=enc)

    here = store.level("backups/d/")

    # THEN the folders once each and the objects directly under the prefix, in key order
    assert here.folders == ("backups/d/set/", "backups/d/t.2/")
    assert [(o.key, o.size) for o in here.objects] == [("backups/d/a.json", 1)]
    assert here.objects[0].last_modified.tzinfo is not None


def test_conditional_create(pair: tuple[Store, Encryption, Store]) -> None:
    store, enc, _ = pair
    store.put("once", b"1", sha256_b64=sha(b"1"), metadata={}, encryption=enc, if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put(
            "once", b"2", sha256_b64=sha(b"2"), metadata={}, encryption=enc, if_none_match=True
        )


def test_conditional_replace(pair: tuple[Store, Encryption, Store]) -> None:
    store, enc, _ = pair
    first = store.put("lease", b"1", sha256_b64=sha(b"1"), metadata={}, encryption=enc)
    second = store.put(
        "lease", b"2", sha256_b64=sha(b"2"), metadata={}, encryption=enc, if_match=first.etag
    )
    with pytest.raises(PreconditionFailed):
        store.put(
            "lease", b"3", sha256_b64=sha(b"3"), metadata={}, encryption=enc, if_match=first.etag
        )
    with pytest.raises(ObjectNotFound):
        store.put(
            "absent", b"4", sha256_b64=sha(b"4"), metadata={}, encryption=enc, if_match=second.etag
        )


def test_wrong_checksum_is_refused(pair: tuple[Store, Encryption, Store], kind: str) -> None:
    if kind == "s3":
        pytest.skip("moto 5.2.5 accepts a wrong ChecksumSHA256 (real S3 answers BadDigest)")
    store, enc, _ = pair
    with pytest.raises(Exception, match="BadDigest"):
        store.put("bad", b"data", sha256_b64=sha(b"other"), metadata={}, encryption=enc)


@pytest.fixture
def archive(
    kind: str, memory: MemoryBackend, pair: tuple[Store, Encryption, Store]
) -> Callable[[str], None]:
    """Move every copy in the store's bucket to an archive class, as lifecycle would."""
    store = pair[0]

    def to(storage_class: str) -> None:
        if kind == "memory":
            memory.transition(store.bucket, days=0, storage_class=storage_class)
            return
        everything = {
            "ID": "everything",
            "Status": "Enabled",
            "Filter": {"ObjectSizeGreaterThan": 0},
            "Transitions": [{"Days": 0, "StorageClass": storage_class}],
        }
        assert isinstance(store, S3Store)
        assert archive_aging.age(store.client, store.bucket, days=1, rules=[everything])

    return to


def _copy_of(store: Store, key: str, version_id: str | None, enc: Encryption) -> None:
    store.copy(
        f"{key}.copy",
        source_bucket=store.bucket,
        source_key=key,
        source_version=version_id,
        if_match=None,
        size=3,
        metadata=None,
        encryption=enc,
    )


@pytest.mark.parametrize("storage_class", ["GLACIER", "DEEP_ARCHIVE"])
def test_an_archived_copy_is_neither_read_nor_copied_until_restored(
    pair: tuple[Store, Encryption, Store],
    archive: Callable[[str], None],
    memory: MemoryBackend,
    kind: str,
    storage_class: str,
) -> None:
    store, enc, _ = pair
    stored = store.put("old", b"abc", sha256_b64=sha(b"abc"), metadata={}, encryption=enc)
    assert store.request_restore("old", stored.version_id, tier="bulk", days=1) == "ready"

    archive(storage_class)

    headed = store.head("old", stored.version_id) or pytest.fail()
    assert (headed.storage_class, headed.restore) == (storage_class, None)  # not asked for
    with pytest.raises(ObjectArchived) as read:
        store.open("old", stored.version_id)
    assert read.value.storage_class == storage_class
    assert storage_class in str(read.value)
    with pytest.raises(ObjectArchived):
        _copy_of(store, "old", stored.version_id, enc)

    assert store.request_restore("old", stored.version_id, tier="bulk", days=1) == "requested"
    if kind == "memory":  # moto restores at once; S3 and the memory store take their time
        # HEAD says it is under way (S3's x-amz-restore: ongoing-request="true")
        assert (store.head("old", stored.version_id) or pytest.fail()).restore == "in-progress"
        later = memory.clock() + memory.restore_delay
        memory.clock = lambda: later
    assert (store.head("old", stored.version_id) or pytest.fail()).restore == "ready"
    with store.open("old", stored.version_id) as body:
        assert body.read() == b"abc"
    _copy_of(store, "old", stored.version_id, enc)
    assert (store.head("old.copy") or pytest.fail()).storage_class == "STANDARD"
    assert store.request_restore("old", stored.version_id, tier="bulk", days=1) == "ready"
