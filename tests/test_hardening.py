"""Hostile and malformed models (tests/corpus/make_corpus.py), atomic output folders.

* Every error case: ``bnncc compile`` exits 2 with exactly one line on stderr,
  ``bnncc: error: ...`` naming what it is about, never an internal error or a traceback,
  and leaves no output folder and no temporary folder behind.
* Every hostile-name case compiles; the C builds with the strict warnings and the
  sanitizers, is bit-exact with the reference, and holds no raw hostile name.
* Output folders: a foreign folder needs --force; a failure while rendering or writing
  leaves the folder as it was and no temporary folder.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bnncc import api
from bnncc.backends.c.emit import COMMENT_UNSAFE
from bnncc.cli import main
from corpus.make_corpus import ERROR_CASES, OK_CASES

SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")
C_FILES = ("model.c", "model.h", "harness.c")  # the files rendered with model data


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def _cli(*args) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.stdout, res.stderr


def _subprocess(*args, **kw) -> tuple[int, str, str]:
    res = subprocess.run([sys.executable, "-m", "bnncc.cli", *map(str, args)], capture_output=True, text=True, **kw)
    return res.returncode, res.stdout, res.stderr


def assert_one_line_error(code: int, stderr: str, expect=()) -> str:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bnncc: error: "), stderr
    assert "internal error" not in lines[0], lines[0]
    for e in expect:
        assert e in lines[0], (e, lines[0])
    return lines[0]


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")], "temporary folder left"


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: c.name)
def test_error_case_is_one_line_exit_2(case, corpus):
    model = case.build(corpus / case.name)
    out = corpus / f"{case.name}_out"
    assert_one_line_error(*_cli("compile", model, "-o", out)[::2], case.expect)
    assert_nothing_written(out)


SUBPROCESS_CASES = ("png_file", "cycle", "huge_input_dims", "external_symlink", "bn_nan_mean", "directory_as_model",
                    "unsupported_op_hostile_name")


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_error_case_in_a_real_process(name, corpus):
    """A real interpreter: nothing but the one line reaches stderr (no warnings, no
    onnxruntime log lines, no traceback)."""
    case = next(c for c in ERROR_CASES if c.name == name)
    model = case.build(corpus / f"proc_{name}")
    out = corpus / f"proc_{name}_out"
    code, stdout, stderr = _subprocess("compile", model, "-o", out)
    assert_one_line_error(code, stderr, case.expect)
    assert stdout == ""
    assert_nothing_written(out)


COMMENT = re.compile(r"/\*(.*?)\*/", flags=re.S)


def _code(text: str) -> str:
    return COMMENT.sub("/**/", text)


def _no_raw_hostile_text(lib: Path, hostile) -> None:
    for f in C_FILES:
        text = (lib / f).read_text(encoding="utf-8")
        assert text.isascii(), f
        assert "??" not in text, f  # no trigraphs
        assert "\\\n" not in text, f  # no line splicing
        for m in COMMENT.finditer(text):
            body = m.group(1)
            assert "/*" not in body and "//" not in body, (f, m.group(0)[:200])
            for name in hostile:
                if COMMENT_UNSAFE.search(name) or len(name) > 100:
                    assert name not in body, (f, name)


@pytest.mark.parametrize("case", OK_CASES, ids=lambda c: c.name)
def test_hostile_names_compile_build_and_stay_exact(case, corpus, tmp_path):
    model = case.build(corpus / case.name)
    out = tmp_path / "lib"
    code, stdout, stderr = _cli("compile", model, "-o", out)
    assert code == 0, stderr
    _no_raw_hostile_text(out, case.hostile)
    if case.twin is not None:  # names reach comments only: the code equals the plain twin's
        assert _cli("compile", case.twin(corpus / f"{case.name}_twin"), "-o", tmp_path / "twin")[0] == 0
        for f in C_FILES:
            assert _code((out / f).read_text()) == _code((tmp_path / "twin" / f).read_text()), f
    # the emitted Makefile's strict flags (-Wconversion included) on the host compiler
    res = subprocess.run(["make", "-s"], cwd=out, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    r = api.verify(model, "host", n=32, extra_flags=SANITIZE)
    assert r["bit_exact"] and r["argmax_match"] == r["n"], r


def test_gamma_zero_channels_are_constant_and_exact(corpus):
    """gamma = 0 makes a channel constant (Sign(beta)): compiled, not refused."""
    case = next(c for c in OK_CASES if c.name == "gamma_zero")
    model = case.build(corpus / "gamma_zero_generic")
    r = api.verify(model, "generic-c", n=64, seed=3, extra_flags=SANITIZE)
    assert r["bit_exact"], r


# ------------------------------------------------------------------ output folders


def _ok_model(corpus) -> Path:
    case = next(c for c in OK_CASES if c.name == "gamma_zero")
    return case.build(corpus / "out_model")


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_foreign_folder_needs_force(corpus, tmp_path):
    model = _ok_model(corpus)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    assert_one_line_error(*_cli("compile", model, "-o", out)[::2], ("--force",))
    assert _tree(out) == {"precious.txt": b"keep me"}
    code, _, stderr = _cli("compile", model, "-o", out, "--force")
    assert code == 0, stderr
    assert not (out / "precious.txt").exists() and (out / ".bnncc").is_file() and (out / "model.c").is_file()
    # a bnncc folder is replaced without --force; an empty folder is fine too
    assert _cli("compile", model, "-o", out)[0] == 0
    (tmp_path / "empty").mkdir()
    assert _cli("compile", model, "-o", tmp_path / "empty")[0] == 0
    # a file in the way is refused, even with --force
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(*_cli("compile", model, "-o", tmp_path / "afile", "--force")[::2], ("is a file",))
    assert (tmp_path / "afile").read_text() == "x"


def _leftovers(parent: Path, name: str) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(f".{name}.")]


def test_failure_while_rendering_leaves_folder_unchanged(corpus, tmp_path, monkeypatch):
    model = _ok_model(corpus)
    out = tmp_path / "lib"
    assert _cli("compile", model, "-o", out)[0] == 0
    before = _tree(out)

    def broken(*a, **k):
        raise RuntimeError("injected failure in render")

    monkeypatch.setattr(api, "render", broken)
    code, _, stderr = _cli("compile", model, "-o", out)
    assert code == 2 and "injected failure" in stderr
    assert _tree(out) == before and _leftovers(tmp_path, "lib") == []
    code, _, stderr = _cli("compile", model, "-o", tmp_path / "fresh")
    assert code == 2 and not (tmp_path / "fresh").exists() and _leftovers(tmp_path, "fresh") == []


def test_failure_while_writing_leaves_folder_unchanged(corpus, tmp_path, monkeypatch):
    model = _ok_model(corpus)
    out = tmp_path / "lib"
    assert _cli("compile", model, "-o", out)[0] == 0
    before = _tree(out)
    real_write = Path.write_text
    calls = {"n": 0}

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # the third file of the tree
            raise OSError(28, "No space left on device (injected)")
        return real_write(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", flaky)
    code, _, stderr = _cli("compile", model, "-o", out)
    monkeypatch.undo()
    assert code == 2 and calls["n"] == 3
    assert _tree(out) == before and _leftovers(tmp_path, "lib") == []


@pytest.mark.parametrize("prefix", ["int", "*/ x", "", "9lives", "bnn_kernels", "_", "é", "a" * 300, "model_layer0"])
def test_hostile_prefix_builds(prefix, corpus, tmp_path):
    """--prefix becomes C identifiers (prefix_run, PREFIX_INPUT_SIZE, the header guard)."""
    out = tmp_path / "lib"
    code, _, stderr = _cli("compile", _ok_model(corpus), "-o", out, "--prefix", prefix)
    assert code == 0, stderr
    res = subprocess.run(["make", "-s"], cwd=out, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert re.search(r"^int [A-Za-z][A-Za-z0-9_]*_run\(", (out / "model.h").read_text(), flags=re.M)


def test_unwritable_output_paths_are_clear_errors(corpus, tmp_path):
    model = _ok_model(corpus)
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(*_cli("compile", model, "-o", tmp_path / "afile" / "sub")[::2], ("cannot write",))
    assert_one_line_error(*_cli("compile", model, "-o", "/")[::2], ("root",))
    assert (tmp_path / "afile").read_text() == "x" and _leftovers(tmp_path, "afile") == []


def test_verify_inputs_are_checked(corpus, tmp_path):
    """bnncc verify: inputs that do not fit the model, pickles and absurd -n are one-line errors."""
    import numpy as np

    model = _ok_model(corpus)
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 junk")
    for args, expect in ((("--inputs", tmp_path / "bad.npy"), "do not match"), (("--inputs", tmp_path / "obj.npy"), "obj.npy"),
                         (("--inputs", tmp_path / "junk.npz"), "junk.npz"), (("-n", "1000000000"), "random inputs"),
                         (("-n", "0"), "positive")):
        assert_one_line_error(*_cli("verify", model, *args)[::2], (expect,))


def test_inspect_prints_hostile_names_safely(corpus):
    """inspect: rich markup in names is text, terminal control sequences are escaped."""
    case = next(c for c in OK_CASES if c.name == "hostile_names")
    model = case.build(corpus / "inspect_hostile")
    for args in ((), ("--ir",)):
        code, stdout, stderr = _cli("inspect", model, *args)
        assert code == 0, stderr
        assert "\x1b" not in stdout and "\x07" not in stdout
    ir = _cli("inspect", model, "--ir")[1]
    assert "[/bold]" in ir
    # newlines in names stay escaped: per pass a "// after" line, a header, one line per op
    dump = [line for line in ir.splitlines() if line.strip()]
    assert sum(line.startswith("  %") for line in dump) > 3
    assert all(line.startswith(("// after ", "graph ", "  %")) for line in dump), dump
