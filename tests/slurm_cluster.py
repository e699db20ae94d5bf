"""A one-node SLURM cluster on this machine, for the tests: munged, slurmctld and slurmd run as root from a
temporary folder, with no accounting storage (like many small clusters), ``ProctrackType=proctrack/linuxproc``
and ``TaskPlugin=task/none`` (no cgroups needed).

Debian's ``slurm-wlm`` and ``munge`` are installed with apt when missing and the tests run as root (as
scripts/setup.sh does for the EGL libraries); otherwise ``unavailable()`` says why, for a skip.

The configuration goes to /etc/slurm/slurm.conf, the one place every SLURM command reads by itself: the
Snakemake SLURM executor's job step (snakemake-executor-plugin-slurm-jobstep 0.6.1) removes every
``SLURM_*`` variable, ``SLURM_CONF`` included, from the environment of the ``srun`` it starts inside a job,
so a configuration elsewhere is lost there. An existing slurm.conf that this module did not write (a real
cluster's) is never replaced: the tests are skipped. Everything else (munge key and socket, state, spool,
logs) stays in the temporary folder, on ports free at start, and ``stop()`` removes the file again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SLURM_CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# Written by crosspoint tests/slurm_cluster.py for a one-node test cluster; removed when it stops."
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel", "srun")
PACKAGES = ("slurm-wlm", "munge")


def _which(program: str) -> str | None:
    return shutil.which(program, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def _missing() -> list[str]:
    return [p for p in PROGRAMS if _which(p) is None]


def unavailable(install: bool = True) -> str | None:
    """Why a one-node cluster cannot run here, or None. Installs the Debian packages when missing, as root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "a one-node SLURM cluster needs root (slurmctld and slurmd run as root)"
    if SLURM_CONF.exists() and MARKER not in SLURM_CONF.read_text(errors="replace"):
        return f"{SLURM_CONF} exists (a real SLURM installation); the test does not replace it"
    if _missing() and install:
        if shutil.which("apt-get") is None:
            return f"SLURM programs missing ({', '.join(_missing())}) and no apt-get to install {' '.join(PACKAGES)}"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
            if proc.returncode != 0:
                return f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
    if _missing():
        return f"SLURM programs missing: {', '.join(_missing())} (apt-get install {' '.join(PACKAGES)})"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


class OneNodeSlurm:
    """``with OneNodeSlurm(folder) as cluster:`` a running cluster with one partition, ``cluster.partition``."""

    def __init__(self, root: Path, partition: str = "debug", cpus: int | None = None, memory_mb: int | None = None):
        self.root = Path(root)
        self.partition = partition
        self.node = socket.gethostname().split(".")[0]
        # The jobs ask for at most 2 CPUs (the workflow profile's cores: 2) and 16 GB (pretrain, partseg);
        # the node offers at least that, whatever this machine has (config_overrides: slurmd does not drain
        # a node that has less than its configured size), and twice this machine's cores: most of a tiny
        # job's time is its two single-threaded Snakemake start-ups (batch script, job step), which overlap
        # well. Memory is not a consumable resource (CR_Core).
        self.cpus = cpus or max(4, 2 * (os.cpu_count() or 1))
        self.memory_mb = memory_mb or max(16384, _memory_mb())
        self.procs: dict[str, subprocess.Popen] = {}
        self.wrote_conf = False

    # -- paths
    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    def log(self, name: str) -> Path:
        return self.root / "log" / f"{name}.log"

    def config(self) -> str:
        r = self.root
        return "\n".join([
            MARKER,
            "ClusterName=crosspoint-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.log('slurmctld')}",
            f"SlurmdLogFile={self.log('slurmd')}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SwitchType=switch/none",
            "MpiDefault=none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "ReturnToService=2",
            "SlurmdParameters=config_overrides",
            # squeue shows a finished job for an hour (SLURM's default: 5 minutes), so that the test sees all
            "MinJobAge=3600",
            # start the next job within a second of the last one's end (the defaults suit jobs of hours)
            "SchedulerParameters=sched_interval=1,batch_sched_delay=0",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN",
            f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ])

    # -- life cycle
    def _spawn(self, name: str, cmd: list[str]) -> None:
        out = open(self.log(name + ".out"), "w")  # noqa: SIM115 (kept open for the daemon's lifetime)
        self.procs[name] = subprocess.Popen([_which(cmd[0]) or cmd[0], *cmd[1:]], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)

    def _alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def _fail(self, what: str) -> None:
        tails = []
        for name in ("munged", "slurmctld", "slurmd"):
            for path in (self.log(name), self.log(name + ".out")):
                if path.exists():
                    tails.append(f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        self.stop()
        raise RuntimeError(f"one-node SLURM: {what}\n" + "\n".join(tails))

    def start(self) -> OneNodeSlurm:
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o711)  # munged wants its socket's folders searchable by all
        (self.root / "munge").chmod(0o711)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        self._spawn("munged", ["munged", "--foreground", "--force", f"--key-file={key}",
                               f"--socket={self.munge_socket}", f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                               f"--seed-file={self.root / 'munge' / 'munged.seed'}",
                               f"--log-file={self.log('munged')}"])
        self._wait(lambda: self.munge_socket.exists(), 20, "munged did not create its socket", "munged")
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(self.config())
        self.wrote_conf = True
        self._spawn("slurmctld", ["slurmctld", "-D", "-i"])
        self._wait(lambda: self._query(["scontrol", "ping"]).returncode == 0, 30, "slurmctld did not answer",
                   "slurmctld")
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.node])
        self._wait(lambda: self.state() == "idle", 60, "the node did not become idle", "slurmd")
        return self

    def _wait(self, ready, seconds: float, what: str, daemon: str) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            if not self._alive(daemon):
                self._fail(f"{daemon} exited ({self.procs[daemon].returncode})")
            time.sleep(0.5)
        self._fail(what)

    def _query(self, cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)

    def state(self) -> str:
        proc = self._query(["sinfo", "--noheader", "--Node", "--format=%T"])
        return proc.stdout.strip().rstrip("*~#") if proc.returncode == 0 else ""

    def jobs(self) -> list[str]:
        """Every job slurmctld still knows, as ``id|name|state|partition|command-line CPUs``."""
        proc = self._query(["squeue", "--states=all", "--noheader", "--format=%i|%j|%T|%P|%C"])
        return proc.stdout.split()

    def stop(self) -> None:
        if self._alive("slurmctld"):
            self._query(["scancel", "--user", "root"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(
                    j.split("|")[2] in ("RUNNING", "PENDING", "COMPLETING") for j in self.jobs()):
                time.sleep(1)
        for name in ("slurmd", "slurmctld", "munged"):  # the workers first, the controller, then authentication
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self.wrote_conf and SLURM_CONF.exists() and MARKER in SLURM_CONF.read_text(errors="replace"):
            SLURM_CONF.unlink()
        self.wrote_conf = False

    def __enter__(self) -> OneNodeSlurm:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
