"""Unit tests for ``pt20.train.Trainer`` on tiny, seeded, CPU-only problems."""

from __future__ import annotations

import functools
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy
from tqdm import tqdm

import pt20.train
from pt20 import env
from pt20.train import Callback, Trainer

COLUMNS = ["epoch", "loss", "acc", "val_loss", "val_acc", "lr", "seconds"]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: a thread pool only adds overhead (tens of ms per op on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_data(n: int = 50, seed: int = 0, noise: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian features; the label is x0 + x1 > 0, with a fraction of labels flipped."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=gen)
    y = (X.sum(dim=1) > 0).float()
    flip = torch.rand(n, generator=gen) < noise
    y[flip] = 1 - y[flip]
    return X, y.unsqueeze(1)


def make_loader(n: int = 50, seed: int = 0, batch_size: int = 16) -> DataLoader:
    return DataLoader(TensorDataset(*make_data(n, seed)), batch_size=batch_size)


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(2, 1)


def make_trainer(model: nn.Module | None = None, lr: float = 0.1, **kwargs: Any) -> Trainer:
    model = model if model is not None else make_model()
    return Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=lr),
                   {"acc": BinaryAccuracy()}, device="cpu", pred_fn=torch.sigmoid, **kwargs)


def set_weights(model: nn.Module, weight: list[float], bias: float = 0.0) -> None:
    with torch.no_grad():
        model.weight.copy_(torch.tensor([weight]))
        model.bias.fill_(bias)


class WeightSetter(Callback):
    """After epoch e, load ``states[e - 1]`` (with lr=0 the next epoch then runs on it)."""

    def __init__(self, states: list[tuple[list[float], float]]) -> None:
        self.states = states

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if epoch <= len(self.states):
            set_weights(trainer.model, *self.states[epoch - 1])


def test_history_has_one_row_per_epoch_and_the_documented_columns() -> None:
    trainer = make_trainer()
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=3, progress=False)
    assert list(history.columns) == COLUMNS
    assert history["epoch"].tolist() == [1, 2, 3]
    assert (history["seconds"] > 0).all()
    assert history is trainer.history
    no_val = make_trainer().fit(make_loader(), epochs=2, progress=False)
    assert list(no_val.columns) == ["epoch", "loss", "acc", "lr", "seconds"]


def test_a_second_fit_continues_training_and_appends_to_history() -> None:
    trainer = make_trainer()
    trainer.fit(make_loader(), make_loader(seed=1), epochs=2, progress=False)
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=3, progress=False)
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert history["loss"].iloc[2] < history["loss"].iloc[0]  # it did not start over


def test_evaluate_computes_loss_and_metrics_over_the_whole_dataset() -> None:
    X, y = make_data(50)
    model = make_model()
    set_weights(model, [1.0, 0.5], bias=0.3)
    trainer = make_trainer(model)
    result = trainer.evaluate(make_loader(batch_size=16))  # batches of 16, 16, 16, 2
    with torch.no_grad():
        logits = model(X)
    correct = ((torch.sigmoid(logits) > 0.5).float() == y).float()
    mean_of_batches = torch.stack([c.mean() for c in correct.split(16)]).mean()
    assert abs(correct.mean() - mean_of_batches) > 0.01  # the two ways really differ here
    assert set(result) == {"loss", "acc"}
    assert all(type(v) is float for v in result.values())
    assert result["acc"] == pytest.approx(correct.mean().item(), abs=1e-6)
    loss = nn.functional.binary_cross_entropy_with_logits(logits, y)
    assert result["loss"] == pytest.approx(loss.item(), abs=1e-6)


def test_history_has_train_metrics_from_train_data_and_val_metrics_from_val_data() -> None:
    trainer = make_trainer(lr=0.0)  # frozen weights: each epoch sees the same model
    dl_train, dl_val = make_loader(seed=0), make_loader(n=40, seed=7)
    history = trainer.fit(dl_train, dl_val, epochs=2, progress=False)
    train_acc, val_acc = trainer.evaluate(dl_train)["acc"], trainer.evaluate(dl_val)["acc"]
    assert train_acc != pytest.approx(val_acc)
    assert history["acc"].tolist() == pytest.approx([train_acc] * 2, abs=1e-6)
    assert history["val_acc"].tolist() == pytest.approx([val_acc] * 2, abs=1e-6)


