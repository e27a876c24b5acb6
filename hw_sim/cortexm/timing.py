"""Static cycle models of Cortex-M cores, applied to one basic block at a time.

A block's cost is split in two:

* ``BlockCost.cycles``: everything known from the instructions alone, assuming a
  conditional final branch is *not* taken (unconditional branches include their
  pipeline refill here);
* ``BlockCost.taken_penalty``: the refill cycles added by the simulator when the
  next executed block is not the fall-through, i.e. the conditional branch was taken.

Model assumptions common to all cores (stated once, true for every number below):
zero-wait-state memory, no interrupts, aligned accesses, an instruction whose
condition fails inside an IT block costs the same as when it executes, and SDIV/UDIV
take a fixed documented number of cycles (their real early-termination time depends
on the operand values, which a block-level model does not see).

Cortex-M4 (``cortex-m4``): Cortex-M4 Technical Reference Manual r0p1 (ARM DDI 0439D),
section 3.3.1 "Cortex-M4 instructions" (Table 3-1, Table 3-2 DSP), 3.3.2 "Load/store
timings" and 7.2.3 "FPU instruction set" (Table 7-1); hw_sim/cortexm/README.md has the
line-by-line table with the TRM value beside each.  P, the pipeline refill after a
taken branch (the TRM: "ranges from 1 to 3"), is 1 for an immediate branch (B, Bcc,
BL, CBZ/CBNZ) and 2 for a branch to a register (BX, BLX Rm, MOV pc) -- the Cortex-M3
TRM r1p1's note "taken branches with an immediate are normally 1 cycle of pipeline
reload, with register operand normally 2"; the M4 TRM has no such note -- and 3 after
a load to the PC (LDR pc, POP/LDM {..,pc}, TBB/TBH: 3.3.2 "LDR PC,[any] ... at least
two cycles for the load, and three cycles for the pipeline reload"; TBB/TBH "two
cycles for the load, one cycle for the add, and three cycles for the pipeline
reload").  Single LDR/STR are 2 cycles and pipeline: one that directly follows a
single LDR/STR costs 1, unless its address registers use the register the previous
load wrote, or the previous instruction was a store with a register offset (3.3.2).
LDRD/STRD and LDM/STM do not pipeline with their neighbours.  A load or store whose
address registers the directly preceding data-processing instruction wrote costs 1
more (3.3.2: "no forwarding path"); an FP arithmetic instruction or conversion whose
result the next instruction reads costs 1 more, unless that reader is a multiply-
accumulate taking it as its addend (7.2.3 notes).  VMOV between a core register and
an FP register is 2, VLDR/VSTR of a D register 3 (Table 7-1).  IT is counted as 1
cycle (the TRM allows folding it into the preceding 16-bit instruction; this model
never folds).  LDR from a PC-relative literal is not charged the "might add a cycle"
of 3.3.2.  Both stalls are seen within a basic block only: an instruction's
predecessor in another block (a branch target's) is not known to a block-level model.
STR: Table 3-1 says 2 (pipelined as above), while a bullet of 3.3.2 says "STR
Rx,[Ry,#imm] is always one cycle" and "nothing can be pipelined after the store"; the
model keeps the table's 2 and pipelines a load/store after an immediate-offset STR,
which gives the same total for a STR followed by a load or store (1 + 2 = 2 + 1) and
one cycle more than the bullet for a STR followed by anything else.

Cortex-M0+ (``cortex-m0plus``): Cortex-M0+ TRM section 3.3 (ARMv6-M, 2-stage
pipeline).  Single-cycle multiplier implementation option assumed (MULS 1, not 32).
LDR/STR 2 with no pipelining, taken B/Bcc 2, BL 3, BX/BLX 2, POP {pc} 3+N, LDM/STM/
PUSH/POP 1+N, MRS/MSR/barriers 3.  ARMv6-M has no DSP, divide or FPU instructions.

Cortex-M7 (``cortex-m7``): coarse.  The six-stage superscalar pipeline is
approximated by pairing: two neighbouring instructions issue in the same cycle when
both are single-cycle ALU/load/store/branch instructions, at most one of them
accesses memory, the second does not read a register the first writes, and the first
is not a branch.  Loads and stores are 1 issue cycle, LDM/STM move two registers per
cycle (64-bit bus), immediate branches are assumed predicted (no refill), register
branches refill 2.  Other numbers are the Cortex-M4 ones.  Treat M7 cycle counts as
estimates, not as exact figures.
"""

