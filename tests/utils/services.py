"""Start and stop the real local services through the project's own hack/ scripts.

Each service starts at most once per test session, on first use. A service already named by
KUBECONFIG, AIDETECT_DATABASE_URL, AIDETECT_AMQP_URL or AIDETECT_S3_ENDPOINT is used as it is.
When a service cannot start, the test fails with the script's own output: nothing is skipped.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.utils.objects import S3Service

REPO_ROOT = Path(__file__).resolve().parents[2]
HACK = REPO_ROOT / "hack"


class ServiceStartError(RuntimeError):
    """A hack/ script could not start a service; the message holds its output."""


def _read_env_file(path: Path) -> dict[str, str]:
    """Parse the `export NAME=value [NAME=value...]` lines that the hack/ scripts write."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            for word in shlex.split(line.removeprefix("export ")):
                name, _, value = word.partition("=")
                values[name] = value
    return values


@dataclass
class LocalServices:
    """The services one test session uses, started lazily and stopped at the end."""

    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="aidetect-test-")))
    started: list[str] = field(default_factory=list)

    def _run(self, script: str, *args: str) -> None:
        proc = subprocess.run(
            ["bash", str(HACK / script), *args], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise ServiceStartError(
                f"hack/{script} {' '.join(args)} failed with exit code {proc.returncode}:\n"
                f"{proc.stdout}\n{proc.stderr}"
            )

    def _ensure(self, script: str, env_name: str, env_file: str) -> str:
        given = os.environ.get(env_name)
        if given:
            return given
        self._run(script, "start", str(self.state_dir))
        self.started.append(script)
        value = _read_env_file(self.state_dir / env_file)[env_name]
        os.environ[env_name] = value  # child processes (kubectl, the operator) see it too
        return value

    def kubeconfig(self) -> str:
        """Path of a kubeconfig for a real kube-apiserver."""
        return self._ensure("control-plane.sh", "KUBECONFIG", "control-plane.env")

    def database_url(self) -> str:
        """URL of a real Postgres database."""
        return self._ensure("postgres.sh", "AIDETECT_DATABASE_URL", "postgres.env")

    def amqp_url(self) -> str:
        """URL of a real RabbitMQ broker."""
        return self._ensure("rabbitmq.sh", "AIDETECT_AMQP_URL", "rabbitmq.env")

    def s3(self) -> S3Service:
        """A real S3-compatible server (SeaweedFS) with authentication on, and its credentials.

        A given AIDETECT_S3_ENDPOINT is used with AIDETECT_S3_ACCESS_KEY / _SECRET_KEY / _REGION
        (default: hack/s3.sh's development credentials); otherwise the session starts its own
        server and exports all four for child processes.
        """
        endpoint = self._ensure("s3.sh", "AIDETECT_S3_ENDPOINT", "s3.env")
        if "s3.sh" in self.started:
            for name, value in _read_env_file(self.state_dir / "s3.env").items():
                os.environ[name] = value
        return S3Service(
            endpoint=endpoint,
            access_key=os.environ.get("AIDETECT_S3_ACCESS_KEY", "aidetect"),
            secret_key=os.environ.get("AIDETECT_S3_SECRET_KEY", "aidetect-dev-secret"),
            region=os.environ.get("AIDETECT_S3_REGION", "us-east-1"),
        )

    def _own(self, script: str) -> None:
        if script not in self.started:
            raise ServiceStartError(
                f"this test kills and restarts the service of hack/{script}, so it needs the "
                "session's own one: unset the variable that points the tests at another"
            )

    def kill_broker(self) -> None:
        """kill -9 the session's RabbitMQ (beam.smp itself, not its wrapper script)."""
        self._own("rabbitmq.sh")
        pid = int((self.state_dir / "rabbitmq" / "beam.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)

    def restart_broker(self) -> None:
        """Start the session's RabbitMQ again: the same node, ports and data."""
        self._own("rabbitmq.sh")
        self._run("rabbitmq.sh", "restart", str(self.state_dir))

    def restart_database(self) -> None:
        """Restart the session's Postgres at once (an immediate stop), on the same port."""
        self._own("postgres.sh")
        self._run("postgres.sh", "restart", str(self.state_dir))

    def stop(self) -> None:
        """Stop what this session started, newest first; leave given services alone."""
        for script in reversed(self.started):
            subprocess.run(["bash", str(HACK / script), "stop", str(self.state_dir)], check=False)
        self.started.clear()
        subprocess.run(["rm", "-rf", str(self.state_dir)], check=False)
