"""Skip flags that DataLoader worker processes share with the main process.

Each worker holds its own copy of a dataset, so a plain attribute records only that worker's skips. One byte per
item lives in shared memory (``multiprocessing.Array``), inherited by forked or spawned workers, so an unreadable
item is counted exactly once however many workers meet it. Pickled in any other context (deepcopy, saving), the
flags become a private snapshot instead of failing.
"""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing import context

import numpy as np


class SharedFlags:
    """``n`` boolean flags that DataLoader workers can set and the main process can read."""

    def __init__(self, n: int) -> None:
        # No lock: setting a byte to 1 is idempotent, and the count is the number of set bytes, so races are
        # harmless; a lock-free array also passes to workers of any start method (fork, spawn, forkserver).
        self._arr = mp.RawArray("b", max(int(n), 1))

    def _view(self) -> np.ndarray:
        return self._arr if isinstance(self._arr, np.ndarray) else np.frombuffer(self._arr, dtype=np.int8)

    def mark(self, i: int) -> bool:
        """Set flag ``i``; True when it was not set before (as seen by this process)."""
        new = not self._arr[i]
        self._arr[i] = 1
        return bool(new)

    def count(self) -> int:
        return int(np.count_nonzero(self._view()))

    def indices(self) -> list[int]:
        return np.flatnonzero(self._view()).tolist()

    def __getstate__(self) -> dict:
        if context.get_spawning_popen() is not None and not isinstance(self._arr, np.ndarray):
            return {"_arr": self._arr}  # handing it to a new worker process: share it
        return {"_arr": self._view().copy()}  # any other pickling: a private snapshot

    def __setstate__(self, state: dict) -> None:
        self._arr = state["_arr"]
