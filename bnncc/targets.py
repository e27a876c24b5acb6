"""Targets are data: one ``targets/<name>.toml`` per target, loaded into ``Target``.

Adding a board means adding a file. Keys other than the ones typed here are kept in
``Target.extra`` so that later stages (hw_sim, board support) can read them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BnnccError
from .resources import targets_dir

BACKENDS = ("c",)
POPCOUNTS = ("builtin", "swar")


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


def _parse(path: Path) -> Target:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BnnccError(f"cannot read target file: {exc}", where=str(path)) from None
    known = {"name", "description", "backend", "kind", "word_bits", "popcount", "cc", "cflags", "max_lut_bytes"}
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
            source=path,
            extra={k: v for k, v in raw.items() if k not in known},
        )
    except KeyError as exc:
        raise BnnccError(f"target file lacks key {exc}", where=str(path)) from None
    if t.backend not in BACKENDS:
        raise BnnccError(f"unknown backend '{t.backend}' (known: {', '.join(BACKENDS)})", where=str(path))
    if t.word_bits not in (32, 64):
        raise BnnccError(f"word_bits must be 32 or 64, not {t.word_bits}", where=str(path))
    if t.popcount not in POPCOUNTS:
        raise BnnccError(f"unknown popcount strategy '{t.popcount}' (known: {', '.join(POPCOUNTS)})", where=str(path))
    return t


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
