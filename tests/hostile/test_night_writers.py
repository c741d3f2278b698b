"""One writer per night, and no stored copy ever destroyed (issue 13, items 2 and 3).

Hostile timing, forced deterministically: a run stalls inside a request (a hook holds it) while
another run takes the night, on the in-memory store and on moto behind the sandbox's gateway.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from docbackup import compose, layout
from docbackup.engine import BackupOptions, BackupResult, backup, restore
from docbackup.engine import lease as lease_module
from docbackup.engine.lease import Lease, NightBusy
from docbackup.errors import AccessDenied, ConfigError
from docbackup.sandbox.server import LocalAWS
from docbackup.sources import LocalSource
from docbackup.storage import Encryption, MemoryBackend, Store
from tests.conftest import KMS_KEY
from tests.treebuilder import tree_hashes, write

DATE = dt.date(2025, 10, 15)
# The bucket's default key: the same options then serve the in-memory store and moto.
ENC = Encryption("aws:kms")
KEYED = Encryption("aws:kms", KMS_KEY)
LEASE = layout.lease_key(DATE, "documents")
MANIFEST = layout.manifest_key(DATE, "documents")


class Killed(BaseException):
    """Stands for SIGKILL: not an Exception, so nothing in the engine catches it."""


class Hooked:
    """Any store, with `before(key)` called ahead of each PUT: where a test stalls or kills."""

    def __init__(self, inner: Store, before: Callable[[str], None]) -> None:
        self._inner = inner
        self._before = before

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def put(self, key: str, data: Any, **kw: Any) -> Any:
        self._before(key)
        return self._inner.put(key, data, **kw)


def opts(**kw: Any) -> BackupOptions:
    return BackupOptions(**({"date": DATE, "encryption": ENC, "workers": 2} | kw))


def tree(root: Path, version: str, n: int = 8) -> None:
    for i in range(n):
        write(str(root), f"docs/{i:02d}.txt", f"{version} {i}".encode() * (i + 3))


def every_version(backend: MemoryBackend) -> dict[str, list[bytes]]:
    with backend._lock:
        return {k: [v.data for v in vs] for k, vs in backend._buckets["backups"].versions.items()}


def restored(store: Store, tmp_path: Path, name: str) -> dict[str, str]:
    target = tmp_path / name
    result = restore(store, "documents", DATE.isoformat(), str(target))
    assert result.status == "complete", result
    return tree_hashes(str(target))


# -- item 2: versioning -------------------------------------------------------------------


@pytest.fixture
def unversioned() -> MemoryBackend:
    backend = MemoryBackend(known_kms_keys=(KMS_KEY,))
    backend.create_bucket("backups", default_encryption=KEYED, versioning="Off")
    return backend


@pytest.mark.parametrize("state", ["Off", "Suspended"])
def test_a_bucket_without_versioning_is_refused_before_anything_is_written(
    tmp_path: Path, state: str
) -> None:
    backend = MemoryBackend(known_kms_keys=(KMS_KEY,))
    backend.create_bucket("backups", default_encryption=KEYED, versioning=state)  # type: ignore[arg-type]
    tree(tmp_path / "office", "v1")

    with pytest.raises(ConfigError) as refused:
        backup(backend.store("backups"), LocalSource(str(tmp_path / "office")), opts())

    assert "versioning" in str(refused.value) and "--allow-unversioned" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert every_version(backend) == {}


def test_a_bucket_whose_versioning_may_not_be_asked_is_refused_naming_the_permission(
    tmp_path: Path, backend: MemoryBackend
) -> None:
    backend.denied_operations.add("GetBucketVersioning")
    tree(tmp_path / "office", "v1")

    with pytest.raises(AccessDenied, match=r"s3:GetBucketVersioning"):
        backup(backend.store("backups"), LocalSource(str(tmp_path / "office")), opts())
    assert every_version(backend) == {}


def test_a_killed_rerun_in_an_unversioned_bucket_keeps_the_first_night_restorable(
    tmp_path: Path, unversioned: MemoryBackend, killed_in_process: None
) -> None:
    store = unversioned.store("backups")
    src = tmp_path / "office"
    tree(src, "v1")
    first = backup(store, LocalSource(str(src)), opts(allow_unversioned=True))
    assert first.status == "complete"
    night1 = tree_hashes(str(src))

    # WHEN every document changes and the rerun is killed after three of them went up
    tree(src, "v2")
    sent = {"n": 0}

    def dies_after_three(key: str) -> None:
        if not key.endswith(".json"):
            if sent["n"] == 3:
                raise Killed()
            sent["n"] += 1

    with pytest.raises(Killed):
        backup(
            Hooked(store, dies_after_three),  # type: ignore[arg-type]
            LocalSource(str(src)),
            opts(allow_unversioned=True, workers=1),
        )

    # THEN the first manifest still restores byte for byte: no copy it lists was written over
    assert restored(store, tmp_path, "after-kill") == night1
    # and the next rerun completes the night with the new documents, adopting the three
    again = backup(store, LocalSource(str(src)), opts(allow_unversioned=True))
    assert (again.status, again.changed) == ("complete", 8)
    assert restored(store, tmp_path, "after-rerun") == tree_hashes(str(src))


def test_on_moto_an_unversioned_bucket_is_refused_and_a_killed_rerun_loses_nothing(
    tmp_path: Path, aws_env: LocalAWS, killed_in_process: None
) -> None:
    s3 = aws_env.client("s3")
    bucket = "night-writers-plain"
    s3.create_bucket(Bucket=bucket)
    store = compose.backup_store(bucket, workers=2)
    src = tmp_path / "office"
    tree(src, "v1")
    plain = opts(encryption=Encryption("AES256"))

    with pytest.raises(ConfigError, match="has no versioning"):
        backup(store, LocalSource(str(src)), plain)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0

    allowed = opts(encryption=Encryption("AES256"), allow_unversioned=True, workers=1)
    assert backup(store, LocalSource(str(src)), allowed).status == "complete"
    night1 = tree_hashes(str(src))
    tree(src, "v2")
    sent = {"n": 0}

    def dies_after_two(key: str) -> None:
        if not key.endswith(".json"):
            if sent["n"] == 2:
                raise Killed()
            sent["n"] += 1

    with pytest.raises(Killed):
        backup(Hooked(store, dies_after_two), LocalSource(str(src)), allowed)  # type: ignore[arg-type]

    assert restored(store, tmp_path, "r") == night1


# -- item 3: two writers on one night ------------------------------------------------------


def lease_body(**holder: Any) -> bytes:
    return json.dumps(holder).encode()


def put_lease(store: Store, data: bytes) -> None:
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    store.put(LEASE, data, sha256_b64=sha, metadata={}, encryption=ENC)


def test_a_lease_held_on_another_machine_with_the_same_hostname_is_not_taken_over(
    store: Store,
) -> None:
    # GIVEN a lease, still running, held by a clone of this machine (same hostname) whose PID
    # does not exist in this PID namespace
    now = 1_000_000.0
    clone = {
        "run": "c" * 32,
        "host": socket.gethostname(),
        "pid": 4_194_000,
        "boot": "another-kernel",
        "pidns": "pid:[1]",
        "started": now - 10,
        "expires": now + 60,
    }
    put_lease(store, lease_body(**clone))

    # THEN it is waited out, and the message names the run that holds it
    with pytest.raises(NightBusy, match="run cccccccccccc on"):
        Lease(store, DATE, "documents", ENC, clock=lambda: now).acquire(
            finished_after=lambda t: False
        )
    # an old lease naming only the hostname proves nothing either
    put_lease(store, lease_body(**{k: v for k, v in clone.items() if k not in ("boot", "pidns")}))
    with pytest.raises(NightBusy):
        Lease(store, DATE, "documents", ENC, clock=lambda: now).acquire(
            finished_after=lambda t: False
        )


def test_a_lease_left_by_a_crashed_run_in_this_very_kernel_and_namespace_is_taken_at_once(
    store: Store,
) -> None:
    mine = lease_module.machine_identity()
    if not mine:
        pytest.skip("no boot id or PID namespace here: such leases are waited out")
    now = 1_000_000.0
    put_lease(
        store,
        lease_body(
            run="d" * 32, host="x", pid=4_194_000, started=now - 10, expires=now + 60, **mine
        ),
    )
    taken = Lease(store, DATE, "documents", ENC, clock=lambda: now)
    taken.acquire(finished_after=lambda t: False)
    assert taken.held()
    taken.stop(release=True)


class Stall:
    """Holds the first run inside its PUT of `key` until the test lets it go."""

    def __init__(self, key: Callable[[str], bool]) -> None:
        self.match = key
        self.inside = threading.Event()
        self.go_on = threading.Event()
        self.armed = True

    def __call__(self, key: str) -> None:
        if self.armed and self.match(key):
            self.armed = False
            self.inside.set()
            assert self.go_on.wait(20)


def expire_the_lease(store: Store) -> None:
    """What another machine sees once the stalled holder's lease has run out (a paused VM, a
    clock that jumped): the holder wrote it, but it no longer holds the night."""
    with store.open(LEASE) as body:
        holder = json.loads(body.read())
    put_lease(store, lease_body(**(holder | {"expires": 1.0})))


def race(
    stores: tuple[Store, Store], src_a: Path, src_b: Path, stall: Stall
) -> tuple[BackupResult, BackupResult]:
    """Run A until `stall` holds it, let B take the night and finish, then let A go on."""
    a_store, b_store = stores
    results: dict[str, Any] = {}

    def run_a() -> None:
        try:
            results["a"] = backup(
                Hooked(a_store, stall),  # type: ignore[arg-type]
                LocalSource(str(src_a)),
                opts(allow_new_source=True),
            )
        except BaseException as exc:  # reported below, in the test's own thread
            results["a"] = exc

    thread = threading.Thread(target=run_a)
    thread.start()
    assert stall.inside.wait(20)
    expire_the_lease(b_store)
    results["b"] = backup(b_store, LocalSource(str(src_b)), opts(allow_new_source=True))
    stall.go_on.set()
    thread.join(20)
    assert isinstance(results["a"], BackupResult), results["a"]
    return results["a"], results["b"]


def the_night_is_bs(
    store: Store, tmp_path: Path, a: BackupResult, b: BackupResult, src_b: Path
) -> None:
    # exactly one completes; the other fails loudly, naming the run that holds the night
    assert b.status == "complete"
    assert a.status == "failed" and a.manifest_key is None
    info = store.head(MANIFEST)
    assert info is not None and info.metadata is not None
    winner = info.metadata["docbackup-run"]
    assert a.error is not None and f"run {winner[:12]}" in a.error
    # and the night's manifest lists every document of the winner, byte for byte
    assert restored(store, tmp_path, "night") == tree_hashes(str(src_b))


@pytest.fixture(params=["memory", "moto"])
def two_stores(request: pytest.FixtureRequest, backend: MemoryBackend) -> Iterator[Store]:
    if request.param == "memory":
        yield backend.store("backups")
        return
    aws: LocalAWS = request.getfixturevalue("aws_env")
    name = f"night-writers-{request.node.name.split('[')[0][-20:].replace('_', '-')}"
    aws.create_backup_bucket(name)
    yield compose.backup_store(name, workers=2)


def test_a_holder_whose_lease_was_taken_meanwhile_writes_no_manifest(
    tmp_path: Path, two_stores: Store
) -> None:
    # GIVEN two machines with other documents; A stalls inside its first document upload
    src_a, src_b = tmp_path / "a", tmp_path / "b"
    tree(src_a, "from A", 5)
    tree(src_b, "from B", 7)
    stall = Stall(lambda key: not key.endswith(".json"))

    # WHEN B takes the night over meanwhile and completes it
    a, b = race((two_stores, two_stores), src_a, src_b, stall)

    # THEN A finds out at its renewal before the manifest, however much lease it thought left
    the_night_is_bs(two_stores, tmp_path, a, b, src_b)
    assert "taken over" in str(a.error)


def test_a_manifest_written_by_another_run_meanwhile_is_never_replaced(
    tmp_path: Path, two_stores: Store
) -> None:
    # GIVEN A past its lease check, stalled inside its manifest write
    src_a, src_b = tmp_path / "a", tmp_path / "b"
    tree(src_a, "from A", 5)
    tree(src_b, "from B", 7)
    stall = Stall(lambda key: key == MANIFEST)

    a, b = race((two_stores, two_stores), src_a, src_b, stall)

    # THEN A's conditional write is refused: B's manifest stands; A's copies stay stored
    the_night_is_bs(two_stores, tmp_path, a, b, src_b)
    assert "wrote the manifest" in str(a.error)
    assert two_stores.head(layout.document_key(DATE, "documents", "docs/04.txt")) is not None


# -- item 3c: another source --------------------------------------------------------------


def test_another_source_into_a_set_is_refused_unless_asked_for(
    tmp_path: Path, backend: MemoryBackend, store: Store
) -> None:
    tree(tmp_path / "office", "v1")
    tree(tmp_path / "elsewhere", "v9", 3)
    assert backup(store, LocalSource(str(tmp_path / "office")), opts()).status == "complete"
    before = every_version(backend)

    with pytest.raises(ConfigError, match="--allow-new-source") as refused:
        backup(store, LocalSource(str(tmp_path / "elsewhere")), opts())
    assert str(tmp_path / "office") in str(refused.value) and "\n" not in str(refused.value)
    assert every_version(backend) == before
    assert restored(store, tmp_path, "r") == tree_hashes(str(tmp_path / "office"))

    moved = backup(store, LocalSource(str(tmp_path / "elsewhere")), opts(allow_new_source=True))
    assert moved.status == "complete"
    assert restored(store, tmp_path, "r2") == tree_hashes(str(tmp_path / "elsewhere"))


# -- the command line -----------------------------------------------------------------------


def test_the_cli_refuses_an_unversioned_bucket_with_exit_2_and_one_line(
    tmp_path: Path, aws_env: LocalAWS
) -> None:
    from click.testing import CliRunner

    from docbackup.cli.main import cli

    s3 = aws_env.client("s3")
    s3.create_bucket(Bucket="night-writers-cli")
    tree(tmp_path / "office", "v1")
    args = ["backup", str(tmp_path / "office"), "--bucket", "night-writers-cli", "--sse", "AES256"]

    refused = CliRunner().invoke(cli, args, catch_exceptions=False)

    assert refused.exit_code == 2
    (line,) = refused.stderr.splitlines()
    assert "has no versioning" in line and "--allow-unversioned" in line
    assert s3.list_objects_v2(Bucket="night-writers-cli").get("KeyCount", 0) == 0
    allowed = CliRunner().invoke(cli, [*args, "--allow-unversioned"], catch_exceptions=False)
    assert allowed.exit_code == 0, allowed.output
