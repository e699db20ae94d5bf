"""What the benchmarks record about the machine they ran on (no third-party imports, so any bench can use it)."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (``platform`` where that is missing)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_family_model() -> str:
    """'family F model M' from /proc/cpuinfo: what tells a Zen 3 from a Zen 4 (both say 'AMD EPYC')."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return ""
    avx512 = "avx512f" in fields.get("flags", "").split()
    return f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, " \
           f"{'AVX-512' if avx512 else 'no AVX-512'}"
