"""book/scripts/classify_digit.py, the inference script chapter 7-3 ships: it classifies images with an ONNX
model and refuses bad input with a message and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "book" / "scripts" / "classify_digit.py"


def tiny_model(path: Path, side: int = 28) -> Path:
    """An ONNX "classifier" with the MNIST model's interface: logits = flatten(images) @ W, where W scores
    digit d by the brightness of row 2d, so a test image with one bright row has a known answer."""
    weights = np.zeros((side * side, 10), dtype=np.float32)
    for digit in range(10):
        weights[2 * digit * side:(2 * digit + 1) * side, digit] = 1.0
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["images"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "tiny", [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 1, side, side])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 10])],
        initializer=[numpy_helper.from_array(weights, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def digit_image(path: Path, digit: int, size: int = 28) -> Path:
    pixels = np.zeros((size, size), dtype=np.uint8)
    pixels[2 * digit] = 255
    Image.fromarray(pixels).save(path)
    return path


def run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_images_are_classified_as_one_batch(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m.onnx")
    result = run(model, digit_image(tmp_path / "three.png", 3), digit_image(tmp_path / "seven.png", 7))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(tmp_path / "three.png")) and ": 3 (" in lines[0]
    assert ": 7 (" in lines[1]


@pytest.mark.parametrize(("case", "message"), [
    ("missing model", "no such model file"), ("not a model", "not a valid ONNX model"),
    ("missing image", "cannot be read"), ("not an image", "not an image file"), ("wrong size", "needs 28x28"),
])
def test_bad_input_exits_2_and_says_what_to_do(tmp_path: Path, case: str, message: str) -> None:
    model, image = tiny_model(tmp_path / "m.onnx"), digit_image(tmp_path / "d.png", 1)
    if case == "missing model":
        model = tmp_path / "absent.onnx"
    elif case == "not a model":
        model.write_bytes(b"not protobuf at all")
    elif case == "missing image":
        image = tmp_path / "absent.png"
    elif case == "not an image":
        image.write_text("hello")
    else:
        image = digit_image(tmp_path / "big.png", 1, size=32)
    result = run(model, image)
    assert result.returncode == 2 and message in result.stderr, result.stderr
