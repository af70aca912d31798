"""pt20.data: every way fetching can go wrong is handled, and nothing is half-written."""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
from pathlib import Path

import pytest
from conftest import CSV, TEXT, TREE, Env, sha, write_files

from pt20 import _files, _upstream, data


def leftovers(root: Path) -> list[str]:
    """Temporary files or staging folders left anywhere under ``root``."""
    return [str(p) for p in root.rglob("*") if p.name.endswith(".part") or ".staging-" in p.name or ".old-" in p.name]


def test_mirror_copy_is_verified_and_cached(env: Env) -> None:
    env.fill_mirror()
    got = data.fetch("toy")
    assert got.source.startswith("mirror")
    assert got.path == env.cache / "toy"
    assert (got.path / "a.csv").read_bytes() == CSV
    assert data.verify("toy") and data.available("toy")
    assert not leftovers(env.cache)


def test_verified_cache_is_reused_without_the_mirror(env: Env) -> None:
    env.fill_mirror()
    data.fetch("toy")
    shutil.rmtree(env.mirror)
    assert data.fetch("toy").source == "cache"


@pytest.mark.parametrize("damage", ["corrupt", "truncate", "delete"])
def test_damaged_cache_file_is_refetched(env: Env, damage: str) -> None:
    env.fill_mirror()
    data.fetch("toy")
    target = env.cache / "toy" / "a.csv"
    if damage == "corrupt":
        target.write_bytes(CSV.replace(b"1", b"9"))
    elif damage == "truncate":
        target.write_bytes(CSV[:5])
    else:
        target.unlink()
    assert not data.verify("toy")
    got = data.fetch("toy")
    assert got.source.startswith("mirror")
    assert target.read_bytes() == CSV


def test_truncated_gzip_is_rejected(env: Env) -> None:
    env.fill_mirror()
    data.fetch("toy")
    gz = env.cache / "toy" / "b.txt.gz"
    gz.write_bytes(gz.read_bytes()[:20])
    assert any("b.txt.gz" in p for p in data.problems("toy", env.cache))


def test_recompressed_gzip_with_same_content_is_accepted(env: Env) -> None:
    env.fill_mirror()
    (env.mirror / "toy" / "b.txt.gz").write_bytes(gzip.compress(TEXT, compresslevel=1, mtime=123))
    assert data.fetch("toy").source.startswith("mirror")


def test_corrupted_mirror_is_never_used(env: Env) -> None:
    env.fill_mirror()
    (env.mirror / "toy" / "a.csv").write_bytes(b"tampered")
    with pytest.raises(data.DataError) as err:
        data.fetch("toy")
    message = str(err.value)
    assert "'toy'" in message and "wrong sha256" in message
    assert not (env.cache / "toy" / "a.csv").exists()


def test_no_mirror_and_no_network_says_what_to_do(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.MIRROR_VAR, str(env.mirror / "missing"))
    with pytest.raises(data.DataError) as err:
        data.path("toy")
    message = str(err.value)
    for expected in ["'toy'", "cache", "mirror", "internet", "unreachable", "make data", data.MIRROR_VAR]:
        assert expected in message, expected
    assert not leftovers(env.cache)


def test_offline_mode_skips_the_internet(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.OFFLINE_VAR, "1")
    with pytest.raises(data.DataError, match=r"internet: skipped \(\$PT20_OFFLINE is set\)"):
        data.fetch("toy")


def test_unknown_name_lists_the_known_datasets(env: Env) -> None:
    with pytest.raises(data.UnknownDatasetError) as err:
        data.path("cifar10")
    assert "cifar10" in str(err.value)
    for name in ["titanic", "covid19", "cifar2", "imdb", "mnist"]:
        assert name in str(err.value)


