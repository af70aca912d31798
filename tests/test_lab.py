"""`make lab`: JupyterLab opens the book/*.md chapters as notebooks, and nothing a reader does there
changes the chapter's source.

The browser test (marked ``site``, run by `make site-test`) starts the server with the very command
`make lab` runs and drives it in headless Chromium; the save test runs with the unit tests.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jupytext
import nbformat
import pytest

from tools import notebooks

ROOT = Path(__file__).resolve().parents[1]

CHAPTER = "2-1-tensors"  # short, needs no dataset, and ends with a self-check
URL_LINE = r"^JupyterLab: open (http://127\.0\.0\.1:\d+)/lab/tree/book\?token=(\S+)$"


def wait_for(what: str, condition: Callable[[], object], timeout: float, interval: float = 0.25) -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`make lab` on a free port: yields (base URL, token) from the line it prints; stopped at the end."""
    # A fresh reader's JupyterLab: no settings, workspaces or runtime files of whoever runs the tests.
    # The one user setting compresses autosave's two minutes into two seconds, so that the test sees
    # whether the lab writes the chapter by itself.
    user_settings = tmp_path / "settings" / "@jupyterlab" / "docmanager-extension"
    user_settings.mkdir(parents=True)
    (user_settings / "plugin.jupyterlab-settings").write_text('{"autosaveInterval": 2}')
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               IPYTHONDIR=str(tmp_path / "ipython"))
    chapter = ROOT / "book" / f"{CHAPTER}.md"
    source = chapter.read_bytes()
    checkpoints = ROOT / "book" / ".ipynb_checkpoints"
    checkpoint = checkpoints / f"{CHAPTER}-checkpoint.md"
    had_checkpoints, had_checkpoint = checkpoints.exists(), checkpoint.exists()
    log = tmp_path / "lab.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"LAB_PORT={free_port()}", "LAB_ARGS=--no-browser"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def logged(pattern: str) -> re.Match | None:
        if server.poll() is not None:
            pytest.fail(f"`make lab` exited with status {server.returncode}")
        return re.search(pattern, log.read_text(), re.M)

    try:
        match = wait_for("`make lab` to print its URL", lambda: logged(URL_LINE), timeout=30)
        wait_for("the server to start", lambda: logged("Jupyter Server .* is running at"), timeout=30)
        yield match.group(1), match.group(2)
    finally:
        print(log.read_text()[-3000:])  # pytest shows it when the test fails
        os.killpg(server.pid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if chapter.read_bytes() != source:  # never leave the chapter rewritten by a failed run
            restore = chapter.with_suffix(".md.restore")
            restore.write_bytes(source)
            restore.replace(chapter)
        # JupyterLab checkpoints every file it opens (ignored by git and by the site build)
        if not had_checkpoint:
            checkpoint.unlink(missing_ok=True)
        if not had_checkpoints and checkpoints.exists() and not any(checkpoints.iterdir()):
            checkpoints.rmdir()


def page_state(driver: object) -> dict:
    """What the notebook in the browser shows: kernel status, prompts and outputs of each code cell."""
    return driver.execute_script("""
        const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
        const status = [...document.querySelectorAll('.jp-StatusBar-TextItem')].map(e => e.textContent.trim());
        return {
          notebooks: document.querySelectorAll('.jp-NotebookPanel').length,
          editors: document.querySelectorAll('.jp-FileEditor').length,
          tab: document.querySelector('#jp-main-dock-panel .lm-mod-current .lm-TabBar-tabLabel')?.textContent,
          title: panel?.querySelector('.jp-MarkdownCell h1')?.textContent || '',
          kernel: status.find(t => t.startsWith('Python 3 |')) || '',
          cells: panel ? [...panel.querySelectorAll('.jp-CodeCell')].map(cell => ({
            prompt: cell.querySelector('.jp-InputPrompt').textContent.trim(),
            outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
              mime: o.getAttribute('data-mime-type') || '', text: o.textContent})),
          })) : [],
        };""")


@pytest.mark.site
def test_make_lab_opens_a_chapter_as_a_notebook_runs_it_and_leaves_the_source_alone(
        lab: tuple[str, str], browser: object) -> None:
    from selenium.webdriver.common.by import By

    base, token = lab
    md = ROOT / "book" / f"{CHAPTER}.md"
    source = md.read_bytes()
    code = [c for c in jupytext.reads(source.decode(), fmt="md:myst").cells if c.cell_type == "code"]
    may_raise = [i for i, c in enumerate(code) if "raises-exception" in c.metadata.get("tags", [])]
    golden = nbformat.read(notebooks.notebook_path(md), as_version=4)
    self_check = "".join(o.get("text", "") for o in [c for c in golden.cells if c.cell_type == "code"][-1].outputs)
    assert self_check.startswith("Self-check passed"), "the golden notebook's last cell is not the self-check"

    browser.get(f"{base}/lab/tree/book/{CHAPTER}.md?token={token}")
    wait_for("the chapter to open", lambda: (s := page_state(browser))["notebooks"] or s["editors"], 30)
    opened = page_state(browser)
    browser.save_screenshot("/tmp/test_lab_opened.png")
    assert opened["editors"] == 0, "the chapter opened in the text editor, not as a notebook"
    assert opened["tab"] == f"{CHAPTER}.md" and opened["notebooks"] == 1, opened
    # the kernel must be connected, not merely "idle" before it started, or Run All does nothing
    wait_for("the kernel to be ready", lambda: (s := page_state(browser))["kernel"] == "Python 3 | Idle"
             and len(s["cells"]) == len(code) and s["title"], 30)
    heading = next(line[2:] for line in source.decode().splitlines() if line.startswith("# "))
    title = page_state(browser)["title"]
    assert title.startswith(heading), f"the notebook starts with {title!r}, not with the chapter's title"

    browser.find_element(By.XPATH, "//li[contains(@class,'lm-MenuBar-item')][.//div[text()='Run']]").click()
    browser.find_element(By.XPATH, "//li[contains(@class,'lm-Menu-item')][.//div[text()='Run All Cells']]").click()
    wait_for("every cell to run and the kernel to go idle",
             lambda: (s := page_state(browser))["kernel"] == "Python 3 | Idle"
             and all(re.fullmatch(r"\[\d+\]:", c["prompt"]) for c in s["cells"]), 60, interval=0.5)
    browser.save_screenshot("/tmp/test_lab.png")
    cells = page_state(browser)["cells"]
    errors = {i for i, c in enumerate(cells) for o in c["outputs"] if "stderr" in o["mime"]}
    assert errors == set(may_raise), f"error output in code cells {sorted(errors)}; only {may_raise} may raise"
    assert [o["text"] for o in cells[-1]["outputs"]] == [self_check], cells[-1]

    time.sleep(4)  # two autosave intervals: the modified notebook must stay unsaved
    assert md.read_bytes() == source, f"book/{CHAPTER}.md changed on disk while the chapter ran"
    beside = sorted(p.name for p in md.parent.glob(f"{CHAPTER}*") if p != md)
    assert not beside, f"the lab wrote {beside} next to the chapter"


def front_matter(text: str) -> str:
    return text.split("\n---\n", 1)[0]


@pytest.mark.parametrize("md", notebooks.chapters(), ids=lambda p: p.stem)
def test_saving_from_the_lab_writes_no_outputs_and_keeps_the_front_matter(md: Path, tmp_path: Path) -> None:
    """A chapter saved through the lab's contents manager, with everything a run adds to a notebook."""
    from jupytext import AsyncTextFileContentsManager

    shutil.copy(md, tmp_path / md.name)
    shutil.copy(ROOT / "jupytext.toml", tmp_path)
    manager = AsyncTextFileContentsManager(root_dir=str(tmp_path))
    model = asyncio.run(manager.get(md.name, content=True, type="notebook"))
    nb = nbformat.from_dict(model["content"])
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = n + 1
        cell.metadata.update(scrolled=True, execution={"iopub.status.idle": "2026-01-01T00:00:00Z"})
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="OUTPUT-MARKER\n"),
            nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
            nbformat.v4.new_output("error", ename="RuntimeError", evalue="OUTPUT-MARKER", traceback=[]),
        ]
    nb.metadata.language_info = {"name": "python", "version": "3.11.0"}
    nb.metadata.widgets = {}
    asyncio.run(manager.save({"type": "notebook", "format": "json", "content": nb}, md.name))

    saved, original = (tmp_path / md.name).read_text(), md.read_text()
    assert "OUTPUT-MARKER" not in saved and "iVBORw0KGgo" not in saved and "language_info" not in saved
    assert "scrolled" not in saved and "iopub" not in saved and "execution_count" not in saved
    assert front_matter(saved) == front_matter(original), "the save rewrote the front matter"
    # jupytext puts one blank line between any two cells; some chapters have none around a
    # solution's code cell. Everything else must come back as it was.
    assert [line for line in saved.splitlines() if line.strip()] == \
        [line for line in original.splitlines() if line.strip()]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([md.name, "jupytext.toml"]), "a paired file appeared"
