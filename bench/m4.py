"""Moved to bnncc/bench/m4.py; re-exported for existing imports (``from bench.m4 import build``)."""

from bnncc.bench.m4 import *  # noqa: F401,F403
from bnncc.bench.m4 import FW, blobs_source, build, m4_cflags, support_files, toolchain_available  # noqa: F401
