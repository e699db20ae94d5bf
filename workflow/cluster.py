"""What the Snakemake workflow does to run the same on a laptop and on a SLURM cluster.

Imported by ``rules/common.smk`` (so by every Snakemake process: the one you start, and the ones the
SLURM executor starts inside each sbatch job and its srun step):

* ``put_python_on_path``: the rules call ``crosspoint``; the command must be the one installed next to the
  Python that runs Snakemake (the project's .venv, or a conda env), not whatever the submitting shell, or a
  batch job's login environment, finds first on PATH.

Kept out of ``crosspoint/`` (the pipeline's code): it is about the engine, not the stages.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping


def put_python_on_path(environ: MutableMapping[str, str] | None = None, python: str | None = None,
                       command: str = "crosspoint") -> str | None:
    """Put the folder of ``python`` (the interpreter running Snakemake) first on ``PATH`` when it holds
    ``command``; returns that folder, or None (PATH unchanged) when it does not.

    The folder of ``sys.executable`` itself, not of its resolved link: a venv's ``bin/python`` links to the
    system interpreter, and ``crosspoint`` is in the venv's ``bin``. Jobs inherit the change: the local
    executor's shell, and sbatch (``--export=ALL``) and srun copy this process's environment. Under
    ``--sdm conda`` the rule's environment is activated after this, so its own ``crosspoint`` comes first.
    """
    environ = os.environ if environ is None else environ
    folder = os.path.dirname(os.path.abspath(python or sys.executable))
    if not os.access(os.path.join(folder, command), os.X_OK):
        return None
    rest = [p for p in environ.get("PATH", "").split(os.pathsep) if p and os.path.abspath(p) != folder]
    environ["PATH"] = os.pathsep.join([folder, *rest])
    return folder
