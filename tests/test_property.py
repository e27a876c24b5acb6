"""Property tests: bnncc's C output is bit-exact with the onnxruntime reference on
random small BNNs (``tests/bnn_models.py``), ties included.

``BNNCC_PROPERTY_EXAMPLES`` (default 200) is the total number of hypothesis examples,
split 60/20/20 between plain ONNX, QONNX and FINN/mixed models.
``test_generator_models_are_valid`` checks the generator itself and needs no compiler.
MST mode (``test_mst_force_bit_exact``): the same generator with ``--mst force`` (every
binary layer evaluated along its channel tree, depth bound drawn too) and
``--mst-permute force`` (input channels reordered wherever the search finds another
order), 20% of the examples.
Host builds run under AddressSanitizer and UndefinedBehaviorSanitizer, aborting on the
first report (``BNNCC_PROPERTY_SANITIZE=0`` turns them off).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings

from bnncc.reference import run_reference
from bnn_models import DIALECTS, KINDS, bnn_cases, random_bnn

EXAMPLES = int(os.environ.get("BNNCC_PROPERTY_EXAMPLES", "200"))
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g") \
    if os.environ.get("BNNCC_PROPERTY_SANITIZE", "1") != "0" else ()


def _settings(share: float):
    return settings(max_examples=max(1, round(EXAMPLES * share)), deadline=None, derandomize=True,
                    database=None, suppress_health_check=[HealthCheck.too_slow])


def _verify(case, target: str = "host", options=None) -> None:
    api = pytest.importorskip("bnncc.api")
    result = api.verify(case.model, target=target, inputs=case.inputs, options=options,
                        extra_flags=SANITIZE if target == "host" else ())
    assert result["bit_exact"], (case.description, result)


@_settings(0.6)
@given(bnn_cases(kinds=KINDS, dialects=("onnx",)))
def test_onnx_bnn_bit_exact(case):
    _verify(case)


@_settings(0.2)
@given(bnn_cases(kinds=KINDS, dialects=("qonnx",)))
def test_qonnx_bnn_bit_exact(case):
    _verify(case)


@_settings(0.2)
@given(bnn_cases(kinds=KINDS, dialects=("finn", "mixed")))
def test_finn_bnn_bit_exact(case):
    _verify(case)


@_settings(0.2)
@given(bnn_cases(kinds=KINDS, dialects=DIALECTS))
def test_mst_force_bit_exact(case):
    depth = [None, 1, 2][len(case.description) % 3]  # deterministic from the case
    _verify(case, options={"mst": "force", "mst_depth": depth, "mst_permute": "force"})


@pytest.mark.parametrize("seed,kind,dialect", [
    (0, "dense", "onnx"), (1, "conv", "onnx"), (2, "dense", "qonnx"),
    (3, "conv", "finn"), (4, "dense", "mixed"), (5, "conv", "mixed"),
])
def test_generic_c_bit_exact(seed, kind, dialect):
    _verify(random_bnn(np.random.default_rng(seed), kind, dialect), target="generic-c")


def _channel_ties(pre: np.ndarray, hit: np.ndarray) -> bool:
    """Does some channel whose value varies (not a constant channel) hit its threshold?"""
    per_channel = np.moveaxis(pre, 1, 0).reshape(pre.shape[1], -1)
    hits = np.moveaxis(np.broadcast_to(hit, pre.shape), 1, 0).reshape(pre.shape[1], -1)
    varying = per_channel.min(axis=1) != per_channel.max(axis=1)
    return bool(hits[varying].any())


def test_generator_models_are_valid():
    """30 generated models are well-formed, run in the reference, and really tie."""
    hidden_ties = {"Sign": 0, "BipolarQuant": 0, "MultiThreshold": 0}
    sign_zeros = 0
    for seed in range(30):
        kind, dialect = KINDS[seed % 2], DIALECTS[(seed // 2) % len(DIALECTS)]
        case = random_bnn(np.random.default_rng(seed), kind, dialect)
        model, inputs, description = case
        onnx.checker.check_model(model, full_check=dialect == "onnx")
        assert model.ir_version == 8
        assert {(o.domain, o.version) for o in model.opset_import} >= {("", 13)}
        assert len(model.graph.input) == 1 and len(model.graph.output) == 1
        dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
        assert dims[0] == 1 and list(inputs.shape[1:]) == dims[1:], description
        assert inputs.dtype == np.float32 and 8 <= len(inputs) <= 16

        names = [model.graph.output[0].name] + [n for p in case.probes for n in (p.tensor, p.output)]
        outs = run_reference(model, inputs, outputs=names)
        assert len(outs[0]) == len(inputs) and np.isfinite(outs[0]).all(), description
        for i, probe in enumerate(case.probes):
            pre, out = outs[1 + 2 * i], outs[2 + 2 * i]
            hit = np.broadcast_to(pre == probe.threshold, pre.shape)
            if probe.binarizer == "Sign":  # the probe threshold of Sign is 0
                np.testing.assert_array_equal(out, np.sign(pre), err_msg=description)
                sign_zeros += probe.layer > 0 and bool((out == 0).any())
            else:
                np.testing.assert_array_equal(out, np.where(pre >= probe.threshold, 1, -1), err_msg=description)
            if probe.layer == 0:  # sample 0 is all ties
                assert hit[0].all(), (description, "input sample 0 is not at the threshold")
            elif probe.engineered and _channel_ties(pre, hit):
                hidden_ties[probe.binarizer] += 1
    assert sign_zeros >= 3, sign_zeros
    assert all(n >= 2 for n in hidden_ties.values()), hidden_ties
