"""Turn ``book/*.md`` chapters into executed ``notebooks/*.ipynb`` (the golden record).

    python -m tools.notebooks build [CHAPTER ...]   # md -> ipynb, executed in the book's environment
    python -m tools.notebooks check                 # fail if any md and ipynb differ

A chapter is a ``book/<d>-<d>-*.md`` file; CHAPTER may be its stem or path.
Cell ids are derived from the cell content, so an unchanged cell keeps its id
(and its place in git diffs) when other cells change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jupytext
import nbformat

from tools import execution

ROOT = Path(__file__).resolve().parents[1]
BOOK, NOTEBOOKS = ROOT / "book", ROOT / "notebooks"
KERNEL = "python3"


def chapters(names: list[str] | None = None) -> list[Path]:
    """The chapter sources selected by ``names`` (all chapters when empty)."""
    every = sorted(p for p in BOOK.glob("[0-9]-[0-9]-*.md"))
    if not names:
        return every
    picked = []
    for name in names:
        stem = Path(name).stem
        match = [p for p in every if p.stem == stem or p.stem.startswith(stem + "-")]
        if len(match) != 1:
            raise SystemExit(f"Unknown chapter {name!r}; chapters are: {[p.stem for p in every]}")
        picked.append(match[0])
    return picked


def notebook_path(md: Path) -> Path:
    return NOTEBOOKS / md.with_suffix(".ipynb").name


def _cell_key(cell: nbformat.NotebookNode) -> tuple:
    """What the pairing check compares: type, source and tags."""
    return (cell.cell_type, cell.source.strip(), tuple(cell.get("metadata", {}).get("tags", [])))


COLAB_TAG = "pt20-colab"


def repository_url() -> str:
    """The one place the repository URL is configured: ``repository.url`` in _config.yml
    (empty while the book is not published)."""
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"].get("url") or ""


def colab_cell() -> nbformat.NotebookNode | None:
    """First cell of every generated notebook once the book is published: installs pt20 only
    when running on Colab. None before that: there is no repository to install from.

    It is hidden on the site (``remove-cell``) and is not part of the ``.md`` source.
    """
    if not repository_url():
        return None
    source = (
        "# On Google Colab, install the book's helper package first; elsewhere `make install` did it.\n"
        "import sys\n\n"
        'if "google.colab" in sys.modules:\n'
        "    import subprocess\n\n"
        f'    package = "git+{repository_url()}"\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", package], check=True)'
    )
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell", COLAB_TAG]})
    cell["id"] = COLAB_TAG
    return cell


def without_colab(cells: list) -> list:
    return [c for c in cells if COLAB_TAG not in c.get("metadata", {}).get("tags", [])]


INCLUDE = re.compile(r"^```\{include\}\s+(\S+)\s*\n```[ \t]*$", re.M)


def expand_includes(text: str, base: Path) -> str:
    """Replace each MyST ``{include}`` block with the file it names (relative to ``base``).

    Shared notes (book/_notes/) are written once; the notebook carries their text, so a reader
    in Jupyter or Colab sees it too, and the site renders it like any other markdown.
    """
    def included(match: re.Match) -> str:
        target = base / match[1]
        if not target.is_file():
            raise SystemExit(f"{match[0]!r}: no file {target} to include")
        return target.read_text().strip()

    return INCLUDE.sub(included, text)


def from_markdown(md: Path) -> nbformat.NotebookNode:
    """Read a MyST chapter as a notebook with content-derived, stable cell ids."""
    nb = jupytext.read(md)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = expand_includes(cell.source, md.parent)
    seen: dict[str, int] = {}
    for cell in nb.cells:  # (the Colab cell is inserted afterwards with a fixed id)
        digest = hashlib.sha1(repr(_cell_key(cell)).encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell["id"] = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"
    setup = colab_cell()
    if setup is not None:
        nb.cells.insert(0, setup)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": KERNEL}
    return nb


def execute(nb: nbformat.NotebookNode, cwd: Path, on_kernel_start: Callable[[int], None] | None = None) -> float:
    """Execute ``nb`` in place in a fresh kernel; return the seconds its cells took.

    ``on_kernel_start(pid)`` is called once the kernel runs (the benchmark samples its memory).
    """
    from nbclient import NotebookClient

    execution.apply()
    client = NotebookClient(nb, timeout=900, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}})
    # Cells run one by one rather than through client.execute(): the time leaves out the kernel's
    # start-up, and the notebook is written the same whichever tool (this or bench/run.py) ran it.
    with client.setup_kernel():
        if on_kernel_start is not None:
            on_kernel_start(client.km.provisioner.process.pid)
        start = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        return time.perf_counter() - start


def provenance(wall_s: float) -> dict:
    """Where and with what the golden outputs were made (shown on the status page)."""
    import torch
    import torchvision

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    kernel = execution.platform()
    return {
        "executed": dt.date.today().isoformat(),
        "wall_s": round(wall_s, 1),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu": kernel["cpu"],
        "cores": os.cpu_count(),
        "arch": kernel["arch"],
        "isa": kernel["isa"],
        "threads": kernel["threads"],
        "gpu": cuda,
    }


def build(md: Path, save: bool = True, on_kernel_start: Callable[[int], None] | None = None) -> float:
    """Execute the chapter ``md`` fresh; with ``save``, its notebook becomes the golden record
    (refused, before the run, under a seed offset: bench/run.py --seeds runs those without saving)."""
    if save and (problem := execution.seed_offset_problem()):
        raise SystemExit(f"{md.stem}: not executed. {problem}")
    nb = from_markdown(md)
    wall = execute(nb, cwd=NOTEBOOKS, on_kernel_start=on_kernel_start)
    if save:
        nb.metadata["pt20"] = provenance(wall)
        write(nb, notebook_path(md))
    return wall


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)  # atomic: a failed run never leaves half a notebook


def drift(md: Path) -> list[str]:
    """Differences between ``md`` and its notebook (empty when they agree)."""
    target = notebook_path(md)
    if not target.exists():
        return [f"{md.name}: no notebook {target.relative_to(ROOT)} (run `make notebooks`)"]
    want = [_cell_key(c) for c in without_colab(from_markdown(md).cells)]
    have = [_cell_key(c) for c in without_colab(nbformat.read(target, as_version=4).cells)]
    if want == have:
        return []
    if len(want) != len(have):
        return [f"{md.name}: {len(want)} cells in the md, {len(have)} in the notebook"]
    first = next(i for i, (a, b) in enumerate(zip(want, have)) if a != b)
    return [f"{md.name}: cell {first} differs from the notebook (run `make notebooks CH={md.stem}`)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "check"])
    parser.add_argument("chapters", nargs="*")
    args = parser.parse_args(argv)
    selected = chapters(args.chapters)
    if args.command == "check":
        problems = [p for md in selected for p in drift(md)]
        orphans = {p.stem for p in NOTEBOOKS.glob("*.ipynb")} - {md.stem for md in chapters()}
        problems += [f"notebooks/{o}.ipynb has no book/{o}.md" for o in sorted(orphans)]
        print("\n".join(problems) or f"{len(selected)} notebooks match their sources")
        return 1 if problems else 0
    for md in selected:
        print(f"executing {md.stem} ...", flush=True)
        print(f"  {md.stem}: {build(md):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
