"""File modes of what nepagn writes: public outputs are readable as the user's umask allows.

Atomic writes go through a temporary file made by tempfile.mkstemp, which creates it mode 0600
whatever the umask; renamed into place, such a catalogue would be unreadable to colleagues on a
shared file system. Every atomic writer therefore gives its temporary file the mode an ordinary
`open()` would have given it (0666 less the umask) before the rename.
"""

from __future__ import annotations

import os
from pathlib import Path


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
