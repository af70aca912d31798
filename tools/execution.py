"""The book's execution environment: the one place it is defined.

Every chapter execution that writes or checks the golden record runs under ``ENV``:
``make notebooks`` and ``make bench`` (through tools/notebooks.py), nbval (the Makefile reads
``python -m tools.execution env``), and the tests that start kernels. The same torch build picks
different CPU kernels on different processors, and a different kernel or thread count changes the
last bits of a sum, which training turns into a different third digit. So the environment pins
the kernels and the threads to what every x86-64 machine in use has:

- ATen's vectorised kernels at AVX2 (``ATEN_CPU_CAPABILITY``), oneDNN (convolutions, some linear
  layers) at AVX2 (``ONEDNN_MAX_CPU_ISA``), MKL (matrix products, LAPACK) dispatching no further
  than AVX2 (``MKL_ENABLE_INSTRUCTIONS``), numpy's OpenBLAS at Haswell, the first AVX2 core type
  (``OPENBLAS_CORETYPE``). Not ``MKL_CBWR``: its reproducibility mode switches MKL to other
  algorithms, whose results differ from those of an unpinned AVX2 machine (measured on chapter
  3-1 against the outside reference record, ../shared/reference/avx2);
- two threads for every thread pool: a reduction split over 8 threads adds in another order than
  over 2, and 2 is what the machines that CI runs on have;
- no CUDA device: the golden record is what a reader without a GPU sees (``make nbval-gpu`` runs
  the chapters on a GPU separately).

    python -m tools.execution env        # KEY=VALUE words (``env --pins``: the numeric pins alone)
    python -m tools.execution platform   # what the pinned environment gives on this machine (JSON)
    python -m tools.execution mode       # one line: which comparison `make test` runs here; exit 0 = exact,
                                         # 1 = approximate, 2 = none (a seed offset is set)

Only the standard library (and pt20.env, which imports nothing else) is imported at module level:
the Makefile calls this before the virtual environment is complete.
"""

from __future__ import annotations

import json
import os
import platform as _platform
import shlex
import subprocess
import sys

from pt20 import env

THREADS = 2
ISA = "AVX2"

# What makes a number depend on the machine. `make lab` gives a reader's kernels these too, so
# that a chapter run by hand prints the page's numbers.
PINS: dict[str, str] = {
    # kernels: the instruction-set level every x86-64 machine in use has
    "ATEN_CPU_CAPABILITY": ISA.lower(),
    "ONEDNN_MAX_CPU_ISA": ISA,
    "MKL_ENABLE_INSTRUCTIONS": ISA,
    "OPENBLAS_CORETYPE": "Haswell",
    # threads: one count for every pool, whatever the core count
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
    "OPENBLAS_NUM_THREADS": str(THREADS),
    # idle OpenMP threads sleep instead of spinning: two kernels on two cores (nbval -n 2) would
    # otherwise starve each other; results are bit-for-bit the same
    "OMP_WAIT_POLICY": "PASSIVE",
    "PYTHONHASHSEED": "0",
}

ENV: dict[str, str] = {
    **PINS,
    # the golden record is a CPU record
    "CUDA_VISIBLE_DEVICES": "",
    # what the page shows: no progress bars, inline figures
    "TQDM_DISABLE": "1",
    "MPLBACKEND": "module://matplotlib_inline.backend_inline",
}

# What a kernel started under ENV reports about itself (run in a child Python, as a kernel is):
# ATen's ISA and threads as torch sees them, and the pins as the kernel's environment holds them
# (oneDNN, MKL and OpenBLAS say nothing about their ISA without running a kernel).
_PROBE = """
import json, os, platform, torch
print(json.dumps({
    "arch": platform.machine(),
    "isa": torch.backends.cpu.get_cpu_capability(),
    "threads": torch.get_num_threads(),
    "cuda": torch.cuda.is_available(),
    "pins": {name: os.environ[name] for name in %s if name in os.environ},
}))
"""


# `PT20_NATIVE_KERNELS=1 make nbval` drops the pins: the chapters then run on this machine's own
# kernels and thread count, as on a machine the pins cannot cover, and `make nbval` checks them
# with the approximate comparison. It is how the approximate comparison is itself put to the test.
# (The variables' names, and how a yes/no one is read, live in pt20/env.py: standard library only.)


