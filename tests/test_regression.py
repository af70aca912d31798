"""The safety nets can fail: nbval catches a changed output, a raising cell fails nbval and the
site build, and the strict kernel refuses network access and deprecated API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import execution

ROOT = Path(__file__).resolve().parents[1]
STRICT = ROOT / "tests" / "strict_kernel"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
BIN = Path(sys.executable).parent


def smallest_chapter() -> Path:
    """The quickest committed chapter notebook (keeps these tests fast)."""
    nbs = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not nbs:
        pytest.skip("no executed notebooks yet")
    return min(nbs, key=lambda p: json.loads(p.read_text())["metadata"].get("pt20", {}).get("wall_s", 1e9))


def nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbval", "--nbval-sanitize-with", str(SANITIZE),
         str(path), "-q"], capture_output=True, text=True, cwd=path.parent,
        env=execution.environ())


@pytest.mark.execution
def test_a_changed_printed_value_fails_nbval(tmp_path: Path) -> None:
    source = smallest_chapter()
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        outputs = [o for o in cell.get("outputs", [])
                   if o.output_type == "stream" and any(ch.isdigit() for ch in o.text)]
        if outputs and "nbval-ignore-output" not in cell.metadata.get("tags", []):
            text = outputs[0].text
            digit = next(ch for ch in text if ch.isdigit())
            outputs[0].text = text.replace(digit, str((int(digit) + 1) % 10), 1)
            break
    else:
        pytest.skip(f"{source.name} prints no number")
    copy = tmp_path / source.name
    nbformat.write(nb, copy)
    result = nbval(copy)
    assert result.returncode != 0, result.stdout[-2000:]
    assert "1 failed" in result.stdout or "failed" in result.stdout


def _raising_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A broken chapter"), nbformat.v4.new_code_cell("1 / 0")]
    nb.cells[1].outputs = [nbformat.v4.new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                                                  traceback=["ZeroDivisionError: division by zero"])]
    nb.cells[1].execution_count = 1
    nbformat.write(nb, path)


@pytest.mark.execution
def test_a_raising_cell_fails_nbval(tmp_path: Path) -> None:
    _raising_notebook(tmp_path / "broken.ipynb")
    result = nbval(tmp_path / "broken.ipynb")
    assert result.returncode != 0 and "ZeroDivisionError" in result.stdout


@pytest.mark.execution
def test_a_raising_cell_fails_the_site_build(tmp_path: Path) -> None:
    book = tmp_path / "book"
    (book / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "_ext", book / "_ext")
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "_vendor").symlink_to(ROOT / "_vendor")  # the config's static files, so only the cell can warn
    (book / "index.md").write_text("# Home\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n- file: notebooks/broken\n")
    _raising_notebook(book / "notebooks" / "broken.ipynb")
    result = subprocess.run([str(BIN / "jupyter-book"), "build", str(book), "--builder", "html", "-W", "-n",
                             "--keep-going"], capture_output=True, text=True)
    assert result.returncode != 0
    assert "raised ZeroDivisionError" in result.stdout + result.stderr


def run_strict(source: str) -> list:
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    env_before = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(STRICT)
    try:
        NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120).execute()
    finally:
        if env_before is None:
            os.environ.pop("IPYTHONDIR")
        else:
            os.environ["IPYTHONDIR"] = env_before
    return nb.cells[0].outputs


@pytest.mark.execution
def test_strict_kernel_refuses_network_and_deprecated_api() -> None:
    outputs = run_strict(
        "import urllib.request, warnings\n"
        "for attempt in [lambda: urllib.request.urlopen('http://example.com', timeout=5),\n"
        "                lambda: warnings.warn('old API', DeprecationWarning),\n"
        "                lambda: warnings.warn('changing', FutureWarning)]:\n"
        "    try:\n"
        "        attempt()\n"
        "        print('allowed')\n"
        "    except Exception as exc:\n"
        "        print('refused', type(exc).__name__)\n"
    )
    text = "".join(o.get("text", "") for o in outputs)
    assert text.splitlines() == ["refused URLError", "refused DeprecationWarning", "refused FutureWarning"], text


@pytest.mark.execution
def test_a_pytest_step_that_collects_nothing_fails_and_says_why(tmp_path: Path) -> None:
    step = [str(ROOT / "tools" / "pytest-step"), sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    empty = subprocess.run([*step, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert empty.returncode == 5 and "no tests were collected" in empty.stderr
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    one = subprocess.run([*step, str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert one.returncode == 0 and "pytest-step" not in one.stderr
