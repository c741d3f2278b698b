"""An S3 prefix as a source: listed page by page, copied server-side."""

from __future__ import annotations

from collections.abc import Iterator

from docbackup.errors import ConfigError, ObjectNotFound
from docbackup.sources.base import (
    META_FINGERPRINT,
    Document,
    ObjectOrigin,
    Outcome,
    ScanResult,
    Skipped,
)
from docbackup.sources.exclude import IGNORE_FILE, MAX_IGNORE_FILE, Excluder, ignore_file_lines
from docbackup.storage.base import Encryption, Store


def parse_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"invalid S3 source {url!r}: expected s3://bucket[/prefix]")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


class ObjectSource:
    """`exclude` defaults to the built-in exclusions (office lock and temporary files); the
    prefix's own .docbackupignore object is added to it at each scan."""

    def __init__(
        self,
        store: Store,
        prefix: str,
        *,
        exclude: Excluder | None = None,
        top_level_only: bool = False,
    ) -> None:
        self.bucket_store = store
        self.prefix = prefix
        self.exclude = Excluder() if exclude is None else exclude
        # Only the objects directly under the prefix, not those in its "folders": a fanned-out
        # source's own set, when each folder is a set of its own.
        self.top_level_only = top_level_only

    def describe(self) -> str:
        where = f"s3://{self.bucket_store.bucket}/{self.prefix}"
        return where + (" (top level only)" if self.top_level_only else "")

    def check(self) -> None:
        try:
            self.bucket_store.check_access()
        except ConfigError as exc:
            raise ConfigError(f"source: {exc}") from None

    def scan(self) -> ScanResult:
        self.check()
        # Before the listing starts, so a bad line stops the run before anything is sent.
        excluder = self._with_ignore_file()
        found = ScanResult(iter(()))
        found.documents = self._list(excluder, found)
        return found

    def store(
        self,
        document: Document,
        store: Store,
        key: str,
        encryption: Encryption,
        *,
        multipart_threshold: int,
        unless_sha256: str | None = None,
    ) -> Outcome:
        """Copy the object server-side, only while it is still the version the listing saw.

        The copy moves no bytes through the client; its SHA-256 is left to the engine, which
        reads the stored copy back (servers' copy checksums differ from one to the next).
        `unless_sha256` never applies: an object's ETag changes with its bytes, so an object
        matches its manifest entry or is different.
        """
        origin = document.origin
        if not isinstance(origin, ObjectOrigin):
            raise TypeError(f"{document.path}: not an object in a bucket")
        stored = store.copy(
            key,
            source_bucket=origin.bucket,
            source_key=origin.key,
            source_version=None,
            if_match=origin.etag,
            size=document.size,
            metadata={META_FINGERPRINT: origin.fingerprint},
            encryption=encryption,
        )
        return Outcome(stored, None, document.size, document.mtime_ns, origin.fingerprint, 0)

    def _with_ignore_file(self) -> Excluder:
        """`exclude` plus the ignore object at the top of the prefix, if there is one. Like
        any other object there, it is backed up too."""
        key = f"{self.prefix}{IGNORE_FILE}"
        url = f"s3://{self.bucket_store.bucket}/{key}"
        try:
            with self.bucket_store.open(key) as body:
                data = body.read(MAX_IGNORE_FILE + 1)
        except ObjectNotFound:
            return self.exclude
        return self.exclude.with_ignore_file(ignore_file_lines(data, url), url)

    def _list(self, excluder: Excluder, found: ScanResult) -> Iterator[Document]:
        skipped = found.skipped
        passed_over: str | None = None  # the excluded folder the listing is inside
        # S3 lists keys in UTF-8 byte order, which is the order of the paths as strings.
        listed = (
            iter(self.bucket_store.level(self.prefix).objects)
            if self.top_level_only
            else self.bucket_store.objects(self.prefix)
        )
        for obj in listed:
            path = obj.key[len(self.prefix) :]
            # The keys under a folder share its prefix, so they come one after another: the
            # folder is counted once, as the local walk counts the folder it does not open.
            if passed_over is not None and path.startswith(passed_over):
                continue
            cut = excluder.excluded_at(path)
            if cut is not None:
                found.excluded += 1
                passed_over = cut if cut.endswith("/") else None
                continue
            if obj.key.endswith("/"):
                if obj.size:
                    skipped.append(Skipped(path, "key ends with '/', not a document", False))
                continue  # a console "folder" marker
            origin = ObjectOrigin(self.bucket_store.bucket, obj.key, obj.etag)
            mtime_ns = int(obj.last_modified.timestamp() * 1_000_000_000)
            yield Document(path, obj.size, mtime_ns, origin)
