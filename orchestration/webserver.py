"""Drive the UI as a user does: start ``dagster dev`` (what ``make ui`` runs), launch runs through
the webserver's GraphQL API, and wait for them. Used by the UI tests and ``make bench``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
FINISHED = ("SUCCESS", "FAILURE", "CANCELED")

LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN = """
query Run($id: ID!) {
  runOrError(runId: $id) { ... on Run { status startTime endTime tags { key value } } }
}
"""
REPOS = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"
ASSET_JOB = "__ASSET_JOB"  # the job the UI launches for "Materialize" on selected assets


@dataclass
class RunOutcome:
    run_id: str
    status: str
    seconds: float  # from the launch request to the finished status, as the user waits
    run_seconds: float  # Dagster's run time: start to end of the run process's execution
    tags: dict[str, str] = field(default_factory=dict)


class Webserver:
    """A running ``dagster dev``: GraphQL at ``base``, its output (and the daemon's) in ``log``."""

    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self.log = log

    @classmethod
    @contextmanager
    def start(cls, env: dict[str, str], log: Path, port: int, timeout: float = 180) -> Iterator[Webserver]:
        """``dagster dev`` on ``port`` with ``env``; killed with its whole process group on exit
        (in the background it ignores SIGTERM)."""
        dagster = str(Path(sys.executable).with_name("dagster"))
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [dagster, "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            server = cls(f"http://127.0.0.1:{port}", log)
            try:
                deadline = time.monotonic() + timeout
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"dagster dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
                    try:
                        urllib.request.urlopen(f"{server.base}/server_info", timeout=2).read()
                        break
                    except (urllib.error.URLError, ConnectionError, TimeoutError):
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"dagster dev did not answer within {timeout:.0f}s") from None
                        time.sleep(0.3)
                yield server
            finally:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)

    def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as resp:
            body = json.loads(resp.read())
        if "errors" in body:
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    @cached_property
    def selector(self) -> dict[str, str]:
        """The code location's repository, asked once (not inside every timed launch)."""
        (repo,) = self.gql(REPOS)["repositoriesOrError"]["nodes"]
        return {"repositoryName": repo["name"], "repositoryLocationName": repo["location"]["name"]}

    def launch(self, job: str, config: dict[str, Any], assets: list[list[str]] | None = None) -> str:
        """Launch ``job`` (or the selected ``assets``, as the UI's Materialize button does) with run config."""
        selector: dict[str, Any] = {**self.selector, "jobName": job}
        if assets is not None:
            selector["assetSelection"] = [{"path": path} for path in assets]
        launched = self.gql(LAUNCH, {"params": {"selector": selector, "runConfigData": config}})["launchRun"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch of {job} refused: {launched}")
        return launched["run"]["runId"]

    def status(self, run_id: str) -> dict[str, Any]:
        return self.gql(RUN, {"id": run_id})["runOrError"]

    def wait(self, run_id: str, launched_at: float, timeout: float = 600, every: float = 0.1) -> RunOutcome:
        """Poll until the run has finished; ``launched_at`` is the ``time.monotonic()`` of its launch."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.status(run_id)
            if run["status"] in FINISHED:
                seconds = time.monotonic() - launched_at
                run_seconds = (run["endTime"] or 0) - (run["startTime"] or 0)
                tags = {t["key"]: t["value"] for t in run["tags"]}
                return RunOutcome(run_id, run["status"], seconds, run_seconds, tags)
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s (status {run['status']})")
            time.sleep(every)

    def run(
        self, job: str, config: dict[str, Any], assets: list[list[str]] | None = None, timeout: float = 600
    ) -> RunOutcome:
        start = time.monotonic()
        return self.wait(self.launch(job, config, assets), start, timeout)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
