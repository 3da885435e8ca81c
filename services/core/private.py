"""Owner-only files: what cliniloop writes (store, logs, exports, secrets, Label Studio's data) is
readable by its own user only, whatever the umask.

Two layers: :func:`private_umask` sets the process umask to ``0o077`` at the entry points (CLI,
API, demo), so anything created later is private; and the files and folders cliniloop knows it
creates are also chmod-ed explicitly (:func:`private_file`, :func:`private_dir`,
:func:`private_tree`), so a library that passes its own mode, or a file made before, is fixed too.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Process umask of every entry point: files 0600, folders 0700.
PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
#: Files SQLite keeps beside a database.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_umask() -> int:
    """Set the process umask to ``0o077``; return the previous one."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path, *, fix_existing: bool = True) -> Path:
    """Create ``path`` (and missing parents) owner-only; the folders created get mode 0700.

    Existing parents are left as they are (they may be shared, e.g. ``/tmp``); ``path`` itself,
    when it exists already, is made 0700 with ``fix_existing`` (cliniloop's own folders such as
    ``var/``) if this user owns it.
    """
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(d, DIR_MODE)
    if fix_existing and not missing and path.is_dir() and path.stat().st_uid == os.geteuid():
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make ``path`` mode 0600 when it exists (created empty with that mode when it does not)."""
    path = Path(path)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        os.close(fd)
    os.chmod(path, FILE_MODE)
    return path


def private_tree(path: Path) -> Path:
    """Make an output file, or a folder and everything under it, owner-only (exports)."""
    path = Path(path)
    if path.is_dir():
        os.chmod(path, DIR_MODE)
        for root, dirs, files in os.walk(path):
            for d in dirs:
                os.chmod(Path(root) / d, DIR_MODE)
            for f in files:
                p = Path(root) / f
                if not p.is_symlink():
                    os.chmod(p, FILE_MODE)
    elif path.is_file():
        os.chmod(path, FILE_MODE)
    return path


def private_sqlite(db: Path) -> None:
    """The SQLite database file and its side files (``-wal``, ``-shm``, ``-journal``) mode 0600."""
    db = Path(db)
    private_dir(db.parent, fix_existing=False)
    private_file(db)
    for suffix in SQLITE_SIDE_FILES:
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.chmod(side, FILE_MODE)
