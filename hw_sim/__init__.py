"""hw_sim: bnncc's hardware simulator (Cortex-M instruction-set simulator, analytic
estimators, FPGA dataflow model).  Importable on its own; it reads the backends'
artefacts and never imports the backends.  Not implemented yet (issues 4 and 5)."""
