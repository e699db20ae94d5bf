"""The pipeline's stages: one module per DVC stage / Snakemake rule, each a thin entry point
(``add_arguments`` and ``main`` for the ``crosspoint`` command) over the library. No stage imports another
stage (tests/test_layout.py)."""
