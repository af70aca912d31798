"""The dataset registry: verified local copies of every dataset the book uses (chapter 1-1).

``path(name)`` returns a local copy whose sha256 checksums match the registry,
trying in order:

1. the cache — ``data/`` at the repository root, or ``$PT20_DATA_HOME``;
2. a mirror folder — ``$PT20_DATA_MIRROR``, by default ``../shared/data``
   beside the checkout when it exists (CI reads from there, offline);
3. the public upstream sources, for a reader with internet, unless
   ``$PT20_OFFLINE`` is 1 (or true, yes, on).

Both folder variables must be absolute paths (``~`` is expanded): notebooks run
in ``notebooks/``, so a relative one would name another folder there.

Every file is checked on copy, on download and on every reuse; a mismatch is
fetched again, never used. A verified cache is read without writing to it, so it
may be read-only. Writes are atomic, archives are extracted safely, and what a
killed fetch left behind is removed by the next one.
Run ``python -m pt20.data`` (``make data``) to fetch everything at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from pt20 import _files, _upstream, env

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
HOME_VAR, MIRROR_VAR, OFFLINE_VAR = env.DATA_HOME, env.DATA_MIRROR, env.OFFLINE
LOCK_NOTICE_S = 1.0  # a process waiting this long for another's fetch says so on stderr


class DataError(RuntimeError):
    """A dataset could not be provided; the message says what to do.

    Taught in chapter 1-1.
    """


class UnknownDatasetError(DataError, KeyError):
    """The name is not in the registry.

    Taught in chapter 1-1.
    """

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return self.args[0]


@dataclass(frozen=True)
class FileSpec:
    """One file, relative to the data root, with the sha256 of its bytes.

    For ``.gz`` files ``content_sha256`` (of the decompressed bytes) is accepted
    too: a file re-compressed by another zlib still holds the same data. It comes
    with ``content_size``, the decompressed size, where checking stops: a small
    file of zeros would otherwise inflate to gigabytes. Taught in chapter 1-1.
    """

    path: str
    sha256: str
    content_sha256: str | None = None
    content_size: int | None = None

    def __post_init__(self) -> None:
        if self.content_sha256 is not None and self.content_size is None:
            raise ValueError(f"FileSpec {self.path!r}: a content_sha256 needs its content_size (bytes), "
                             f"which bounds the decompression")


@dataclass(frozen=True)
class TreeSpec:
    """A folder of many files, checked as one listing hash.

    The listing is the sha256 of the lines ``"<path> <sha256>\\n"`` of every
    file matching ``pattern``, sorted by path (the recipe in the mirror's MANIFEST).
    The folder must hold nothing else: a stray file or class folder would be read
    as data by loaders such as ``ImageFolder``. Taught in chapter 1-1.
    """

    folder: str
    pattern: str
    count: int
    listing_sha256: str


@dataclass(frozen=True)
class Dataset:
    """One registry entry: where the dataset lives, its checksums and how to build it upstream.

    Taught in chapter 1-1.
    """

    name: str
    description: str
    root: str  # what path() returns, relative to the data root
    files: tuple[FileSpec, ...] = ()
    tree: TreeSpec | None = None
    upstream: Callable[[Path], str] | None = None  # writes the layout into a folder, returns its source
    finish: Callable[[Path], None] | None = None  # derived files made after verification
    sources: tuple[str, ...] = field(default=())  # human-readable upstream URLs
    # The upstream build re-encodes the tree, so its bytes differ from the registry's listing;
    # fetch then records the listing of its own build outside the tree (see data/README.md).
    upstream_rebuilds_tree: bool = False

    def relpaths(self) -> list[str]:
        """The entries, relative to the data root, that make up the dataset."""
        return [f.path for f in self.files] + ([self.tree.folder] if self.tree else [])


def _finish_mnist(root: Path) -> None:
    """torchvision reads the uncompressed IDX files from ``<root>/MNIST/raw``."""
    for spec in DATASETS["mnist"].files:
        raw = root / "mnist" / "MNIST" / "raw" / Path(spec.path).name.removesuffix(".gz")
        if not raw.exists() or _files.sha256(raw) != spec.content_sha256:
            raw.parent.mkdir(parents=True, exist_ok=True)
            _files.atomic_gunzip(root / spec.path, raw)


def _mnist_file(name: str, sha: str, content: str, size: int) -> FileSpec:
    return FileSpec(f"mnist/{name}", sha, content, size)


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset(
            "titanic", "Titanic passengers, 712 train / 179 test rows (CSV)", "titanic",
            files=(
                FileSpec("titanic/train.csv", "c8aea21ec4a1d52b8ee54c1863f53a933cae08146b4ee6052572c32e7fe873a5"),
                FileSpec("titanic/test.csv", "339f347ab9264be6d1964c2f4c979356a675022be871f667a1ae987fea2fe803"),
            ),
            upstream=_upstream.titanic, sources=(_upstream.BOOK_DATA_URL + "titanic/",),
        ),
        Dataset(
            "covid19", "COVID-19 cumulative counts for China, 47 days (TAB-separated)", "covid-19.csv",
            files=(FileSpec("covid-19.csv", "b1ee30592132ab7b853871b2893517b96fccf3269c93a724c67a185419e1e05b"),),
            upstream=_upstream.covid19, sources=(_upstream.BOOK_DATA_URL + "covid-19.csv",),
        ),
        Dataset(
            "cifar2", "CIFAR-10 airplanes and automobiles, 10,000 train / 2,000 test JPEGs", "cifar2",
            tree=TreeSpec("cifar2", "*/*/*.jpg", 12000,
                          "926f816005fbf9710bad8bb283b3f3be5e43dd71977af38a84dff2d5444fe08d"),
            upstream=_upstream.cifar2, sources=(_upstream.CIFAR10_URL,), upstream_rebuilds_tree=True,
        ),
        Dataset(
            "imdb", "IMDB reviews, 25,000 train / 24,877 test (gzipped TSV)", "imdb",
            files=(
                FileSpec("imdb/train.tsv.gz", "2fae4694692d441bef499495cc3450324b00b5259595b45bfb5e526cc961248f",
                         "e11737ac1d10b362c7ae145e51c8c322496ce9f1db8521598e55a9d397afc4f6", 33207116),
                FileSpec("imdb/test.tsv.gz", "67a845b4c129ebe452242dea988a00b86ee0f2355b2b2674514bc154ca3036f3",
                         "46e9bf69903f5f5c0f490a6fab5f431f0149c2be67663be2503b24a4ebe68839", 32258017),
            ),
            upstream=_upstream.imdb, sources=(_upstream.ACLIMDB_URL,),
        ),
        Dataset(
            "mnist", "MNIST digits, 60,000 train / 10,000 test (IDX files)", "mnist",
            files=(
                _mnist_file("train-images-idx3-ubyte.gz",
                            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", 47040016),
                _mnist_file("train-labels-idx1-ubyte.gz",
                            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", 60008),
                _mnist_file("t10k-images-idx3-ubyte.gz",
                            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", 7840016),
                _mnist_file("t10k-labels-idx1-ubyte.gz",
                            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", 10008),
            ),
            upstream=_upstream.mnist, finish=_finish_mnist, sources=_upstream.MNIST_URLS,
        ),
        Dataset(
            "tinyshakespeare", "Tiny Shakespeare, 1,115,394 characters of plays (plain text)",
            "tinyshakespeare/input.txt",
            files=(FileSpec("tinyshakespeare/input.txt", _upstream.TINY_SHAKESPEARE_SHA256),),
            upstream=_upstream.tinyshakespeare, sources=(_upstream.TINY_SHAKESPEARE_URL,),
        ),
    ]
}


# ---------------------------------------------------------------- locations

def _env_flag(var: str) -> bool:
    return env.flag(var, DataError)


def _env_folder(var: str) -> Path | None:
    """The absolute folder an environment variable names (``~`` expanded); None when unset or blank.

    A relative path is refused rather than resolved: it would name another folder
    in every working directory (kernels run in notebooks/, ``make data`` in the root).
    """
    raw = os.environ.get(var, "")
    if not raw.strip():
        return None
    folder = Path(raw).expanduser()
    if not folder.is_absolute():
        raise DataError(f"${var} is {raw!r}, a relative path, which would name a different folder from each "
                        f"working directory (notebooks run in notebooks/): set it to an absolute path, "
                        f"such as {Path.cwd() / raw}.")
    return folder


def cache_dir() -> Path:
    """Where verified copies live: ``$PT20_DATA_HOME``, else ``data/`` in the repository.

    Taught in chapter 5-4.
    """
    if home := _env_folder(HOME_VAR):
        return home
    if (PACKAGE_ROOT / "pyproject.toml").exists():  # an editable install inside the book's repo
        return PACKAGE_ROOT / "data"
    return Path.home() / ".cache" / "pt20"


def mirror_dir() -> Path | None:
    """The offline mirror: ``$PT20_DATA_MIRROR``, else ``../shared/data`` beside the checkout.

    Taught in chapter 1-1.
    """
    if mirror := _env_folder(MIRROR_VAR):
        return mirror
    default = PACKAGE_ROOT.parent / "shared" / "data"
    try:
        return default if default.is_dir() else None
    except PermissionError:  # there, but not ours to read: problems() says so when it is tried
        return default


def _make_cache_folder(cache: Path) -> None:
    """Create the cache folder, or say clearly why it cannot be one."""
    if _env_folder(HOME_VAR):
        where, fix = f"${HOME_VAR} is {cache}, which", f"point ${HOME_VAR} at a folder (it is created if missing)"
    else:
        where, fix = f"The data cache {cache}", f"move it away, or set ${HOME_VAR} to a folder"
    if cache.exists() and not cache.is_dir():
        raise DataError(f"{where} is a file, not a folder: {fix}.")
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{where} cannot be created as a folder ({exc.strerror}): {fix}.") from exc


def workdir(chapter: str) -> Path:
    """A writable scratch folder for one chapter's checkpoints, logs and scripts.

    Taught in chapter 1-1.
    """
    cache = cache_dir()
    _make_cache_folder(cache)
    folder = cache / "work" / chapter
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"Cannot create the scratch folder {folder} ({exc.strerror}): "
                        f"set ${HOME_VAR} to a writable folder.") from exc
    return folder


# ---------------------------------------------------------------- verification

def _spec(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownDatasetError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def _raise_permission_error(exc: OSError) -> None:
    if isinstance(exc, PermissionError):
        raise exc


def _tree_files(root: Path, tree: TreeSpec) -> list[Path]:
    # glob skips a sub-folder it may not list without a word; walking first makes that an error
    for _ in os.walk(root / tree.folder, onerror=_raise_permission_error):
        pass
    return [p for p in sorted((root / tree.folder).glob(tree.pattern)) if p.is_file() and not p.is_symlink()]


def _listing(root: Path, files: list[Path]) -> str:
    lines = "".join(f"{p.relative_to(root).as_posix()} {_files.sha256(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def listing_sha256(root: Path, tree: TreeSpec) -> tuple[int, str]:
    """(file count, listing hash) of ``tree`` under ``root``; see ``TreeSpec``.

    Taught in chapter 1-1.
    """
    files = _tree_files(root, tree)
    return len(files), _listing(root, files)


def _unexpected_entries(folder: Path, expected: list[Path]) -> list[str]:
    """Entries under ``folder`` that are neither an expected file nor a folder on the way to one; links always."""
    wanted = set(expected)
    for p in expected:
        wanted.update(p.parents[: len(p.relative_to(folder).parts) - 1])
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p not in wanted or p.is_symlink())


def _tree_problems(root: Path, tree: TreeSpec, accepted: set[str]) -> list[str]:
    folder = root / tree.folder
    if not folder.is_dir():
        return [f"{tree.folder} is a file, not a folder" if folder.exists() else f"{tree.folder}/ is missing"]
    files = _tree_files(root, tree)
    if len(files) != tree.count:
        return [f"{tree.folder}/ holds {len(files)} of {tree.count} files"]
    if extra := _unexpected_entries(folder, files):
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        return [f"{tree.folder}/ holds entries that are not part of the dataset ({shown})"]
    try:
        digest = _listing(root, files)
    except OSError as exc:
        return [f"{tree.folder}/ has a file that cannot be read ({exc.strerror}: {exc.filename})"]
    return [] if digest in accepted else [f"{tree.folder}/ has files with the wrong sha256"]


def _file_problem(root: Path, f: FileSpec) -> str | None:
    p = root / f.path
    if p.is_dir():
        return f"{f.path} is a folder, not a file"
    if not p.exists():
        return f"{f.path} is missing"
    if not p.is_file():
        return f"{f.path} is not a regular file"
    try:
        if _files.sha256(p) == f.sha256:
            return None
    except OSError as exc:
        return f"{f.path} cannot be read ({exc.strerror})"
    if f.content_sha256 and f.content_size is not None:
        try:
            if _files.gzip_content_sha256(p, f.content_size) == f.content_sha256:
                return None
        except _files.ContentTooLarge:
            return (f"{f.path} decompresses to more than {f.content_size:,} bytes, the size of its content "
                    f"(damaged, or not this file)")
    return f"{f.path} has the wrong sha256 (corrupted or truncated)"


class _UnreadableError(DataError):
    """A folder holding (or on the way to) a dataset cannot be read by this user."""

    def __init__(self, name: str, folder: Path) -> None:
        super().__init__(f"{folder} cannot be read by this user (permission denied), so dataset {name!r} "
                         f"cannot be checked there")
        self.folder = folder


def problems(name: str, root: Path, *, recorded_listing: str | None = None) -> list[str]:
    """What is missing or wrong with dataset ``name`` under ``root`` (empty when verified).

    A tree must match the registry's listing hash, or ``recorded_listing``: the
    listing a cache recorded for a tree it built itself from a verified upstream
    archive (see data/README.md). Taught in chapter 1-1.
    """
    spec = _spec(name)
    try:
        found = [problem for f in spec.files if (problem := _file_problem(root, f))]
        if spec.tree:
            found += _tree_problems(root, spec.tree, {spec.tree.listing_sha256, recorded_listing} - {None})
    except PermissionError as exc:  # Python 3.11's is_dir() and exists() re-raise EACCES
        raise _UnreadableError(name, _files.blocked_folder(Path(exc.filename or root))) from exc
    return found


def _listing_record(cache: Path, name: str) -> Path:
    """The cache's own note of the listing hash of a tree it rebuilt; it lives outside the tree."""
    return cache / f".{name}.listing"


def _recorded_listing(cache: Path, name: str) -> str | None:
    record = _listing_record(cache, name)
    try:
        return record.read_text().split()[0] if record.is_file() else None
    except (OSError, IndexError):
        return None


def _cache_problems(spec: Dataset, cache: Path) -> list[str]:
    try:
        return problems(spec.name, cache, recorded_listing=_recorded_listing(cache, spec.name))
    except _UnreadableError as exc:
        raise DataError(
            f"The data cache {cache}: {exc}. Give yourself access (chmod u+rwx {exc.folder}, or ask its "
            f"owner), or set ${HOME_VAR} to a folder of your own."
        ) from exc


def verify(name: str) -> bool:
    """True when the cached copy of ``name`` matches the registry.

    Taught in chapter 1-1.
    """
    return not _cache_problems(_spec(name), cache_dir())


# ---------------------------------------------------------------- fetching

@dataclass
class Fetched:
    """What ``fetch`` returns: the dataset's local path and the source it came from.

    Taught in chapter 1-1.
    """

    name: str
    path: Path
    source: str


@contextlib.contextmanager
def _locked(name: str, cache: Path, why: str) -> Iterator[None]:
    """Serialize fetches of one dataset across processes (parallel notebooks)."""
    lock_path = cache / f".{name}.lock"
    try:
        lock = open(lock_path, "a+")  # a+: create, but never truncate the holder's pid
    except OSError as exc:
        raise DataError(
            f"The cache {cache} is not writable ({exc.strerror}), and dataset {name!r} needs writing to it: "
            f"{why}. Make it writable, or set ${HOME_VAR} to a writable folder."
        ) from exc
    with lock:
        _acquire(lock, lock_path, name)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")  # so that a waiting process can say whom it waits for
        lock.flush()
        yield


def _acquire(lock: IO[str], lock_path: Path, name: str) -> None:
    notice_at = time.monotonic() + LOCK_NOTICE_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= notice_at:
                break
            time.sleep(0.05)
    lock.seek(0)
    holder = lock.read().strip()
    who = f"process {holder}" if holder.isdigit() else "another process"
    print(f"pt20.data: waiting for {who} to finish fetching {name!r} (lock file {lock_path}) ...",
          file=sys.stderr, flush=True)
    fcntl.flock(lock, fcntl.LOCK_EX)


def _leftovers(spec: Dataset, cache: Path) -> list[Path]:
    """What killed fetches of ``spec`` left in the cache: entries named with a dead pid.

    Also staging folders of older versions, named without a pid: staging is
    written only while holding the dataset's lock, so they are removed (with
    the lock held) as no live process can own them.
    """
    folders = [cache]
    root = cache / spec.root
    if spec.tree is None and root.is_dir() and not root.is_symlink():  # e.g. finish's temporary files
        folders += [Path(d) for d, _, _ in os.walk(root)]
    found = [p for folder in folders for p in _files.stale_leftovers(folder)]
    unnumbered = re.compile(rf"\.staging-{re.escape(spec.name)}-\w{{8}}")
    with contextlib.suppress(OSError):
        found += [p for p in cache.iterdir() if unnumbered.fullmatch(p.name)]
    return found


def _clear_leftovers(spec: Dataset, cache: Path) -> None:
    """Remove what killed fetches of ``spec`` left; only with the dataset's lock held."""
    for leftover in _leftovers(spec, cache):
        with contextlib.suppress(OSError):
            _files.remove(leftover)


def _misplaced_entries(spec: Dataset, cache: Path) -> list[str]:
    """Entries of the wrong kind where the dataset belongs (a folder for a file, or the reverse).

    pt20 never writes those, so it leaves them to the reader rather than delete them.
    """
    found = []
    for rel in spec.relpaths():
        parts = Path(rel).parts
        for depth in range(1, len(parts) + 1):
            p = cache.joinpath(*parts[:depth])
            if p.is_symlink() or not p.exists():  # a link is replaced by _install, never written through
                break
            wants_folder = depth < len(parts) or (spec.tree is not None and rel == spec.tree.folder)
            if wants_folder and not p.is_dir():
                found.append(f"{p} is a file where the dataset needs a folder")
            elif not wants_folder and not p.is_file():
                kind = "a folder" if p.is_dir() else "not a regular file"
                found.append(f"{p} is {kind} where the dataset needs the file {rel}")
    return found


def _drop_links(cache: Path, rel: str) -> None:
    """Remove a link on the way to ``cache/rel`` (the link itself), so that nothing is written through it."""
    parts = Path(rel).parts
    for depth in range(1, len(parts) + 1):
        p = cache.joinpath(*parts[:depth])
        if p.is_symlink():
            p.unlink()
            return


def _install(spec: Dataset, staged: Path, cache: Path) -> None:
    """Move a verified staged copy into the cache, one atomic rename per entry."""
    for rel in spec.relpaths():
        target = cache / rel
        _drop_links(cache, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        if (staged / rel).is_dir():
            _files.replace_tree(staged / rel, target)
        else:
            os.replace(staged / rel, target)


def _copy_from(spec: Dataset, mirror: Path, staged: Path) -> None:
    for rel in spec.relpaths():
        src, dst = mirror / rel, staged / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            _files.copy_tree(src, dst)
        else:
            shutil.copyfile(src, dst)


@dataclass
class _Source:
    label: str
    produce: Callable[[Path], str | None]
    rebuilds_tree: bool = False  # its tree is checked against the listing of its own build


def fetch(name: str) -> Fetched:
    """Provide a verified copy of ``name`` in the cache and say where it came from.

    Taught in chapter 1-1.
    """
    spec, cache = _spec(name), cache_dir()
    bad = _cache_problems(spec, cache)
    if not bad:  # used without the lock or any write, so a read-only cache works
        if _leftovers(spec, cache):
            with contextlib.suppress(DataError), _locked(name, cache, "a killed fetch left temporary files"):
                _clear_leftovers(spec, cache)
        return _done(spec, cache, "cache")
    _make_cache_folder(cache)
    with _locked(name, cache, bad[0]):
        _clear_leftovers(spec, cache)
        bad = _cache_problems(spec, cache)  # another process may have repaired it while we waited
        if not bad:
            return _done(spec, cache, "cache")
        if misplaced := _misplaced_entries(spec, cache):
            raise DataError(
                f"Dataset {name!r} cannot be repaired in the cache: {'; '.join(misplaced)}. pt20 never "
                f"writes such entries, so it does not delete them: move or delete them yourself, then run again."
            )
        tried = [f"cache {cache}: {bad[0]}"]
        for source in _sources(spec, tried):
            if got := _try_source(spec, cache, source, tried):
                return got
        raise DataError(_unavailable_message(name, tried))


def _sources(spec: Dataset, tried: list[str]) -> list[_Source]:
    """The places to copy ``spec`` from, in order; what is skipped is noted in ``tried``."""
    sources = []
    mirror = mirror_dir()
    if mirror is None:
        tried.append(f"mirror: none (${MIRROR_VAR} is unset and ../shared/data does not exist)")
    else:
        try:  # a mirror is checked against the registry alone
            mirror_bad = problems(spec.name, mirror)
        except _UnreadableError as exc:
            mirror_bad = [str(exc)]
        if mirror_bad:
            tried.append(f"mirror {mirror}: {mirror_bad[0]}")
        else:
            sources.append(_Source(f"mirror {mirror}", lambda staged: _copy_from(spec, mirror, staged)))
    if _env_flag(OFFLINE_VAR):
        tried.append(f"internet: skipped (${OFFLINE_VAR} is set)")
    elif spec.upstream is not None:
        sources.append(_Source("internet", spec.upstream, spec.upstream_rebuilds_tree))
    return sources


def _try_source(spec: Dataset, cache: Path, source: _Source, tried: list[str]) -> Fetched | None:
    """Build ``spec`` from ``source`` in a staging folder, verify it, and install it; None on failure."""
    staged = _files.staging_dir(cache, spec.name)
    try:
        label = source.produce(staged) or source.label
        own_listing = None
        if source.rebuilds_tree and spec.tree:  # the upstream function checked its archive's sha256
            own_listing = listing_sha256(staged, spec.tree)[1]
        if late := problems(spec.name, staged, recorded_listing=own_listing):
            tried.append(f"{source.label}: copied, but {late[0]}")
            return None
        _install(spec, staged, cache)
        record = _listing_record(cache, spec.name)
        if own_listing:  # written after the tree is in place: a kill in between only costs a refetch
            _files.atomic_write_text(record, f"{own_listing} listing of the tree built from {label}\n")
        else:
            record.unlink(missing_ok=True)
        return _done(spec, cache, label)
    except (_files.DownloadError, ValueError, OSError) as exc:
        tried.append(f"{source.label}: {exc}")
        return None
    finally:
        with contextlib.suppress(OSError):
            _files.remove(staged)


def _done(spec: Dataset, cache: Path, source: str) -> Fetched:
    if spec.finish:
        try:
            spec.finish(cache)
        except OSError as exc:
            raise DataError(
                f"Dataset {spec.name!r} is verified, but the files derived from it could not be written "
                f"into {cache} ({exc}). Make the cache writable, or set ${HOME_VAR} to a writable folder."
            ) from exc
    return Fetched(spec.name, cache / spec.root, source)


def _unavailable_message(name: str, tried: list[str]) -> str:
    places = "\n".join(f"  - {t}" for t in tried)
    return (
        f"Dataset {name!r} is not available. Tried, in order:\n{places}\n"
        f"Fix: run `make data` on a machine with internet access, or point ${MIRROR_VAR} "
        f"at a folder holding the book's data mirror (see data/README.md)."
    )


def path(name: str) -> Path:
    """A local, verified copy of dataset ``name`` (fetched first if needed).

    Taught in chapter 1-1.
    """
    return fetch(name).path


# ---------------------------------------------------------------- make data

def main(names: list[str]) -> int:
    """Fetch the named datasets (all by default) and print a table (``make data``).

    Taught in chapter 1-1.
    """
    rows, failed = [], []
    for name in names or list(DATASETS):
        try:
            got = fetch(name)
        except DataError as exc:
            failed.append(str(exc))
            rows.append((name, "-", "-", "not available", "no"))
            continue
        files = [p for p in (got.path.rglob("*") if got.path.is_dir() else [got.path])
                 if p.is_file() and not p.name.startswith(".")]
        size = sum(p.stat().st_size for p in files) / 2**20
        rows.append((name, str(len(files)), f"{size:.1f} MB", got.source, "yes"))
    header = ("dataset", "files", "size", "source", "verified")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))
    for message in dict.fromkeys(failed):  # a bad setting fails every dataset the same way: say it once
        print("\n" + message, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
