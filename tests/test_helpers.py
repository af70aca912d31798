"""pt20.seed, pt20.device, pt20.plot and pt20.report."""

from __future__ import annotations

import importlib
import inspect
import json
import random
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import pt20

ROOT = Path(__file__).resolve().parents[1]

matplotlib.use("Agg")


def draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_makes_all_generators_repeat() -> None:
    gen = pt20.seed.seed_everything(7)
    first, first_gen = draws(), torch.randperm(10, generator=gen).tolist()
    gen = pt20.seed.seed_everything(7)
    assert draws() == first
    assert torch.randperm(10, generator=gen).tolist() == first_gen
    pt20.seed.seed_everything(8)
    assert draws() != first


def test_generator_is_independent_of_global_state() -> None:
    a = torch.randint(0, 1000, (5,), generator=pt20.seed.generator(3))
    torch.rand(100)  # consuming global randomness must not matter
    b = torch.randint(0, 1000, (5,), generator=pt20.seed.generator(3))
    assert torch.equal(a, b)


def test_deterministic_flag_turns_on_deterministic_algorithms() -> None:
    try:
        pt20.seed.seed_everything(1, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_seed_worker_seeds_numpy_from_torch() -> None:
    torch.manual_seed(123)
    pt20.seed.seed_worker(0)
    a = np.random.rand()
    torch.manual_seed(123)
    pt20.seed.seed_worker(0)
    assert np.random.rand() == a


@pytest.fixture
def no_accelerators(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pt20.device.ENV_VAR, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_device_order_is_cuda_then_mps_then_cpu(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pt20.device.get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pt20.device.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pt20.device.get_device() == torch.device("cuda")


def test_env_variable_overrides_the_device(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv(pt20.device.ENV_VAR, "cpu")
    assert pt20.device.get_device() == torch.device("cpu")


def test_unavailable_requested_device_says_how_to_fix(no_accelerators: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pt20.device.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match=f"{pt20.device.ENV_VAR}=cpu"):
        pt20.device.get_device()
    monkeypatch.setenv(pt20.device.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        pt20.device.get_device()
    monkeypatch.setenv(pt20.device.ENV_VAR, "xpu")
    with pytest.raises(ValueError, match="use one of cuda, mps, cpu"):
        pt20.device.get_device()


def test_describe_and_synchronize_on_cpu() -> None:
    assert pt20.device.describe("cpu").startswith("cpu (")
    pt20.device.synchronize(torch.device("cpu"))  # a no-op that must not raise


def test_plot_history_draws_train_and_val_lines() -> None:
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0]})
    ax = pt20.plot.plot_history(history)
    assert len(ax.lines) == 2
    assert list(ax.lines[1].get_ydata()) == [3.5, 2.5, 2.0]
    assert ax.get_xlabel() == "epoch"
    with pytest.raises(KeyError, match="acc"):
        pt20.plot.plot_history(history, "acc")


def test_report_writes_json_only_under_the_benchmark(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pt20.reporting.ENV_VAR, raising=False)
    assert pt20.report("1-1", val_acc=0.8) == {"val_acc": 0.8}
    assert not list(tmp_path.iterdir())
    monkeypatch.setenv(pt20.reporting.ENV_VAR, str(tmp_path))
    pt20.report("1-1", val_acc=torch.tensor(0.83))
    pt20.report("1-1", last_acc=0.81)
    assert json.loads((tmp_path / "1-1.json").read_text()) == {"last_acc": 0.81, "val_acc": pytest.approx(0.83)}
    with pytest.raises(ValueError, match="finite"):
        pt20.report("1-1", val_acc=float("nan"))


TAUGHT = re.compile(r"[Tt]aught in chapter (\d-\d)")
PT20_MODULES = ["data", "device", "plot", "reporting", "seed", "synthetic", "train"]


def public_objects() -> list[tuple[str, str, object]]:
    """(module, name, object) for every public function and class each pt20 module defines."""
    found = []
    for module_name in PT20_MODULES:
        module = importlib.import_module(f"pt20.{module_name}")
        for name, obj in vars(module).items():
            if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                    and obj.__module__ == module.__name__:
                found.append((module_name, name, obj))
    return found


def test_every_public_pt20_object_names_the_chapter_that_teaches_it() -> None:
    # d2l's habit: helper code links back to where it is taught, and the link must stay valid.
    book = ROOT / "book"
    problems = []
    for module_name, name, obj in public_objects():
        match = TAUGHT.search(inspect.getdoc(obj) or "")
        chapter = sorted(book.glob(f"{match[1]}-*.md")) if match else []
        if not match:
            problems.append(f"pt20.{module_name}.{name}: no 'Taught in chapter X-Y.' in its docstring")
        elif not chapter:
            problems.append(f"pt20.{module_name}.{name}: chapter {match[1]} does not exist")
        elif name not in chapter[0].read_text() and f"pt20.{module_name}" not in chapter[0].read_text():
            problems.append(f"pt20.{module_name}.{name}: chapter {match[1]} mentions neither it nor pt20.{module_name}")
    assert len(public_objects()) > 20, "the test lost its subject"
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- issue 22: the helpers attacked

@pytest.mark.parametrize("value", ["-100", str(2**32)])
def test_seed_offset_out_of_numpys_range_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(pt20.seed.OFFSET_VAR, value)
    for call in (pt20.seed.offset, lambda: pt20.seed.seed_everything(42), lambda: pt20.seed.generator(42)):
        with pytest.raises(ValueError, match=rf"{pt20.seed.OFFSET_VAR} must be a non-negative integer.*got '{value}'"):
            call()


def test_seed_plus_offset_must_fit_numpys_seed_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pt20.seed.OFFSET_VAR, "2")
    with pytest.raises(ValueError, match=rf"seed {2**32 - 1} \+ \${pt20.seed.OFFSET_VAR} 2"):
        pt20.seed.seed_everything(2**32 - 1)
    monkeypatch.setenv(pt20.seed.OFFSET_VAR, "0")
    with pytest.raises(ValueError, match=r"seed -1 .*0 \.\. 2\*\*32-1"):
        pt20.seed.generator(-1)


def test_seed_offset_shifts_every_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pt20.seed.OFFSET_VAR, "3")
    shifted = torch.randint(0, 10**6, (4,), generator=pt20.seed.generator(7))
    monkeypatch.setenv(pt20.seed.OFFSET_VAR, "0")
    assert torch.equal(shifted, torch.randint(0, 10**6, (4,), generator=pt20.seed.generator(10)))


