"""Identical input, identical output: ``bnncc compile`` run twice in separate processes
that differ in everything that should not matter -- hash seed, working directory,
relative vs absolute model path, the model's folder, the output folder's name, locale,
time zone -- writes byte-identical trees."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnn_models import random_bnn
from conftest import MODELS
from corpus.make_corpus import OK_CASES

REPO = Path(__file__).resolve().parent.parent

ENVS = (
    {"PYTHONHASHSEED": "0", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"},
    {"PYTHONHASHSEED": "4242", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8", "TZ": "Asia/Kolkata"},
)


def _compile(model: Path, out: Path, cwd: Path, env: dict, target: str, relative: bool) -> None:
    e = {k: v for k, v in os.environ.items() if k not in ("PYTHONHASHSEED", "LC_ALL", "LANG", "TZ")}
    e.update(env)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")])
    arg = os.path.relpath(model, cwd) if relative else str(model)
    res = subprocess.run([sys.executable, "-m", "bnncc.cli", "compile", arg, "-t", target, "-o", str(out)],
                         cwd=cwd, env=e, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _twice(model: Path, tmp: Path, target: str) -> None:
    """Compile ``model`` (copied into two different folders, same file name) twice."""
    trees = []
    for k, env in enumerate(ENVS):
        where = tmp / f"run{k}" / ("deep/er" if k else "")
        where.mkdir(parents=True)
        copy = where / model.name
        shutil.copyfile(model, copy)
        out = tmp / f"out{k}" / f"lib_{k}_{target}"
        _compile(copy, out, cwd=where if k == 0 else tmp, env=env, target=target, relative=k == 0)
        trees.append(_tree(out))
    assert sorted(trees[0]) == sorted(trees[1])
    for f in trees[0]:
        assert trees[0][f] == trees[1][f], f"{f} differs between the two runs"


@pytest.mark.parametrize("target", ["host", "cortex-m4"])
def test_shared_model_compiles_byte_identically(shared, tmp_path, target):
    _twice(shared / MODELS["qonnx_tfc_w1a1"], tmp_path, target)


def test_random_conv_bnn_compiles_byte_identically(tmp_path):
    import onnx

    case = random_bnn(np.random.default_rng(11), "conv", "mixed")
    onnx.save(case.model, tmp_path / "conv.onnx")
    _twice(tmp_path / "conv.onnx", tmp_path / "w", "generic-c")


def test_hostile_names_compile_byte_identically(tmp_path):
    case = next(c for c in OK_CASES if c.name == "hostile_names")
    _twice(case.build(tmp_path / "m"), tmp_path / "w", "host")
