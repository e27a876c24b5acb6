"""Build bare-metal Cortex-M4 firmware for the hw_sim ISS from C sources under
templates/bench/fw.

The compiler flags are the cortex-m4 target's (targets/cortex-m4.toml) plus
``-nostartfiles -nostdlib -ffreestanding``; the startup code and the linker script
are the templates/cortexm ones, rendered with that target's [mcu] table.  Binary
data (weights, inputs) is linked from files with ``.incbin`` (fw/blobs.S.j2).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2

from ..resources import templates_dir
from ..targets import load_target

FW = templates_dir() / "bench" / "fw"
CORTEXM = templates_dir() / "cortexm"
KERNELS = templates_dir() / "c"
STRICT = ["-pedantic", "-Wall", "-Wextra", "-Werror", "-Wconversion"]


def toolchain_available() -> bool:
    return shutil.which("arm-none-eabi-gcc") is not None


def m4_cflags() -> list[str]:
    return [*load_target("cortex-m4").cflags, "-nostartfiles", "-nostdlib", "-ffreestanding"]


def _render(template: Path, out: Path, **ctx) -> Path:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    out.write_text(env.get_template(template.name).render(**ctx))
    return out


def support_files(out_dir: Path) -> tuple[Path, Path]:
    """Render startup.c and link.ld for the cortex-m4 target into out_dir."""
    mcu = load_target("cortex-m4").mcu
    out_dir.mkdir(parents=True, exist_ok=True)
    return (_render(CORTEXM / "startup.c.j2", out_dir / "startup.c", mcu=mcu),
            _render(CORTEXM / "link.ld.j2", out_dir / "link.ld", mcu=mcu))


def blobs_source(out_dir: Path, name: str, blobs: dict[str, Path]) -> Path:
    """An assembler file defining, for each symbol, 4-byte aligned read-only data
    (flash) holding the bytes of its file."""
    return _render(FW / "blobs.S.j2", out_dir / f"{name}_blobs.S",
                   blobs=[(sym, str(path.resolve())) for sym, path in blobs.items()])


def build(out_dir: Path, name: str, sources: list[Path], defines: dict[str, object] | None = None,
          extra_flags: list[str] | None = None) -> Path:
    """Compile and link sources (plus the rendered startup) into out_dir/name.elf.

    The sources and the startup code are compiled -pedantic -Wall -Wextra -Werror -Wconversion."""
    startup, link = support_files(out_dir)
    elf = out_dir / f"{name}.elf"
    base = ["arm-none-eabi-gcc", *m4_cflags(), "-I", str(CORTEXM), "-I", str(KERNELS), "-I", str(FW)]
    startup_o = out_dir / "startup.o"
    subprocess.run([*base, *STRICT, "-c", str(startup), "-o", str(startup_o)], check=True)
    cmd = [*base, *STRICT, *(extra_flags or []), *(f"-D{k}={v}" for k, v in (defines or {}).items()),
           "-T", str(link), str(startup_o), *map(str, sources), "-lgcc", "-o", str(elf)]
    subprocess.run(cmd, check=True)
    return elf
