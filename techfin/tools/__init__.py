"""Small command-line probes used by the Makefile."""
