"""The dataset registry: verified local copies of every dataset the book uses (chapter 1-1).

``path(name)`` returns a local copy whose sha256 checksums match the registry,
trying in order:

1. the cache — ``data/`` at the repository root, or ``$PT20_DATA_HOME``;
2. a mirror folder — ``$PT20_DATA_MIRROR``, by default ``../shared/data``
   beside the checkout when it exists (CI reads from there, offline);
3. the public upstream sources, for a reader with internet.

Every file is checked on copy, on download and on every reuse; a mismatch is
fetched again, never used. Writes are atomic and archives are extracted safely.
Run ``python -m pt20.data`` (``make data``) to fetch everything at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pt20 import _files, _upstream

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
HOME_VAR, MIRROR_VAR, OFFLINE_VAR = "PT20_DATA_HOME", "PT20_DATA_MIRROR", "PT20_OFFLINE"


class DataError(RuntimeError):
    """A dataset could not be provided; the message says what to do."""


class UnknownDatasetError(DataError, KeyError):
    """The name is not in the registry."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return self.args[0]


@dataclass(frozen=True)
class FileSpec:
    """One file, relative to the data root, with the sha256 of its bytes.

    For ``.gz`` files ``content_sha256`` (of the decompressed bytes) is accepted
    too: a file re-compressed by another zlib still holds the same data.
    """

    path: str
    sha256: str
    content_sha256: str | None = None


@dataclass(frozen=True)
class TreeSpec:
    """A folder of many files, checked as one listing hash.

    The listing is the sha256 of the lines ``"<path> <sha256>\\n"`` of every
    file matching ``pattern``, sorted by path (the recipe in the mirror's MANIFEST).
    """

    folder: str
    pattern: str
    count: int
    listing_sha256: str


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    root: str  # what path() returns, relative to the data root
    files: tuple[FileSpec, ...] = ()
    tree: TreeSpec | None = None
    upstream: Callable[[Path], str] | None = None  # writes the layout into a folder, returns its source
    finish: Callable[[Path], None] | None = None  # derived files made after verification
    sources: tuple[str, ...] = field(default=())  # human-readable upstream URLs

    def relpaths(self) -> list[str]:
        return [f.path for f in self.files] + ([self.tree.folder] if self.tree else [])


def _finish_mnist(root: Path) -> None:
    """torchvision reads the uncompressed IDX files from ``<root>/MNIST/raw``."""
    for spec in DATASETS["mnist"].files:
        raw = root / "mnist" / "MNIST" / "raw" / Path(spec.path).name.removesuffix(".gz")
        if not raw.exists() or _files.sha256(raw) != spec.content_sha256:
            raw.parent.mkdir(parents=True, exist_ok=True)
            _files.atomic_gunzip(root / spec.path, raw)


