"""Kernel bench on the Cortex-M4 ISS; the code lives in bnncc/bench/kernels.py (``bnncc
bench`` runs it beside the whole-model comparison).  Kept so that

    python bench/kernels.py [--json out.json] [--quick] [--work DIR]

works as before."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bnncc.bench.kernels import *  # noqa: E402,F401,F403
from bnncc.bench.kernels import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
