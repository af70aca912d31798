"""The book's execution environment: defined once, effective, and honest about where it is exact."""

from __future__ import annotations

import importlib.util
import platform
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from pt20 import env
from tools import execution, nbcompare

ROOT = Path(__file__).resolve().parents[1]


def test_the_environment_is_written_down_in_one_place() -> None:
    # The pins once lived in the Makefile, tools/notebooks.py and a test, and drifted apart.
    places = [ROOT / "Makefile", ROOT / "conftest.py", *(ROOT / "tools").glob("*.py"), *(ROOT / "bench").glob("*.py"),
              *(ROOT / "tests").glob("*.py")]
    pins = [name for name in execution.ENV if name not in ("CUDA_VISIBLE_DEVICES",)]
    found = [f"{p.relative_to(ROOT)}: {name}" for p in places if p.name != "execution.py" and p != Path(__file__)
             for name in pins if re.search(rf"\b{name}\s*[=:\"']", p.read_text())]
    assert not found, f"execution settings written outside tools/execution.py: {found}"


@pytest.mark.execution
def test_make_passes_the_same_environment_to_every_notebook_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "tools.execution mode" in makefile, "nbval picks its comparison from tools/execution.py"
    words = subprocess.run([sys.executable, "-m", "tools.execution", "env"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    assert dict(w.split("=", 1) for w in words) == {k: v or "''" for k, v in execution.ENV.items()}


def _has_avx2() -> bool:
    try:
        return " avx2 " in Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False


@pytest.mark.execution
@pytest.mark.skipif(platform.machine() != "x86_64" or not _has_avx2(),
                    reason="the pins are exact only on x86-64 with AVX2; elsewhere `make test` compares approximately")
def test_a_kernel_under_the_pins_runs_avx2_kernels_on_two_threads_without_cuda() -> None:
    info = execution.platform()
    assert (info["arch"], info["isa"], info["threads"], info["cuda"]) == ("x86_64", "AVX2", 2, False)
    ok, line = execution.exact(info)
    assert ok and line.startswith("exact comparison"), line


@pytest.mark.parametrize(("info", "why"), [
    ({"arch": "arm64", "isa": "DEFAULT", "threads": 2, "pins": dict(execution.PINS)}, "arm64"),
    ({"arch": "x86_64", "isa": "DEFAULT", "threads": 2, "pins": dict(execution.PINS)}, "DEFAULT kernels"),
    ({"arch": "x86_64", "isa": "AVX2", "threads": 8, "pins": dict(execution.PINS)}, "8 threads"),
])
def test_a_machine_that_cannot_be_exact_gets_the_approximate_comparison(info: dict, why: str) -> None:
    ok, line = execution.exact(info)
    assert not ok and line.startswith("approximate comparison") and why in line, line


def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exact_nbval_stops_at_once_on_a_machine_that_cannot_reproduce(monkeypatch: pytest.MonkeyPatch) -> None:
    conftest = _root_conftest()
    monkeypatch.setattr(conftest.execution, "platform", lambda: {"arch": "aarch64", "isa": "DEFAULT", "threads": 2})
    monkeypatch.setattr(conftest.execution, "apply", lambda gpu=False: None)
    config = SimpleNamespace(getoption=lambda name, default=None: name == "nbval")
    with pytest.raises(pytest.UsageError, match="make nbval"):
        conftest.pytest_configure(config)


def test_exact_nbval_applies_the_pins_before_any_kernel_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    conftest = _root_conftest()
    applied = []
    monkeypatch.setattr(conftest.execution, "apply", lambda gpu=False: applied.append(gpu))
    monkeypatch.setattr(conftest.execution, "platform", lambda: {"arch": "x86_64", "isa": "AVX2", "threads": 2,
                                                                 "pins": dict(execution.PINS)})
    config = SimpleNamespace(getoption=lambda name, default=None: name == "nbval")
    conftest.pytest_configure(config)
    assert applied == [False] and config.pt20_comparison.startswith("exact comparison")


def _notebook(*texts: str, tags: tuple[str, ...] = ()) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i, text in enumerate(texts):
        cell = nbformat.v4.new_code_cell("print()", metadata={"tags": list(tags)})
        cell["id"] = f"c{i}"
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    return nb


@pytest.mark.parametrize(("golden", "fresh", "approx", "tags", "agree"), [
    ("val_acc 0.9005\n", "val_acc 0.9005\n", False, (), True),
    ("val_acc 0.9005\n", "val_acc 0.8965\n", False, (), False),  # exact: any digit counts
    ("val_acc 0.9005\n", "val_acc 0.9004\n", True, (), True),  # a last-bit difference, rounded the other way
    ("val_acc 0.9005\n", "val_acc 0.8965\n", True, (), False),  # a real change
    ("135 of 10,000 wrong\n", "154 of 10,000 wrong\n", True, (), False),  # counts are exact facts
    ("135 of 10,000 wrong\n", "154 of 10,000 wrong\n", True, ("varies-by-platform",), True),
    ("135 of 10,000 wrong\n", "154 of 10,000 right\n", True, ("varies-by-platform",), False),  # the text still binds
    ("0x7f3a2b1c9d10 at /tmp/abc\n", "0x7f00ffee0000 at /tmp/xyz\n", False, (), True),  # nbval's sanitizers
])
def test_notebook_comparison(golden: str, fresh: str, approx: bool, tags: tuple, agree: bool) -> None:
    count, problems = nbcompare.compare(_notebook(golden, tags=tags), _notebook(fresh, tags=tags), approx=approx)
    assert count == 1 and (not problems) == agree, problems


def test_ignored_cells_are_not_compared_and_missing_cells_are() -> None:
    golden = _notebook("took 3.2 s\n", "acc 0.9\n")
    golden.cells[0].metadata["tags"] = ["nbval-ignore-output"]
    fresh = _notebook("took 9.9 s\n")
    count, problems = nbcompare.compare(golden, fresh)
    assert count == 1 and len(problems) == 1 and "missing" in problems[0]


def test_native_kernels_drop_the_pins_but_keep_the_page_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.NATIVE_KERNELS, "1")
    kernel_env = execution.environ({})
    assert not set(execution.PINS) & set(kernel_env) and kernel_env["TQDM_DISABLE"] == "1" \
        and kernel_env["CUDA_VISIBLE_DEVICES"] == ""
    monkeypatch.delenv(env.NATIVE_KERNELS)
    assert execution.environ({})["ATEN_CPU_CAPABILITY"] == "avx2"


def test_a_table_that_realigns_around_a_sign_still_agrees_approximately() -> None:
    golden, fresh = "mean   -0.0001\nstd     0.0026\n", "mean    0.0000\nstd     0.0026\n"
    count, problems = nbcompare.compare(_notebook(golden), _notebook(fresh), approx=True)
    assert count == 1 and not problems, problems


# --- what `mode` decides from: every pin, the seed offset, a boolean switch (issue 22, items 9 and 10) ---

PINNED = dict(execution.PINS)


@pytest.mark.parametrize("missing", sorted(set(execution.PINS) - {"ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS"}))
def test_a_kernel_whose_other_libraries_are_not_pinned_is_not_exact(missing: str) -> None:
    # ATen at AVX2 on two threads, yet oneDNN or MKL free to pick AVX-512: conv2d, LSTM and GELU differ
    info = {"arch": "x86_64", "isa": "AVX2", "threads": 2, "pins": {k: v for k, v in PINNED.items() if k != missing}}
    ok, line = execution.exact(info)
    assert not ok and line.startswith("approximate comparison") and missing in line, line


def test_a_pin_with_another_value_is_not_exact() -> None:
    info = {"arch": "x86_64", "isa": "AVX2", "threads": 2, "pins": {**PINNED, "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}}
    ok, line = execution.exact(info)
    assert not ok and "ONEDNN_MAX_CPU_ISA" in line, line


@pytest.mark.execution
@pytest.mark.skipif(platform.machine() != "x86_64" or not _has_avx2(), reason="the pins hold only on x86-64 with AVX2")
def test_native_kernels_with_aten_pinned_by_hand_are_not_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    # the reproduction of the issue: only ATen's ISA pinned, by the shell; oneDNN and MKL run natively
    monkeypatch.setenv(env.NATIVE_KERNELS, "1")
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")
    for name in set(execution.PINS) - {"ATEN_CPU_CAPABILITY"}:
        monkeypatch.delenv(name, raising=False)
    ok, line = execution.exact(execution.platform())
    assert not ok and "ONEDNN_MAX_CPU_ISA" in line and env.NATIVE_KERNELS in line, line


@pytest.mark.parametrize(("value", "native"), [("", False), ("0", False), ("false", False), ("No", False),
                                               ("off", False), ("1", True), ("true", True), ("YES", True)])
def test_the_native_switch_reads_as_a_boolean(monkeypatch: pytest.MonkeyPatch, value: str, native: bool) -> None:
    monkeypatch.setenv(env.NATIVE_KERNELS, value)
    assert ("ATEN_CPU_CAPABILITY" not in execution.environ({})) == native


def test_a_native_switch_that_is_not_a_boolean_says_what_it_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.NATIVE_KERNELS, "sometimes")
    with pytest.raises(ValueError, match=rf"{env.NATIVE_KERNELS} is 'sometimes'.*1 or 0"):
        execution.environ({})


@pytest.mark.parametrize("offset", ["1", "2", " -3 ", "x"])
def test_mode_refuses_to_compare_with_a_seed_offset(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture, offset: str) -> None:
    monkeypatch.setenv(env.SEED_OFFSET, offset)
    monkeypatch.setattr(execution, "platform", lambda python=None: {"arch": "x86_64", "isa": "AVX2", "threads": 2,
                                                                     "pins": PINNED})
    assert execution.main(["mode"]) == 2
    out = capsys.readouterr()
    assert "exact" not in out.out and env.SEED_OFFSET in out.err and "unset" in out.err


@pytest.mark.parametrize("offset", ["", "0", " 0 "])
def test_no_seed_offset_is_no_problem(monkeypatch: pytest.MonkeyPatch, offset: str) -> None:
    monkeypatch.setenv(env.SEED_OFFSET, offset)
    assert execution.seed_offset_problem() is None


def test_exact_nbval_refuses_a_seed_offset(monkeypatch: pytest.MonkeyPatch) -> None:
    conftest = _root_conftest()
    monkeypatch.setenv(env.SEED_OFFSET, "1")
    monkeypatch.setattr(conftest.execution, "apply", lambda gpu=False: None)
    monkeypatch.setattr(conftest.execution, "platform", lambda: {"arch": "x86_64", "isa": "AVX2", "threads": 2,
                                                                 "pins": PINNED})
    config = SimpleNamespace(getoption=lambda name, default=None: name == "nbval")
    with pytest.raises(pytest.UsageError, match=env.SEED_OFFSET):
        conftest.pytest_configure(config)


def test_the_golden_record_is_never_written_with_a_seed_offset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from tools import notebooks

    executed, written = [], []
    monkeypatch.setattr(notebooks, "execute", lambda nb, cwd, on_kernel_start=None: executed.append(nb) or 1.0)
    monkeypatch.setattr(notebooks, "write", lambda nb, path: written.append(path))
    monkeypatch.setattr(notebooks, "provenance", lambda wall: {"wall_s": wall})
    md = notebooks.chapters()[0]
    monkeypatch.setenv(env.SEED_OFFSET, "1")
    with pytest.raises(SystemExit, match=env.SEED_OFFSET):
        notebooks.build(md, save=True)
    assert not executed and not written, "refuse before spending the run"
    notebooks.build(md, save=False)  # bench/run.py --seeds: offsets run, nothing is saved
    assert len(executed) == 1 and not written
    monkeypatch.delenv(env.SEED_OFFSET)
    notebooks.build(md, save=True)
    assert len(written) == 1
