"""Test trees shaped like the awkward corners of real office folders."""

from __future__ import annotations

import os
import unicodedata

from docbackup.sandbox.sample import tree_hashes, write

__all__ = ["awkward_tree", "sly_edit", "tree_hashes", "write"]


def awkward_tree(root: str, *, big_size: int) -> dict[str, str]:
    """Nested folders, NFC and NFD names, spaces, an empty file and one file of `big_size`."""
    os.makedirs(root, exist_ok=True)
    cafe_nfc = unicodedata.normalize("NFC", "café")
    cafe_nfd = unicodedata.normalize("NFD", "café")
    files = {
        "invoices/2025/INV-0001.pdf": b"%PDF-1.7 invoice one\n" * 40,
        "invoices/2025/INV-0002.pdf": b"%PDF-1.7 invoice two\n" * 41,
        f"contracts/{cafe_nfc} menu.docx": b"NFC name",
        f"contracts/{cafe_nfd} menu.docx": b"NFD name, a different file",
        "reports/Q3 report final (2).xlsx": os.urandom(70_000),
        "reports/deep/er/still/deeper/notes.txt": b"nested\n",
        "empty.txt": b"",
        "scans/big-scan.tiff": os.urandom(big_size),
    }
    for rel, data in files.items():
        write(root, rel, data)
    return tree_hashes(root)


def sly_edit(path: str) -> None:
    """Change one byte in place, keep the size, and put the mtime back (aws-cli issue 8377)."""
    st = os.stat(path)
    with open(path, "r+b") as f:
        first = f.read(1)
        f.seek(0)
        f.write(bytes([(first[0] ^ 0xFF)]))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns)
