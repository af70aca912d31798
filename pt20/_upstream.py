"""Building each dataset's layout from its public upstream source (readers with internet).

Each function downloads into a staging folder, checks the download's published
sha256, and writes the same layout as the offline mirror. ``pt20.data`` then
verifies the result against the registry before it is used. This module needs
only ``_files``: the registry imports it, never the other way round.
"""

from __future__ import annotations

import gzip
import pickle
import random
import re
from pathlib import Path

from pt20 import _files

BOOK_DATA_URL = (
    "https://raw.githubusercontent.com/lyhue1991/eat_tensorflow2_in_30_days/"
    "9c9096b9e5a33c4bc739b93659099dd45515c276/data/"
)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
ACLIMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ACLIMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://yann.lecun.com/exdb/mnist/")
# pinned to a commit, so the bytes match the registry's sha256 for good
TINY_SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/"
                        "6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt")
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def _checked_download(url: str, dst: Path, sha256: str) -> None:
    _files.download(url, dst)
    if _files.sha256(dst) != sha256:
        dst.unlink()
        raise ValueError(f"{url}: downloaded file has the wrong sha256 (truncated or changed upstream)")


def titanic(staged: Path) -> str:
    for split in ("train", "test"):
        (staged / "titanic").mkdir(exist_ok=True)
        _files.download(f"{BOOK_DATA_URL}titanic/{split}.csv", staged / "titanic" / f"{split}.csv")
    return "internet (book data repository)"


def covid19(staged: Path) -> str:
    _files.download(BOOK_DATA_URL + "covid-19.csv", staged / "covid-19.csv")
    return "internet (book data repository)"


def tinyshakespeare(staged: Path) -> str:
    (staged / "tinyshakespeare").mkdir()
    _checked_download(TINY_SHAKESPEARE_URL, staged / "tinyshakespeare" / "input.txt", TINY_SHAKESPEARE_SHA256)
    return "internet (karpathy/char-rnn)"


def mnist(staged: Path) -> str:
    (staged / "mnist").mkdir()
    for name in MNIST_FILES:
        errors = []
        for base in MNIST_URLS:
            try:
                _files.download(base + name, staged / "mnist" / name)
                break
            except _files.DownloadError as exc:
                errors.append(str(exc))
        else:
            raise _files.DownloadError("; ".join(errors))
    return "internet (MNIST)"


# CIFAR-10 label ids of the two classes the book keeps.
CIFAR2_CLASSES = {0: "airplane", 1: "automobile"}


def cifar2(staged: Path) -> str:
    """CIFAR-10 python archive -> ``cifar2/{train,test}/{airplane,automobile}/<n>.jpg``.

    The JPEG bytes differ from the mirror's (another encoder); ``pt20.data``
    records the listing hash of the result in the cache's own state (see
    data/README.md).
    """
    from PIL import Image

    archive = staged / "cifar-10-python.tar.gz"
    _checked_download(CIFAR10_URL, archive, CIFAR10_SHA256)
    _files.safe_extract(archive, staged / "extract")
    batches = staged / "extract" / "cifar-10-batches-py"
    splits = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    for split, names in splits.items():
        counters = dict.fromkeys(CIFAR2_CLASSES, 0)
        for name in names:
            # pickle is safe here only because the archive's sha256 was checked above
            with open(batches / name, "rb") as f:
                batch = pickle.load(f, encoding="bytes")
            for row, label in zip(batch[b"data"], batch[b"labels"]):
                if label not in CIFAR2_CLASSES:
                    continue
                folder = staged / "cifar2" / split / CIFAR2_CLASSES[label]
                folder.mkdir(parents=True, exist_ok=True)
                image = Image.fromarray(row.reshape(3, 32, 32).transpose(1, 2, 0))
                image.save(folder / f"{counters[label]}.jpg", quality=95)
                counters[label] += 1
    return "internet (CIFAR-10 archive)"


_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_REVIEW_NAME = re.compile(r"(\d+)_(\d+)\.txt")


def _reviews(folder: Path) -> list[tuple[int, int, str]]:
    """(label, id, text) of ``folder/{neg,pos}/<id>_<rating>.txt``, sorted by (label, id)."""
    rows = []
    for label, sub in enumerate(("neg", "pos")):
        for p in (folder / sub).iterdir():
            match = _REVIEW_NAME.fullmatch(p.name)
            if match:
                text = _CONTROL.sub(" ", p.read_text(encoding="utf-8"))
                rows.append((label, int(match.group(1)), text))
    return sorted(rows)


def _write_tsv_gz(rows: list[tuple[int, int, str]], dst: Path) -> None:
    body = "".join(f"{label}\t{text}\n" for label, _, text in rows).encode("utf-8")
    with open(dst, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(body)


def imdb_from_folder(acl: Path, out: Path) -> None:
    """aclImdb/{train,test}/{neg,pos} -> ``train.tsv.gz`` and ``test.tsv.gz`` in ``out``.

    The recipe of the mirror: control characters become spaces, rows are sorted
    by (label, id), test reviews whose text also occurs in train are dropped, and
    each split is shuffled with a fixed seed. Rebuilt from the mirror's own files
    this reproduces the registry's content checksums of both TSVs exactly.
    """
    train, test = _reviews(acl / "train"), _reviews(acl / "test")
    seen = {text for _, _, text in train}
    test = [row for row in test if row[2] not in seen]  # dropped before the shuffle
    random.Random(2011).shuffle(train)
    random.Random(2012).shuffle(test)
    out.mkdir(parents=True, exist_ok=True)
    _write_tsv_gz(train, out / "train.tsv.gz")
    _write_tsv_gz(test, out / "test.tsv.gz")


def imdb(staged: Path) -> str:
    archive = staged / "aclImdb_v1.tar.gz"
    _checked_download(ACLIMDB_URL, archive, ACLIMDB_SHA256)
    _files.safe_extract(archive, staged / "extract")
    imdb_from_folder(staged / "extract" / "aclImdb", staged / "imdb")
    return "internet (aclImdb archive)"


