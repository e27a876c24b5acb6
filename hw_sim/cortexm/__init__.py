"""Cortex-M instruction-set simulator (unicorn) with block-level cycle models, plus a
QEMU runner for cross-checking output.  See README.md for the timing model."""

from .elf import Image, load_image
from .iss import MemoryMap, RunResult, SimError, Simulator, run_elf
from .qemu import qemu_available, run_qemu
from .timing import CORES

__all__ = ["CORES", "Image", "MemoryMap", "RunResult", "SimError", "Simulator",
           "load_image", "qemu_available", "run_elf", "run_qemu"]
