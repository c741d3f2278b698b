"""SIGKILL a 500-document backup at random moments, rerun each night, and count.

.venv/bin/python bench/crash_trials.py [--trials 20]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from tests.faults.crash import make_source, trial

from docbackup.sandbox.server import LocalAWS


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--documents", type=int, default=500)
    args = parser.parse_args()
    aws = LocalAWS().start()
    rng = random.Random(11)
    print(
        "| trial | killed after s | stored before kill | resumed | documents | stored twice |"
        " restore identical |"
    )
    print("|---|---|---|---|---|---|---|")
    bad = 0
    with tempfile.TemporaryDirectory() as source:
        make_source(source, args.documents, 5)
        for n in range(args.trials):
            bucket = f"crash-trial-{n}"
            key = aws.create_backup_bucket(bucket)
            t = trial(aws, source, bucket, key, rng.uniform(0.5, 4.0))
            bad += not (
                t.resumed_status == "complete"
                and t.identical
                and t.resumed_documents == args.documents
            )
            print(
                f"| {n} | {t.killed_after_s:.2f} | {t.stored_before_kill} | "
                f"{t.resumed_status} | {t.resumed_documents} | {t.uploaded_twice} | "
                f"{t.identical} |"
            )
    aws.stop()
    print(f"\n{args.trials - bad} of {args.trials} trials resumed complete and byte-identical")


if __name__ == "__main__":
    main()
