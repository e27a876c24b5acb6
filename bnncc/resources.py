"""Locate the data directories (templates/, targets/) and the shared models.

In a source checkout or an editable install they sit at the repository root; a
regular install ships them inside the package as ``bnncc/_data/``.
"""

import os
from importlib import resources
from pathlib import Path


def data_dir(name: str) -> Path:
    repo_root = Path(__file__).resolve().parent.parent
    if (repo_root / name).is_dir() and (repo_root / "pyproject.toml").is_file():
        return repo_root / name
    shipped = Path(str(resources.files("bnncc") / "_data" / name))
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(f"bnncc data directory '{name}' not found (broken install?)")


def templates_dir() -> Path:
    return data_dir("templates")


def targets_dir() -> Path:
    return data_dir("targets")


def ap_types_dir() -> Path:
    """Xilinx's ap_types headers (ap_int.h, ap_fixed.h; Apache-2.0, taken from the hls4ml
    wheel, see third_party/ap_types/README.md): the C-simulation of the HLS backend."""
    return data_dir("third_party") / "ap_types"


def shared_dir() -> Path | None:
    """The shared third-party models and golden data: ``$BNNCC_SHARED`` if set, else
    ``shared`` beside the repository (``../shared``); None when it holds no models/."""
    env = os.environ.get("BNNCC_SHARED")
    cand = Path(env) if env else Path(__file__).resolve().parent.parent.parent / "shared"
    return cand if (cand / "models").is_dir() else None