def test_metrics_are_cloned_so_the_callers_object_and_the_splits_stay_separate() -> None:
    acc = BinaryAccuracy()
    model = make_model()
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      {"acc": acc}, device="cpu")
    trainer.fit(make_loader(), make_loader(seed=1), epochs=1, progress=False)
    assert not acc.update_called
    assert trainer.metrics["train"]["acc"] is not trainer.metrics["val"]["acc"]


def test_an_interrupted_pass_leaves_no_stale_metric_state() -> None:
    def breaks_after_one_batch() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        yield next(iter(make_loader(seed=3, batch_size=8)))
        raise KeyboardInterrupt

    trainer = make_trainer(lr=0.0)
    expected = trainer.evaluate(make_loader())
    with pytest.raises(KeyboardInterrupt):
        trainer.evaluate(breaks_after_one_batch())
    assert trainer.evaluate(make_loader()) == pytest.approx(expected, abs=1e-6)


def test_metrics_receive_pred_fn_of_the_outputs() -> None:
    model = make_model()
    set_weights(model, [1.0, 0.5], bias=0.3)
    acc = make_trainer(model).evaluate(make_loader())["acc"]
    flipped = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      {"acc": BinaryAccuracy()}, device="cpu",
                      pred_fn=lambda logits: torch.sigmoid(-logits))
    assert flipped.evaluate(make_loader())["acc"] == pytest.approx(1 - acc, abs=1e-6)
    assert acc > 0.6


def test_early_stopping_stops_after_patience_epochs_without_improvement() -> None:
    trainer = make_trainer(lr=0.0)  # val_loss never improves after epoch 1
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=10, patience=2,
                          progress=False)
    assert history["epoch"].tolist() == [1, 2, 3]
    assert trainer.best_epoch == 1


def test_a_nan_loss_never_counts_as_an_improvement(tmp_path: Path) -> None:
    model = make_model()
    set_weights(model, [math.nan, math.nan])  # a diverged model
    trainer = make_trainer(model, lr=0.0)
    ckpt = tmp_path / "best.pt"
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=10, patience=2,
                          ckpt_path=ckpt, progress=False)
    assert history["val_loss"].isna().all() and len(history) == 2
    assert trainer.best_epoch is None and not ckpt.exists()


def test_the_best_weights_are_restored_and_saved_to_the_checkpoint(tmp_path: Path) -> None:
    class Corrupt(Callback):
        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
            if epoch == 4:  # epoch 5 then starts from bad weights
                set_weights(trainer.model, [-3.0, -3.0], bias=2.0)

    ckpt = tmp_path / "ckpt" / "best.pt"
    dl_train, dl_val = make_loader(), make_loader(seed=1)
    trainer = make_trainer(lr=0.5)
    history = trainer.fit(dl_train, dl_val, epochs=5, ckpt_path=ckpt, callbacks=[Corrupt()],
                          progress=False)
    best = history.loc[history["val_loss"].idxmin()]
    assert best["epoch"] != 5 and history["val_loss"].iloc[-1] > best["val_loss"] + 0.1
    assert trainer.best_epoch == best["epoch"]
    assert trainer.evaluate(dl_val)["loss"] == pytest.approx(best["val_loss"], abs=1e-6)

    fresh = make_model(seed=123)
    fresh.load_state_dict(torch.load(ckpt, weights_only=True))
    assert make_trainer(fresh).evaluate(dl_val)["loss"] == pytest.approx(best["val_loss"],
                                                                          abs=1e-6)
    assert [p.name for p in ckpt.parent.iterdir()] == ["best.pt"]  # no temporary file left


