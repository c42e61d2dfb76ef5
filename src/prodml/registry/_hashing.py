"""When the registry hashes files on several threads (hashlib releases the GIL on blocks).

Registering or verifying a version of many files is bound by sha256; on several cores,
hashing files concurrently divides the wall time. Small versions stay on one thread,
where a pool would cost more than it saves.
"""

from __future__ import annotations

import os

__all__ = ["HASH_WORKERS", "PARALLEL_BYTES", "PARALLEL_FILES"]

HASH_WORKERS = min(4, os.cpu_count() or 1)
"""Threads hashing files at once."""

PARALLEL_BYTES = 16 << 20
"""Registration hashes on several threads above this many bytes in several files."""

PARALLEL_FILES = 8
"""Verification hashes on several threads from this many files on."""