def _mnist_file(name: str, sha: str, content: str) -> FileSpec:
    return FileSpec(f"mnist/{name}", sha, content)


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
            upstream=_upstream.cifar2, sources=(_upstream.CIFAR10_URL,),
        ),
        Dataset(
            "imdb", "IMDB reviews, 25,000 train / 24,877 test (gzipped TSV)", "imdb",
            files=(
                FileSpec("imdb/train.tsv.gz", "2fae4694692d441bef499495cc3450324b00b5259595b45bfb5e526cc961248f",
                         "e11737ac1d10b362c7ae145e51c8c322496ce9f1db8521598e55a9d397afc4f6"),
                FileSpec("imdb/test.tsv.gz", "67a845b4c129ebe452242dea988a00b86ee0f2355b2b2674514bc154ca3036f3",
                         "46e9bf69903f5f5c0f490a6fab5f431f0149c2be67663be2503b24a4ebe68839"),
            ),
            upstream=_upstream.imdb, sources=(_upstream.ACLIMDB_URL,),
        ),
        Dataset(
            "mnist", "MNIST digits, 60,000 train / 10,000 test (IDX files)", "mnist",
            files=(
                _mnist_file("train-images-idx3-ubyte.gz",
                            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
                _mnist_file("train-labels-idx1-ubyte.gz",
                            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
                _mnist_file("t10k-images-idx3-ubyte.gz",
                            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                _mnist_file("t10k-labels-idx1-ubyte.gz",
                            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
            ),
            upstream=_upstream.mnist, finish=_finish_mnist, sources=_upstream.MNIST_URLS,
        ),
    ]
}


# ---------------------------------------------------------------- locations

def cache_dir() -> Path:
    """Where verified copies live: ``$PT20_DATA_HOME``, else ``data/`` in the repository."""
    if os.environ.get(HOME_VAR):
        return Path(os.environ[HOME_VAR]).expanduser()
    if (PACKAGE_ROOT / "pyproject.toml").exists():  # an editable install inside the book's repo
        return PACKAGE_ROOT / "data"
    return Path.home() / ".cache" / "pt20"


def mirror_dir() -> Path | None:
    """The offline mirror: ``$PT20_DATA_MIRROR``, else ``../shared/data`` beside the checkout."""
    if os.environ.get(MIRROR_VAR):
        return Path(os.environ[MIRROR_VAR]).expanduser()
    default = PACKAGE_ROOT.parent / "shared" / "data"
    return default if default.is_dir() else None


def workdir(chapter: str) -> Path:
    """A writable scratch folder for one chapter's checkpoints, logs and scripts."""
    folder = cache_dir() / "work" / chapter
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---------------------------------------------------------------- verification

def _spec(name: str) -> Dataset:
    if name not in DATASETS:
        raise UnknownDatasetError(f"Unknown dataset {name!r}. Known datasets: {', '.join(DATASETS)}.")
    return DATASETS[name]


def listing_sha256(root: Path, tree: TreeSpec) -> tuple[int, str]:
    """(file count, listing hash) of ``tree`` under ``root``; see ``TreeSpec``."""
    files = sorted((root / tree.folder).glob(tree.pattern))
    lines = "".join(f"{p.relative_to(root).as_posix()} {_files.sha256(p)}\n" for p in files)
    return len(files), hashlib.sha256(lines.encode()).hexdigest()


def problems(name: str, root: Path) -> list[str]:
    """What is missing or wrong with dataset ``name`` under ``root`` (empty when verified)."""
    spec, found = _spec(name), []
    for f in spec.files:
        p = root / f.path
        if not p.is_file():
            found.append(f"{f.path} is missing")
        elif _files.sha256(p) != f.sha256 and not _content_matches(p, f):
            found.append(f"{f.path} has the wrong sha256 (corrupted or truncated)")
    if spec.tree:
        count, digest = listing_sha256(root, spec.tree)
        accepted = {spec.tree.listing_sha256, _read_stamp(root / spec.tree.folder)}
        if count != spec.tree.count:
            found.append(f"{spec.tree.folder}/ holds {count} of {spec.tree.count} files")
        elif digest not in accepted:
            found.append(f"{spec.tree.folder}/ has files with the wrong sha256")
    return found


def _content_matches(p: Path, f: FileSpec) -> bool:
    if not f.content_sha256:
        return False
    try:
        return _files.sha256(p, gunzip=True) == f.content_sha256
    except (OSError, EOFError):  # not gzip, or truncated
        return False


STAMP = ".pt20-listing"


def _read_stamp(folder: Path) -> str | None:
    """Listing hash recorded when a tree was built from a verified upstream archive."""
    stamp = folder / STAMP
    return stamp.read_text().strip() if stamp.is_file() else None


def verify(name: str) -> bool:
    """True when the cached copy of ``name`` matches the registry."""
    return not problems(name, cache_dir())


def available(name: str) -> bool:
    """True when ``name`` is cached and verified (no fetching)."""
    return verify(name)


# ---------------------------------------------------------------- fetching

@dataclass
class Fetched:
    name: str
    path: Path
    source: str


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """Serialize fetches of one dataset across processes (parallel notebooks)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _install(spec: Dataset, staged: Path, cache: Path) -> None:
    """Move a verified staged copy into the cache, one atomic rename per entry."""
    for rel in spec.relpaths():
        target = cache / rel
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
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


def fetch(name: str) -> Fetched:
    """Provide a verified copy of ``name`` in the cache and say where it came from."""
    spec, cache = _spec(name), cache_dir()
    with _locked(name):
        tried = []
        bad = problems(name, cache)
        if not bad:
            return _done(spec, cache, "cache")
        tried.append(f"cache {cache}: {bad[0]}")
        mirror = mirror_dir()
        candidates: list[tuple[str, Callable[[Path], str]]] = []
        if mirror is None:
            tried.append(f"mirror: none (${MIRROR_VAR} is unset and ../shared/data does not exist)")
        elif mirror_bad := problems(name, mirror):
            tried.append(f"mirror {mirror}: {mirror_bad[0]}")
        else:
            candidates.append((f"mirror {mirror}", lambda staged: _copy_from(spec, mirror, staged)))
        if os.environ.get(OFFLINE_VAR):
            tried.append(f"internet: skipped (${OFFLINE_VAR} is set)")
        elif spec.upstream is not None:
            candidates.append(("internet", spec.upstream))
        for label, produce in candidates:
            staged = Path(tempfile.mkdtemp(prefix=f".staging-{name}-", dir=cache))
            try:
                source = produce(staged) or label
                if late := problems(name, staged):
                    tried.append(f"{label}: copied, but {late[0]}")
                    continue
                _install(spec, staged, cache)
                return _done(spec, cache, source)
            except (_files.DownloadError, ValueError, OSError) as exc:
                tried.append(f"{label}: {exc}")
            finally:
                shutil.rmtree(staged, ignore_errors=True)
        raise DataError(_unavailable_message(name, tried))


def _done(spec: Dataset, cache: Path, source: str) -> Fetched:
    if spec.finish:
        spec.finish(cache)
    return Fetched(spec.name, cache / spec.root, source)


def _unavailable_message(name: str, tried: list[str]) -> str:
    places = "\n".join(f"  - {t}" for t in tried)
    return (
        f"Dataset {name!r} is not available. Tried, in order:\n{places}\n"
        f"Fix: run `make data` on a machine with internet access, or point ${MIRROR_VAR} "
        f"at a folder holding the book's data mirror (see data/README.md)."
    )


def path(name: str) -> Path:
    """A local, verified copy of dataset ``name`` (fetched first if needed)."""
    return fetch(name).path


# ---------------------------------------------------------------- make data

def main(names: list[str]) -> int:
    """Fetch the named datasets (all by default) and print a table."""
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
    for message in failed:
        print("\n" + message, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
