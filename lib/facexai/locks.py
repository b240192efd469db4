"""Guards of a run: the folder it writes must be writable, and one run of a sweep at a time.

- :func:`ensure_writable` refuses a folder that cannot be created or written, in one line naming
  the folder and the environment variable that moves it (:class:`facexai.paths.NotWritableError`);
- :func:`sweep_lock` holds an exclusive ``flock`` on ``<sweep output>/sweep.lock`` while a sweep
  runs: a second run of the same sweep is refused with :class:`SweepLocked`, naming the process
  that holds it. The kernel releases the lock when its holder exits, however it ends (a killed
  run leaves a stale file, never a stale lock); the file itself stays.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .paths import NotWritableError

#: The lock file's name in a sweep's output folder.
LOCK_FILE = "sweep.lock"


class SweepLocked(RuntimeError):
    """The sweep is already running (another process holds its lock)."""


def ensure_writable(folder: Path | str, what: str, variable: str) -> Path:
    """Create ``folder`` if needed and check that a file can be written there; else raise
    :class:`NotWritableError` naming ``what`` (e.g. "the build folder") and ``variable``."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".facexai-write-test-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise NotWritableError(f"{what} {folder} is not writable ({err.strerror or err}); set "
                               f"{variable} to a writable folder") from None
    return folder


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']}, started {info['started']} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


@contextmanager
def sweep_lock(name: str, folder: Path | str) -> Iterator[Path]:
    """Hold the lock of sweep ``name`` (in its output ``folder``) for the block; raise
    :class:`SweepLocked` at once if another process holds it."""
    import fcntl

    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepLocked(f"sweep {name!r} is already running ({_holder(path)}); lock file "
                              f"{path}") from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock
