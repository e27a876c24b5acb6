"""Run a Cortex-M ELF in unicorn and count cycles with a block-level timing model.

Speed: no per-instruction hook.  One UC_HOOK_BLOCK callback per executed basic
block looks the block up in a cache (decoded once with capstone, costed once by
``timing.block_cost``) and adds its static cycles.  The dynamic part, the refill
after a *taken* conditional branch, is decided at the start of the next block: the
branch was taken iff that block is not the previous block's fall-through address.
Where unicorn ends a block inside straight-line code (at a 1 KB page boundary or its
block-size limit), the pairwise rules across the split are added when the next block
starts (``_join``), so a function's cycles do not depend on where it was linked.

Attribution:
* exclusive (``per_function``): each block's cycles go to the function symbol that
  holds its first instruction (taken-branch refill goes to the branching block);
* inclusive (``inclusive``): a shadow call stack.  A block ending with BL/BLX that is
  followed by a block other than its fall-through pushes a frame (callee = function
  of that block, return address = the fall-through); entering the return address on
  top of the stack pops it.  A function's inclusive cycles are those spent while it
  has a frame on the stack (counted once under recursion), so they include its
  callees and its own return branch.  A tail call (B to another function) stays in
  the frame of the function that made it; frames still open at exit are closed then.
  ``calls`` counts BL/BLX calls.

The System Control Space page (0xE000E000, 4 KB: CPACR, SysTick, NVIC) is mapped as
plain memory so that startup code can write CPACR; unicorn's FPU is usable anyway.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path

import capstone
import unicorn
from unicorn import arm_const as uc_arm

from . import semihosting, timing
from .elf import Image, load_image

SCS_BASE, SCS_SIZE = 0xE000E000, 0x1000
BKPT_SEMIHOSTING = 0xBEAB
EXCP_BKPT = 7
NO_SYMBOL = "<no symbol>"
UC_CPUS = {
    "cortex-m4": uc_arm.UC_CPU_ARM_CORTEX_M4,
    "cortex-m7": uc_arm.UC_CPU_ARM_CORTEX_M7,
    "cortex-m0plus": uc_arm.UC_CPU_ARM_CORTEX_M0,
}


class SimError(RuntimeError):
    """The simulated program did something the simulator cannot continue from."""

    def __init__(self, message: str, pc: int, symbol: str):
        super().__init__(f"{message} (pc={pc:#010x} in {symbol})")
        self.pc = pc
        self.symbol = symbol


@dataclass(frozen=True)
class MemoryMap:
    """Memory regions as (base, size) pairs; sizes are multiples of 4 KB."""
    regions: tuple[tuple[int, int], ...]

    @classmethod
    def mps2_an386(cls) -> "MemoryMap":
        """QEMU's mps2-an386: 4 MB SSRAM1 at 0 (code), 4 MB SSRAM2/3 at 0x20000000."""
        return cls(((0x00000000, 0x400000), (0x20000000, 0x400000)))

    @classmethod
    def stm32(cls, flash_size: int = 0x200000, ram_size: int = 0x80000) -> "MemoryMap":
        """STM32-style: flash at 0x08000000, SRAM at 0x20000000."""
        return cls(((0x08000000, flash_size), (0x20000000, ram_size)))


@dataclass
class Block:
    """A decoded basic block with its static cost and execution counters."""
    address: int
    size: int
    function: str
    cost: timing.BlockCost
    count: int = 0
    taken: int = 0
    joined: int = 0   # cycles of the pairwise rules across a split from the block before

    @property
    def cycles(self) -> int:
        return self.count * self.cost.cycles + self.taken * self.cost.taken_penalty + self.joined

    @property
    def instructions(self) -> int:
        return self.count * self.cost.instructions


