"""ONNX front-end: load and check a model, normalise it, import it into the IR.

``load`` (file checks, onnx.checker, batch fixed to 1, static shapes) ->
``bnncc.passes.onnx_*`` (constant folding, dead-node elimination) ->
``import_onnx`` (recognise the sequential BNN structure in any of the three dialects:
plain ONNX Sign, QONNX BipolarQuant/Quant, FINN MultiThreshold).
"""
