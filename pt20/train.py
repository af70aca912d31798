"""A small Keras-like training loop (taught in chapter 3-3; its internals again in 6-2).

``Trainer`` is the packaged form of chapter 1-3's in-notebook trainer. It is built
in three layers, each short enough to print with ``inspect.getsource``:

* ``train_step(x, y)`` -- one batch: forward, loss, backward, optimizer step;
* ``run_epoch(dl, train)`` -- one pass over a loader: the loss weighted by batch
  size and metrics accumulated over the whole dataset (never a mean of per-batch
  values);
* ``fit(...)`` -- epochs, validation, the history DataFrame, checkpoint-on-best,
  early stopping, a learning-rate scheduler and callbacks.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from torch.utils.data import Dataset
from torchmetrics import Metric
from tqdm import tqdm

from pt20._files import temp_beside
from pt20.device import get_device

_RESERVED = {"epoch", "loss", "lr", "seconds"}
# Words in a metric's name that say which way is better, for metrics that do not say so
# themselves (torchmetrics metrics carry ``higher_is_better``).
_LOWER_IS_BETTER = {"loss", "error", "err", "mae", "mse", "rmse", "msle", "mape", "smape", "nll",
                    "perplexity", "wer", "cer"}
_HIGHER_IS_BETTER = {"acc", "accuracy", "auc", "auroc", "ap", "map", "f1", "fbeta", "precision",
                     "recall", "r2", "iou", "jaccard", "dice", "kappa", "mcc", "specificity",
                     "sensitivity"}


class Callback:
    """Base class for callbacks; ``fit`` calls ``on_epoch_end`` after every epoch.

    Any object with an ``on_epoch_end(trainer, epoch, logs)`` method works too.
    Set ``trainer.stop_training = True`` in it to stop after the current epoch.
    Taught in chapter 3-3.
    """

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, float]) -> None:
        """Called with the epoch number (1-based) and that epoch's history row."""


