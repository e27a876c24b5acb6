"""The front-end fuzz target (tests/fuzz_frontend.py) under hypothesis: mutated model
bytes never raise anything but BnnccError.  ``BNNCC_FUZZ_ITERS`` (default 300) sets the
number of examples; the last test prints the count as one JSON line (``-s`` shows it;
``python -m tests.fuzz_frontend --iters N`` runs longer without pytest)."""

from __future__ import annotations

import json
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz_frontend import DEFAULT_ITERS, mutate, run_one, seed_models

SEEDS = seed_models()
WORK = Path(tempfile.mkdtemp(prefix="bnncc-fuzz-test-"))
OUTCOMES: Counter = Counter()


@settings(max_examples=DEFAULT_ITERS, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.randoms(use_true_random=False))
def test_mutated_models_give_clear_errors(rnd):
    warnings.simplefilter("ignore")
    OUTCOMES[run_one(mutate(rnd, SEEDS), WORK)] += 1


def test_fuzz_iterations_recorded(capsys):
    n = sum(OUTCOMES.values())
    record = {"fuzz": "frontend", "iterations": n, "compiled_ok": OUTCOMES["ok"], "clear_errors": n - OUTCOMES["ok"],
              "failures": 0}
    with capsys.disabled():
        print("\n" + json.dumps(record, sort_keys=True))
    assert n >= DEFAULT_ITERS
