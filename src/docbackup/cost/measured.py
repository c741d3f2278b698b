"""What one night does, measured or read from the code, each with where it was measured."""

from __future__ import annotations

# --- What one night does (measured or read from the code) -------------------------------------
# src/docbackup/sources/s3.py ObjectSource.store: a document from the source bucket is copied
# server-side and the copy read back once to hash it, so 1 COPY and 1 GET each. (An office agent
# backing up a folder sends 1 PUT instead; that path does not run in the stack.)
COPIES_PER_STORED_DOCUMENT = 1
GETS_PER_STORED_DOCUMENT = 1
# README, "Speed": whatever the size of the set, a night asks the bucket's versioning, lists
# the dates, reads the last manifest, writes the lease, renews it and writes the manifest.
FIXED_PUT_CLASS_REQUESTS = 4  # LIST dates, PUT lease, PUT its renewal, PUT manifest
FIXED_GET_CLASS_REQUESTS = 2  # GET versioning, GET manifest
# The stack's ReadBackMBPerNight default, and what the function reads in a second: an
# assumption, not yet measured on Lambda (16 workers on in-region GETs usually do better).
READ_BACK_BUDGET_BYTES = 1000 * 1_000_000
READ_BACK_BYTES_PER_S = 50_000_000
# The watch of every set reads each set's newest manifest; one set in the stack as deployed.
WATCH_GETS_PER_SET = 1
# The source is listed a page of up to 1,000 keys at a time (ListObjectsV2).
KEYS_PER_LIST_PAGE = 1000
# README, "Past one machine": the manifest is about 390 bytes per document, one a night.
MANIFEST_BYTES_PER_DOCUMENT = 390

# README, "What it costs" (bench/handler_night.py, 512 MB): a first night of 500 documents takes
# about 10 s, a night with no change to the same 500 about 2 s. README, "Past one machine": an
# unchanged document costs about 70 us of a bench core; 512 MB buys about 0.3 vCPU.
MEASURED_DOCUMENTS = 500
MEASURED_FIRST_NIGHT_S = 10.0
MEASURED_NO_CHANGE_NIGHT_S = 2.0
LAMBDA_VCPU_AT_512_MB = 0.3
UNCHANGED_DOCUMENT_S = 70e-6 / LAMBDA_VCPU_AT_512_MB
NIGHT_BASE_S = MEASURED_NO_CHANGE_NIGHT_S - MEASURED_DOCUMENTS * UNCHANGED_DOCUMENT_S
STORED_DOCUMENT_S = (MEASURED_FIRST_NIGHT_S - MEASURED_NO_CHANGE_NIGHT_S) / MEASURED_DOCUMENTS
# A refresh is one server-side COPY with no read-back; priced as a stored document (an upper
# bound) until it is measured on its own.
REFRESHED_DOCUMENT_S = STORED_DOCUMENT_S

# KMS with S3 Bucket Keys: S3 asks KMS for a bucket-level key and reuses it for a limited
# time, so a night's thousand objects cost about one GenerateDataKey (writes) and one Decrypt
# (reads), not one per object. Add one Decrypt of the function's environment at its cold start
# (every nightly run is one) and about one for the KMS-encrypted log group.
KMS_REQUESTS_PER_NIGHT = 4
# Without Bucket Keys S3 calls KMS for every object it writes and every encrypted object it
# reads: a stored document is a write and a read-back, a refresh reads one copy and writes one.
KMS_REQUESTS_WITHOUT_BUCKET_KEY_PER_DOCUMENT = 2

# 1.1 KB measured for the EMF object and the "backup finished" line with its summary (Powertools
# 3.37); Lambda's START/END/REPORT lines and the injected context fields add under 1 KB.
LOG_BYTES_PER_NIGHT = 2_000
# The nightly EMF object reaches CloudWatch once, so each custom metric receives data in one
# hour a night; custom metrics are prorated by the hour they receive data.
METRIC_HOURS_PER_NIGHT = 1
# An S3 server access log record is 400-500 bytes; lifecycle writes two more per expired copy
# (the delete marker, then the removal of the noncurrent version).
ACCESS_LOG_RECORD_BYTES = 500
ACCESS_LOG_RECORDS_PER_EXPIRY = 2

# AWS Backup for S3 bills an object smaller than 128 KB as 128 KB.
BACKUP_MINIMUM_OBJECT_BYTES = 128 * 1024