def flipped(dl: DataLoader) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same batches with every label flipped: training on them makes the model worse."""
    return [(x, 1 - y) for x, y in dl]


@pytest.mark.parametrize("first_fit", ["completed", "interrupted"])
def test_a_second_fit_keeps_the_best_of_the_first_in_the_model_and_the_checkpoint(
    first_fit: str, tmp_path: Path
) -> None:
    ckpt = tmp_path / "best.pt"
    dl_train, dl_val = make_loader(), make_loader(seed=1)
    trainer = make_trainer(lr=0.5)
    if first_fit == "completed":
        trainer.fit(dl_train, dl_val, epochs=5, ckpt_path=ckpt, progress=False)
    else:  # Ctrl-C after epoch 4, as the message then suggests calling fit again
        with pytest.raises(KeyboardInterrupt):
            trainer.fit(dl_train, dl_val, epochs=10, ckpt_path=ckpt, callbacks=[RuinAndRaise(KeyboardInterrupt())],
                        progress=False)
    best_epoch, best_loss = trainer.best_epoch, trainer.history["val_loss"].min()
    history = trainer.fit(flipped(dl_train), dl_val, epochs=3, ckpt_path=ckpt, progress=False)
    assert history["val_loss"].iloc[-3:].min() > best_loss + 0.05  # the second fit only made it worse
    assert trainer.best_epoch == best_epoch == history["val_loss"].idxmin() + 1
    assert trainer.evaluate(dl_val)["loss"] == pytest.approx(best_loss, abs=1e-6)
    fresh = make_model(seed=123)
    fresh.load_state_dict(torch.load(ckpt, weights_only=True))
    assert make_trainer(fresh).evaluate(dl_val)["loss"] == pytest.approx(best_loss, abs=1e-6)


def test_a_fit_on_another_monitor_starts_its_own_best() -> None:
    dl_train, dl_val = make_loader(), make_loader(seed=1)
    trainer = make_trainer(lr=0.5)
    trainer.fit(dl_train, dl_val, epochs=3, progress=False)
    history = trainer.fit(flipped(dl_train), dl_val, epochs=2, monitor="val_acc", progress=False)
    assert trainer.best_epoch in (4, 5)
    assert trainer.evaluate(dl_val)["acc"] == pytest.approx(history["val_acc"].iloc[3:].max())


def test_concurrent_fits_on_one_ckpt_path_never_collide_nor_show_a_partial_file(tmp_path: Path) -> None:
    # Two trainers save to one path after every epoch (full-batch gradient descent on a convex loss:
    # val_loss falls every epoch), while a reader loads it again and again.
    ckpt = tmp_path / "best.pt"
    X, y = make_data(50)
    batches = [(X, y)]
    errors: list[str] = []
    saving = threading.Event()

    def write(seed: int) -> None:
        try:
            trainer = make_trainer(make_model(seed), lr=0.1)
            trainer.fit(batches, batches, epochs=40, ckpt_path=ckpt, progress=False)
            assert trainer.best_epoch == 40
        except BaseException as error:  # reported by the main thread
            errors.append(f"writer: {error!r}")

    def read() -> None:
        while saving.is_set():
            if ckpt.exists():  # once it exists, a rename only ever replaces it
                try:
                    assert set(torch.load(ckpt, weights_only=True)) == {"weight", "bias"}
                except BaseException as error:
                    errors.append(f"reader: {error!r}")

    saving.set()
    threads = [threading.Thread(target=write, args=(seed,)) for seed in (0, 1)]
    reader = threading.Thread(target=read)
    for thread in [reader, *threads]:
        thread.start()
    for thread in threads:
        thread.join()
    saving.clear()
    reader.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temporary file left


def test_an_unwritable_ckpt_folder_is_refused_before_the_first_step(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # As root, chmod does not stop writes: simulate a folder whose files the OS refuses to create.
    folder = tmp_path / "ckpt"
    folder.mkdir()
    real_open = os.open

    def refusing_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path).parent == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    assert_refused_before_the_first_step(folder / "run" / "best.pt", folder)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write in any folder")
def test_a_read_only_ckpt_folder_is_refused_before_the_first_step(tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    folder.mkdir(mode=0o500)
    try:
        assert_refused_before_the_first_step(folder / "best.pt", folder)
    finally:
        folder.chmod(0o700)


def assert_refused_before_the_first_step(ckpt: Path, folder: Path) -> None:
    trainer = make_trainer()
    before = [p.clone() for p in trainer.model.parameters()]
    with pytest.raises(OSError, match=rf"(?s)cannot write.*{re.escape(str(folder))}.*ckpt_path"):
        trainer.fit(make_loader(), make_loader(seed=1), epochs=2, ckpt_path=ckpt, progress=False)
    assert trainer.history.empty
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert list(folder.iterdir()) == []


class UnsignedAccuracy(BinaryAccuracy):
    """An accuracy that does not say which way is better, as a home-made metric may not."""

    higher_is_better = None


@pytest.mark.parametrize(("name", "metric_cls", "mode"), [
    ("acc", BinaryAccuracy, "max"),  # given
    ("acc", BinaryAccuracy, None),  # inferred from the metric's higher_is_better
    ("top1_acc", UnsignedAccuracy, None),  # inferred from the metric's name
])
def test_mode_max_keeps_the_epoch_with_the_highest_metric(name: str, metric_cls: type[BinaryAccuracy],
                                                           mode: str | None) -> None:
    # lr=0 and a callback pick each epoch's weights. Epoch 2 has the best accuracy but,
    # being over-confident on the flipped labels, the worst loss: only (val_acc, max) picks it.
    good_but_confident, bad_but_timid = ([40.0, 40.0], 0.0), ([-0.01, -0.01], 0.0)
    model = make_model()
    set_weights(model, *bad_but_timid)
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.0),
                      {name: metric_cls()}, device="cpu", pred_fn=torch.sigmoid)
    dl_val = make_loader(seed=1)
    history = trainer.fit(make_loader(), dl_val, epochs=3, monitor=f"val_{name}", mode=mode,
                          callbacks=[WeightSetter([good_but_confident, bad_but_timid])],
                          progress=False)
    assert history[f"val_{name}"].idxmax() == 1 and history["val_loss"].idxmin() != 1
    assert trainer.best_epoch == 2
    assert trainer.evaluate(dl_val)[name] == pytest.approx(history[f"val_{name}"].max())


def test_a_mode_that_contradicts_the_monitor_or_cannot_be_inferred_is_refused() -> None:
    trainer = make_trainer()
    with pytest.raises(ValueError, match="pass mode='min'"):
        trainer.fit(make_loader(), make_loader(seed=1), mode="max", progress=False)  # val_loss
    with pytest.raises(ValueError, match="pass mode='max'"):
        trainer.fit(make_loader(), make_loader(seed=1), monitor="val_acc", mode="min", progress=False)
    model = make_model()
    unknown = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      {"thing": UnsignedAccuracy()}, device="cpu")
    with pytest.raises(ValueError, match="pass mode='min' or mode='max'"):
        unknown.fit(make_loader(), make_loader(seed=1), monitor="val_thing", progress=False)
    assert trainer.history.empty and unknown.history.empty


class RuinAndRaise(Callback):
    """Ruin the weights after epoch 3 (so epoch 4 is much worse), then raise ``error`` after epoch 4."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 3:
            set_weights(trainer.model, [-3.0, -3.0], bias=2.0)
        if epoch == 4 and self.error is not None:
            raise self.error


