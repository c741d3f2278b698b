"""docbackup: nightly, verified, encrypted document backups into S3 as dated snapshots."""

__version__ = "0.1.0"
