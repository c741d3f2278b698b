"""The tuned numbers, each once, with where it comes from.

Change one here and every path follows: the command line, the office machine, the function
(its own default; the stack's Workers parameter can override it) and the demo.
"""

from __future__ import annotations

# Documents transferred at once (`--workers`, DOCBACKUP_WORKERS). Measured over a 20 ms round
# trip (bench/compare.py --only many --many 5000 --endpoint rclone --rtt-ms 20 --tools rclone
# --workers N): 16 -> 32 took a first backup of 5,000 small files from 9.2 s to 6.9 s, its
# restore from 9.1 s to 6.6 s and verify --deep from 16.7 s to 12.9 s, for 4 MB more memory;
# on loopback the two are level. Latency, not the client, bounds a small document's transfer.
WORKERS = 32

# Files below this are read whole and sent in one PUT with their SHA-256; larger ones go
# through s3transfer in parts of PART_SIZE. Both are boto3's own defaults, not tuned here: a
# part is held in memory while it is sent, so PART_SIZE times the part concurrency per worker
# bounds the memory a large file takes.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
PART_SIZE = 8 * 1024 * 1024
