"""Passes, in the one place that orders them.

ONNX-level passes take and return an ``onnx.ModelProto``; IR passes take and return a
``Graph`` and never mutate their input.  ``ir.verify`` runs after every IR pass.
"""

from . import (binarize_input, fuse_sign_threshold, lower_float_tail, lower_input_steps, mst_permute_inputs,
               mst_reorder, onnx_eliminate_dead, onnx_fold_constants, pack_bits, threshold_real_layer, xnor_popcount)

ONNX_PIPELINE = (
    ("fold_constants", onnx_fold_constants.run),
    ("eliminate_dead", onnx_eliminate_dead.run),
)

IR_PIPELINE = (
    ("binarize_input", binarize_input.run),
    ("lower_input_steps", lower_input_steps.run),
    ("threshold_real_layer", threshold_real_layer.run),
    ("fuse_sign_threshold", fuse_sign_threshold.run),
    ("lower_float_tail", lower_float_tail.run),
    ("xnor_popcount", xnor_popcount.run),
    ("pack_bits", pack_bits.run),
    ("mst_permute_inputs", mst_permute_inputs.run),  # a no-op unless options["mst"] is auto or force
    ("mst_reorder", mst_reorder.run),  # a no-op unless options["mst"] is auto or force
)
