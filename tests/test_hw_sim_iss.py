"""hw_sim.cortexm: the unicorn-based Cortex-M simulator, its cycle model and the
QEMU cross-check, on bare-metal firmware built from tests/fixtures/cortexm."""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("unicorn")
pytest.importorskip("capstone")
pytest.importorskip("elftools")
if shutil.which("arm-none-eabi-gcc") is None:
    pytest.skip("arm-none-eabi-gcc is absent", allow_module_level=True)

from hw_sim.cortexm import SimError, load_image, qemu_available, run_elf, run_qemu  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "cortexm"
SEMIHOST = Path(__file__).parent.parent / "templates" / "cortexm"  # semihost.h
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
M0PLUS_FLAGS = ["-mcpu=cortex-m0plus", "-mthumb"]
PROGRAMS = {
    "hello": ["hello.c"],
    "files": ["files.c"],
    "compute": ["compute.c"],
    "micro": ["micro_main.c", "micro.S"],
    "fault": ["fault.c"],
    "throughput": ["throughput.c"],
}


def build(out_dir: Path, name: str, cpu_flags=M4_FLAGS) -> Path:
    elf = out_dir / f"{name}.elf"
    sources = [FIXTURES / "startup.c"] + [FIXTURES / s for s in PROGRAMS[name]]
    subprocess.run(["arm-none-eabi-gcc", *cpu_flags, "-O2", "-nostartfiles", "-nostdlib",
                    "-ffreestanding", "-Wall", "-Werror", "-I", str(SEMIHOST), "-T", str(FIXTURES / "mps2_an386.ld"),
                    *map(str, sources), "-lgcc", "-o", str(elf)], check=True)
    return elf


@pytest.fixture(scope="module")
def elves(tmp_path_factory):
    out = tmp_path_factory.mktemp("cortexm")
    return {name: build(out, name) for name in PROGRAMS}


def test_output_stderr_and_exit_code(elves):
    result = run_elf(elves["hello"])
    assert result.exit_code == 3
    assert result.stdout == b"hello, world\nwrite0 line\n!\n"
    assert result.stderr == b"to stderr\n"
    assert result.instructions > 0 and result.cycles >= result.instructions


def test_file_console_and_system_calls(elves, tmp_path):
    (tmp_path / "input.txt").write_bytes(b"0123456789abcdef\n")
    result = run_elf(elves["files"], stdin=b"stdin-data", cwd=tmp_path, argv=["prog", "x"])
    assert result.exit_code == 0, result.stdout
    assert result.stdout == (b"cmdline: prog x\nstdin: stdin\nflen: 17\n"
                             b"file from 6: 6789abcdef\nistty(file): 0\n")
    assert (tmp_path / "out.txt").read_bytes() == b"written by the guest\n"


def test_sizes_equal_arm_none_eabi_size(elves):
    for elf in elves.values():
        line = subprocess.run(["arm-none-eabi-size", str(elf)], check=True,
                              capture_output=True, text=True).stdout.splitlines()[1]
        text, data, bss = map(int, line.split()[:3])
        assert load_image(elf).sizes == {"text": text, "data": data, "bss": bss}, elf.name
    assert load_image(elves["compute"]).sizes["data"] > 0  # .data present and counted


def test_image_entry_and_symbols(elves):
    image = load_image(elves["compute"])
    assert image.initial_sp == 0x20400000
    assert image.entry == image.function_named("Reset_Handler").start
    layer = image.function_named("layer")
    assert image.function_at(layer.start + 2).name == "layer"


# Hand-computed from the Cortex-M4 table; the derivations are the comments in micro.S.
MICRO_CYCLES = {
    "t_add10": 13, "t_ldr_pipe": 8, "t_ldr_dep": 7, "t_str_regoff": 9, "t_ldm4": 8,
    "t_ldrd": 8, "t_push_pop": 15, "t_loop": 33, "t_cbz": 5 + 6, "t_it": 6,
    "t_mul_div": 12, "t_vfp": 24, "t_tbb": 10, "t_agu": 8, "t_vmov": 12, "t_fp_dep": 11,
    "t_page_split": 8,
}