class InterruptedLoader:
    """A re-iterable loader whose pass number ``stop_at`` yields one batch and then meets Ctrl-C."""

    def __init__(self, stop_at: int) -> None:
        self.loader, self.passes, self.stop_at = make_loader(), 0, stop_at

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        self.passes += 1
        for i, batch in enumerate(self.loader):
            if self.passes == self.stop_at and i == 1:
                raise KeyboardInterrupt
            yield batch


@pytest.mark.parametrize("where", ["callback error", "callback Ctrl-C", "Ctrl-C mid-epoch"])
def test_an_error_or_ctrl_c_in_fit_restores_the_best_weights_says_so_and_reraises(
    where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error: BaseException = RuntimeError("boom") if where == "callback error" else KeyboardInterrupt()
    mid_epoch = where == "Ctrl-C mid-epoch"
    dl_train: Any = InterruptedLoader(stop_at=4) if mid_epoch else make_loader()
    dl_val = make_loader(seed=1)
    trainer = make_trainer(lr=0.5)
    with pytest.raises(type(error)) as raised:
        trainer.fit(dl_train, dl_val, epochs=10, callbacks=[RuinAndRaise(None if mid_epoch else error)],
                    progress=False)
    assert mid_epoch or raised.value is error
    history = trainer.history
    assert len(history) == (3 if mid_epoch else 4) and trainer.best_epoch == 3
    if not mid_epoch:  # the ruined epoch 4 is far worse than the best
        assert history["val_loss"].iloc[3] > history["val_loss"].iloc[2] + 1
    assert trainer.evaluate(dl_val)["loss"] == pytest.approx(history["val_loss"].iloc[2], abs=1e-6)
    assert "restored the weights of epoch 3" in capsys.readouterr().err


def test_an_interrupted_checkpoint_save_leaves_no_temporary_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted_save(obj: object, f: Path) -> None:
        Path(f).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        make_trainer().fit(make_loader(), make_loader(seed=1), epochs=2, ckpt_path=tmp_path / "best.pt",
                           progress=False)
    assert list(tmp_path.iterdir()) == []


def two_head_batches(structure: str) -> tuple[list[tuple[torch.Tensor, Any]], float]:
    """Batches of 16, 16, 16 and 2 whose targets come in ``structure``, and the true loss over all 50."""
    X, y = make_data(50)
    y2 = 1 - y
    pack: Callable[[torch.Tensor, torch.Tensor], Any] = {
        "tuple": lambda a, b: (a, b), "list": lambda a, b: [a, b], "dict": lambda a, b: {"a": a, "b": b},
    }[structure]
    batches = [(x, pack(a, b)) for x, a, b in zip(X.split(16), y.split(16), y2.split(16))]
    torch.manual_seed(0)
    model = TwoHeads()
    with torch.no_grad():
        true_loss = two_losses(model(X), (y, y2)).item()
    return batches, true_loss


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.a(x), self.b(x)


def two_losses(outputs: tuple[torch.Tensor, torch.Tensor], y: Any) -> torch.Tensor:
    ya, yb = (y["a"], y["b"]) if isinstance(y, Mapping) else y
    bce = nn.functional.binary_cross_entropy_with_logits
    return bce(outputs[0], ya) + bce(outputs[1], yb)


@pytest.mark.parametrize("structure", ["tuple", "list", "dict"])
def test_targets_in_a_tuple_list_or_dict_are_weighted_by_the_batch_size(structure: str) -> None:
    batches, true_loss = two_head_batches(structure)
    torch.manual_seed(0)
    model = TwoHeads()
    trainer = Trainer(model, two_losses, torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    assert trainer.evaluate(batches)["loss"] == pytest.approx(true_loss, abs=1e-6)
    X, y = make_data(16)
    trainer.loss_fn = lambda outputs, y: outputs[0].mean()  # a loss that would not notice
    with pytest.raises(ValueError, match="batch size"):
        trainer.evaluate([(X, (y, y[:8]))])  # the targets disagree on the number of examples


def exhausted_after_one_pass() -> Iterator[Any]:
    yield from make_loader()


BAD_FIT_ARGS: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "epochs=0": ({"epochs": 0}, ValueError, "at least 1"),
    "epochs=-1": ({"epochs": -1}, ValueError, "at least 1"),
    "epochs=2.5": ({"epochs": 2.5}, TypeError, "a whole number of epochs"),
    "epochs=True": ({"epochs": True}, TypeError, "a whole number of epochs"),
    "patience=1.5": ({"patience": 1.5}, TypeError, "a whole number of epochs"),
    "patience=True": ({"patience": True}, TypeError, "a whole number of epochs"),
    "empty train_dl": ({"train_dl": DataLoader(TensorDataset(*make_data(10)), batch_size=16, drop_last=True)},
                       ValueError, "train_dl has no batches"),
    "empty val_dl": ({"val_dl": DataLoader(TensorDataset(*make_data(10)), batch_size=16, drop_last=True)},
                     ValueError, "val_dl has no batches"),
    "generator train_dl": ({"train_dl": "generator"}, TypeError, "pass a DataLoader or another re-iterable"),
    "generator val_dl": ({"val_dl": "generator"}, TypeError, "pass a DataLoader or another re-iterable"),
    "Dataset train_dl": ({"train_dl": TensorDataset(*make_data(10))}, TypeError, r"DataLoader\(dataset"),
    "ckpt_path a folder": ({"ckpt_path": "folder"}, ValueError, "is a folder"),
    "ckpt_path below a file": ({"ckpt_path": "file/best.pt"}, ValueError, "is a file"),
    "one callback, no list": ({"callbacks": Callback()}, TypeError, r"callbacks=\["),
    "a callback class": ({"callbacks": [Callback]}, TypeError, r"Callback\(\)"),
    "a callback without on_epoch_end": ({"callbacks": [object()]}, TypeError, "on_epoch_end"),
}


@pytest.mark.parametrize("case", BAD_FIT_ARGS)
def test_bad_fit_arguments_are_refused_before_the_first_step(case: str, tmp_path: Path) -> None:
    overrides, error, message = BAD_FIT_ARGS[case]
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("not a folder")
    kwargs: dict[str, Any] = {"train_dl": make_loader(), "val_dl": make_loader(seed=1), "epochs": 3,
                              "progress": False} | overrides
    for key in ("train_dl", "val_dl"):
        if kwargs[key] == "generator":
            kwargs[key] = exhausted_after_one_pass()
    if "ckpt_path" in kwargs:
        kwargs["ckpt_path"] = tmp_path / kwargs["ckpt_path"]
    trainer = make_trainer()
    before = [p.clone() for p in trainer.model.parameters()]
    with pytest.raises(error, match=message):
        trainer.fit(**kwargs)
    assert trainer.history.empty
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file", "folder"]  # nothing written


@pytest.mark.parametrize("device_type", ["cuda", "cpu"])
def test_batches_are_copied_non_blocking_to_cuda_only(device_type: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU needed: the trainer is built on the CPU, then told it is on CUDA, and Tensor.to
    # records each move of a batch tensor (leaving it where it is).
    trainer = make_trainer()
    trainer.device = torch.device(device_type)
    batches = list(make_loader())  # 4 batches, whose tensors we can recognise
    batch_tensors = [t for batch in batches for t in batch]
    moves: list[tuple[torch.device, bool]] = []
    real_to = torch.Tensor.to

    def recording_to(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if any(self is t for t in batch_tensors):
            moves.append((args[0], kwargs.get("non_blocking", False)))
            return self
        return real_to(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "to", recording_to)
    trainer.fit(batches, batches, epochs=1, progress=False)
    trainer.predict(batches)
    # x and y of the first batch for the metric check, of each training and validation batch,
    # then x alone for predict (it ignores y)
    assert moves == [(trainer.device, device_type == "cuda")] * (2 + 2 * 4 + 2 * 4 + 4)


def test_predict_returns_cpu_outputs_for_loaders_with_and_without_targets() -> None:
    X, y = make_data(50)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5))
    trainer = Trainer(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      device="cpu")
    loaders = [DataLoader(X, batch_size=16), DataLoader(TensorDataset(X), batch_size=16),
               DataLoader(TensorDataset(X, y), batch_size=16)]
    outputs = [trainer.predict(dl) for dl in loaders]
    model.eval()
    with torch.no_grad():
        expected = model(X)  # eval mode: no dropout, so every call agrees
    for out in outputs:
        assert out.shape == (50, 3) and out.device.type == "cpu"
        assert not out.requires_grad
        torch.testing.assert_close(out, expected)
    outputs[0][0] = 0.0  # an ordinary tensor, not a read-only inference tensor


def test_a_callback_can_stop_training_and_sees_each_epoch() -> None:
    class StopAtTwo(Callback):
        def __init__(self) -> None:
            self.seen: list[tuple[int, float]] = []

        def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
            self.seen.append((epoch, logs["val_loss"]))
            if epoch == 2:
                trainer.stop_training = True

    stopper = StopAtTwo()
    trainer = make_trainer()
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=10, callbacks=[stopper],
                          progress=False)
    assert len(history) == 2
    assert stopper.seen == list(zip(history["epoch"], history["val_loss"], strict=True))
    assert len(trainer.fit(make_loader(), epochs=2, progress=False)) == 4  # the flag was reset


