#!/usr/bin/env python3
"""The newcomer's path, end to end, as the commands a person would type.

    python examples/newcomer_path.py [--quick] [--out out/newcomer] [--shared ../shared]

1. train a binarized MLP and a binarized CNN on the 8x8 digits (numpy, examples/train_digits_bnn.py),
   export ONNX, compile for cortex-m4 and simulate on the instruction-set simulator (report.html
   beside the library); then the FPGA step for pynq-z2, which runs once `bnncc targets` lists
   pynq-z2 and its 'hls' backend exists (until then it prints why it is skipped);
2. compile and simulate the shared third-party QONNX and FINN models on their golden inputs;
3. build the tiny firmware of examples/firmware/ with CMake around an emitted library: for the
   host (and run it), and for the Cortex-M4 with arm-none-eabi-gcc (and run it in hw_sim).

Every command is printed before it runs; the script stops at the first failure (exit 1).
--quick is the CI setting: tiny training runs, 8 inputs per simulation.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from bnncc.resources import shared_dir

EXAMPLES = Path(__file__).resolve().parent
REPO = EXAMPLES.parent


def default_shared() -> Path:
    return shared_dir() or REPO.parent / "shared"


def run(cmd: list, shown: str | None = None, ok_codes=(0,), capture=False, echo=True) -> subprocess.CompletedProcess:
    print(f"\n$ {shown or ' '.join(shlex.quote(str(c)) for c in cmd)}", flush=True)
    res = subprocess.run([str(c) for c in cmd], text=True, capture_output=capture)
    if capture and echo:
        sys.stdout.write(res.stdout)
        sys.stderr.write(res.stderr)
    if res.returncode not in ok_codes:
        print(f"newcomer_path: failed with exit code {res.returncode}", file=sys.stderr)
        sys.exit(1)
    return res


def bnncc(*args, **kw):
    """`bnncc ARGS` (run as `python -m bnncc.cli` so no PATH setup is needed)."""
    return run([sys.executable, "-m", "bnncc.cli", *args], shown="bnncc " + " ".join(shlex.quote(str(a)) for a in args),
               **kw)


def fpga_step(model: Path, out: Path) -> None:
    """pynq-z2: compile when the target and its backend exist, else say why not."""
    targets = bnncc("targets", capture=True, echo=False).stdout
    if "pynq-z2" not in targets:
        print("skipped: `bnncc targets` does not list pynq-z2 yet")
        return
    res = bnncc("compile", model, "--target", "pynq-z2", "-o", out, ok_codes=(0, 2), capture=True, echo=False)
    if res.returncode == 2:
        why = res.stderr.strip().removeprefix("bnncc: error: ")
        print(f"skipped: the pynq-z2 (FPGA) step is not available yet ({why})")
        return
    print(f"pynq-z2: HLS project written to {out}/")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI setting: tiny training runs, 8 inputs per simulation")
    ap.add_argument("--out", type=Path, default=Path("out/newcomer"))
    ap.add_argument("--shared", type=Path, default=default_shared())
    args = ap.parse_args(argv)
    out, shared = args.out, args.shared
    out.mkdir(parents=True, exist_ok=True)
    n = "8" if args.quick else "100"
    have_arm = shutil.which("arm-none-eabi-gcc") is not None

    print("== 1. train binarized networks on the digits, compile for cortex-m4, simulate ==")
    digits = shared / "data" / "digits.npz"
    for arch in ("mlp", "cnn"):
        model = out / f"digits_{arch}.onnx"
        run([sys.executable, EXAMPLES / "train_digits_bnn.py", "--arch", arch, "--data", digits, "--out", model,
             "--save-inputs", out / "digits_test.npz", *(["--quick"] if args.quick else [])],
            shown=f"python examples/train_digits_bnn.py --arch {arch} --out {model} --save-inputs {out}/digits_test.npz"
                  + (" --quick" if args.quick else ""))
        bnncc("compile", model, "--target", "cortex-m4", "-o", out / f"digits_{arch}_m4")
        if have_arm:
            bnncc("simulate", model, "--target", "cortex-m4", "--inputs", out / "digits_test.npz", "-n", n,
                  "--out", out / f"digits_{arch}_sim")
            print(f"open {out / f'digits_{arch}_sim' / 'report.html'} in a browser for the layer table and charts")
        print(f"\n-- FPGA (pynq-z2) for digits_{arch} --")
        fpga_step(model, out / f"digits_{arch}_pynq")

    print("\n== 2. the shared third-party models (QONNX and FINN exports of the TFC MLP) ==")
    for key, model, golden in (
            ("qonnx_tfc_w1a1", "models/qonnx_tfc_w1a1/TFC_1W1A.onnx", "golden/qonnx_tfc_w1a1_mnist_strat100.npz"),
            ("finn_tfc_w1a1", "models/finn_tfc_w1a1/model.onnx", "golden/finn_tfc_w1a1_mnist_strat100.npz")):
        bnncc("compile", shared / model, "--target", "cortex-m4", "-o", out / f"{key}_m4")
        if have_arm:
            bnncc("simulate", shared / model, "--target", "cortex-m4", "--inputs", shared / golden, "-n", n,
                  "--out", out / f"{key}_sim")

    print("\n== 3. the emitted library inside a tiny firmware (examples/firmware, CMake) ==")
    if shutil.which("cmake") is None:
        print("skipped: cmake is not installed")
        return 0
    model = out / "digits_mlp.onnx"
    bnncc("compile", model, "--target", "host", "-o", out / "digits_mlp_host")
    run(["cmake", "-S", EXAMPLES / "firmware", "-B", out / "fw-host", f"-DBNNCC_LIB={(out / 'digits_mlp_host').resolve()}"])
    run(["cmake", "--build", out / "fw-host"])
    app = run([out / "fw-host" / "app"], ok_codes=tuple(range(256)))
    print(f"(exit status {app.returncode} = the predicted class of the built-in all-zero input)")
    if have_arm:
        run(["cmake", "-S", EXAMPLES / "firmware", "-B", out / "fw-m4",
             f"-DBNNCC_LIB={(out / 'digits_mlp_m4').resolve()}",
             f"-DCMAKE_TOOLCHAIN_FILE={EXAMPLES / 'firmware' / 'arm-none-eabi.cmake'}"])
        run(["cmake", "--build", out / "fw-m4"])
        print(f"\n$ (run {out / 'fw-m4' / 'app.elf'} in hw_sim)")
        sys.path.insert(0, str(REPO))
        from hw_sim.cortexm import run_elf

        r = run_elf(out / "fw-m4" / "app.elf", core="cortex-m4", cwd=out)
        print(f"Cortex-M4: exit status {r.exit_code} (class), {r.cycles:,} cycles including startup")
        if r.exit_code != app.returncode:
            print("newcomer_path: the host and Cortex-M4 firmware disagree", file=sys.stderr)
            return 1
    print("\nnewcomer_path: all steps done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
