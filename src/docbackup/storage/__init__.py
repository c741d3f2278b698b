"""Storage: one bucket behind a small interface (`Store`), in memory or on S3."""

from docbackup.storage.base import Encryption, ObjectInfo, Store, Stored
from docbackup.storage.memory import MemoryBackend, MemoryStore

__all__ = ["Encryption", "MemoryBackend", "MemoryStore", "ObjectInfo", "Store", "Stored"]
