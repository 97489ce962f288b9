"""One writer at a time: an exclusive lock on an output folder (a build's OUTDIR, an updated store).

Two `nepagn build-catalogue` runs on the same OUTDIR, or two `nepagn update` runs on the same store
or catalogue, would both compute every partition and the last writer would silently win; two
`nepagn train` runs on the same --out would train into the same kept tasks and race to publish. Each such
command therefore holds an exclusive lock (`flock` on OUTDIR/.nepagn.lock, or on a file beside the
store) from before its first write to its end; a second process finds it held and stops at once with
a one-line error naming the holder, before it changes anything.

The kernel releases a lock when its process ends, however it ends (a crash, SIGKILL, a lost node),
so no stale lock is ever left to clear by hand. On NFS, Linux emulates flock with POSIX locks
(lockd): the lock holds across client machines there too.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nepagn.errors import NepagnError

LOCK_NAME = ".nepagn.lock"


class FolderLocked(NepagnError):
    """Another nepagn process holds the lock of the folder this command would write."""


def lock_path_beside(folder: str | Path) -> Path:
    """The lock file of a folder that is published whole (a store an update swaps, a MODELDIR being trained).

    It lies beside the folder, not inside it, so the folder can be renamed into place while the lock is held.
    """
    folder = Path(folder).resolve()
    return folder.parent / f".{folder.name}{LOCK_NAME}"


def _holder(path: Path) -> str:
    """Who holds the lock, as its process wrote it (pid, host, command, start time), for the error message."""
    try:
        record = json.loads(path.read_text())
        return (f"pid {record.get('pid')} on {record.get('host')}, `{record.get('command')}`, "
                f"since {record.get('started_utc')}")
    except (OSError, ValueError):
        return "a process that has not yet said who it is"


@contextmanager
def exclusive_lock(path: str | Path, what: str, command: str = "nepagn") -> Iterator[Path]:
    """Hold an exclusive, non-blocking lock on the file `path` for the duration of the block.

    `what` names the folder the lock protects (for the message). Raises FolderLocked at once, with the
    holder's pid, host and command, when another process holds it. The lock file stays in place
    (removing it would let a third process lock a different inode); only its content is cleared.
    """
    from nepagn.pipeline.provenance import utc_now

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderLocked(
            f"{what}: another nepagn process is writing here ({_holder(path)}); wait for it to end or choose "
            "another folder (nothing was changed)"
        ) from None
    try:
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started_utc": utc_now()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        yield path
    finally:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