def test_unavailable_preferred_device_gives_advice_that_applies(
    no_accelerators: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22, low: prefer='cuda' on a CPU machine must not say to unset a variable that is not set."""
    with pytest.raises(RuntimeError) as err:
        pt20.device.get_device(prefer="cuda")
    message = str(err.value)
    assert "prefer='cuda'" in message and "without prefer=" in message
    assert "Unset" not in message
    monkeypatch.setenv(pt20.device.ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match=rf"\${pt20.device.ENV_VAR}=cuda.*Unset {pt20.device.ENV_VAR}"):
        pt20.device.get_device(prefer="cpu")


@pytest.mark.parametrize("chapter", ["../escaped", "{tmp_path}/absolute", "1-1/../../x", "", "1-1.json"])
def test_report_refuses_a_chapter_that_is_not_an_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     chapter: str) -> None:
    """Issue 22, low: the chapter becomes a file name, so it must be an id such as '1-1'."""
    chapter = chapter.format(tmp_path=tmp_path)  # an absolute name must not escape the test's folder either
    monkeypatch.setenv(pt20.reporting.ENV_VAR, str(tmp_path / "reports"))
    with pytest.raises(ValueError, match=r"chapter id such as '1-1'"):
        pt20.report(chapter, val_acc=0.5)
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_corrupt_report_file_is_named_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      content: str) -> None:
    monkeypatch.setenv(pt20.reporting.ENV_VAR, str(tmp_path))
    (tmp_path / "1-1.json").write_text(content)
    with pytest.raises(ValueError) as err:
        pt20.report("1-1", val_acc=0.5)
    assert str(tmp_path / "1-1.json") in str(err.value) and "delete it" in str(err.value)
    assert (tmp_path / "1-1.json").read_text() == content  # left for the reader to look at
