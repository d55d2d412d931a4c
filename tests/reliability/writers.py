"""Writers for the load tests: processes and threads posting result batches to a collector.

Plans are plain data so a ``spawn``ed process can run them. Every item carries an
``executed_at`` unique for its case, so the expected final row of each case is known
without asking the server: the item with the newest ``executed_at`` wins.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from dataclasses import dataclass, field

import requests

from tests.support.waiting import wait_until

STATUSES = ("PASSED", "FAILED", "BROKEN", "SKIPPED", "UNKNOWN")
BASE_TIME = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
WRITER_STRIDE = 64  # more than the number of writers: keeps every (writer, round) stamp unique


@dataclass(frozen=True)
class Plan:
    """What one writer process posts: ``rounds`` batches of ``batch`` codes drawn from ``codes``."""

    api: str  # the collector's /api/v1 base this writer talks to
    token: str
    run_id: str
    codes: tuple[str, ...]
    writer: int
    rounds: int
    batch: int
    start_at: float = 0.0  # wall-clock time to start at, so that all writers start together


@dataclass
class Outcome:
    """What a writer saw: the HTTP status of every request, and the items acknowledged."""

    writer: int
    statuses: list[int] = field(default_factory=list)
    acknowledged: list[dict] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def item(writer: int, round_: int, code: str) -> dict:
    """The result ``writer`` sends for ``code`` in ``round_`` (its stamp is unique per case)."""
    stamp = BASE_TIME + dt.timedelta(milliseconds=round_ * WRITER_STRIDE + writer)
    return {
        "test_case_code": code,
        "status": STATUSES[(writer + round_) % len(STATUSES)],
        "comment": f"w{writer}r{round_}",
        "executed_at": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "duration_ms": round_ * 1000 + writer,
    }


def batch_codes(plan: Plan, round_: int) -> list[str]:
    """The codes of one batch, in a shuffled order (so overlapping batches lock rows in any order)."""
    return random.Random(plan.writer * 10_007 + round_).sample(plan.codes, plan.batch)


def expected_rows(plans: list[Plan]) -> dict[str, dict]:
    """The row each case must end with: its item with the newest ``executed_at``."""
    newest: dict[str, dict] = {}
    for plan in plans:
        for round_ in range(plan.rounds):
            for code in batch_codes(plan, round_):
                candidate = item(plan.writer, round_, code)
                if code not in newest or candidate["executed_at"] > newest[code]["executed_at"]:
                    newest[code] = candidate
    return newest


def run_plan(plan: Plan) -> Outcome:
    """Post every batch of ``plan`` once (no retries: every answer counts)."""
    outcome = Outcome(plan.writer)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {plan.token}"
    while time.time() < plan.start_at:
        time.sleep(min(0.01, max(0.0, plan.start_at - time.time())))
    for round_ in range(plan.rounds):
        body = {"results": [item(plan.writer, round_, code) for code in batch_codes(plan, round_)]}
        try:
            response = session.post(f"{plan.api}/runs/{plan.run_id}/results", json=body, timeout=60)
        except requests.RequestException as ex:
            outcome.failures.append(f"round {round_}: {ex}")
            continue
        outcome.statuses.append(response.status_code)
        if response.status_code in (201, 207):
            outcome.acknowledged.extend(response.json()["data"])
        else:
            outcome.failures.append(f"round {round_}: HTTP {response.status_code}: {response.text[:300]}")
    session.close()
    return outcome


class AckRecorder:
    """Threads that post fresh batches until stopped, recording what the server acknowledged."""

    def __init__(self, api: str, token: str, run_id: str, codes: list[str], threads: int = 4) -> None:
        self.api = api
        self.token = token
        self.run_id = run_id
        self.codes = codes
        self.acknowledged: list[dict] = []  # {"id", "test_case_code", "executed_at", "comment"}
        self.refused = 0  # requests that got no answer (the server was down)
        self.server_errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> AckRecorder:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def wait_for(self, acknowledged: int, timeout: float = 60.0) -> None:
        """Block until at least ``acknowledged`` items were acknowledged."""
        wait_until(
            lambda: len(self.acknowledged) >= acknowledged, timeout, f"{acknowledged} acknowledged results"
        )

    def _write(self, writer: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        round_ = 0
        while not self._stop.is_set():
            codes = random.Random(writer * 10_007 + round_).sample(self.codes, 10)
            items = [item(writer, round_, code) for code in codes]
            round_ += 1
            try:
                response = session.post(
                    f"{self.api}/runs/{self.run_id}/results", json={"results": items}, timeout=10
                )
            except requests.RequestException:
                with self._lock:
                    self.refused += 1
                self._stop.wait(0.05)  # the server is down: try again shortly, until stopped
                continue
            if response.status_code >= 500:
                self.server_errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
            elif response.status_code in (201, 207):
                stamps = {i["test_case_code"]: i for i in items}
                with self._lock:
                    for accepted in response.json()["data"]:
                        sent = stamps[accepted["test_case_code"]]
                        self.acknowledged.append(
                            {**accepted, "executed_at": sent["executed_at"], "comment": sent["comment"]}
                        )
        session.close()
