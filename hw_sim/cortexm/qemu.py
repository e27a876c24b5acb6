"""Run an ELF under ``qemu-system-arm`` (machine mps2-an386, Cortex-M4) with
semihosting on the host, to cross-check the simulator's output and exit code.

QEMU 7.2 sends semihosting SYS_WRITE to ``:tt`` to its own stdout/stderr, but the
semihosting console calls SYS_WRITEC/SYS_WRITE0 to stderr (unless a chardev is
configured, which then also takes over stdin); compare stdout of programs that
print with SYS_WRITE.  The exit code is the process exit status (0..255).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

QEMU = "qemu-system-arm"


def qemu_available() -> bool:
    return shutil.which(QEMU) is not None


def _escape(arg: str) -> str:
    return arg.replace(",", ",,")  # QEMU option syntax doubles literal commas


def run_qemu(path: str | Path, *, stdin: bytes = b"", cwd: str | Path = ".",
             argv: list[str] | None = None, machine: str = "mps2-an386",
             timeout: float = 60.0) -> tuple[int, bytes]:
    """Returns (exit code, stdout).  ``argv`` defaults to the file name, as in
    ``run_elf``; raises subprocess.TimeoutExpired after ``timeout`` seconds."""
    argv = argv if argv is not None else [Path(path).name]
    semihosting = "enable=on,target=native" + "".join(f",arg={_escape(a)}" for a in argv)
    command = [QEMU, "-M", machine, "-nographic", "-monitor", "none", "-serial", "none",
               "-semihosting-config", semihosting, "-kernel", str(Path(path).resolve())]
    done = subprocess.run(command, input=stdin, cwd=cwd, capture_output=True, timeout=timeout)
    return done.returncode, done.stdout