@dataclass
class RunResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    cycles: int
    instructions: int
    per_function: dict[str, dict[str, int]]   # exclusive: cycles, instructions, calls
    inclusive: dict[str, dict[str, int]]      # with callees: cycles, instructions, calls
    blocks: list[Block] = field(repr=False)
    image: Image = field(repr=False)

    def cycles_in_ranges(self, ranges) -> int:
        """Cycles of the blocks whose first instruction lies in one of the
        half-open address ranges [lo, hi)."""
        return sum(b.cycles for b in self.blocks
                   if any(lo <= b.address < hi for lo, hi in ranges))

    def cycles_in_function(self, name: str) -> int:
        """Exclusive cycles of the blocks inside the named function's symbol range."""
        f = self.image.function_named(name)
        return self.cycles_in_ranges([(f.start, f.start + f.size)])


class _Memory:
    def __init__(self, uc: unicorn.Uc):
        self.uc = uc

    def read(self, address: int, n: int) -> bytes:
        return bytes(self.uc.mem_read(address, n))

    def write(self, address: int, data: bytes) -> None:
        self.uc.mem_write(address, bytes(data))


class Simulator:
    """One run of one ELF; use ``run_elf`` unless you need the pieces."""

    def __init__(self, path: str | Path, core: str = "cortex-m4", *,
                 memory: MemoryMap | None = None, stdin: bytes = b"", cwd: str | Path = ".",
                 argv: list[str] | None = None, max_instructions: int = 10**10,
                 clock_hz: int = 25_000_000):
        if core not in timing.CORES:
            raise ValueError(f"unknown core {core!r}; known: {', '.join(timing.CORES)}")
        self.image = load_image(path)
        self.model = timing.CORES[core]
        self.max_instructions = max_instructions
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS,
                             cpu=UC_CPUS[core])
        self.md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.md.detail = True
        self._map_memory(memory or MemoryMap.mps2_an386())
        self.semihost = semihosting.Semihost(
            _Memory(self.uc), lambda: self.counters()[0], stdin=stdin, cwd=cwd,
            argv=argv if argv is not None else [Path(path).name], clock_hz=clock_hz,
            heap_base=self.image.symbols.get("end", self.image.symbols.get("_end", 0)),
            initial_sp=self.image.initial_sp)
        self.blocks: dict[int, Block] = {}
        self.variants: dict[tuple[int, int], Block] = {}
        self.joins: dict[tuple[int, int, int, int], int] = {}
        self.exit_code: int | None = None
        self.error: Exception | None = None
        self.calls: dict[str, int] = {}             # BL/BLX calls per callee
        self.inclusive: dict[str, list[int]] = {}   # name -> [cycles, instructions]
        self._on_block, self.counters, self._close_frames = self._block_hook()
        self._hooks = []

    def _map_memory(self, memory: MemoryMap) -> None:
        for base, size in memory.regions + ((SCS_BASE, SCS_SIZE),):
            self.uc.mem_map(base, size)
        for seg in self.image.segments:
            try:
                self.uc.mem_write(seg.address, seg.data)
            except unicorn.UcError:
                raise ValueError(f"{self.image.path}: segment at {seg.address:#010x} "
                                 f"({len(seg.data)} bytes) is outside the memory map") from None

    def symbol(self, address: int) -> str:
        f = self.image.function_at(address)
        return f.name if f else NO_SYMBOL

    def _error(self, message: str, pc: int | None = None) -> SimError:
        pc = self.uc.reg_read(uc_arm.UC_ARM_REG_PC) if pc is None else pc
        return SimError(message, pc, self.symbol(pc))

    # -- blocks --------------------------------------------------------------
    def _block(self, address: int, size: int) -> Block:
        """The block at ``address`` of ``size`` bytes, decoded and costed on first use.
        ``blocks`` holds the first block seen at an address (the fast lookup);
        ``variants`` any later block starting there with another size."""
        variant = self.variants.get((address, size))
        if variant is not None:
            return variant
        cost = self._cost(self._decode(address, size), address)
        block = Block(address, size, self.symbol(address), cost)
        self.variants[(address, size)] = block
        self.blocks.setdefault(address, block)
        return block

    def _decode(self, address: int, size: int) -> list:
        code = bytes(self.uc.mem_read(address, size))
        insns = list(self.md.disasm(code, address))
        if not insns or sum(i.size for i in insns) != size:
            raise self._error(f"cannot decode the {size}-byte block at {address:#010x}", address)
        return insns

    def _cost(self, insns: list, address: int) -> timing.BlockCost:
        try:
            return timing.block_cost(self.model, insns)
        except timing.UnsupportedInstruction as e:
            raise self._error(str(e), address) from None

    def _join(self, a: Block, b: Block) -> int:
        """Cycles to add when ``b`` runs straight on from ``a``, a block unicorn ended
        without a control transfer (at a 1 KB page boundary, or its block-size limit):
        the pairwise rules (load pipelining, address and FP-result stalls, M7 dual
        issue) between a's last and b's first instructions, which costing each block on
        its own misses.  Costed once per pair of blocks."""
        key = (a.address, a.size, b.address, b.size)
        if key not in self.joins:
            both = self._decode(a.address, a.size) + self._decode(b.address, b.size)
            self.joins[key] = self._cost(both, a.address).cycles - a.cost.cycles - b.cost.cycles
        return self.joins[key]

    def _block_hook(self):
        """The per-block callback, written for speed (closure cells, no attribute
        writes on the common path).  Returns (callback, counters, close_frames)."""
        blocks = self.blocks
        limit = self.max_instructions
        calls, inclusive, active = self.calls, self.inclusive, {}
        frames = []  # (return address, function, cycles, instructions) at the call
        prev = Block(-1, 0, NO_SYMBOL, timing.BlockCost(0, 0, 0, -1, False))
        ret_top = -1
        cycles = instructions = 0
        sim = self

        def pop_frame():
            _, function, c0, i0 = frames.pop()
            active[function] -= 1
            if active[function] == 0:
                total = inclusive.setdefault(function, [0, 0])
                total[0] += cycles - c0
                total[1] += instructions - i0
            return frames[-1][0] if frames else -1

        def on_block(_handle, address, size, _key):
            nonlocal prev, ret_top, cycles, instructions
            try:
                b = blocks.get(address)
                if b is None or b.size != size:
                    b = sim._block(address, size)
                pcost = prev.cost
                if pcost.open_end and address == pcost.fallthrough:
                    extra = sim._join(prev, b)
                    b.joined += extra
                    cycles += extra
                elif address != pcost.fallthrough:
                    if pcost.taken_penalty:
                        cycles += pcost.taken_penalty
                        prev.taken += 1
                    if address == ret_top:
                        ret_top = pop_frame()
                    if pcost.is_call:
                        calls[b.function] = calls.get(b.function, 0) + 1
                        active[b.function] = active.get(b.function, 0) + 1
                        frames.append((pcost.fallthrough, b.function, cycles, instructions))
                        ret_top = pcost.fallthrough
                b.count += 1
                cycles += b.cost.cycles
                instructions += b.cost.instructions
                if instructions > limit:
                    raise sim._error(f"instruction limit {limit} reached", address)
                prev = b
            except Exception as e:  # noqa: BLE001 - reported after emu_start returns
                sim.error = sim.error or e
                sim.uc.emu_stop()

        def counters():
            return cycles, instructions

        def close_frames():
            while frames:
                pop_frame()

        return on_block, counters, close_frames

    # -- semihosting and faults ----------------------------------------------
    def _on_interrupt(self, uc, intno, _user_data):
        try:
            pc = uc.reg_read(uc_arm.UC_ARM_REG_PC)
            if intno != EXCP_BKPT or int.from_bytes(uc.mem_read(pc, 2), "little") != BKPT_SEMIHOSTING:
                raise self._error(f"unhandled exception {intno} (not a semihosting BKPT 0xAB)", pc)
            op = uc.reg_read(uc_arm.UC_ARM_REG_R0)
            arg = uc.reg_read(uc_arm.UC_ARM_REG_R1)
            try:
                result = self.semihost.call(op, arg)
            except semihosting.Exited as e:
                self.exit_code = e.code
                uc.emu_stop()
                return
            except semihosting.UnknownOperation as e:
                raise self._error(str(e), pc) from None
            uc.reg_write(uc_arm.UC_ARM_REG_R0, result)
            uc.reg_write(uc_arm.UC_ARM_REG_PC, (pc + 2) | 1)
        except Exception as e:  # noqa: BLE001 - reported after emu_start returns
            self.error = self.error or e
            uc.emu_stop()

    def _on_invalid_memory(self, uc, access, address, size, _value, _user_data):
        kinds = {unicorn.UC_MEM_READ_UNMAPPED: "read from unmapped",
                 unicorn.UC_MEM_WRITE_UNMAPPED: "write to unmapped",
                 unicorn.UC_MEM_FETCH_UNMAPPED: "fetch from unmapped",
                 unicorn.UC_MEM_WRITE_PROT: "write to protected",
                 unicorn.UC_MEM_FETCH_PROT: "fetch from non-executable"}
        kind = kinds.get(access, "invalid access to")
        self.error = self.error or self._error(f"{kind} address {address:#010x} ({size} bytes)")
        return False

    def _add_block_hook(self, callback) -> None:
        """UC_HOOK_BLOCK through unicorn's C entry point: the Python binding's wrapper
        adds two Python call levels per block, which halves the simulation speed."""
        from unicorn.unicorn_py3 import unicorn as binding
        fptr = binding.HOOK_CODE_CFUNC(callback)
        handle = binding.uc_hook_h()
        status = binding.uclib.uc_hook_add(self.uc._uch, ctypes.byref(handle), unicorn.UC_HOOK_BLOCK,
                                           fptr, None, ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status != unicorn.UC_ERR_OK:
            raise unicorn.UcError(status)
        self._hooks.append(fptr)

    # -- running -------------------------------------------------------------
    def run(self) -> RunResult:
        uc = self.uc
        uc.reg_write(uc_arm.UC_ARM_REG_SP, self.image.initial_sp)
        uc.reg_write(uc_arm.UC_ARM_REG_LR, 0xFFFFFFFF)  # returning from reset faults
        self._add_block_hook(self._on_block)
        uc.hook_add(unicorn.UC_HOOK_INTR, self._on_interrupt)
        uc.hook_add(unicorn.UC_HOOK_MEM_INVALID, self._on_invalid_memory)
        try:
            uc.emu_start(self.image.entry | 1, 0xFFFFFFFF)
        except unicorn.UcError as e:
            if self.error is None:
                self.error = self._error(f"unicorn stopped: {e}")
        finally:
            self.semihost.close_all()
        if self.error is not None:
            raise self.error
        if self.exit_code is None:
            raise self._error("the program stopped without a semihosting exit")
        self._close_frames()
        return self._result()

    def _result(self) -> RunResult:
        per_function: dict[str, dict[str, int]] = {}
        for b in self.variants.values():
            entry = per_function.setdefault(b.function, {"cycles": 0, "instructions": 0, "calls": 0})
            entry["cycles"] += b.cycles
            entry["instructions"] += b.instructions
        for name, calls in self.calls.items():
            per_function.setdefault(name, {"cycles": 0, "instructions": 0, "calls": 0})["calls"] = calls
        inclusive = {name: {"cycles": c, "instructions": i, "calls": self.calls.get(name, 0)}
                     for name, (c, i) in self.inclusive.items()}
        sh = self.semihost
        cycles, instructions = self.counters()
        return RunResult(self.exit_code, bytes(sh.stdout.data), bytes(sh.stderr.data),
                         cycles, instructions, per_function, inclusive,
                         list(self.variants.values()), self.image)


def run_elf(path: str | Path, core: str = "cortex-m4", *, stdin: bytes = b"",
            cwd: str | Path = ".", argv: list[str] | None = None,
            memory: MemoryMap | None = None, max_instructions: int = 10**10,
            clock_hz: int = 25_000_000) -> RunResult:
    """Run ``path`` until it exits through semihosting; raise SimError on a fault,
    an unhandled exception or after ``max_instructions``.  ``argv`` (default: the
    file name) is what SYS_GET_CMDLINE returns, joined by spaces."""
    return Simulator(path, core, memory=memory, stdin=stdin, cwd=cwd, argv=argv,
                     max_instructions=max_instructions, clock_hz=clock_hz).run()