def native() -> bool:
    """Whether ``$PT20_NATIVE_KERNELS`` asks for this machine's own kernels (1/true/yes/on; 0/false/no/off)."""
    return env.flag(env.NATIVE_KERNELS)


def active() -> dict[str, str]:
    """ENV, or ENV without PINS when ``$PT20_NATIVE_KERNELS`` is on."""
    if native():
        return {k: v for k, v in ENV.items() if k not in PINS}
    return ENV


def seed_offset_problem() -> str | None:
    """Why this process must not write or check the golden record, when ``$PT20_SEED_OFFSET`` is set
    (None when it is unset or 0)."""
    raw = os.environ.get(env.SEED_OFFSET, "").strip()
    try:
        if not raw or int(raw) == 0:
            return None
    except ValueError:
        pass
    return (f"{env.SEED_OFFSET}={raw} shifts every seed, and the golden record holds what the chapters print "
            f"with their own seeds: unset it (`unset {env.SEED_OFFSET}`) to write or check notebooks/ "
            "(`python -m bench.run --seeds N` runs the offsets without touching them)")


def environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the book's pins applied."""
    return {**(os.environ if base is None else base), **active()}


def apply(gpu: bool = False) -> None:
    """Pin this process's environment, so the kernels it starts inherit the pins.

    ``gpu=True`` (the GPU run, ``make nbval-gpu``) leaves the CUDA devices visible.
    """
    os.environ.update({k: v for k, v in active().items() if not (gpu and k == "CUDA_VISIBLE_DEVICES")})


def platform(python: str = sys.executable) -> dict:
    """Architecture, ATen ISA level and threads that a kernel gets under ENV on this machine."""
    probe = _PROBE % json.dumps(list(PINS))
    out = subprocess.run([python, "-c", probe], env=environ(), capture_output=True, text=True, check=True)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    info["cpu"] = cpu_model()
    return info


def exact(info: dict) -> tuple[bool, str]:
    """Whether this machine reproduces the golden record bit for bit, and one line that says why.

    ``info`` is what ``platform()`` reports: exact needs x86-64, every one of PINS in the kernel's
    environment with its pinned value (ATen's ISA alone leaves oneDNN and MKL free to pick AVX-512),
    and ATen running AVX2 kernels on THREADS threads.
    """
    pins = f"{info['arch']}, {info['isa']} kernels, {info['threads']} threads"
    if info["arch"] not in ("x86_64", "AMD64"):
        return False, f"approximate comparison: {info['arch']} runs other kernels than the x86-64 golden record"
    have = info.get("pins", {})
    unpinned = [f"{k}={have[k]}" if k in have else f"{k} unset" for k, v in PINS.items() if have.get(k) != v]
    if unpinned:
        why = (f"{env.NATIVE_KERNELS} is on" if native()
               else "`python -m tools.execution env --pins` lists the pinned values")
        return False, f"approximate comparison: the kernel's environment is not pinned ({', '.join(unpinned)}; {why})"
    if info["isa"] != ISA:
        return False, f"approximate comparison: ATen runs {info['isa']} kernels here, the golden record {ISA}"
    if info["threads"] != THREADS:
        return False, f"approximate comparison: {info['threads']} threads here, the golden record {THREADS}"
    return True, f"exact comparison with the golden record ({pins})"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or _platform.machine()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "mode"
    if command == "env":  # `env --pins`: only what makes numbers depend on the machine (for `make lab`)
        chosen = PINS if "--pins" in argv else ENV
        print(" ".join(f"{k}={shlex.quote(v)}" for k, v in chosen.items()))
        return 0
    python = argv[1] if len(argv) > 1 else sys.executable
    info = platform(python)
    if command == "platform":
        print(json.dumps(info))
        return 0
    if command == "mode":
        if problem := seed_offset_problem():
            print(f"no comparison with the golden record: {problem}", file=sys.stderr)
            return 2
        ok, line = exact(info)
        print(line)
        return 0 if ok else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
