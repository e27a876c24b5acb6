"""report.html: written by compile and simulate, self-contained, escaped, deterministic,
and rendered by a real headless browser (Debian chromium) into a non-blank screenshot."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import MODELS
from bnncc.report import render_html
from bnncc.targets import load_target

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


def _report(model="m"):
    return {
        "model": model, "target": "cortex-m4", "word_bits": 32, "input_shape": [1, 4], "output_shape": [1, 2],
        "layers": [
            {"index": 0, "op": "Dense", "name": HOSTILE, "function": "model_layer0_dense", "input": "bipolar<4>/w32",
             "output": "i32<2>", "binary_macs": 8, "weight_bytes": 8, "activation_bytes": 8},
            {"index": 1, "op": "AffineOut", "name": "tail", "function": "model_layer1_affineout", "input": "i32<2>",
             "output": "f32<2>", "binary_macs": 0, "weight_bytes": 4, "activation_bytes": 8},
        ],
        "totals": {"binary_macs": 8, "weight_bytes": 12, "const_bytes": 12, "arena_bytes": 8},
        "memory_plan": [{"tensor": HOSTILE, "offset": 0, "bytes": 8, "live": [0, 1]}],
    }


def test_hostile_names_are_escaped_and_file_is_self_contained():
    html = render_html(_report(HOSTILE), load_target("cortex-m4"))
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;" in html
    # nothing is fetched: no URL other than the SVG namespace, no linked resources
    assert "<link" not in html and "href=" not in html and "url(" not in html and "@import" not in html
    assert html.replace('xmlns="http://www.w3.org/2000/svg"', "").count("://") == 0
    assert render_html(_report(HOSTILE), load_target("cortex-m4")) == html  # deterministic


def test_compile_writes_report_html(shared, tmp_path):
    from bnncc.api import compile_model

    model = shared / MODELS["qonnx_tfc_w1a1"]
    _, files = compile_model(str(model), "cortex-m4", tmp_path / "a")
    _, again = compile_model(str(model), "cortex-m4")
    html = (tmp_path / "a" / "report.html").read_text(encoding="utf-8")
    assert html == files["report.html"] == again["report.html"]
    assert "MatMul_16" in html and "<svg" in html and "Memory timeline" in html


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (CI=true): apt-get install --no-install-recommends chromium")
        pytest.skip("chromium is not installed (Debian: apt-get install --no-install-recommends chromium)")
    return exe


def test_report_renders_in_headless_chromium(shared, tmp_path):
    exe = _chromium()
    try:
        from PIL import Image, ImageStat
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip("Pillow is not installed (pip install -e '.[test]')")
    model = shared / MODELS["finn_tfc_w1a1"]
    out = tmp_path / "sim"
    if shutil.which("arm-none-eabi-gcc"):  # the full report: measured cycles and verification
        res = subprocess.run([sys.executable, "-m", "bnncc.cli", "simulate", str(model), "-n", "2", "--out", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert json.loads((out / "simulation.json").read_text())["outputs_match"]
    else:
        from bnncc.api import compile_model

        compile_model(str(model), "cortex-m4", out)
    html = out / "report.html"
    png = tmp_path / "report.png"
    res = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={png}",
                          "--window-size=1280,2000", html.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert png.is_file(), res.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 2000)
    gray = img.convert("L")
    assert ImageStat.Stat(gray).stddev[0] > 20          # not a blank page
    hist = gray.histogram()
    non_white = 1 - sum(hist[246:]) / (img.size[0] * img.size[1])
    assert 0.03 < non_white < 0.8, non_white            # text, bars and the timeline drawn
    colors = img.resize((320, 500)).getcolors(320 * 500)
    assert colors is not None and len(colors) > 50       # the SVG charts are in colour
