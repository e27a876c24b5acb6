"""Targets are data: one ``targets/<name>.toml`` per target, loaded into ``Target``.

Adding a board means adding a file; a board file may start with ``base = "<core>"``
to take every key of ``targets/<core>.toml`` and override some (tables are merged).
Keys other than the ones typed here are kept in ``Target.extra``; MCU targets
(``kind = "mcu"``) describe their board in an ``[mcu]`` table (``MCU_KEYS``), FPGA
targets (``kind = "fpga"``, backend ``hls``) their device in an ``[fpga]`` table
(``FPGA_KEYS``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import BnnccError
from .resources import targets_dir

BACKENDS = ("c", "hls")
POPCOUNTS = ("builtin", "swar", "harley_seal", "usada8")
HS_BLOCKS = (8, 16)


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    backend: str          # which code generator renders it ("c")
    kind: str             # "host" | "portable" | "mcu" | "fpga"
    word_bits: int        # width of a packed bit word (32 or 64)
    popcount: str         # kernel strategy for popcount
    cc: str               # compiler used by `bnncc verify`
    cflags: tuple[str, ...]
    max_lut_bytes: int    # largest lookup table a float tail may become
    source: Path
    extra: dict = field(default_factory=dict, compare=False)
    hs_block: int = 8     # Harley-Seal block (words per carry-save round): 8 or 16

    @property
    def variant(self) -> str:
        """The kernel variant's name: popcount strategy, Harley-Seal block, word width
        (``harley_seal-b8-w32``, ``swar-w32``): the key of its ``[estimate]`` table."""
        return kernel_variant_name(self.popcount, self.hs_block, self.word_bits)

    @property
    def mcu(self) -> dict:
        """The [mcu] table (board, core, clock, memory map, energy) of an MCU target."""
        return dict(self.extra.get("mcu", {}))

    @property
    def fpga(self) -> dict:
        """The [fpga] table (board, part, clock, device resources) of an FPGA target."""
        return dict(self.extra.get("fpga", {}))


MCU_KEYS = {"board", "core", "fpu", "clock_hz", "flash_origin", "flash_bytes", "ram_origin", "ram_bytes",
            "stack_bytes", "energy_nj_per_cycle"}
FPGA_KEYS = {"board", "family", "part", "clock_hz", "luts", "ffs", "bram36", "uram", "dsps",
             # fixed shell (DMA, control) and power model of hw_sim.fpga (power.POWER_KEYS)
             "shell_luts", "shell_ffs", "shell_bram36",
             "static_w", "uw_per_mhz_lut", "uw_per_mhz_ff", "uw_per_mhz_bram36", "uw_per_mhz_dsp", "toggle_rate"}


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BnnccError(f"cannot read target file: {exc}", where=str(path)) from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _parse(path: Path) -> Target:
    raw = _read(path)
    seen = {path.stem}
    while "base" in raw:  # a board file refines a core file: base = "cortex-m4"
        base = str(raw.pop("base"))
        if base in seen:
            raise BnnccError(f"target files inherit from each other in a cycle ({base})", where=str(path))
        seen.add(base)
        raw = _merge(_read(path.parent / f"{base}.toml"), raw)
    known = {"name", "description", "backend", "kind", "word_bits", "popcount", "hs_block", "cc", "cflags",
             "max_lut_bytes"}
    try:
        t = Target(
            name=str(raw["name"]),
            description=str(raw.get("description", "")),
            backend=str(raw["backend"]),
            kind=str(raw["kind"]),
            word_bits=int(raw["word_bits"]),
            popcount=str(raw["popcount"]),
            cc=str(raw.get("cc", "cc")),
            cflags=tuple(str(f) for f in raw.get("cflags", [])),
            max_lut_bytes=int(raw.get("max_lut_bytes", 65536)),
            hs_block=int(raw.get("hs_block", 8)),
            source=path,
            extra={k: v for k, v in raw.items() if k not in known},
        )
    except KeyError as exc:
        raise BnnccError(f"target file lacks key {exc}", where=str(path)) from None
    if t.backend not in BACKENDS:
        raise BnnccError(f"unknown backend '{t.backend}' (known: {', '.join(BACKENDS)})", where=str(path))
    if t.kind == "mcu":
        missing = MCU_KEYS - set(t.mcu)
        if missing:
            raise BnnccError(f"[mcu] lacks {', '.join(sorted(missing))}", where=str(path))
    if t.kind == "fpga":
        missing = FPGA_KEYS - set(t.fpga)
        if missing:
            raise BnnccError(f"[fpga] lacks {', '.join(sorted(missing))}", where=str(path))
    _check_kernel(t, str(path))
    return t


def kernel_variant_name(popcount: str, hs_block: int, word_bits: int) -> str:
    block = f"-b{hs_block}" if popcount == "harley_seal" else ""
    return f"{popcount}{block}-w{word_bits}"


def has_dsp(t: Target) -> bool:
    """The core has Armv7E-M's DSP extension (USADA8): ``[mcu] dsp = true``."""
    return bool(t.mcu.get("dsp", False))


