"""Tests of the workflow layer: Snakemake plans and runs (the CI DAG, paper-scale plans, per-table
targets, downloads as jobs), the SLURM profile, the DVC round trip, torch-free planning and the
import contract between the three layers."""