def test_micro_sequences_cycle_exact(elves):
    result = run_elf(elves["micro"])
    assert result.exit_code == 0
    got = {name: result.per_function[name]["cycles"] for name in MICRO_CYCLES}
    assert got == MICRO_CYCLES
    assert result.per_function["t_loop"]["instructions"] == 1 + 10 * 2 + 1
    assert result.per_function["t_cbz"]["calls"] == 2
    assert result.inclusive["t_add10"]["cycles"] == 13


def test_attribution_sums_to_total_and_is_deterministic(elves):
    result = run_elf(elves["compute"])
    assert result.stdout.startswith(b"check ")
    assert sum(f["cycles"] for f in result.per_function.values()) == result.cycles
    assert sum(f["instructions"] for f in result.per_function.values()) == result.instructions
    assert sum(b.cycles for b in result.blocks) == result.cycles
    # popcount32 is only called from layer: layer's inclusive cycles are both exclusives
    excl = result.per_function
    assert result.inclusive["layer"]["cycles"] == excl["layer"]["cycles"] + excl["popcount32"]["cycles"]
    assert result.inclusive["layer"]["calls"] == 1
    assert excl["popcount32"]["calls"] == 64 * 8
    assert result.inclusive["main"]["cycles"] == result.cycles - excl["Reset_Handler"]["cycles"]
    assert result.cycles_in_function("layer") == excl["layer"]["cycles"]
    image = result.image
    ranges = [(f.start, f.start + f.size) for f in image.functions if f.name in ("layer", "popcount32")]
    assert result.cycles_in_ranges(ranges) == result.inclusive["layer"]["cycles"]
    again = run_elf(elves["compute"])
    assert (again.cycles, again.instructions) == (result.cycles, result.instructions)


def test_other_cores(elves, tmp_path):
    m4 = run_elf(elves["compute"])
    m7 = run_elf(elves["compute"], core="cortex-m7")
    assert m7.stdout == m4.stdout and m7.instructions == m4.instructions
    assert m7.cycles < m4.cycles  # dual issue, predicted branches
    m0 = build(tmp_path, "compute", M0PLUS_FLAGS)
    result = run_elf(m0, core="cortex-m0plus")
    assert result.stdout == m4.stdout and result.cycles > result.instructions
    with pytest.raises(SimError, match="not an instruction of cortex-m0plus"):
        run_elf(elves["compute"], core="cortex-m0plus")


def test_errors_name_pc_and_symbol(elves):
    with pytest.raises(SimError, match="read from unmapped address 0x40000000") as err:
        run_elf(elves["fault"])
    assert err.value.symbol == "read_device"
    with pytest.raises(SimError, match="instruction limit 1000 reached"):
        run_elf(elves["compute"], max_instructions=1000)


@pytest.mark.skipif(not qemu_available(), reason="qemu-system-arm is absent")
def test_qemu_gives_the_same_output(elves, tmp_path):
    (tmp_path / "input.txt").write_bytes(b"0123456789abcdef\n")
    for name in ("compute", "files", "hello"):
        kwargs = dict(stdin=b"stdin-data", cwd=tmp_path, argv=["prog", "x"])
        sim = run_elf(elves[name], **kwargs)
        code, stdout = run_qemu(elves[name], **kwargs)
        if name == "hello":  # QEMU sends SYS_WRITEC/SYS_WRITE0 to stderr
            assert stdout == b"hello, world\n" and code == sim.exit_code
        else:
            assert (code, stdout) == (sim.exit_code, sim.stdout), name


@pytest.mark.slow
def test_throughput(elves):
    start = time.perf_counter()
    result = run_elf(elves["throughput"])
    seconds = time.perf_counter() - start
    assert result.exit_code == 0 and result.instructions >= 20_000_000
    print(f"\n{result.instructions} instructions, {result.cycles} cycles in {seconds:.2f} s: "
          f"{result.instructions / seconds / 1e6:.1f} M instructions/s")
