"""An S3 prefix as a source: listed page by page, copied server-side."""

from __future__ import annotations

from collections.abc import Iterator

from docbackup.errors import ConfigError
from docbackup.sources.base import Document, ObjectOrigin, ScanResult, Skipped
from docbackup.storage.base import Store


def parse_s3_url(url: str) -> tuple[str, str]:
    rest = url.removeprefix("s3://")
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"invalid S3 source {url!r}: expected s3://bucket[/prefix]")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


class ObjectSource:
    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def describe(self) -> str:
        return f"s3://{self.store.bucket}/{self.prefix}"

    def check(self) -> None:
        try:
            self.store.check_access()
        except ConfigError as exc:
            raise ConfigError(f"source: {exc}") from None

    def scan(self) -> ScanResult:
        self.check()
        skipped: list[Skipped] = []
        return ScanResult(self._list(skipped), skipped)

    def _list(self, skipped: list[Skipped]) -> Iterator[Document]:
        # S3 lists keys in UTF-8 byte order, which is the order of the paths as strings.
        for obj in self.store.objects(self.prefix):
            path = obj.key[len(self.prefix) :]
            if obj.key.endswith("/"):
                if obj.size:
                    skipped.append(Skipped(path, "key ends with '/', not a document", False))
                continue  # a console "folder" marker
            origin = ObjectOrigin(self.store.bucket, obj.key, obj.etag)
            mtime_ns = int(obj.last_modified.timestamp() * 1_000_000_000)
            yield Document(path, obj.size, mtime_ns, origin)
