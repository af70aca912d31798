"""Classify handwritten digits with the MNIST CNN exported to ONNX.

Chapter 7-3 of "PyTorch in 20 Days" exports the model and runs this script:

    python classify_digit.py MODEL.onnx IMAGE [IMAGE ...] [--invert]

Each image is a 28x28 picture of one digit, white on black as in MNIST (pass --invert for black on
white). All images go through the model as one batch, and one line per image is printed: the file,
the predicted digit and its probability. The script needs numpy, Pillow and onnxruntime, not PyTorch.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph, InvalidProtobuf
from PIL import Image, UnidentifiedImageError

SIDE = 28  # MNIST images are 28x28 pixels
INPUT_SHAPE = [1, SIDE, SIDE]  # the model's input after the batch axis: one grayscale channel


def load_model(path: Path) -> ort.InferenceSession:
    """An ONNX Runtime session for the model in ``path``, checked to take MNIST-shaped batches."""
    if not path.is_file():
        raise ValueError(f"{path}: no such model file; export one with torch.onnx.export (chapter 7-3)")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except (InvalidProtobuf, InvalidGraph) as exc:
        raise ValueError(f"{path}: not a valid ONNX model ({type(exc).__name__}); "
                         f"pass the .onnx file that chapter 7-3 writes") from exc
    inputs = session.get_inputs()
    if len(inputs) != 1 or list(inputs[0].shape[1:]) != INPUT_SHAPE:
        shapes = [i.shape for i in inputs]
        raise ValueError(f"{path}: the model takes inputs of shape {shapes}, not (batch, 1, {SIDE}, {SIDE}); "
                         f"pass the MNIST model of chapter 7-3")
    return session


def load_image(path: Path, invert: bool) -> np.ndarray:
    """The image in ``path`` as a float32 array (1, 28, 28) in [0, 1], white digit on black."""
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("L"), dtype=np.float32) / 255
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path}: not an image file Pillow can read; pass a PNG or JPEG") from exc
    except OSError as exc:  # missing file, a folder, no permission
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if pixels.shape != (SIDE, SIDE):
        height, width = pixels.shape
        raise ValueError(f"{path}: the image is {width}x{height} pixels; the model needs {SIDE}x{SIDE}: "
                         f"resize it first (keep the digit centred, as in MNIST)")
    return (1 - pixels if invert else pixels)[None]


def classify(session: ort.InferenceSession, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The predicted digit and its softmax probability for every image of the batch."""
    (logits,) = session.run(None, {session.get_inputs()[0].name: images})
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))  # a softmax that cannot overflow
    probs = shifted / shifted.sum(axis=1, keepdims=True)
    digits = probs.argmax(axis=1)
    return digits, probs[np.arange(len(digits)), digits]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Classify 28x28 images of handwritten digits with an ONNX model.")
    parser.add_argument("model", type=Path, help="the .onnx file exported in chapter 7-3")
    parser.add_argument("images", type=Path, nargs="+", help="28x28 images (PNG, JPEG, ...), one digit each")
    parser.add_argument("--invert", action="store_true", help="the images show dark digits on a light background")
    args = parser.parse_args(argv)
    try:
        session = load_model(args.model)
        batch = np.stack([load_image(path, args.invert) for path in args.images])
    except ValueError as exc:
        parser.error(str(exc))  # prints the usage and the message, exits with status 2
    digits, probs = classify(session, batch)
    for path, digit, prob in zip(args.images, digits, probs):
        print(f"{path}: {digit} (probability {prob:.4f})")


if __name__ == "__main__":
    main()
