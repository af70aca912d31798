"""File plumbing for ``pt20.data``: hashing, atomic writes, downloads, safe extraction.

Nothing here knows about datasets; every function either finishes its write
completely or leaves the target untouched.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1 << 20
USER_AGENT = "pt20-data (PyTorch in 20 Days)"


class DownloadError(OSError):
    """A URL could not be fetched (no network, HTTP error, timeout)."""


def sha256(path: Path, *, gunzip: bool = False) -> str:
    """sha256 of a file's bytes, or of its decompressed content with ``gunzip``."""
    digest = hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def temp_beside(target: Path, suffix: str = "") -> Path:
    """A fresh temporary path in ``target``'s folder, so that a rename is atomic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix + ".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def atomic_copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` via a temporary file and a rename."""
    tmp = temp_beside(dst)
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_gunzip(src: Path, dst: Path) -> None:
    """Decompress ``src`` into ``dst`` via a temporary file and a rename."""
    tmp = temp_beside(dst)
    try:
        with gzip.open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, CHUNK)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def download(url: str, dst: Path, timeout: float = 60) -> None:
    """Fetch ``url`` into ``dst`` atomically; raise ``DownloadError`` on any failure."""
    tmp = temp_beside(dst)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, CHUNK)
        os.replace(tmp, dst)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive into ``dest``, refusing members that would escape it.

    Absolute names, ``..`` components and links pointing outside are refused
    before anything is written (the 'data' filter of PEP 706, checked by hand
    so that the rule does not depend on the Python version).
    """
    dest = dest.resolve()
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            target = (dest / member.name).resolve()
            if not target.is_relative_to(dest):
                raise ValueError(f"{archive.name}: member {member.name!r} would be written outside {dest}")
            if member.issym() or member.islnk():
                link = (target.parent / member.linkname).resolve()
                if not link.is_relative_to(dest):
                    raise ValueError(f"{archive.name}: link {member.name!r} points outside {dest}")
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise ValueError(f"{archive.name}: member {member.name!r} is not a regular file")
        tar.extractall(dest, members=members, filter="data")


def replace_tree(staged: Path, target: Path) -> None:
    """Put the folder ``staged`` at ``target``, replacing what was there, by renames."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
