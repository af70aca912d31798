"""pt20.data: every way fetching can go wrong is handled, and nothing is half-written."""

from __future__ import annotations

import ast
import builtins
import dataclasses
import errno
import fcntl
import gzip
import http.server
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import CSV, TEXT, TEXT_GZ, TOY_FILES, TREE, Env, sha, write_files
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
    assert data.verify("toy")
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
    for name in ["titanic", "covid19", "cifar2", "imdb", "mnist", "tinyshakespeare"]:
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
        listed = {f["path"]: f for f in m[name].get("files", [])}
        for f in spec.files:
            assert listed[f.path]["sha256"] == f.sha256, f.path
            if f.content_sha256:  # the content size is where the content check stops: it must be exact
                assert listed[f.path]["uncompressed_sha256"] == f.content_sha256, f.path
                assert listed[f.path]["uncompressed_bytes"] == f.content_size, f.path
        if spec.tree:
            assert m[name]["listing_sha256"] == spec.tree.listing_sha256


def test_sha_helper_matches_hashlib(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(CSV)
    assert _files.sha256(p) == sha(CSV)


# ---------------------------------------------------------------- issue 13: faults found by attacking the data layer

def flipped(blob: bytes, at: int) -> bytes:
    damaged = bytearray(blob)
    damaged[at] ^= 0xFF
    return bytes(damaged)


def deflate_breaking_flips(blob: bytes) -> list[int]:
    """Positions where flipping one byte breaks the deflate stream itself, which only zlib notices."""
    found = []
    for at in range(len(blob)):
        try:
            gzip.decompress(flipped(blob, at))
        except zlib.error:
            found.append(at)
        except (OSError, EOFError):
            pass
    return found


def test_gzip_damaged_inside_is_fetched_again_not_a_crash(env: Env) -> None:
    env.fill_mirror()
    data.fetch("toy")
    gz = env.cache / "toy" / "b.txt.gz"
    flips = deflate_breaking_flips(TEXT_GZ)
    assert flips, "the toy gzip should have bytes whose damage raises zlib.error"
    for at in flips:
        gz.write_bytes(flipped(TEXT_GZ, at))
        assert not data.verify("toy")
        assert data.path("toy") == env.cache / "toy"
        assert gz.read_bytes() == TEXT_GZ
    gz.write_bytes(flipped(TEXT_GZ, flips[-1]))
    assert data.main(["toy"]) == 0  # `make data` repairs it too
    assert gz.read_bytes() == TEXT_GZ


def test_gzip_damaged_inside_a_mirror_is_refused_not_a_crash(env: Env) -> None:
    env.fill_mirror()
    (env.mirror / "toy" / "b.txt.gz").write_bytes(flipped(TEXT_GZ, deflate_breaking_flips(TEXT_GZ)[0]))
    with pytest.raises(data.DataError, match=r"mirror .*b\.txt\.gz has the wrong sha256"):
        data.fetch("toy")
    assert not (env.cache / "toy").exists()


Member = tuple  # (name, tar type, link name, payload)


def cve_2025_4517_members() -> list[Member]:
    """Links whose expansion exceeds PATH_MAX, where os.path.realpath stops resolving them.

    The 'data' filter of Python 3.11.7 then sees ``escape`` as inside the folder,
    while the kernel follows it to the folder's parent: ``flag`` beside the folder
    is overwritten through a hard link, and ``newfile`` is created there.
    """
    long_dir, steps, members, path = "d" * 247, "abcdefghijklmnop", [], ""
    for step in steps:
        members += [(os.path.join(path, long_dir), tarfile.DIRTYPE, "", None),
                    (os.path.join(path, step), tarfile.SYMTYPE, long_dir, None)]
        path = os.path.join(path, long_dir)
    deep_link = os.path.join(*steps, "l" * 254)
    return members + [
        (deep_link, tarfile.SYMTYPE, "../" * len(steps), None),
        ("escape", tarfile.SYMTYPE, deep_link + "/..", None),
        ("flaglink", tarfile.LNKTYPE, "escape/flag", None),
        ("flaglink", tarfile.REGTYPE, "", b"overwritten"),
        ("escape/newfile", tarfile.REGTYPE, "", b"new"),
    ]


OK_MEMBER = ("inside/ok.txt", tarfile.REGTYPE, "", b"ok")
CRAFTED_ARCHIVES: dict[str, Callable[[], list[Member]]] = {
    "CVE-2025-4517 link chain": cve_2025_4517_members,
    "symlink chain b -> ., a -> b/..": lambda: [
        OK_MEMBER, ("b", tarfile.SYMTYPE, ".", None), ("a", tarfile.SYMTYPE, "b/..", None),
        ("a/flag", tarfile.REGTYPE, "", b"overwritten")],
    "hard link inside": lambda: [OK_MEMBER, ("inside/again.txt", tarfile.LNKTYPE, "inside/ok.txt", None)],
    "symlink inside": lambda: [OK_MEMBER, ("inside/link.txt", tarfile.SYMTYPE, "ok.txt", None)],
    "fifo": lambda: [OK_MEMBER, ("inside/pipe", tarfile.FIFOTYPE, "", None)],
    "device": lambda: [OK_MEMBER, ("inside/tty", tarfile.CHRTYPE, "", None)],
}


@pytest.mark.parametrize("kind", CRAFTED_ARCHIVES)
def test_archive_with_links_or_devices_is_refused_before_anything_is_written(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / "crafted.tar"
    with tarfile.open(archive, "w") as tar:
        for name, member_type, linkname, payload in CRAFTED_ARCHIVES[kind]():
            member = tarfile.TarInfo(name)
            member.type, member.linkname = member_type, linkname
            member.size = len(payload) if payload is not None else 0
            tar.addfile(member, io.BytesIO(payload) if payload is not None else None)
    (tmp_path / "flag").write_text("original")
    dest = tmp_path / "out"
    with pytest.raises(ValueError, match="refused|outside"):
        _files.safe_extract(archive, dest)
    assert not dest.exists()  # nothing at all was written inside ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crafted.tar", "flag"]  # ... or beside it
    assert (tmp_path / "flag").read_text() == "original"


def deny_writes_under(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Make every write under ``root`` fail with EROFS, as on a read-only mount.

    The tests run as root, for whom chmod does not stop writes.
    """
    def inside(p: object) -> bool:
        return isinstance(p, str | os.PathLike) and Path(os.path.abspath(p)).is_relative_to(root)

    def refuse(p: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system (simulated)", str(p))

    real_open, real_os_open = builtins.open, os.open

    def open_(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if inside(file) and set(mode) & set("wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def os_open(p: object, flags: int, *args: object, **kwargs: object) -> int:
        if inside(p) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refuse(p)
        return real_os_open(p, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_)
    monkeypatch.setattr(io, "open", open_)
    monkeypatch.setattr(os, "open", os_open)
    def guard(real: Callable) -> Callable:
        def guarded(*args: object, **kwargs: object) -> object:
            if any(inside(a) for a in args[:2]):  # the path, or either path of a rename
                refuse(args[0])
            return real(*args, **kwargs)

        return guarded

    for name in ("mkdir", "unlink", "rmdir", "chmod", "replace", "rename"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))


def test_verified_cache_is_used_without_writing_to_it(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.fill_mirror()
    data.fetch("toy")
    shutil.rmtree(env.mirror)
    ended = subprocess.Popen(["true"])
    ended.wait()
    (env.cache / f".staging-toy-{ended.pid}-abcd_123").mkdir()  # a leftover it cannot remove is no reason to fail
    deny_writes_under(monkeypatch, env.cache)
    assert data.verify("toy")
    assert data.path("toy") == env.cache / "toy"


def test_read_only_cache_that_needs_a_fetch_says_what_to_do(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.fill_mirror()
    env.cache.mkdir()
    deny_writes_under(monkeypatch, env.cache)
    with pytest.raises(data.DataError) as err:
        data.fetch("toy")
    message = str(err.value)
    for expected in ["'toy'", "toy/a.csv is missing", str(env.cache), "not writable", data.HOME_VAR]:
        assert expected in message, expected


def test_download_gives_up_at_its_total_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Trickle(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # one byte every 50 ms: each read is quick, the whole takes 10 s
            self.send_response(200)
            self.send_header("Content-Length", "200")
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
                time.sleep(0.05)

        def log_message(self, *args: object) -> None:
            pass

    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_files, "DOWNLOAD_DEADLINE_S", 0.5, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(_files.DownloadError, match="deadline"):
            _files.download(f"http://127.0.0.1:{server.server_port}/slow.bin", tmp_path / "slow.bin")
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - started < 5  # the deadline plus one read, with room for a busy machine
    assert list(tmp_path.iterdir()) == []


def test_waiting_for_another_fetch_says_whom_it_waits_for(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.fill_mirror()
    env.cache.mkdir()
    monkeypatch.setattr(data, "LOCK_NOTICE_S", 0.2, raising=False)
    lock_path = env.cache / ".toy.lock"
    holder = open(lock_path, "a+")  # another process's fetch (flock locks are per open file)
    fcntl.flock(holder, fcntl.LOCK_EX)
    holder.write("424242\n")
    holder.flush()

    class ReleaseOnNotice(io.StringIO):
        def write(self, text: str) -> int:
            holder.close()  # the waiter has said what it waits for: the other fetch ends
            return super().write(text)

    stderr = ReleaseOnNotice()
    monkeypatch.setattr(sys, "stderr", stderr)
    fallback = threading.Timer(5, holder.close)  # a waiter that never speaks must not hang the test
    fallback.start()
    try:
        got = data.fetch("toy")
    finally:
        fallback.cancel()
        holder.close()
    notice = stderr.getvalue()
    assert "424242" in notice and str(lock_path) in notice and "'toy'" in notice
    assert notice.count("pt20.data: waiting") == 1
    assert got.source.startswith("mirror")


@pytest.mark.parametrize("extra", ["z/0.jpeg", "x/zz_extra.png", "notes.txt", "z/", "x/link", "z/4.bin"])
def test_tree_holding_anything_beyond_the_dataset_fails_verification(env: Env, extra: str) -> None:
    env.fill_mirror()
    data.fetch("toytree")
    stray = env.cache / "toytree" / extra
    if extra.endswith("/"):
        stray.mkdir()  # an empty class folder
    elif extra == "x/link":
        stray.symlink_to("1.bin")
    else:
        stray.parent.mkdir(exist_ok=True)
        stray.write_bytes(b"stray")
    assert not data.verify("toytree")
    assert data.problems("toytree", env.cache)[0].startswith("toytree/ holds")  # extra files, or 4 of 3
    assert data.fetch("toytree").source.startswith("mirror")
    assert not stray.exists() and not stray.is_symlink()
    assert not leftovers(env.cache)


RE_ENCODED = {k: v + b"!" for k, v in TREE.items()}  # e.g. JPEGs written by another encoder


def write_listing_stamp(root: Path) -> None:
    """What the old code trusted: the listing of whatever the tree holds, written into the tree."""
    _, digest = data.listing_sha256(root, data.DATASETS["toytree"].tree)
    (root / "toytree" / ".pt20-listing").write_text(digest + "\n")


def test_stamp_carried_inside_a_cached_tree_is_not_trusted(env: Env) -> None:
    write_files(env.cache, RE_ENCODED)
    write_listing_stamp(env.cache)
    assert not data.verify("toytree")
    env.fill_mirror()
    assert data.fetch("toytree").source.startswith("mirror")
    assert (env.cache / "toytree" / "x" / "1.bin").read_bytes() == b"one"


def test_mirror_carrying_a_stamp_is_never_installed(env: Env) -> None:
    write_files(env.mirror, RE_ENCODED)
    write_listing_stamp(env.mirror)
    with pytest.raises(data.DataError, match="mirror"):
        data.fetch("toytree")
    assert not (env.cache / "toytree").exists()


def test_tree_rebuilt_upstream_is_checked_against_the_caches_own_record(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    def rebuild(staged: Path) -> str:  # e.g. CIFAR-2 re-encoded from the verified CIFAR-10 archive
        write_files(staged, RE_ENCODED)
        return "internet (toy archive)"

    spec = dataclasses.replace(data.DATASETS["toytree"], upstream=rebuild, upstream_rebuilds_tree=True)
    monkeypatch.setitem(data.DATASETS, "toytree", spec)
    assert data.fetch("toytree").source == "internet (toy archive)"
    assert data.verify("toytree") and data.fetch("toytree").source == "cache"
    assert not [p for p in (env.cache / "toytree").rglob("*") if p.name.startswith(".")]  # nothing in the tree
    (env.cache / "toytree" / "x" / "1.bin").write_bytes(b"rot")
    assert not data.verify("toytree")
    env.fill_mirror()
    assert data.fetch("toytree").source.startswith("mirror")
    write_files(env.cache, RE_ENCODED)  # once the mirror's tree is in, the old record no longer counts
    assert not data.verify("toytree")


KILLED_CHILD = """
import json, shutil, sys, time, types
pt20 = types.ModuleType("pt20")  # skip pt20/__init__.py, which imports torch
pt20.__path__ = [sys.argv[1]]
sys.modules["pt20"] = pt20
from pt20 import data
data.DATASETS["toytree"] = data.Dataset("toytree", "toy tree", "toytree", tree=data.TreeSpec(*json.loads(sys.argv[2])))
real_copy = shutil.copyfile
def copy_then_hang(src, dst, *args, **kwargs):
    real_copy(src, dst, *args, **kwargs)
    time.sleep(60)
shutil.copyfile = copy_then_hang
data.fetch("toytree")
"""


def test_what_a_killed_fetch_left_is_removed_by_the_next_one(env: Env) -> None:
    env.fill_mirror()
    tree = dataclasses.astuple(data.DATASETS["toytree"].tree)
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, str(Path(data.__file__).parent), json.dumps(tree)])
    try:
        give_up = time.monotonic() + 30
        while not list(env.cache.glob(".staging-toytree-*/toytree/*/*.bin")):
            assert child.poll() is None, "the child ended before it was killed"
            assert time.monotonic() < give_up, "the child never started copying"
            time.sleep(0.05)
    finally:
        child.kill()  # SIGKILL: no cleanup code runs
        child.wait()
    assert leftovers(env.cache), "the kill should have left a staging folder"
    assert data.fetch("toytree").source.startswith("mirror")
    assert not leftovers(env.cache)


def test_leftovers_of_dead_processes_go_and_those_of_live_ones_stay(env: Env) -> None:
    env.fill_mirror()
    data.fetch("toytree")
    ended = subprocess.Popen(["true"])
    ended.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        dead_ones = [f".toytree.old-{ended.pid}", f".staging-toytree-{ended.pid}-abcd_123",
                     f".covid-19.csv.{ended.pid}-0123abcd.part", ".staging-toytree-k2j4h5g6"]  # last: older naming
        live_ones = [f".toytree.old-{alive.pid}", f".staging-toytree-{alive.pid}-abcd_123"]
        for name in dead_ones + live_ones:
            write_files(env.cache / name, {"x/1.bin": b"half-written"})
        assert data.fetch("toytree").source == "cache"
        assert sorted(p.name for p in env.cache.iterdir() if p.name in dead_ones + live_ones) == sorted(live_ones)
    finally:
        alive.kill()
        alive.wait()


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["toy", "toytree"])
def test_linked_dataset_folder_is_replaced_never_written_through(env: Env, tmp_path: Path, name: str) -> None:
    env.fill_mirror()
    elsewhere = tmp_path / "elsewhere"
    write_files(elsewhere, {rel: b"stale" for rel in (TOY_FILES if name == "toy" else TREE)})
    env.cache.mkdir()
    (env.cache / name).symlink_to(elsewhere / name, target_is_directory=True)
    before = snapshot(elsewhere)
    assert data.fetch(name).source.startswith("mirror")
    assert snapshot(elsewhere) == before
    assert not (env.cache / name).is_symlink() and data.verify(name)
    assert not leftovers(env.cache)


def test_new_files_and_folders_get_the_usual_permissions(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    monkeypatch.setattr(_files.urllib.request, "urlopen", lambda *a, **k: io.BytesIO(CSV))
    env.fill_mirror()
    mirror_entries = list(env.mirror.rglob("*"))
    old_umask = os.umask(0o022)
    try:
        for p in mirror_entries:  # a read-only mirror must not make the cache read-only
            p.chmod(0o555 if p.is_dir() else 0o444)
        _files.download("https://example.invalid/a.csv", env.cache / "downloaded.csv")
        _files.atomic_gunzip(env.mirror / "toy" / "b.txt.gz", env.cache / "b.txt")
        data.fetch("toytree")
    finally:
        os.umask(old_umask)
        for p in mirror_entries:
            p.chmod(0o755 if p.is_dir() else 0o644)
    assert mode(env.cache / "downloaded.csv") == 0o644
    assert mode(env.cache / "b.txt") == 0o644
    assert {mode(p) for p in (env.cache / "toytree").rglob("*") if p.is_file()} == {0o644}
    assert {mode(p) for p in (env.cache / "toytree").rglob("*") if p.is_dir()} == {0o755}


def test_data_home_that_is_a_file_is_named_in_the_error(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_folder = env.mirror / "data-home.txt"
    not_a_folder.write_text("oops")
    monkeypatch.setenv(data.HOME_VAR, str(not_a_folder))
    for call in (lambda: data.path("toy"), lambda: data.workdir("1-1")):
        with pytest.raises(data.DataError) as err:
            call()
        assert f"${data.HOME_VAR}" in str(err.value) and "not a folder" in str(err.value)
        assert str(not_a_folder) in str(err.value)


@pytest.mark.parametrize("name", ["toy", "toytree"])
def test_entry_of_the_wrong_kind_is_named_not_blamed_on_the_mirror(env: Env, name: str) -> None:
    env.fill_mirror()
    data.fetch(name)
    if name == "toy":  # a folder where a file belongs
        wrong, expected = env.cache / "toy" / "a.csv", "toy/a.csv is a folder, not a file"
        wrong.unlink()
        (wrong / "inside").mkdir(parents=True)
    else:  # a file where the tree belongs
        wrong, expected = env.cache / "toytree", "toytree is a file, not a folder"
        shutil.rmtree(wrong)
        wrong.write_text("not a tree")
    assert data.problems(name, env.cache) == [expected]
    with pytest.raises(data.DataError) as err:
        data.fetch(name)
    message = str(err.value)
    assert str(wrong) in message and "move or delete" in message
    assert "mirror" not in message  # the mirror is fine; it is not what went wrong
    assert wrong.exists()  # left alone: pt20 did not write it


def test_upstream_builders_do_not_import_the_registry() -> None:
    """Issue 16: data imports _upstream, so _upstream must not import data (not even lazily)."""
    tree = ast.parse(Path(_upstream.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    assert "pt20.data" not in imported


# ---------------------------------------------------------------- issue 22: the data layer attacked again

def deny_entry_below(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Act as if ``folder`` were mode 000 and owned by another user.

    The tests run as root, whom chmod does not stop. Like the kernel then, this
    lets ``folder`` itself be stat'ed but not listed, and refuses every path
    below it with EACCES, which Python 3.11's ``Path.is_dir()`` re-raises.
    """
    def below(p: object, *, or_at: bool = False) -> bool:
        if not isinstance(p, str | os.PathLike):
            return False
        absolute = Path(os.path.abspath(p))
        return absolute.is_relative_to(folder) and (or_at or absolute != folder)

    def refuse(p: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied (simulated)", str(p))

    def guard(real: Callable[..., object], *, or_at: bool = False) -> Callable[..., object]:
        def guarded(p: object = ".", *args: object, **kwargs: object) -> object:
            if below(p, or_at=or_at):
                refuse(p)
            return real(p, *args, **kwargs)
        return guarded

    for name in ("stat", "lstat", "open"):
        monkeypatch.setattr(os, name, guard(getattr(os, name)))
    for name in ("scandir", "listdir"):
        monkeypatch.setattr(os, name, guard(getattr(os, name), or_at=True))
    monkeypatch.setattr(builtins, "open", guard(builtins.open))
    monkeypatch.setattr(io, "open", guard(io.open))


@pytest.mark.parametrize(("name", "blocked"), [("toy", "."), ("toy", "toy"), ("toytree", "toytree/x")])
def test_unreadable_cache_folder_is_named_with_what_to_do(
    env: Env, monkeypatch: pytest.MonkeyPatch, name: str, blocked: str
) -> None:
    """Issue 22, item 4: a cache folder this user cannot read is named, never a raw PermissionError."""
    env.fill_mirror()
    data.fetch(name)
    folder = (env.cache / blocked).resolve()
    deny_entry_below(monkeypatch, folder)
    for call in (lambda: data.verify(name), lambda: data.fetch(name)):
        with pytest.raises(data.DataError) as err:
            call()
        message = str(err.value)
        assert f"{folder} cannot be read" in message
        assert "permission denied" in message.lower() and "chmod" in message and f"${data.HOME_VAR}" in message


def test_unreadable_mirror_is_named_and_skipped(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22, item 4: a mirror this user cannot read is one failed source among the others."""
    env.fill_mirror()
    deny_entry_below(monkeypatch, env.mirror)
    with pytest.raises(data.DataError) as err:
        data.fetch("toy")
    message = str(err.value)
    assert f"mirror {env.mirror}: {env.mirror} cannot be read" in message
    assert "internet:" in message  # the next source was still tried
    assert not leftovers(env.cache)


REAL_URLOPEN = _files.urllib.request.urlopen  # the env fixture replaces it with "no network"
BAD_CHUNK = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"
BROKEN_RESPONSES = {
    "bad-chunk": BAD_CHUNK,  # http.client raises IncompleteRead, an HTTPException
    "bad-status": b"this is not HTTP\r\n\r\n",  # BadStatusLine
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10,  # then the server hangs up
}


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.fixture
def raw_http(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, bytes]], str]]:
    """Serve canned raw responses (by path) on 127.0.0.1; returns the base URL."""
    import socketserver

    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(_files.urllib.request, "urlopen", REAL_URLOPEN)
    servers = []

    def serve(responses: dict[str, bytes]) -> str:
        class Canned(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                request_line = self.rfile.readline().decode("latin-1").split()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # the request's headers
                    pass
                self.wfile.write(responses.get(request_line[1], b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Canned)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("kind", BROKEN_RESPONSES)
def test_broken_http_response_is_a_failed_download(
    tmp_path: Path, raw_http: Callable[[dict[str, bytes]], str], kind: str
) -> None:
    """Issue 22, item 5 and the short body: every broken transfer is a DownloadError, and nothing is kept."""
    base = raw_http({"/f.bin": BROKEN_RESPONSES[kind]})
    with pytest.raises(_files.DownloadError, match=r"127\.0\.0\.1"):
        _files.download(f"{base}/f.bin", tmp_path / "f.bin", timeout=10)
    assert list(tmp_path.iterdir()) == []


def test_mnist_tries_its_second_source_after_a_broken_response(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw_http: Callable[[dict[str, bytes]], str]
) -> None:
    """Issue 22, item 5: a bad chunk from the first MNIST server sends each file to the second one."""
    responses = {f"/broken/{name}": BAD_CHUNK for name in _upstream.MNIST_FILES}
    responses |= {f"/good/{name}": ok(name.encode()) for name in _upstream.MNIST_FILES}
    base = raw_http(responses)
    monkeypatch.setattr(_upstream, "MNIST_URLS", (f"{base}/broken/", f"{base}/good/"))
    assert _upstream.mnist(tmp_path) == "internet (MNIST)"
    for name in _upstream.MNIST_FILES:
        assert (tmp_path / "mnist" / name).read_bytes() == name.encode()


def test_covid19_from_a_broken_server_fails_with_the_places_tried(
    env: Env, monkeypatch: pytest.MonkeyPatch, raw_http: Callable[[dict[str, bytes]], str]
) -> None:
    """Issue 22, item 5: fetch('covid19') reports the broken response like any other failed source."""
    base = raw_http({"/covid-19.csv": BAD_CHUNK})
    monkeypatch.setattr(_upstream, "BOOK_DATA_URL", f"{base}/")
    with pytest.raises(data.DataError) as err:
        data.fetch("covid19")
    message = str(err.value)
    assert "internet:" in message and "broken HTTP response" in message and "IncompleteRead" in message
    assert not leftovers(env.cache)


def zeros_gz(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes, built without holding them all in memory."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        block = bytes(1 << 20)
        for _ in range(size >> 20):
            gz.write(block)
    return out.getvalue()


def test_gzip_bomb_stops_at_the_content_size(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 22, low: a .gz inflating far beyond its content's size is refused after that size."""
    env.fill_mirror()
    data.fetch("toy")
    (env.cache / "toy" / "b.txt.gz").write_bytes(zeros_gz(64 << 20))
    inflated = []
    real_gzip_open = gzip.open

    def counting_open(*args: object, **kwargs: object) -> object:
        f = real_gzip_open(*args, **kwargs)
        real_read = f.read

        def read(n: int = -1) -> bytes:
            block = real_read(n)
            inflated.append(len(block))
            return block

        f.read = read
        return f

    monkeypatch.setattr(_files.gzip, "open", counting_open)
    expected = f"toy/b.txt.gz decompresses to more than {len(TEXT):,} bytes, the size of its content"
    assert data.problems("toy", env.cache) == [f"{expected} (damaged, or not this file)"]
    assert sum(inflated) <= len(TEXT) + 1
    assert data.fetch("toy").source.startswith("mirror")  # and it is repaired like any damaged file


def test_content_checksum_needs_a_content_size() -> None:
    with pytest.raises(ValueError, match="content_size"):
        data.FileSpec("x.gz", "0" * 64, "1" * 64)


@pytest.mark.parametrize("value", ["0", "false", "No", "off", ""])
def test_offline_variable_set_to_false_leaves_the_internet_on(
    env: Env, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Issue 22, low: PT20_OFFLINE=0|false|no|off means *not* offline."""
    monkeypatch.setenv(data.OFFLINE_VAR, value)
    with pytest.raises(data.DataError) as err:
        data.fetch("toy")
    assert "skipped" not in str(err.value)
    assert "network is unreachable" in str(err.value)  # the (toy) internet was tried


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_offline_variable_set_to_true_skips_the_internet(env: Env, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(data.OFFLINE_VAR, value)
    with pytest.raises(data.DataError, match=rf"internet: skipped \(\${data.OFFLINE_VAR} is set\)"):
        data.fetch("toy")


def test_offline_variable_with_another_value_is_refused(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.OFFLINE_VAR, "maybe")
    with pytest.raises(data.DataError, match=rf"\${data.OFFLINE_VAR} is 'maybe'.*1 or 0"):
        data.fetch("toy")


@pytest.mark.parametrize("value", ["", "  "])
def test_blank_data_home_means_the_default(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """Issue 22, low: a blank PT20_DATA_HOME is the default cache, not the current folder."""
    monkeypatch.delenv(data.HOME_VAR, raising=False)
    default = data.cache_dir()
    monkeypatch.setenv(data.HOME_VAR, value)
    assert data.cache_dir() == default
    assert default.is_absolute()


@pytest.mark.parametrize("var", [data.HOME_VAR, data.MIRROR_VAR])
def test_relative_data_folders_are_refused(env: Env, monkeypatch: pytest.MonkeyPatch, var: str) -> None:
    """Issue 22, low: kernels run in notebooks/, so a relative folder would mean another folder there."""
    monkeypatch.chdir(env.cache.parent)
    monkeypatch.setenv(var, "relative/data")
    with pytest.raises(data.DataError) as err:
        data.fetch("toy")
    message = str(err.value)
    assert f"${var} is 'relative/data'" in message and "absolute path" in message
    assert not (env.cache.parent / "relative").exists()
    monkeypatch.setenv(var, "~/pt20-data")  # ~ is expanded first, so this one is absolute
    assert (data.cache_dir() if var == data.HOME_VAR else data.mirror_dir()) == Path.home() / "pt20-data"


def test_make_data_names_a_bad_setting_once(env: Env, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv(data.OFFLINE_VAR, "maybe")
    assert data.main(["toy", "toytree"]) == 1
    assert capsys.readouterr().err.count(f"${data.OFFLINE_VAR} is 'maybe'") == 1


def test_tinyshakespeare_upstream_rejects_changed_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw_http: Callable[[dict[str, bytes]], str]
) -> None:
    """Part 7's corpus comes from a pinned commit; bytes that differ from the registry are refused, not kept."""
    base = raw_http({"/input.txt": ok(b"First Citizen:\nchanged upstream\n")})
    monkeypatch.setattr(_upstream, "TINY_SHAKESPEARE_URL", f"{base}/input.txt")
    with pytest.raises(ValueError, match="wrong sha256"):
        _upstream.tinyshakespeare(tmp_path)
    assert not (tmp_path / "tinyshakespeare" / "input.txt").exists()
