# Helpers shared by the generated rule files (kept apart from the rules, as `snakemake --lint` asks).
import re
import sys
from pathlib import Path

from snakemake.logging import logger

sys.path.insert(0, str(Path(workflow.basedir)))
import cluster  # workflow/cluster.py

# The rules call `crosspoint`: the one next to the Python running Snakemake (the project's .venv), in
# this process and in every job it starts, sbatch jobs included, whatever PATH the shell had.
cluster.put_python_on_path()


onstart:
    # SLURM runs only: stop at placeholder accounts/partitions, query job states with squeue where sacct
    # cannot answer (workflow/cluster.py).
    cluster.check_slurm_run(workflow, logger)


def P(key):
    """The value of a dotted params key, e.g. P("render.shards")."""
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def one_of(values):
    """A wildcard constraint matching exactly the given values."""
    return "|".join(re.escape(str(v)) for v in values)