def test_the_lr_column_follows_the_scheduler_once_per_epoch() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), optimizer, device="cpu",
                      lr_scheduler=scheduler)
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=3, progress=False)
    assert history["lr"].tolist() == pytest.approx([0.1, 0.05, 0.025])


def test_reduce_lr_on_plateau_is_stepped_with_the_monitored_value() -> None:
    model = make_model()
    unused = nn.Parameter(torch.zeros(1))  # the optimizer never moves the model
    optimizer = torch.optim.SGD([unused], lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), optimizer, device="cpu",
                      lr_scheduler=scheduler)
    history = trainer.fit(make_loader(), make_loader(seed=1), epochs=4, progress=False)
    assert history["lr"].tolist() == pytest.approx([0.1, 0.1, 0.05, 0.025])


@pytest.mark.parametrize("kwargs", [{"patience": 2}, {"ckpt_path": "best.pt"}])
def test_a_val_monitor_without_val_dl_raises_a_clear_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"val_dl=.*monitor='loss'"):
        make_trainer().fit(make_loader(), epochs=2, progress=False, **kwargs)


def test_without_val_dl_the_training_loss_can_be_monitored() -> None:
    trainer = make_trainer(lr=0.0)
    history = trainer.fit(make_loader(), epochs=10, monitor="loss", patience=1, progress=False)
    assert len(history) == 2 and trainer.best_epoch == 1


