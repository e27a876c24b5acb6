"""``bnncc bench``: bnncc's BNN code against float32 and int8 C (and TVM when
installed) on the same Cortex-M4 ISS, per model and per kernel."""
