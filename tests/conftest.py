"""Shared fixtures: an isolated data cache, a toy dataset registry, and headless Chromium."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pt20 import data


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


CSV = b"a,b\n1,2\n3,4\n"
TEXT = b"hello\nworld\n" * 50
TEXT_GZ = gzip.compress(TEXT, mtime=0)
TREE = {"toytree/x/1.bin": b"one", "toytree/x/2.bin": b"two", "toytree/y/3.bin": b"three"}


def tree_listing(files: dict[str, bytes]) -> str:
    lines = "".join(f"{p} {sha(b)}\n" for p, b in sorted(files.items()))
    return sha(lines.encode())


def write_files(root: Path, files: dict[str, bytes]) -> None:
    for rel, content in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(content)


TOY_FILES = {"toy/a.csv": CSV, "toy/b.txt.gz": TEXT_GZ}


@dataclass
class Env:
    cache: Path
    mirror: Path
    internet: Callable[[Path], str] | None = None

    def fill_mirror(self) -> None:
        write_files(self.mirror, TOY_FILES)
        write_files(self.mirror, TREE)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A cache and a mirror in tmp_path, two toy datasets, and no internet."""
    e = Env(tmp_path / "cache", tmp_path / "mirror")
    e.mirror.mkdir()
    monkeypatch.setenv(data.HOME_VAR, str(e.cache))
    monkeypatch.setenv(data.MIRROR_VAR, str(e.mirror))
    monkeypatch.delenv(data.OFFLINE_VAR, raising=False)

    def no_internet(url: str, *args: object, **kwargs: object) -> io.BytesIO:
        raise data._files.urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(data._files.urllib.request, "urlopen", no_internet)

    def upstream(staged: Path) -> str:  # the toy "internet" downloads via the real download()
        data._files.download("https://example.invalid/toy.csv", staged / "toy" / "a.csv")
        return "internet"

    toy = data.Dataset(
        "toy", "toy files", "toy",
        files=(data.FileSpec("toy/a.csv", sha(CSV)), data.FileSpec("toy/b.txt.gz", sha(TEXT_GZ), sha(TEXT), len(TEXT))),
        upstream=upstream,
    )
    toytree = data.Dataset("toytree", "toy tree", "toytree",
                           tree=data.TreeSpec("toytree", "*/*.bin", 3, tree_listing(TREE)))
    monkeypatch.setitem(data.DATASETS, "toy", toy)
    monkeypatch.setitem(data.DATASETS, "toytree", toytree)
    return e


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver_bin = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_bin):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (apt-get install chromium chromium-driver)")
        pytest.skip("chromium/chromedriver not installed: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1280,900"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_bin), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