from __future__ import annotations

from dataclasses import dataclass

from capstone import arm_const as arm

ALU, MUL, DIV, LOAD, STORE, DOUBLE, MULTI, BRANCH, BL, TABLE, IT, SYS, BARRIER = (
    "alu", "mul", "div", "load", "store", "double", "multi", "branch", "bl", "table",
    "it", "sys", "barrier")
VFP, VMAC, VDIV, VSQRT, VMEM, VMULTI = "vfp", "vmac", "vdiv", "vsqrt", "vmem", "vmulti"
VMOVX, VMEM64 = "vmovx", "vmem64"  # VMOV core <-> FP register; VLDR/VSTR of a D register

# Mnemonics (capstone's insn_name(): no condition, width or type suffix) per class;
# anything not listed is a single-cycle data-processing instruction (ALU).
CLASSES = {
    MUL: {"mul", "mla", "mls", "smull", "umull", "smlal", "umlal", "umaal",
          "smulbb", "smulbt", "smultb", "smultt", "smulwb", "smulwt",
          "smlabb", "smlabt", "smlatb", "smlatt", "smlawb", "smlawt",
          "smlalbb", "smlalbt", "smlaltb", "smlaltt", "smmul", "smmulr", "smmla",
          "smmlar", "smmls", "smmlsr", "smuad", "smuadx", "smusd", "smusdx",
          "smlad", "smladx", "smlsd", "smlsdx", "smlald", "smlaldx", "smlsld",
          "smlsldx", "usad8", "usada8"},
    DIV: {"sdiv", "udiv"},
    LOAD: {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "ldrex", "ldrexb", "ldrexh",
           "ldrt", "ldrbt", "ldrht", "ldrsbt", "ldrsht"},
    STORE: {"str", "strb", "strh", "strex", "strexb", "strexh", "strt", "strbt",
            "strht"},
    DOUBLE: {"ldrd", "strd"},
    MULTI: {"ldm", "ldmdb", "stm", "stmdb", "push", "pop"},
    BRANCH: {"b", "bx", "blx", "cbz", "cbnz"},
    BL: {"bl"},
    TABLE: {"tbb", "tbh"},
    IT: {"it"},
    SYS: {"mrs", "msr"},
    BARRIER: {"dmb", "dsb", "isb"},
    VFP: {"vadd", "vsub", "vmul", "vnmul", "vmov", "vcvt", "vcvtr", "vcvtb",
          "vcvtt", "vabs", "vneg", "vcmp", "vcmpe", "vmrs", "vmsr"},
    VMAC: {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"},
    VDIV: {"vdiv"},
    VSQRT: {"vsqrt"},
    VMEM: {"vldr", "vstr"},
    VMULTI: {"vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop"},
}
CLASS_OF = {name: cls for cls, names in CLASSES.items() for name in names}
CALLS = {"bl", "blx"}
# FP arithmetic and conversions: 1 cycle longer when the next instruction reads the result
FP_RESULT = {"vadd", "vsub", "vmul", "vnmul", "vcvt", "vcvtr", "vcvtb", "vcvtt", "vdiv",
             "vsqrt"} | CLASSES[VMAC]
DATA_PROCESSING = (ALU, MUL, DIV)   # no forwarding path from these to an address
MEMORY = (LOAD, STORE, DOUBLE, MULTI, TABLE, VMEM, VMEM64, VMULTI)


@dataclass(frozen=True)
class CoreModel:
    """Cycles per instruction class.  ``cycles[MULTI]``/``cycles[VMULTI]`` are the
    fixed part of 1+N (N added per transferred word, or per two words when
    ``multi_per_cycle`` is 2); the ``p_*`` fields are the refill P of a taken branch."""
    name: str
    cycles: dict[str, int]
    p_imm: int        # after B, Bcc, BL, CBZ/CBNZ
    p_reg: int        # after BX, BLX Rm, MOV/ADD pc, TBB/TBH
    p_load_pc: int    # after POP {..,pc}, LDR pc, LDM {..,pc}
    pipelined_loads: bool = False
    agu_stall: bool = False       # +1: address register written by the previous data-processing insn
    fp_result_stall: bool = False  # +1: FP arithmetic result read by the next instruction
    dual_issue: bool = False
    multi_per_cycle: int = 1
    allowed: frozenset[str] | None = None  # None: any class
    thumb2: bool = True  # False: 32-bit encodings other than BL/MRS/MSR/barriers refused


# Cortex-M4 TRM r0p1, Table 3-1 (integer) and Table 7-1 (FPU); see module docstring.
CORTEX_M4 = CoreModel(
    name="cortex-m4",
    cycles={
        ALU: 1,       # 3.3 Table 3-1: ADD/SUB/logical/shift/move/compare/bitfield/SIMD 1
        MUL: 1,       # 3.3 Table 3-1: MUL, MLA, MLS, long and DSP multiplies 1
        DIV: 7,       # 3.3 Table 3-1: SDIV/UDIV 2-12; fixed mid value, see docstring
        LOAD: 2,      # 3.3 Table 3-1: LDR/LDRB/LDRH/... 2 (1 when pipelined, 3.3.1)
        STORE: 2,     # 3.3 Table 3-1: STR/STRB/STRH 2 (1 when pipelined, 3.3.1)
        DOUBLE: 3,    # 3.3.1: LDRD/STRD three cycles, not pipelined with neighbours
        MULTI: 1,     # 3.3 Table 3-1: LDM/STM/PUSH/POP 1+N
        BRANCH: 1,    # 3.3 Table 3-1: B/BX/BLX/CBZ 1+P (P added when taken)
        BL: 1,        # 3.3 Table 3-1: BL 1+P
        TABLE: 3,     # 3.3.2: TBB/TBH 2 (load) + 1 (add), + P = 3 (Table 3-1: 2+P)
        IT: 1,        # 3.3 Table 3-1: IT 1 (never folded here)
        SYS: 1,       # 3.3 Table 3-1: MRS/MSR 1
        BARRIER: 1,   # 3.3 Table 3-1: DMB/DSB/ISB 1+B, B=0 (no outstanding transfers)
        VFP: 1,       # 7.2.3: VADD/VSUB/VMUL/VNMUL/VMOV/VCVT/VABS/VNEG/VCMP 1
        VMAC: 3,      # 7.2.3: VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS 3
        VDIV: 14,     # 7.2.3: VDIV.F32 14
        VSQRT: 14,    # 7.2.3: VSQRT.F32 14
        VMEM: 2,      # 7.2.3: VLDR.32/VSTR.32 2
        VMEM64: 3,    # 7.2.3: VLDR.64/VSTR.64 3
        VMOVX: 2,     # 7.2.3: VMOV core <-> FP register (one float, two floats, a double) 2
        VMULTI: 1,    # 7.2.3: VLDM/VSTM/VPUSH/VPOP 1+N
    },
    p_imm=1, p_reg=2, p_load_pc=3,
    pipelined_loads=True, agu_stall=True, fp_result_stall=True,
)

# Cortex-M0+ TRM section 3.3 (ARMv6-M); single-cycle multiplier option.
CORTEX_M0PLUS = CoreModel(
    name="cortex-m0plus",
    cycles={
        ALU: 1,       # ADDS/MOVS/shifts/logical/compare 1
        MUL: 1,       # MULS 1 (fast multiplier option; 32 with the small one)
        LOAD: 2,      # LDR/LDRB/LDRH/LDRSB/LDRSH 2
        STORE: 2,     # STR/STRB/STRH 2
        MULTI: 1,     # LDM/STM/PUSH/POP 1+N; POP {..,pc} 3+N = 1+N+p_load_pc
        BRANCH: 1,    # B taken 2, Bcc 1 not taken / 2 taken, BX/BLX 2 (1+P, P=1)
        BL: 2,        # BL 3 = 2+P
        SYS: 3,       # MRS/MSR 3
        BARRIER: 3,   # DMB/DSB/ISB 3
    },
    p_imm=1, p_reg=1, p_load_pc=2,
    allowed=frozenset({ALU, MUL, LOAD, STORE, MULTI, BRANCH, BL, SYS, BARRIER}),
    thumb2=False,
)

# Coarse Cortex-M7: dual issue by pairing (see module docstring).
CORTEX_M7 = CoreModel(
    name="cortex-m7",
    cycles={**CORTEX_M4.cycles, LOAD: 1, STORE: 1, DOUBLE: 1, DIV: 7, TABLE: 2, VMOVX: 1, VMEM64: 2},
    p_imm=0, p_reg=2, p_load_pc=2,
    dual_issue=True,
    multi_per_cycle=2,
)

CORES = {m.name: m for m in (CORTEX_M4, CORTEX_M0PLUS, CORTEX_M7)}


@dataclass(frozen=True)
class BlockCost:
    cycles: int          # static cycles; a conditional final branch counted not taken
    instructions: int
    taken_penalty: int   # added when the next block is not ``fallthrough``
    fallthrough: int     # address after the block's last instruction
    is_call: bool        # the block ends with BL or BLX
    open_end: bool = False  # no control transfer at the end: unicorn split straight-line code
                            # (a 1 KB page boundary, its block-size limit), see iss.py


class UnsupportedInstruction(ValueError):
    pass


def instruction_class(insn) -> str:
    name = insn.insn_name()
    cls = CLASS_OF.get(name, ALU)
    if cls == VFP and name == "vmov" and any(
            op.type == arm.ARM_OP_REG and not insn.reg_name(op.reg).startswith(("s", "d"))
            for op in insn.operands):
        return VMOVX
    if cls == VMEM and insn.operands and insn.reg_name(insn.operands[0].reg).startswith("d"):
        return VMEM64
    return cls


def _writes_pc(insn) -> bool:
    return arm.ARM_REG_PC in insn.regs_access()[1]


def _words_transferred(insn, cls: str) -> int:
    regs = [op.reg for op in insn.operands if op.type == arm.ARM_OP_REG]
    if insn.insn_name() in ("ldm", "ldmdb", "stm", "stmdb", "vldmia", "vldmdb",
                            "vstmia", "vstmdb"):
        regs = regs[1:]  # the base register
    if cls == VMULTI:
        return sum(2 if insn.reg_name(r).startswith("d") else 1 for r in regs)
    return len(regs)


def _address_regs(insn) -> set[int]:
    regs = set()
    for op in insn.operands:
        if op.type == arm.ARM_OP_MEM:
            regs.update(r for r in (op.mem.base, op.mem.index) if r)
    return regs


def _agu_regs(insn, cls: str) -> set[int]:
    """Registers a load/store uses to form its address (base, index; LDM/STM's base
    register; SP for PUSH/POP)."""
    regs = _address_regs(insn)
    name = insn.insn_name()
    if name in ("ldm", "ldmdb", "stm", "stmdb", "vldmia", "vldmdb", "vstmia", "vstmdb"):
        regs.add(insn.operands[0].reg)
    elif name in ("push", "pop", "vpush", "vpop"):
        regs.add(arm.ARM_REG_SP)
    return regs


def _fp_result_stall(insn, nxt) -> bool:
    """An FP arithmetic result read by the next instruction, other than as the addend
    of a multiply-accumulate (its first operand, read one cycle later)."""
    if insn.insn_name() not in FP_RESULT:
        return False
    written = set(insn.regs_access()[1])
    read = set(nxt.regs_access()[0])
    if instruction_class(nxt) == VMAC:
        read = {op.reg for op in nxt.operands[1:] if op.type == arm.ARM_OP_REG}
    return bool(written & read)


def _has_register_offset(insn) -> bool:
    return any(op.type == arm.ARM_OP_MEM and op.mem.index for op in insn.operands)


def _loaded_regs(insn) -> set[int]:
    """Registers a load writes with loaded data (not its base write-back)."""
    return set(insn.regs_access()[1]) - _address_regs(insn)


def _branch_penalty(model: CoreModel, insn, cls: str) -> int:
    if cls == BL or insn.insn_name() in ("b", "cbz", "cbnz"):
        return model.p_imm
    if cls in (LOAD, MULTI, TABLE):
        return model.p_load_pc
    return model.p_reg


def instruction_cycles(model: CoreModel, insn, cls: str) -> int:
    """Cycles of one instruction on its own (no pipelining, branch not taken)."""
    if ((model.allowed is not None and cls not in model.allowed)
            or (not model.thumb2 and insn.size == 4 and cls not in (BL, SYS, BARRIER))):
        raise UnsupportedInstruction(
            f"{insn.mnemonic} {insn.op_str} at {insn.address:#x} is not an "
            f"instruction of {model.name}")
    base = model.cycles[cls]
    if cls in (MULTI, VMULTI):
        n = _words_transferred(insn, cls)
        return base + -(-n // model.multi_per_cycle)
    return base


def block_cost(model: CoreModel, insns: list) -> BlockCost:
    """Cost of a basic block given as decoded capstone instructions (in order)."""
    if model.dual_issue:
        cycles = _dual_issue_cycles(model, insns)
    else:
        cycles = _single_issue_cycles(model, insns)
    last = insns[-1]
    cls = instruction_class(last)
    taken_penalty = 0
    open_end = not (_writes_pc(last) or cls in (BRANCH, BL, TABLE))
    if not open_end:
        penalty = _branch_penalty(model, last, cls)
        conditional = last.cc not in (arm.ARM_CC_AL, arm.ARM_CC_INVALID)
        if conditional or last.insn_name() in ("cbz", "cbnz"):
            taken_penalty = penalty
        else:
            cycles += penalty
    return BlockCost(cycles, len(insns), taken_penalty, last.address + last.size,
                     last.insn_name() in CALLS, open_end)


def _single_issue_cycles(model: CoreModel, insns: list) -> int:
    cycles = 0
    prev, prev_cls = None, None
    for insn in insns:
        cls = instruction_class(insn)
        cost = instruction_cycles(model, insn, cls)
        if (model.pipelined_loads and cls in (LOAD, STORE)
                and prev_cls in (LOAD, STORE)
                and not (prev_cls == LOAD and _loaded_regs(prev) & _address_regs(insn))
                and not (prev_cls == STORE and _has_register_offset(prev))):
            cost -= 1
        if (model.agu_stall and cls in MEMORY and prev_cls in DATA_PROCESSING
                and set(prev.regs_access()[1]) & _agu_regs(insn, cls)):
            cost += 1
        if model.fp_result_stall and prev is not None and _fp_result_stall(prev, insn):
            cost += 1
        cycles += cost
        prev, prev_cls = insn, cls
    return cycles


PAIRABLE = {ALU, LOAD, STORE, BRANCH, BL}  # cortex-m7 pairing candidates


def _dual_issue_cycles(model: CoreModel, insns: list) -> int:
    cycles = 0
    i = 0
    while i < len(insns):
        first = insns[i]
        cls = instruction_class(first)
        cycles += instruction_cycles(model, first, cls)
        if i + 1 < len(insns):
            second = insns[i + 1]
            cls2 = instruction_class(second)
            if (cls in PAIRABLE and cls2 in PAIRABLE
                    and cls not in (BRANCH, BL) and not _writes_pc(first)
                    and not (cls in (LOAD, STORE) and cls2 in (LOAD, STORE))
                    and not set(first.regs_access()[1]) & set(second.regs_access()[0])):
                i += 2
                continue
        i += 1
    return cycles