def test_an_unknown_monitor_or_mode_is_rejected_with_the_choices() -> None:
    trainer = make_trainer()
    with pytest.raises(ValueError, match="val_acc"):
        trainer.fit(make_loader(), make_loader(), monitor="val_accuracy", progress=False)
    with pytest.raises(ValueError, match="'min' or 'max'"):
        trainer.fit(make_loader(), make_loader(), mode="maximum", progress=False)
    assert trainer.history.empty


def test_bad_metrics_are_rejected_when_the_trainer_is_built() -> None:
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="torchmetrics"):
        Trainer(model, nn.MSELoss(), optimizer, {"acc": lambda p, t: 0.0}, device="cpu")
    with pytest.raises(ValueError, match="clashes"):
        Trainer(model, nn.MSELoss(), optimizer, {"val_acc": BinaryAccuracy()}, device="cpu")


class TwoInputs(Dataset):
    def __init__(self, as_dict: bool) -> None:
        self.X, self.y = make_data(20)
        self.as_dict = as_dict

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Any, torch.Tensor]:
        a, b = self.X[i, :1], self.X[i, 1:]
        return ({"a": a, "b": b} if self.as_dict else (a, b)), self.y[i]


class AddInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(1, 1), nn.Linear(1, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.a(a) + self.b(b)


@pytest.mark.parametrize("as_dict", [False, True])
def test_several_inputs_are_passed_as_arguments(as_dict: bool) -> None:
    torch.manual_seed(0)
    trainer = make_trainer(AddInputs())
    dl = DataLoader(TwoInputs(as_dict), batch_size=8)
    history = trainer.fit(dl, dl, epochs=2, progress=False)
    assert len(history) == 2
    assert trainer.predict(dl).shape == (20, 1)


def test_the_default_device_comes_from_pt20_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(env.DEVICE, "cpu")
    model = make_model()
    trainer = Trainer(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1))
    assert trainer.device == torch.device("cpu")


