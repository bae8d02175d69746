"""Use-cases as plain functions: pages, API and CLI all call these."""
