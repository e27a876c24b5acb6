"""Read what the simulator needs from a Cortex-M ELF image (with pyelftools).

* ``segments``: the PT_LOAD segments placed at their physical address (``p_paddr``),
  which is where a flash programmer or ``qemu -kernel`` puts the bytes; copying
  ``.data`` to its RAM address is the startup code's job.
* ``initial_sp`` / ``entry``: words 0 and 1 of the vector table, which sits at the
  lowest loaded address (``entry`` keeps the Thumb bit cleared).
* ``functions``: the STT_FUNC symbols (Thumb bit cleared), to attribute cycles.
* ``sizes``: ``text``/``data``/``bss`` computed as binutils' ``size`` (Berkeley
  format) does: of the SHF_ALLOC sections, executable or read-only ones count as
  text, the other PROGBITS ones as data and the other NOBITS ones as bss.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile


@dataclass(frozen=True)
class Segment:
    address: int
    data: bytes
    mem_size: int


@dataclass(frozen=True)
class Function:
    name: str
    start: int
    size: int


@dataclass(frozen=True)
class Image:
    path: Path
    segments: tuple[Segment, ...]
    initial_sp: int
    entry: int
    functions: tuple[Function, ...]  # sorted by start address
    function_starts: tuple[int, ...]
    sizes: dict[str, int]
    symbols: dict[str, int]  # every named symbol's value (functions without the Thumb bit)

    def function_at(self, address: int) -> Function | None:
        """The function holding ``address``: the last one starting at or before it,
        if ``address`` is within its size (a size-0 symbol, e.g. an assembly label
        without ``.size``, extends to the next function)."""
        i = bisect.bisect_right(self.function_starts, address) - 1
        if i < 0:
            return None
        f = self.functions[i]
        if f.size == 0 or address < f.start + f.size:
            return f
        return None

    def function_named(self, name: str) -> Function:
        for f in self.functions:
            if f.name == name:
                return f
        raise KeyError(f"no function symbol {name!r} in {self.path}")

    def read_word(self, address: int) -> int:
        for s in self.segments:
            if s.address <= address and address + 4 <= s.address + len(s.data):
                offset = address - s.address
                return int.from_bytes(s.data[offset:offset + 4], "little")
        raise ValueError(f"{self.path}: no loaded bytes at {address:#010x}")


def berkeley_sizes(elf: ELFFile) -> dict[str, int]:
    """text/data/bss exactly as ``arm-none-eabi-size`` (binutils size.c, berkeley_sum)."""
    sizes = {"text": 0, "data": 0, "bss": 0}
    for section in elf.iter_sections():
        flags = section["sh_flags"]
        if not flags & SH_FLAGS.SHF_ALLOC:
            continue
        if flags & SH_FLAGS.SHF_EXECINSTR or not flags & SH_FLAGS.SHF_WRITE:
            sizes["text"] += section["sh_size"]
        elif section["sh_type"] != "SHT_NOBITS":
            sizes["data"] += section["sh_size"]
        else:
            sizes["bss"] += section["sh_size"]
    return sizes


def load_image(path: str | Path) -> Image:
    path = Path(path)
    with open(path, "rb") as f:
        elf = ELFFile(f)
        if elf["e_machine"] != "EM_ARM" or elf.elfclass != 32:
            raise ValueError(f"{path}: not a 32-bit ARM ELF")
        segments = tuple(
            Segment(seg["p_paddr"], seg.data(), seg["p_memsz"])
            for seg in elf.iter_segments()
            if seg["p_type"] == "PT_LOAD" and seg["p_filesz"] > 0)
        functions = []
        symbols = {}
        symtab = elf.get_section_by_name(".symtab")
        if symtab is not None:
            seen = set()
            for sym in symtab.iter_symbols():
                if sym.name and sym["st_shndx"] != "SHN_UNDEF":
                    is_func = sym["st_info"]["type"] == "STT_FUNC"
                    symbols[sym.name] = sym["st_value"] & ~1 if is_func else sym["st_value"]
                if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] == "SHN_UNDEF":
                    continue
                key = (sym.name, sym["st_value"] & ~1)
                if key not in seen:
                    seen.add(key)
                    functions.append(Function(sym.name, sym["st_value"] & ~1, sym["st_size"]))
        sizes = berkeley_sizes(elf)
    if not segments:
        raise ValueError(f"{path}: no loadable segment")
    functions.sort(key=lambda f: (f.start, -f.size, f.name))
    vector_base = min(s.address for s in segments)
    words = Image(path, segments, 0, 0, (), (), sizes, symbols)
    return Image(path, segments, words.read_word(vector_base),
                 words.read_word(vector_base + 4) & ~1, tuple(functions),
                 tuple(f.start for f in functions), sizes, symbols)
