"""hw_sim: bnncc's hardware simulator (Cortex-M instruction-set simulator, analytic
estimators, FPGA dataflow model).  Importable on its own; it reads the backends'
artefacts and never imports the backends.  ``hw_sim.cortexm`` is the Cortex-M
simulator; the analytic estimators and the FPGA model are not implemented yet."""