def test_interrupted_copy_leaves_nothing_behind(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.fill_mirror()
    real_copy = shutil.copyfile

    def copy_then_fail(src: str, dst: str, *a: object, **k: object) -> None:
        if str(src).endswith("b.txt.gz"):
            Path(dst).write_bytes(b"half")  # a partial write, then the process is "killed"
            raise OSError("disk full (simulated)")
        real_copy(src, dst)

    monkeypatch.setattr(data.shutil, "copyfile", copy_then_fail)
    with pytest.raises(data.DataError, match="disk full"):
        data.fetch("toy")
    assert not (env.cache / "toy").exists()
    assert not leftovers(env.cache)


def test_interrupted_download_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Broken(io.BytesIO):
        def read(self, *args: object) -> bytes:
            raise ConnectionResetError("connection reset (simulated)")

        def __enter__(self) -> Broken:
            return self

    monkeypatch.setattr(_files.urllib.request, "urlopen", lambda *a, **k: Broken(b""))
    dst = tmp_path / "file.bin"
    with pytest.raises(_files.DownloadError, match="connection reset"):
        _files.download("https://example.invalid/file.bin", dst)
    assert list(tmp_path.iterdir()) == []


def test_download_from_internet_is_verified(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    served = {"https://example.invalid/toy.csv": CSV}
    monkeypatch.setattr(_files.urllib.request, "urlopen", lambda req, **k: io.BytesIO(served[req.full_url]))
    # the toy upstream delivers only a.csv: the incomplete result must be refused, not installed
    with pytest.raises(data.DataError, match="b.txt.gz is missing"):
        data.fetch("toy")
    assert not (env.cache / "toy").exists()


def test_tree_dataset_detects_a_missing_member_and_refetches(env: Env) -> None:
    env.fill_mirror()
    data.fetch("toytree")
    (env.cache / "toytree" / "y" / "3.bin").unlink()
    assert "holds 2 of 3 files" in data.problems("toytree", env.cache)[0]
    assert data.fetch("toytree").source.startswith("mirror")
    assert (env.cache / "toytree" / "y" / "3.bin").read_bytes() == b"three"
    assert not leftovers(env.cache)


def test_tree_built_upstream_is_checked_against_its_stamp(env: Env) -> None:
    other = {k: v + b"!" for k, v in TREE.items()}  # e.g. JPEGs from another encoder
    write_files(env.cache, other)
    assert data.problems("toytree", env.cache)
    spec = data.DATASETS["toytree"].tree
    _, digest = data.listing_sha256(env.cache, spec)
    (env.cache / "toytree" / data.STAMP).write_text(digest)
    assert data.problems("toytree", env.cache) == []
    (env.cache / "toytree" / "x" / "1.bin").write_bytes(b"rot")
    assert data.problems("toytree", env.cache)


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, payload: bytes = b"x") -> Path:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        ok = tarfile.TarInfo("inside/ok.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        member.size = len(payload) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(payload) if member.isfile() else None)
    return archive


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/pt20-absolute-escape.txt", "inside/../../escaped.txt"])
def test_archive_member_escaping_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    archive = _tar_with(tmp_path, tarfile.TarInfo(name))
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="outside"):
        _files.safe_extract(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/pt20-absolute-escape.txt").exists()
    assert not dest.exists() or not any(dest.rglob("*.txt"))  # refused before writing anything


def test_archive_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("inside/link")
    link.type, link.linkname = tarfile.SYMTYPE, "../../etc/passwd"
    with pytest.raises(ValueError, match="outside"):
        _files.safe_extract(_tar_with(tmp_path, link), tmp_path / "out")


def test_safe_archive_extracts(tmp_path: Path) -> None:
    good = tarfile.TarInfo("inside/more.txt")
    _files.safe_extract(_tar_with(tmp_path, good, b"fine"), tmp_path / "out")
    assert (tmp_path / "out" / "inside" / "more.txt").read_bytes() == b"fine"


def test_make_data_prints_a_table_and_fails_on_a_missing_dataset(env: Env, capsys: pytest.CaptureFixture) -> None:
    env.fill_mirror()
    assert data.main(["toy"]) == 0
    out = capsys.readouterr().out
    assert "dataset" in out and "verified" in out and "toy" in out and "yes" in out
    shutil.rmtree(env.mirror)
    assert data.main(["toytree"]) == 1
    assert "not available" in capsys.readouterr().out


def test_workdir_is_inside_the_cache_not_the_mirror(env: Env) -> None:
    work = data.workdir("1-1")
    assert work.is_dir() and work.is_relative_to(env.cache)


def test_imdb_recipe_normalises_orders_and_deduplicates(tmp_path: Path) -> None:
    reviews = {
        "train/neg/3_1.txt": "bad\tmovie", "train/neg/10_2.txt": "awful", "train/pos/1_9.txt": "great\u2028fun",
        "test/neg/5_3.txt": "awful", "test/pos/7_8.txt": "lovely",
    }
    write_files(tmp_path / "aclImdb", {k: v.encode() for k, v in reviews.items()})
    _upstream.imdb_from_folder(tmp_path / "aclImdb", tmp_path / "out")
    train = gzip.decompress((tmp_path / "out" / "train.tsv.gz").read_bytes()).decode().splitlines()
    test = gzip.decompress((tmp_path / "out" / "test.tsv.gz").read_bytes()).decode().splitlines()
    assert sorted(train) == ["0\tawful", "0\tbad movie", "1\tgreat fun"]
    assert test == ["1\tlovely"]  # the review duplicated from train is dropped


def test_real_registry_matches_the_mirror_manifest() -> None:
    manifest = Path(data.PACKAGE_ROOT.parent / "shared" / "data" / "manifest.json")
    if not manifest.exists():
        pytest.skip("no data mirror beside the checkout")
    import json

    m = json.loads(manifest.read_text())
    for name, spec in data.DATASETS.items():
        if name.startswith("toy"):
            continue
        listed = {f["path"]: f["sha256"] for f in m[name].get("files", [])}
        for f in spec.files:
            assert listed[f.path] == f.sha256, f.path
        if spec.tree:
            assert m[name]["listing_sha256"] == spec.tree.listing_sha256


def test_sha_helper_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(CSV)
    assert _files.sha256(p) == sha(CSV)
