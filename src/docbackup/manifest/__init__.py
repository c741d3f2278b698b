"""The manifest: one JSON document per set and night, the only thing restore and verify need.

It is written last, in one PUT, after every document it lists is stored; a run that could not
store everything writes it with status `partial` and the list of failures.

`types` holds what a manifest says (its header, its entries), `codec` the JSON and the checks
of every value read back, `stream` the reader that holds one entry at a time. Callers import
from here.
"""

from docbackup.manifest.codec import MAX_SIZE, Manifest, entry_from_doc, entry_line, write_json
from docbackup.manifest.stream import ManifestStream
from docbackup.manifest.types import (
    ACTIONS,
    Action,
    Entry,
    LostCopy,
    ManifestHeader,
    Problem,
    Status,
)

__all__ = [
    "ACTIONS",
    "MAX_SIZE",
    "Action",
    "Entry",
    "LostCopy",
    "Manifest",
    "ManifestHeader",
    "ManifestStream",
    "Problem",
    "Status",
    "entry_from_doc",
    "entry_line",
    "write_json",
]