def test_the_progress_bar_goes_to_stderr_and_respects_tqdm_disable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_trainer().fit(make_loader(), make_loader(seed=1), epochs=2)
    out, err = capsys.readouterr()
    assert out == "" and "fit" in err and "val_loss" in err
    make_trainer().fit(make_loader(), epochs=2, progress=False)
    assert capsys.readouterr() == ("", "")
    # $TQDM_DISABLE works by changing tqdm's default for ``disable`` (read at import),
    # which an explicit ``disable=False`` would override. Simulate that default here.
    monkeypatch.setattr(pt20.train, "tqdm", functools.partial(tqdm, disable=True))
    make_trainer().fit(make_loader(), epochs=2)
    assert capsys.readouterr() == ("", "")


def test_monitor_none_trains_and_keeps_the_last_weights() -> None:
    torch.manual_seed(0)
    X, y = torch.randn(40, 2), torch.randn(40, 1)
    dl = DataLoader(TensorDataset(X, y), batch_size=10)
    model = nn.Linear(2, 1)
    trainer = Trainer(model, nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    history = trainer.fit(dl, dl, epochs=2, monitor=None, progress=False)
    assert len(history) == 2 and trainer.best_epoch is None
    with pytest.raises(ValueError, match="need a monitor"):
        trainer.fit(dl, dl, epochs=1, monitor=None, patience=1, progress=False)


def three_class_batches(n: int = 60) -> list[tuple[torch.Tensor, torch.Tensor]]:
    X, _ = make_data(n)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()  # classes 0, 1, 2
    return list(zip(X.split(16), y.split(16), strict=True))


def test_a_metric_that_returns_several_numbers_is_refused_before_the_first_step() -> None:
    model = nn.Linear(2, 3)
    per_class = MulticlassAccuracy(num_classes=3, average=None)  # one accuracy per class
    trainer = Trainer(model, nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                      {"class_acc": per_class}, device="cpu", pred_fn=lambda logits: logits.argmax(dim=1))
    batches = three_class_batches()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=r"metric 'class_acc' returned 3 numbers.*average='macro'"):
        trainer.fit(batches, batches, epochs=2, progress=False)
    assert trainer.history.empty
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match=r"metric 'class_acc' returned 3 numbers"):
        trainer.evaluate(batches)


