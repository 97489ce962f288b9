"""nepagn.files: the one owner of atomic files and directories, hashing and canonical JSON."""

from __future__ import annotations

import hashlib
import json
import stat

import pytest

from nepagn.files import (
    atomic_directory,
    atomic_path,
    canonical_json,
    file_mode,
    sha256_file,
    sha256_json,
    write_text_atomic,
)


def _names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_atomic_file_appears_whole_with_the_umask_mode(tmp_path):
    path = write_text_atomic(tmp_path / "sub" / "a.txt", "hello\n")
    assert path.read_text() == "hello\n"
    assert stat.S_IMODE(path.stat().st_mode) == file_mode()
    assert _names(path.parent) == ["a.txt"]


def test_failed_atomic_file_leaves_the_old_file_and_no_temporary(tmp_path):
    dest = write_text_atomic(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert dest.read_text() == "old"
    assert _names(tmp_path) == ["a.txt"]


def test_atomic_directory_replaces_an_old_one_whole(tmp_path):
    dest = tmp_path / "models"
    with atomic_directory(dest) as partial:
        (partial / "old.txt").write_text("1")
    with atomic_directory(dest) as partial:
        assert not (dest / "new.txt").exists()  # nothing is visible before the block ends
        (partial / "new.txt").write_text("2")
    assert _names(dest) == ["new.txt"]
    assert _names(tmp_path) == ["models"]  # no partial or old copy left beside it


def test_failed_atomic_directory_leaves_the_old_one_and_no_partial(tmp_path):
    dest = tmp_path / "models"
    with atomic_directory(dest) as partial:
        (partial / "old.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_directory(dest) as partial:
        (partial / "new.txt").write_text("2")
        raise KeyboardInterrupt
    assert _names(dest) == ["old.txt"]
    assert _names(tmp_path) == ["models"]


def test_hashes_are_of_the_bytes_and_of_canonical_json(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * (3 << 20))
    assert sha256_file(path, chunk_bytes=1000) == hashlib.sha256(b"x" * (3 << 20)).hexdigest()
    assert canonical_json({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}'
    assert sha256_json({"b": 1, "a": 2}) == sha256_json(json.loads('{"a": 2, "b": 1}'))
