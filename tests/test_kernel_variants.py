"""The C kernel variant as a compile option (--popcount, --hs-block, --word-bits):
validation, what reaches model.c and report.json, bit-exactness on the ISS (64-bit
words on Arm included), and the estimator's per-variant [estimate.<variant>] tables."""

import dataclasses
import json

import pytest
from click.testing import CliRunner

from bnncc import mcu
from bnncc.cli import main
from bnncc.errors import BnnccError
from bnncc.targets import kernel_variants, load_target, with_kernel
from conftest import MODELS


@pytest.mark.parametrize("target,args,message", [
    ("cortex-m0plus", ("usada8", None, None), "usada8 needs the DSP extension, which cortex-m0plus lacks"),
    ("cortex-m4", ("swar", 16, None), "needs the harley_seal popcount"),
    ("cortex-m4", ("usada8", None, 64), "usada8 works on 32-bit words"),
    ("cortex-m4", (None, 12, None), "must be 8 or 16"),
    ("pynq-z2", ("swar", None, None), "uses the hls backend"),
])
def test_bad_kernel_choices_are_one_line_errors(target, args, message):
    with pytest.raises(BnnccError, match=message):
        with_kernel(load_target(target), *args)


def test_variants_of_each_core():
    def names(t):
        return {with_kernel(load_target(t), *v).variant for v in kernel_variants(load_target(t))}

    m4 = names("cortex-m4")
    assert m4 == {"harley_seal-b8-w32", "harley_seal-b16-w32", "harley_seal-b8-w64", "harley_seal-b16-w64",
                  "swar-w32", "swar-w64", "builtin-w32", "builtin-w64", "usada8-w32"}
    assert names("cortex-m0plus") == m4 - {"usada8-w32"}
    assert kernel_variants(load_target("cortex-m7"))[0] == ("swar", 8, 32)      # the target's own first


def test_compile_options_reach_model_c_and_report(shared, tmp_path):
    model = str(shared / MODELS["qonnx_tfc_w1a1"])
    res = CliRunner().invoke(main, ["compile", model, "--target", "cortex-m4", "--popcount", "harley_seal",
                                    "--hs-block", "16", "--word-bits", "64", "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    c = (tmp_path / "a" / "model.c").read_text()
    assert "#define BNN_WORD_BITS 64\n#define BNN_POPCOUNT BNN_POPCOUNT_HARLEY_SEAL\n#define BNN_HS_BLOCK 16\n" in c
    rep = json.loads((tmp_path / "a" / "report.json").read_text())
    assert rep["kernel_variant"] == {"popcount": "harley_seal", "hs_block": 16, "word_bits": 64,
                                     "name": "harley_seal-b16-w64"}
    assert rep["word_bits"] == 64
    res = CliRunner().invoke(main, ["compile", model, "--target", "cortex-m0plus", "--popcount", "usada8", "-o",
                                    str(tmp_path / "b")])
    assert res.exit_code == 2 and "usada8 needs the DSP extension" in res.output
    assert "Traceback" not in res.output


@pytest.mark.skipif(not mcu.shutil.which("arm-none-eabi-gcc"), reason="no Arm toolchain")
@pytest.mark.parametrize("target,args", [
    ("cortex-m4", ["--popcount", "harley_seal", "--hs-block", "16", "--word-bits", "64"]),
    ("cortex-m4", ["--popcount", "usada8"]),
    ("cortex-m0plus", ["--popcount", "builtin", "--word-bits", "64"]),
])
def test_variants_are_bit_exact_on_the_iss(shared, target, args):
    res = CliRunner().invoke(main, ["verify", str(shared / MODELS["qonnx_tfc_w1a1"]), "--target", target,
                                    "-n", "2", "--json", *args])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["bit_exact"]


def test_estimate_picks_the_variants_table_or_says_which_is_missing():
    t = load_target("cortex-m4")
    if t.variant not in t.extra.get("estimate", {}):
        pytest.skip("cortex-m4 is not calibrated")
    assert mcu.estimate_table(t) is t.extra["estimate"][t.variant]
    bare = dataclasses.replace(t, extra={**t.extra, "estimate": {"default": t.variant,
                                                                 t.variant: t.extra["estimate"][t.variant]}})
    with pytest.raises(BnnccError, match=r"no \[estimate.swar-w64\] table .*--popcount swar --word-bits 64"):
        mcu.estimate_table(with_kernel(bare, "swar", None, 64))
