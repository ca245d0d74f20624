"""Start the Dagster UI (``make ui``), refusing up front what would only fail later.

A busy port, or a second UI on the same Dagster home (a second daemon there logs a duplicate-daemon
error every 30 s), is refused with a message instead of a server that says "Serving" and then
fails. The home's lock is held by the UI process itself, so a killed UI never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from pathlib import Path

from orchestration.run import REPO, dagster_home


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    port = int(args[0]) if args else int(os.environ.get("PORT", "3000"))
    home = dagster_home()
    if port_in_use(port):
        print(
            f"port {port} is already in use (another `make ui`?): stop it, or run `PORT={port + 1} make ui`",
            file=sys.stderr,
        )
        return 1
    lock_path = home / "ui.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = Path(lock_path).read_text().strip() or "another process"
        print(
            f"a Dagster UI already runs on {home} ({holder}): open it, stop it, or use another DAGSTER_HOME",
            file=sys.stderr,
        )
        return 1
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} port {port}".encode())
    os.set_inheritable(fd, True)  # dagster dev (exec'd below) keeps holding the lock
    dagster = str(Path(sys.executable).with_name("dagster"))
    os.chdir(REPO)
    os.execv(dagster, [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
