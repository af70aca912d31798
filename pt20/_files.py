"""File plumbing for ``pt20.data``: hashing, atomic writes, downloads, safe extraction, cleanup.

Nothing here knows about datasets; every function either finishes its write
completely or leaves the target untouched. Every temporary name carries the pid
of the process that made it, so that what a killed process left behind can be
told apart from the work of a live one (``stale_leftovers``).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.client
import os
import re
import secrets
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

CHUNK = 1 << 20
USER_AGENT = "pt20-data (PyTorch in 20 Days)"
# Total wall-clock limit of one download. The per-read ``timeout`` alone lets a
# server that trickles a byte now and then hold a fetch (and its lock) for ever.
DOWNLOAD_DEADLINE_S = 30 * 60


class DownloadError(OSError):
    """A URL could not be fetched (no network, HTTP error, timeout, deadline)."""


def sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class ContentTooLarge(ValueError):
    """A gzip file decompresses to more bytes than its content may have (damaged, or a gzip bomb)."""


def gzip_content_sha256(path: Path, max_bytes: int) -> str | None:
    """sha256 of a gzip file's decompressed content; None when it is not a complete, valid gzip stream.

    Decompression stops after ``max_bytes`` + 1 bytes with ``ContentTooLarge``: a
    few megabytes of zeros would otherwise inflate to gigabytes on every check.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with gzip.open(path, "rb") as f:
            while block := f.read(min(CHUNK, max_bytes + 1 - size)):
                size += len(block)
                if size > max_bytes:
                    raise ContentTooLarge(f"{path.name} decompresses to more than {max_bytes:,} bytes")
                digest.update(block)
    except (OSError, EOFError, zlib.error):  # not gzip, truncated, or damaged inside the deflate stream
        return None
    return digest.hexdigest()


def blocked_folder(path: Path) -> Path:
    """The first folder on the way to ``path`` that this user may not enter or list.

    ``path`` itself when every folder above it can be entered (it is then the
    one that cannot be listed or read).
    """
    for p in [*reversed(path.parents), path]:
        try:
            os.stat(p)
        except PermissionError:
            return p.parent
        except OSError:  # missing: nothing further down can be the obstacle
            break
    return path


# ---------------------------------------------------------------- atomic writes

def temp_beside(target: Path) -> Path:
    """A new empty file in ``target``'s folder (so that a rename is atomic), named after this process.

    Created with mode 0666 minus the umask, like any other new file: ``mkstemp``
    would make it 0600 and the renamed result unreadable to other users.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def staging_dir(parent: Path, label: str) -> Path:
    """A new private folder in ``parent`` to build a dataset in before it is renamed into place."""
    return Path(tempfile.mkdtemp(prefix=f".staging-{label}-{os.getpid()}-", dir=parent))


def atomic_write_text(dst: Path, text: str) -> None:
    """Write ``text`` to ``dst`` via a temporary file and a rename."""
    tmp = temp_beside(dst)
    try:
        tmp.write_text(text)
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


def copy_tree(src: Path, dst: Path) -> None:
    """Copy the files under ``src`` into a new folder ``dst``: bytes only, no permissions.

    ``shutil.copytree`` would copy the modes too, and a read-only mirror would
    give a cache that cannot be repaired or deleted without chmod.
    """
    for folder, _, names in os.walk(src):  # linked folders are not entered: verification then fails
        out = dst / Path(folder).relative_to(src)
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copyfile(Path(folder) / name, out / name)


def replace_tree(staged: Path, target: Path) -> None:
    """Put the folder ``staged`` at ``target``, replacing what was there (a link itself, never its target)."""
    old = None
    if target.is_symlink() or target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staged, target)
    if old is not None:
        with contextlib.suppress(OSError):  # the pid in its name lets a later fetch finish the job
            remove(old)


def remove(path: Path) -> None:
    """Delete a file, a link (the link itself) or a folder tree, read-only sub-folders included."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return

    def make_writable_and_retry(func: Callable[[str], object], failed: str, _exc: object) -> None:
        os.chmod(os.path.dirname(failed), stat.S_IRWXU)
        func(failed)

    shutil.rmtree(path, onerror=make_writable_and_retry)


