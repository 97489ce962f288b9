"""Low-level file I/O every nepagn writer uses: atomic files and directories, file modes, hashing, canonical JSON.

Atomic: a file or directory is written under a temporary name beside its destination and renamed into
place only when complete, so a reader never sees half of it and a failure (a full disk, Ctrl-C) leaves
nothing that looks complete. Temporary names start with "." and end in ".tmp" (files) or contain
".partial-" (directories), so a store's readers skip them.

File modes: tempfile.mkstemp creates files 0600 whatever the umask; renamed into place, such a
catalogue would be unreadable to colleagues on a shared file system. Every atomic writer therefore
gives its temporary file the mode an ordinary `open()` would have given it (0666 less the umask).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_umask() -> int:
    """This process's umask, read without changing it (Linux: /proc/self/status; elsewhere set and reset)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it; restored at once
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode open() gives a new file here: 0666 less the umask (0644 under the usual umask 022)."""
    return 0o666 & ~current_umask()


def make_public(path: str | Path) -> None:
    """Give `path` (a temporary file about to be renamed into place) the mode of a file made by open()."""
    os.chmod(path, file_mode())


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; rename it to `dest` only if the block succeeds.

    Parameters
    ----------
    dest : str or Path
        The file to write; its folder is created if missing.

    Yields
    ------
    Path
        Where the block writes the file. It is removed if the block raises.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        make_public(tmp)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def save_figure(figure: Any, path: str | Path, **savefig: Any) -> Path:
    """Save a matplotlib figure to `path` atomically, in the format its suffix names; returns the path."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=Path(path).suffix.lstrip(".") or None, **savefig)
    return Path(path)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically (temporary file beside it, then rename); returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (temporary file beside it, then rename); returns the path."""
    return write_bytes_atomic(path, text.encode())


def partial_directory(dest: str | Path) -> Path:
    """A new, empty temporary directory beside `dest` for building it (unique to this call)."""
    dest = Path(dest)
    partial = dest.with_name(f".{dest.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    return partial


def publish_directory(partial: str | Path, dest: str | Path) -> Path:
    """Move a complete directory `partial` to `dest`, replacing what was there; returns `dest`.

    An old `dest` is first renamed aside and removed only once the new one is in place, so a reader
    sees either the old or the new directory, whole, never a mix (at most an instant with neither).
    """
    partial, dest = Path(partial), Path(dest)
    old = None
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        os.rename(dest, old)
    os.rename(partial, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return dest


@contextmanager
def atomic_directory(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside `dest`; publish it as `dest` only if the block succeeds.

    Parameters
    ----------
    dest : str or Path
        The directory to write. An existing one is replaced (publish_directory).

    Yields
    ------
    Path
        Where the block writes the directory's contents. It is removed if the block raises.
    """
    partial = partial_directory(dest)
    try:
        yield partial
        publish_directory(partial, dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal text (and hashes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def sha256_json(value: Any) -> str:
    """SHA-256 hex digest of `value`'s canonical JSON: a content id."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()
