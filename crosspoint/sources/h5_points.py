"""Reading the point arrays of an HDF5 file (``scanobjectnn``, ``shapenetpart``)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from crosspoint.store import StageError


def read_h5_points(path: Path, datasets: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named datasets of an HDF5 file, with a clear error for an unreadable or incomplete file."""
    try:
        with h5py.File(path, "r") as h5:
            missing = [d for d in datasets if d not in h5]
            if missing:
                raise StageError(f"{path}: no dataset(s) {', '.join(missing)} (found {', '.join(h5)}); is this the right file?")
            return {d: h5[d][()] for d in datasets}
    except OSError as err:
        raise StageError(f"{path}: not a readable HDF5 file ({err}); replace it with a fresh copy") from err