class Trainer:
    """Train, evaluate and predict with a model, keeping a per-epoch ``history``.

    ``metrics`` maps a name to a ``torchmetrics.Metric``; each metric receives
    ``pred_fn(outputs)`` (for example ``torch.sigmoid`` for a model that returns
    logits) and the targets; ``trainer.metrics["train"]`` and ``["val"]`` hold the
    trainer's own copies. ``device`` defaults to ``pt20.device.get_device()``. On a
    CUDA device batches are copied with ``non_blocking=True``: pair it with
    ``DataLoader(..., pin_memory=True)`` so the copies overlap with computation
    (chapter 6-3). Taught in chapter 3-3.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[Any, torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        metrics: Mapping[str, Metric] | None = None,
        *,
        device: torch.device | str | None = None,
        lr_scheduler: LRScheduler | None = None,
        pred_fn: Callable[[Any], Any] | None = None,
    ) -> None:
        metrics = dict(metrics or {})
        for name, metric in metrics.items():
            if not isinstance(metric, Metric):
                raise TypeError(f"metric {name!r} is a {type(metric).__name__}; "
                                "pass a torchmetrics.Metric such as BinaryAccuracy().")
            if name in _RESERVED or name.startswith("val_"):
                raise ValueError(f"metric name {name!r} clashes with a history column; "
                                 "rename it (and do not start it with 'val_').")
        self.device = torch.device(device) if device is not None else get_device()
        self.model = model.to(self.device)
        self.loss_fn, self.optimizer, self.lr_scheduler = loss_fn, optimizer, lr_scheduler
        self.pred_fn = pred_fn or (lambda outputs: outputs)
        # Separate copies for training and validation, so that their states never mix.
        self.metrics = {
            split: {name: m.clone().to(self.device) for name, m in metrics.items()}
            for split in ("train", "val")
        }
        self.history = pd.DataFrame()
        self.stop_training = False
        # The best epoch over every fit call that watched the same (monitor, mode): its weights,
        # on the CPU, are what fit restores; a resumed fit replaces them only with better ones.
        self.best_epoch: int | None = None
        self._best_by: tuple[str | None, str | None] | None = None
        self._best_value, self._best_state = math.nan, None

    # -- layer 1: one batch -------------------------------------------------------
    def train_step(self, x: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step on one batch (already on the device); returns (loss, outputs).

        Both are detached tensors, still on the device: ``loss.item()`` would make the
        CPU wait for the device after every step, so ``run_epoch`` reads the loss once per pass.
        """
        outputs = self._forward(x)
        loss = self.loss_fn(outputs, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.detach(), outputs.detach()

    def eval_step(self, x: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same as ``train_step`` without the backward pass and the update."""
        outputs = self._forward(x)
        return self.loss_fn(outputs, y), outputs

    # -- layer 2: one pass over a loader ------------------------------------------
    def run_epoch(self, dl: Iterable[Any], train: bool) -> dict[str, float]:
        """One pass over ``dl``; returns the dataset-level loss and metrics."""
        self.model.train(train)
        metrics = self.metrics["train" if train else "val"]
        step = self.train_step if train else self.eval_step
        for metric in metrics.values():
            metric.reset()  # also clears what an interrupted pass left behind
        # The loss sum stays on the device, read once at the end: .item() per batch would wait for it.
        total, count = 0.0, 0
        with torch.set_grad_enabled(train):
            for batch in dl:
                x, y = self._unpack(batch, need_y=True)
                loss, outputs = step(x, y)
                n = _batch_size(y)  # examples in the batch, whether y is a tensor, tuple or dict
                total, count = total + _float64(loss) * n, count + n  # weight by batch size
                for metric in metrics.values():
                    metric.update(self.pred_fn(outputs), y)  # accumulate, do not average
        if count == 0:
            raise ValueError("the data loader yielded no batches; is the dataset empty?")
        return {"loss": total.item() / count} | {n: _one_number(n, m.compute()) for n, m in metrics.items()}

    # -- layer 3: many epochs ----------------------------------------------------
    def fit(
        self,
        train_dl: Iterable[Any],
        val_dl: Iterable[Any] | None = None,
        epochs: int = 10,
        *,
        monitor: str | None = "val_loss",
        mode: str | None = None,
        patience: int | None = None,
        ckpt_path: str | os.PathLike[str] | None = None,
        callbacks: Iterable[Any] = (),
        progress: bool = True,
    ) -> pd.DataFrame:
        """Train for up to ``epochs`` epochs and return the history (one row per epoch).

        Whenever the ``monitor`` column improves the weights are kept in memory and
        saved to ``ckpt_path``; after ``patience`` epochs without improvement training
        stops. ``mode`` ("min" or "max") says which way is better; by default it comes
        from the metric (``higher_is_better``) or its name (loss, mae -> "min"; acc,
        auc, f1 -> "max"). The best weights are restored once, after the loop, and
        also when an error or Ctrl-C stops ``fit`` (which then says so and re-raises).
        Calling ``fit`` again continues training and keeps the best so far: on the same
        monitor, a later epoch replaces the best weights (in memory and in ``ckpt_path``)
        only by beating them. Every argument, the folder of ``ckpt_path`` (by writing a
        file there) and each metric (on the first batch: it must return one number) are
        checked before the first step.

        Without ``val_dl`` a ``val_`` monitor cannot be watched: the last weights
        are kept, and ``fit`` raises if ``patience``, ``ckpt_path`` or a
        ``ReduceLROnPlateau`` needs it (pass ``val_dl`` or ``monitor="loss"``).
        """
        watch, mode = self._check_monitor(monitor, mode, val_dl, patience, ckpt_path)
        ckpt_path, callbacks = _check_fit_args(train_dl, val_dl, epochs, patience, ckpt_path, callbacks)
        if self._best_by != (watch, mode):  # another monitor: the best of earlier calls does not count
            self._best_by, self._best_value, self._best_state, self.best_epoch = (watch, mode), math.nan, None, None
        self.stop_training, wait, finished = False, 0, False
        first = len(self.history) + 1
        bar = tqdm(range(first, first + epochs), desc="fit", unit="epoch",
                   **({} if progress else {"disable": True}))  # keeps $TQDM_DISABLE working
        try:
            for epoch in bar:
                dl = self._metrics_checked(train_dl) if epoch == first else train_dl
                logs = self._one_epoch(epoch, dl, val_dl, watch)
                postfix = {k: f"{v:.4g}" for k, v in logs.items() if k not in ("epoch", "seconds")}
                bar.set_postfix(postfix, refresh=False)  # drawn with the next update
                if watch and _improved(logs[watch], self._best_value, mode):
                    self._best_state = self._checkpoint(ckpt_path)  # first: if saving fails, best_* still agree
                    self._best_value, wait, self.best_epoch = logs[watch], 0, epoch
                else:
                    wait += 1
                for callback in callbacks:
                    callback.on_epoch_end(self, epoch, dict(logs))
                if self.stop_training or (patience is not None and wait >= patience):
                    break
            finished = True
        finally:  # also on an error or Ctrl-C, which then propagates
            bar.close()
            if self._best_state is not None:
                self.model.load_state_dict(self._best_state)  # once, after the loop
                if not finished:
                    print(f"fit was interrupted: restored the weights of epoch {self.best_epoch} "
                          f"({watch} {self._best_value:.4g})", file=sys.stderr)
        return self.history

    def evaluate(self, dl: Iterable[Any]) -> dict[str, float]:
        """The loss and every metric on ``dl``, computed over the whole dataset."""
        return self.run_epoch(dl, train=False)

    def predict(self, dl: Iterable[Any]) -> torch.Tensor:
        """The model's raw outputs for every batch of ``dl``, concatenated, on the CPU.

        ``dl`` may yield ``x``, ``(x,)`` or ``(x, y)``; targets are ignored.
        ``pred_fn`` is not applied: call it (or ``argmax``) on the result.
        """
        self.model.eval()
        with torch.inference_mode():
            outputs = [self._forward(self._unpack(b, need_y=False)[0]).cpu() for b in dl]
        if not outputs:
            raise ValueError("the data loader yielded no batches; is the dataset empty?")
        return torch.cat(outputs)  # outside inference mode: an ordinary, editable tensor

    # -- helpers ----------------------------------------------------------------
    def _one_epoch(self, epoch: int, train_dl: Iterable[Any], val_dl: Iterable[Any] | None,
                   watch: str | None) -> dict[str, float]:
        """Train and validate once, step the scheduler, append and return the history row."""
        start = time.perf_counter()
        logs: dict[str, float] = {"epoch": epoch, **self.run_epoch(train_dl, train=True)}
        if val_dl is not None:
            logs |= {f"val_{k}": v for k, v in self.run_epoch(val_dl, train=False).items()}
        logs["lr"] = self.optimizer.param_groups[0]["lr"]  # the lr this epoch used
        if isinstance(self.lr_scheduler, ReduceLROnPlateau):
            self.lr_scheduler.step(logs[watch])
        elif self.lr_scheduler is not None:
            self.lr_scheduler.step()
        logs["seconds"] = time.perf_counter() - start
        self.history = pd.DataFrame([*self.history.to_dict("records"), logs])
        return logs

    def _metrics_checked(self, dl: Iterable[Any]) -> Iterator[Any]:
        """Yield the batches of ``dl``, checking the metrics on the first before it is trained on."""
        for i, batch in enumerate(dl):
            if i == 0:
                self._check_metrics(batch)
            yield batch

    def _check_metrics(self, batch: Any) -> None:
        """Each metric must return one number (a history column): try copies of them on ``batch``.

        The model predicts in eval mode without gradients, so it changes no weights or
        statistics and draws no random numbers: training goes on exactly as without the check.
        """
        if not self.metrics["train"]:
            return
        x, y = self._unpack(batch, need_y=True)
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                outputs = self._forward(x)
        finally:
            self.model.train(training)
        with warnings.catch_warnings():  # one batch may lack a class, which some metrics warn about
            warnings.simplefilter("ignore")
            for name, metric in self.metrics["train"].items():
                probe = metric.clone()  # the trainer's own metric keeps its state
                probe.update(self.pred_fn(outputs), y)
                _one_number(name, probe.compute())

    def _check_monitor(self, monitor: str | None, mode: str | None, val_dl: Iterable[Any] | None,
                       patience: int | None, ckpt_path: object) -> tuple[str | None, str | None]:
        """Return the column to watch (None when it cannot be watched and nothing needs it)
        and its mode, inferred when not given."""
        if mode not in (None, "min", "max"):
            raise ValueError(f"mode must be 'min' or 'max' (or None, to infer it), not {mode!r}.")
        needed = (patience is not None or ckpt_path is not None
                  or isinstance(self.lr_scheduler, ReduceLROnPlateau))
        if monitor is None:  # watch nothing: keep the last weights
            if needed:
                raise ValueError("patience, ckpt_path and ReduceLROnPlateau need a monitor such as 'val_loss'.")
            return None, mode
        if val_dl is None and monitor.startswith("val_"):
            if needed:
                raise ValueError(
                    f"monitor={monitor!r} needs validation data (patience, ckpt_path and "
                    "ReduceLROnPlateau watch it): pass val_dl=..., or monitor='loss' to "
                    "watch the training loss.")
            return None, mode
        names = ["loss", *self.metrics["train"]]
        columns = names + [f"val_{n}" for n in names] * (val_dl is not None)
        if monitor not in columns:
            raise ValueError(f"monitor={monitor!r} is not a history column; choose one of "
                             f"{columns}.")
        better = self._better(monitor)
        if mode is None and better is None:
            raise ValueError(f"cannot tell whether a lower or a higher {monitor!r} is better; "
                             "pass mode='min' or mode='max'.")
        if better is not None and mode not in (None, better):
            raise ValueError(f"mode={mode!r} contradicts monitor={monitor!r}, which is better when "
                             f"{'lower' if better == 'min' else 'higher'}; pass mode={better!r} "
                             "or leave mode out.")
        return monitor, better or mode

    def _better(self, column: str) -> str | None:
        """'min' or 'max' for a history column: from its metric's ``higher_is_better``, else
        from its name; None when neither tells."""
        name = column.removeprefix("val_")
        higher = getattr(self.metrics["train"].get(name), "higher_is_better", None)
        if higher is not None:
            return "max" if higher else "min"
        words = set(re.split(r"[^a-z0-9]+", name.lower()))
        lower_words, higher_words = words & _LOWER_IS_BETTER, words & _HIGHER_IS_BETTER
        if bool(lower_words) == bool(higher_words):  # no hint, or hints both ways
            return None
        return "min" if lower_words else "max"

    def _unpack(self, batch: Any, need_y: bool) -> tuple[Any, torch.Tensor | None]:
        """Split a batch into (x, y), moved to the device (y only when needed, else None)."""
        if isinstance(batch, (tuple, list)) and len(batch) in (1, 2):
            x, y = batch[0], (batch[1] if len(batch) == 2 else None)
        elif isinstance(batch, (torch.Tensor, Mapping)):
            x, y = batch, None
        else:
            raise TypeError(f"got a batch of type {type(batch).__name__} (or of length > 2); "
                            "a loader must yield x, (x,) or (x, y): pack several inputs "
                            "as x = (x1, x2).")
        if need_y and y is None:
            raise ValueError("training and evaluate need (x, y) batches; this loader yields "
                             "inputs only (use predict for those).")
        return _to_device(x, self.device), (_to_device(y, self.device) if need_y else None)

    def _forward(self, x: Any) -> Any:
        """Call the model on x: a tensor, a tuple/list (positional) or a dict (keywords)."""
        if isinstance(x, (tuple, list)):
            return self.model(*x)
        if isinstance(x, Mapping):
            return self.model(**x)
        return self.model(x)

    def _checkpoint(self, path: Path | None) -> dict[str, torch.Tensor]:
        """Copy the weights to the CPU (safe from later steps) and save them to ``path``."""
        state = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        if path is not None:  # atomically: a temporary file, then a rename
            tmp = temp_beside(path)  # named for this call: fits that share a path never share it
            try:
                torch.save(state, tmp)
                os.replace(tmp, path)
            except (OSError, RuntimeError) as error:  # torch's own errors name no file
                error.add_note(f"while saving the checkpoint {str(path)!r}")
                raise
            finally:  # a failed or interrupted save leaves no temporary file behind
                tmp.unlink(missing_ok=True)
        return state


def _float64(loss: torch.Tensor) -> torch.Tensor:
    """The loss, detached, in float64 (as Python's floats) for adding up on its device; MPS has no float64."""
    return loss.detach().to(torch.float32 if loss.device.type == "mps" else torch.float64)


def _one_number(name: str, value: Any) -> float:
    """A metric's result as a float; refuse one that is not a single number, naming the metric."""
    if isinstance(value, numbers.Real) or (isinstance(value, torch.Tensor) and value.numel() == 1):
        return float(value)
    what = (f"{value.numel()} numbers (shape {tuple(value.shape)})" if isinstance(value, torch.Tensor)
            else f"a {type(value).__name__}")
    raise ValueError(f"metric {name!r} returned {what}, but a history column holds one number per epoch. "
                     "Ask it for one number (for a per-class classification metric: average='macro' or "
                     "'micro'), or compute the per-class values after fit, from trainer.predict(dl).")


def _improved(value: float, best: float, mode: str) -> bool:
    """True when ``value`` beats ``best`` (NaN never does; any number beats a NaN best)."""
    if math.isnan(value):
        return False
    return math.isnan(best) or (value < best if mode == "min" else value > best)


def _check_fit_args(train_dl: object, val_dl: object, epochs: object, patience: object,
                    ckpt_path: str | os.PathLike[str] | None, callbacks: object) -> tuple[Path | None, list[Any]]:
    """Check fit's arguments before the first step; return ckpt_path as a Path and the callbacks as a list."""
    _check_epochs("epochs", epochs)
    if patience is not None:
        _check_epochs("patience", patience)
    _check_loader("train_dl", train_dl)
    if val_dl is not None:
        _check_loader("val_dl", val_dl)
    return _check_ckpt_path(ckpt_path), _check_callbacks(callbacks)


def _check_epochs(name: str, value: object) -> None:
    """A number of epochs must be an int of at least 1 (True is an int in Python: refuse it)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a whole number of epochs, an int such as 10, not {value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be at least 1 epoch, not {value!r} (to score a model without "
                         "training it, call trainer.evaluate(dl)).")


def _check_loader(name: str, dl: Any) -> None:
    """A loader must yield batches again every epoch, and must not be known to be empty."""
    if isinstance(dl, Iterator):
        raise TypeError(f"{name} is a one-pass iterator ({type(dl).__name__}), exhausted after one epoch "
                        "as a generator is: pass a DataLoader or another re-iterable, such as a list of batches.")
    if not isinstance(dl, Iterable):
        hint = ("a DataLoader that batches it: DataLoader(dataset, batch_size=32)" if isinstance(dl, Dataset)
                else "a DataLoader or another re-iterable of batches")
        raise TypeError(f"{name} is a {type(dl).__name__}; pass {hint}.")
    try:
        empty = len(dl) == 0
    except TypeError:  # no length (an IterableDataset): run_epoch finds out if it is empty
        return
    if empty:
        raise ValueError(f"{name} has no batches: is its dataset empty, or smaller than batch_size "
                         "with drop_last=True?")


def _check_ckpt_path(path: str | os.PathLike[str] | None) -> Path | None:
    """A checkpoint path must name a file that can be created: not a folder, not below a file."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"ckpt_path {str(path)!r} is a folder; pass a file path inside it, such as "
                         f"{str(path / 'best.pt')!r}.")
    above = path.parent
    while not above.exists():  # the nearest existing folder above, which must be a folder
        above = above.parent
    if not above.is_dir():
        raise ValueError(f"ckpt_path {str(path)!r} cannot be created because {str(above)!r} is a file, "
                         "not a folder; pass a path inside a folder.")
    try:  # find out now, not after the first epoch: create a file there and remove it
        temp_beside(above / path.name).unlink()
    except OSError as error:
        raise OSError(f"cannot write the checkpoint {str(path)!r}: creating a file in {str(above)!r} failed "
                      f"({error.strerror or error}). Pass a ckpt_path in a folder you can write to, or "
                      "change that folder's permissions.") from error
    return path


def _check_callbacks(callbacks: object) -> list[Any]:
    """Callbacks come as a list of objects with an ``on_epoch_end`` method; return that list."""
    if not isinstance(callbacks, Iterable) or hasattr(callbacks, "on_epoch_end"):
        raise TypeError(f"callbacks must be a list, such as callbacks=[recorder], not a "
                        f"{type(callbacks).__name__}.")
    callbacks = list(callbacks)  # a generator of callbacks would run only in the first epoch
    for callback in callbacks:
        if isinstance(callback, type):
            raise TypeError(f"callbacks holds the class {callback.__name__}; pass an instance: "
                            f"{callback.__name__}().")
        if not callable(getattr(callback, "on_epoch_end", None)):
            raise TypeError(f"callback {callback!r} has no on_epoch_end(trainer, epoch, logs) method; "
                            "subclass pt20.train.Callback.")
    return callbacks


def _batch_size(y: Any) -> int:
    """The number of examples in a batch of targets: the leading dimension of its tensors."""
    if isinstance(y, torch.Tensor):
        return len(y)
    sizes = {t.shape[0] for t in _tensors(y) if t.dim() > 0}
    if len(sizes) != 1:
        raise ValueError(f"cannot tell the batch size of these targets (leading dimensions {sorted(sizes)}); "
                         "y must be a tensor, or a tuple, list or dict of tensors with one row per example.")
    return sizes.pop()


def _tensors(data: Any) -> Iterator[torch.Tensor]:
    """The tensors in a tensor, or inside a (nested) tuple, list or dict."""
    if isinstance(data, torch.Tensor):
        yield data
    elif isinstance(data, (tuple, list, Mapping)):
        for item in data.values() if isinstance(data, Mapping) else data:
            yield from _tensors(item)


def _to_device(data: Any, device: torch.device) -> Any:
    """Move a tensor, or the tensors inside a tuple, list or dict, to ``device``.

    To a CUDA device the copy is ``non_blocking``: from pinned memory (a ``DataLoader``
    with ``pin_memory=True``, chapter 6-3) it returns at once and overlaps with
    computation. It is safe from any memory: the kernels that use the batch are queued
    on the same stream, after the copy, and a copy from ordinary (pageable) memory is
    synchronous anyway, so the CPU can reuse the source at once. On the CPU nothing changes.
    """
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=device.type == "cuda")
    if isinstance(data, Mapping):
        return {k: _to_device(v, device) for k, v in data.items()}
    if isinstance(data, (tuple, list)):
        return [_to_device(v, device) for v in data]
    return data
