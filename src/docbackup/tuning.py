"""The tuned numbers, each once, with where it comes from.

Change one here and every path follows: the command line, the office machine, the function
(its own default; the stack's Workers parameter can override it) and the demo.
"""

from __future__ import annotations

# Documents transferred at once (`--workers`, DOCBACKUP_WORKERS). At 16, bench/compare.py's
# side-by-side runs (bench/results.md) put a first backup of 500 documents level with a
# 32-thread boto3 loop; no wider sweep of worker counts has been measured yet.
WORKERS = 16

# Files below this are read whole and sent in one PUT with their SHA-256; larger ones go
# through s3transfer in parts of PART_SIZE. Both are boto3's own defaults, not tuned here: a
# part is held in memory while it is sent, so PART_SIZE times the part concurrency per worker
# bounds the memory a large file takes.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