@pytest.mark.parametrize("train", [True, False])
def test_a_pass_reads_the_loss_from_the_device_once_not_per_batch(train: bool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Each .item() or float() of a device tensor makes the CPU wait for the device (chapter 6-3):
    # count them in a pass over 2 and over 6 batches; a per-batch read would add 4.
    model = make_model()
    trainer = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1), device="cpu")
    reads = 0
    real_item, real_float = torch.Tensor.item, torch.Tensor.__float__

    def counted(real: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: torch.Tensor) -> Any:
            nonlocal reads
            reads += 1
            return real(self)
        return read

    passes = [list(make_loader(n=16 * n, batch_size=16)) for n in (2, 6)]  # iterating a loader reads too
    monkeypatch.setattr(torch.Tensor, "item", counted(real_item))
    monkeypatch.setattr(torch.Tensor, "__float__", counted(real_float))
    counts = []
    for batches in passes:
        reads = 0
        trainer.run_epoch(batches, train=train)
        counts.append(reads)
    assert counts == [1, 1]


def test_the_metric_check_leaves_training_unchanged() -> None:
    # The check predicts one batch in eval mode: no weight, batch-norm statistic or random number changes.
    def run(metrics: dict[str, BinaryAccuracy]) -> tuple[list[float], dict[str, torch.Tensor]]:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Dropout(0.3), nn.Linear(8, 1))
        trainer = Trainer(model, nn.BCEWithLogitsLoss(), torch.optim.SGD(model.parameters(), lr=0.1), metrics,
                          device="cpu", pred_fn=torch.sigmoid)
        history = trainer.fit(make_loader(), make_loader(seed=1), epochs=2, monitor=None, progress=False)
        return history["loss"].tolist() + history["val_loss"].tolist(), model.state_dict()

    (plain_losses, plain_state), (checked_losses, checked_state) = run({}), run({"acc": BinaryAccuracy()})
    assert plain_losses == checked_losses
    assert plain_state.keys() == checked_state.keys()
    assert all(torch.equal(plain_state[k], checked_state[k]) for k in plain_state)
