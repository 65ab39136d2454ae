"""Output paths checked before any work: a file or directory capsim is asked to write.

`--out`, `--json`, `report --out`, `plot --out`, `calibrate --out` and the API's `out=`
arguments go through `output_file` or `output_dir` before anything runs or is written:
a name too long, a directory where a file is wanted (or a file where a directory is), a
missing parent, a device, or a place nothing can be created in (`/proc`) is a
`StoreError` naming the path (exit 2); a denied permission, a read-only or full disk an
`OSError` with the path (exit 74). A check leaves nothing on disk.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from capsim.simcore.store import StoreError

NAME_MAX = 255
PATH_MAX = 4096
SPARE = 30
"""The most capsim adds to a name it writes: `.NAME.<random>.tmp`, `.capsim-new-NAME-<random>`,
`.capsim-replaced-NAME-<random>`."""
ENVIRONMENT = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO}


def _lstat(path: Path, where: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise StoreError(f"{where}: a part of the path is a file, not a directory") from None
    except OSError as exc:
        raise StoreError(f"{where}: cannot be used ({exc.strerror or exc})") from None


def _lengths(path: Path, where: str) -> None:
    whole = os.path.abspath(path)
    if len(os.fsencode(whole)) + SPARE > PATH_MAX:
        raise StoreError(f"{where}: the path is too long ({len(whole)} characters; at most "
                         f"{PATH_MAX - SPARE})")
    for part in Path(whole).parts:
        if len(os.fsencode(part)) > NAME_MAX - (SPARE if part == Path(whole).name else 0):
            raise StoreError(f"{where}: the name {part[:40]}... is too long "
                             f"({len(part)} characters; at most {NAME_MAX - SPARE})")


def _nearest(path: Path, where: str) -> Path:
    """The nearest ancestor of `path` that exists; it must be a directory."""
    for anc in Path(os.path.abspath(path)).parents:
        st = _lstat(anc, where)
        if st is None:
            continue
        if not stat.S_ISDIR(os.stat(anc).st_mode):
            raise StoreError(f"{where}: {anc} is a file, not a directory")
        return anc
    return Path("/")


def _probe(folder: Path, name: str, where: str, path: Path) -> None:
    """Create and delete a temporary entry in `folder`: can capsim write there?"""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name[:40]}.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        if exc.errno in ENVIRONMENT:
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise StoreError(f"{where}: nothing can be written in {folder} "
                         f"({exc.strerror or exc})") from None


def output_file(path: str | os.PathLike[str], option: str, parents: bool = False) -> Path:
    """Check a file capsim is to write (replacing it if it is a file); the path.

    `parents`: the caller makes missing folders (else the parent must exist).

    Raises:
        StoreError: naming the path and the problem (see the module).
        OSError: permission denied, read-only or full disk (with the path).
    """
    path = Path(path)
    where = f"{option} {path}"
    _lengths(path, where)
    st = _lstat(path, where)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{where}: is a directory; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{where}: is not a regular file (a device, FIFO or socket); "
                         "capsim writes only regular files")
    if st is not None and stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{where}: is a symbolic link; capsim would replace the link, "
                         "not write through it: give the file itself")
    parent = path.parent
    pst = _lstat(parent, where)
    if pst is None:
        if not parents:
            raise StoreError(f"{where}: no such directory {parent}")
        parent = _nearest(path, where)
    elif not stat.S_ISDIR(os.stat(parent).st_mode):
        raise StoreError(f"{where}: {parent} is a file, not a directory")
    _probe(parent, path.name, where, path)
    return path


def output_dir(path: str | os.PathLike[str], option: str) -> Path:
    """Check a directory capsim is to make or write into (missing folders are made); the path.

    Raises:
        StoreError: naming the path and the problem (see the module).
        OSError: permission denied, read-only or full disk (with the path).
    """
    path = Path(path)
    where = f"{option} {path}"
    _lengths(path, where)
    st = _lstat(path, where)
    if st is not None and stat.S_ISLNK(st.st_mode) and not path.exists():
        raise StoreError(f"{where}: is a symbolic link to nothing (to {os.readlink(path)}); "
                         "give a directory")
    if st is not None and not stat.S_ISDIR(os.stat(path).st_mode):
        raise StoreError(f"{where}: is a file, not a directory")
    folder = path if st is not None else _nearest(path, where)
    _probe(folder, path.name or "out", where, path)
    if st is None:  # making the directory's parent needs the right to create entries
        try:
            probe = Path(tempfile.mkdtemp(dir=folder, prefix=".capsim-probe-"))
            probe.rmdir()
        except OSError as exc:
            if exc.errno in ENVIRONMENT:
                raise OSError(exc.errno, exc.strerror, str(path)) from None
            raise StoreError(f"{where}: no directory can be made in {folder} "
                             f"({exc.strerror or exc})") from None
    return path
