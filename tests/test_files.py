"""Files users share (checkpoints, classifiers) are written atomically with the permissions
a plain ``open`` gives, not the owner-only ones of a temporary file."""

from __future__ import annotations

import os
import stat

import pytest

from volseg._files import write_atomically


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_umask_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = write_atomically(tmp_path / "sub" / "file.bin", lambda f: f.write(b"data"))
    finally:
        os.umask(old)
    assert path.read_bytes() == b"data"
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["file.bin"]  # no temporary left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_atomically(tmp_path / "file.bin", lambda f: f.write(b"old"))

    def fail(f):
        f.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]