def _check_kernel(t: Target, where: str) -> None:
    if t.popcount not in POPCOUNTS:
        raise BnnccError(f"unknown popcount strategy '{t.popcount}' (known: {', '.join(POPCOUNTS)})", where=where)
    if t.word_bits not in (32, 64):
        raise BnnccError(f"word width must be 32 or 64 bits, not {t.word_bits}", where=where)
    if t.hs_block not in HS_BLOCKS:
        raise BnnccError(f"the Harley-Seal block must be 8 or 16 words, not {t.hs_block}", where=where)
    if t.popcount != "harley_seal" and t.hs_block != 8:
        raise BnnccError(f"a Harley-Seal block ({t.hs_block}) needs the harley_seal popcount, not {t.popcount}",
                         where=where)
    if t.popcount == "usada8" and t.kind == "mcu" and not has_dsp(t):
        raise BnnccError(f"usada8 needs the DSP extension, which {t.mcu['core']} lacks", where=where)
    if t.popcount == "usada8" and t.kind == "mcu" and t.word_bits != 32:
        raise BnnccError("usada8 works on 32-bit words (USADA8 sums 4 bytes)", where=where)


def with_kernel(t: Target, popcount: str | None = None, hs_block: int | None = None,
                word_bits: int | None = None) -> Target:
    """``t`` with another C kernel variant (compile --popcount/--hs-block/--word-bits),
    checked: a bad choice is a one-line BnnccError naming the target."""
    if popcount is None and hs_block is None and word_bits is None:
        return t
    if t.backend != "c":
        raise BnnccError("--popcount, --hs-block and --word-bits choose C kernels; "
                         f"'{t.name}' uses the {t.backend} backend")
    pc = t.popcount if popcount is None else str(popcount)
    hs = (t.hs_block if pc == "harley_seal" else 8) if hs_block is None else int(hs_block)
    out = replace(t, popcount=pc, hs_block=hs, word_bits=t.word_bits if word_bits is None else int(word_bits))
    _check_kernel(out, t.name)
    return out


def kernel_variants(t: Target) -> list[tuple[str, int, int]]:
    """Every valid (popcount, hs_block, word_bits) of an MCU target, its own first."""
    out = [(t.popcount, t.hs_block, t.word_bits)]
    for wb in (32, 64):
        for pc in POPCOUNTS:
            for hs in (HS_BLOCKS if pc == "harley_seal" else (8,)):
                try:
                    with_kernel(t, pc, hs, wb)
                except BnnccError:
                    continue
                if (pc, hs, wb) not in out:
                    out.append((pc, hs, wb))
    return out


def all_targets() -> dict[str, Target]:
    out = {}
    for path in sorted(targets_dir().glob("*.toml")):
        t = _parse(path)
        out[t.name] = t
    return out


def load_target(name: str) -> Target:
    targets = all_targets()
    if name not in targets:
        raise BnnccError(f"unknown target '{name}' (known: {', '.join(sorted(targets))})")
    return targets[name]


def resolve_target(name: str, board: str | None = None) -> Target:
    """``--target name [--board board]``: the board file, which must be an MCU target
    for the same core as ``name`` (or ``name`` itself)."""
    t = load_target(name)
    if board is None:
        return t
    b = load_target(board)
    if b.kind != "mcu":
        raise BnnccError(f"'{board}' is not an MCU board file", where=str(b.source))
    if t.kind != "mcu" or (b.name != t.name and b.mcu["core"] != t.mcu["core"]):
        raise BnnccError(f"board '{board}' ({b.mcu['core']}) does not fit target '{name}'")
    return b
