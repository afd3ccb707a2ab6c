"""Pick a TCP port for a local service: below the kernel's ephemeral range, free, and claimed.

    python3 hack/free_port.py OWNER_DIR     (hack/lib.sh's free_port; prints the port)

Why not bind port 0 and let the kernel choose: the kernel chooses from the ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), the same range it draws every outgoing connection's
source port from. While a service is down (a broker killed for a chaos test, say), any client on
the machine may then be handed its port as a source port, and a client that closes first leaves
a TIME-WAIT socket on it for 60 s. A listener cannot bind a port that a socket without
SO_REUSEADDR holds, TIME-WAIT included, so the service cannot come back on its own port for a
minute (RabbitMQ: `eaddrinuse`, `dist_port_already_used`). Ports outside the ephemeral range are
never handed out that way.

Ports come from AIDETECT_PORT_RANGE (default 20000-29999), minus the ephemeral range. Each port
is claimed for its owner, the stack's state dir: CLAIMS/<port> is a symlink to OWNER_DIR, valid
while OWNER_DIR/.ports/<port> exists. So another stack starting while this one's service is down
does not take the port, and removing the state dir (make down, the test session's end) releases
every claim of that stack at once.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import sys
from pathlib import Path

DEFAULT_RANGE = "20000-29999"


def ephemeral_range() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)  # Linux's default


def candidates(spec: str) -> list[int]:
    low, _, high = spec.partition("-")
    ephemeral = ephemeral_range()
    ports = [p for p in range(int(low), int(high or low) + 1) if p not in ephemeral and p >= 1024]
    random.shuffle(ports)
    return ports


def bindable(port: int) -> bool:
    """Nothing listens on the port or holds it (an open or TIME-WAIT connection), on any address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("0.0.0.0", port))  # no SO_REUSEADDR: a TIME-WAIT socket makes this fail too
        except OSError:
            return False
    return True


def claimed(link: Path) -> bool:
    try:
        owner = Path(os.readlink(link))
    except FileNotFoundError:
        return False
    return (owner / ".ports" / link.name).exists()


def claim(port: int, owner: Path, claims: Path) -> bool:
    link = claims / str(port)
    if claimed(link) or not bindable(port):
        return False
    try:
        link.unlink(missing_ok=True)  # a stale claim: its owner's state dir is gone
    except PermissionError:
        return False  # another user's (the dir is sticky, like /tmp): leave that port to them
    link.symlink_to(owner)
    (owner / ".ports").mkdir(exist_ok=True)
    (owner / ".ports" / str(port)).touch()
    return True


def main() -> int:
    if len(sys.argv) != 2:
        sys.stderr.write("usage: free_port.py OWNER_DIR\n")
        return 2
    owner = Path(sys.argv[1]).resolve()
    owner.mkdir(parents=True, exist_ok=True)
    claims = Path(os.environ.get("AIDETECT_PORT_CLAIMS") or "/tmp/aidetect-ports")
    if not claims.is_dir():
        claims.mkdir(parents=True, exist_ok=True)
        claims.chmod(0o1777)  # machine-wide, like /tmp: every user's stacks claim ports here
    spec = os.environ.get("AIDETECT_PORT_RANGE") or DEFAULT_RANGE
    lock_path = claims / ".lock"
    if not lock_path.exists():
        lock_path.touch()
        lock_path.chmod(0o666)  # every user's pickers take the same lock
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one picker at a time, machine-wide
        for port in candidates(spec):
            if claim(port, owner, claims):
                sys.stdout.write(f"{port}\n")
                return 0
    sys.stderr.write(
        f"no free port in AIDETECT_PORT_RANGE={spec} outside the ephemeral range "
        f"{ephemeral_range().start}-{ephemeral_range().stop - 1}\n"
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
