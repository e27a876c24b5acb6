"""HLS C++ backend: a streaming dataflow for Vitis HLS (``emit.render``)."""