# ---------------------------------------------------------------- leftovers of killed processes

# The names made by staging_dir, replace_tree and temp_beside; group 1 is the pid.
_PID_NAMES = (
    re.compile(r"\.staging-.+-(\d+)-\w{8}"),
    re.compile(r"\..+\.old-(\d+)"),
    re.compile(r"\..+\.(\d+)-[0-9a-f]{8}\.part"),
)


def leftover_pid(name: str) -> int | None:
    """The pid in a temporary name made by this module, or None for any other name."""
    for pattern in _PID_NAMES:
        if match := pattern.fullmatch(name):
            return int(match.group(1))
    return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_leftovers(folder: Path) -> list[Path]:
    """Temporary entries directly in ``folder`` whose process is no longer running."""
    try:
        entries = list(folder.iterdir())
    except OSError:  # missing, or not a folder
        return []
    return [p for p in entries if (pid := leftover_pid(p.name)) is not None and not pid_alive(pid)]


# ---------------------------------------------------------------- downloads and archives

def download(url: str, dst: Path, timeout: float = 60, deadline_s: float | None = None) -> None:
    """Fetch ``url`` into ``dst`` atomically; raise ``DownloadError`` on any failure.

    ``timeout`` bounds each wait for data; ``deadline_s`` (default
    ``DOWNLOAD_DEADLINE_S``) bounds the whole download.
    """
    limit = DOWNLOAD_DEADLINE_S if deadline_s is None else deadline_s
    give_up = time.monotonic() + limit
    tmp = temp_beside(dst)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=min(timeout, limit)) as response, open(tmp, "wb") as out:
            # read1 returns whatever has arrived, so the deadline is checked while a server trickles;
            # read(n) would wait for all n bytes. file:/data: URLs give plain file objects.
            is_http = isinstance(response, http.client.HTTPResponse)
            read_some = response.read1 if is_http else functools.partial(response.read, CHUNK)
            received = 0
            while block := read_some():
                out.write(block)
                received += len(block)
                if time.monotonic() > give_up:
                    raise DownloadError(
                        f"{url}: gave up after {limit:g} s, the total download deadline "
                        f"(pt20._files.DOWNLOAD_DEADLINE_S); the server is too slow or stalled"
                    )
            # http.client ends read1 quietly when the server closes early; its ``length`` is what is missing
            if is_http and response.length:
                raise DownloadError(f"{url}: the connection closed after {received:,} of "
                                    f"{received + response.length:,} bytes (Content-Length); try again later")
        os.replace(tmp, dst)
    except DownloadError:
        raise
    except http.client.HTTPException as exc:  # a bad chunk or status line: not an OSError, yet a failed transfer
        raise DownloadError(f"{url}: broken HTTP response ({exc!r})") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "a symbolic link"
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    return "a fifo" if member.isfifo() else "a special member"


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive of plain files and folders into ``dest``.

    Every member is checked before anything is written. Links of any kind,
    devices and fifos are refused outright: the book's archives hold none, and
    chains of links are how crafted archives get past name checks and even the
    'data' filter of PEP 706 (CVE-2025-4517). Absolute names and ``..``
    components are refused too. The 'data' filter still applies, as a second line.
    """
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in members:
                if member.issym() or member.islnk():
                    raise ValueError(f"{archive.name}: member {member.name!r} is {_kind(member)}, refused: "
                                     f"links can make later members land outside {dest}")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive.name}: member {member.name!r} is {_kind(member)}, refused: "
                                     f"only files and folders are extracted")
                parts = PurePosixPath(member.name).parts
                if member.name.startswith("/") or ".." in parts or not (parts or member.isdir()):
                    raise ValueError(f"{archive.name}: member {member.name!r} would be written outside {dest}")
            dest.mkdir(parents=True, exist_ok=True)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as exc:
        raise ValueError(f"{archive.name}: cannot be extracted ({exc})") from exc
