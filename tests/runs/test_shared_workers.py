"""Workers on several machines sharing one PostgreSQL run store: two ``deepad worker``
processes (each with its own machine name) and the dashboard's Service in this process.

Each queued job (training runs, and scoring and explaining jobs of finished runs) is carried
out exactly once; a job whose worker is killed goes back to the queue and the other worker
resumes it from its checkpoint. Without a PostgreSQL server (``.ci/with-postgres`` starts
one) these tests skip.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

import deepad
from deepad.service import Service
from tests.pages.helpers import SIZE, image_sets
from tests.runs.fakes import gaussian_table

STALE = 3.0  # seconds of silence after which a worker counts as gone (heartbeat 0.3 s)
PATIENCE = 300.0  # a bound against a hung test only; no test checks how long anything takes


@pytest.fixture
def shared(tmp_path, postgres_url, monkeypatch) -> Service:
    """The dashboard's Service on the shared store; it queues, the workers carry out."""
    monkeypatch.setenv("DEEPAD_STORE_URL", postgres_url)
    monkeypatch.setenv("DEEPAD_RUNNER", "workers")
    return Service(tmp_path / "home")


def worker(svc: Service, machine: str, *options: str) -> subprocess.Popen:
    """``deepad worker`` as another machine would run it, on the same store and artifacts."""
    root = str(Path(deepad.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]),
        "DEEPAD_HOST": machine,
        "DEEPAD_HEARTBEAT_SECONDS": "0.3",
        "DEEPAD_MAX_RUNS": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        sys.executable, "-m", "deepad", "--home", str(svc.store.home), "--store",
        os.environ["DEEPAD_STORE_URL"], "worker", "--cpu-only", "--stale-after", str(STALE),
        *options,
    ]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def finish(process: subprocess.Popen) -> str:
    out, _ = process.communicate(timeout=PATIENCE)
    assert process.returncode == 0, out
    return out


def carried_out(outputs: list[str]) -> Counter:
    """Job id -> how many times a worker reported carrying it out ("<kind> job <id>: ...")."""
    found: Counter = Counter()
    for out in outputs:
        for line in out.splitlines():
            head, _, _ = line.partition(":")
            parts = head.split()
            if len(parts) == 3 and parts[1] == "job" and parts[2].isdigit():
                found[int(parts[2])] += 1
    return found


def test_two_workers_carry_out_each_job_exactly_once(shared):
    svc = shared
    train = svc.registry.add(gaussian_table(80, seed=1), name="train").id
    new = svc.registry.add(gaussian_table(40, seed=2, anomalies=4), name="new").id
    runs = [svc.start("kde", {"seed": k}, train, new) for k in range(4)]
    assert svc.queue() == {run_id: k for k, run_id in enumerate(runs, start=1)}

    outputs = []
    pair = [worker(svc, "machine-a", "--until-idle"), worker(svc, "machine-b", "--until-idle")]
    # the dashboard follows them live from the store
    wait_for("the runs to end", lambda: all(r.status == "done" for r in svc.runs()))
    outputs += [finish(p) for p in pair]
    # each run queued the job preparing its stored explanations when it ended: the workers,
    # staying until idle, carried those out too
    prepared = [j.id for j in svc.jobs() if j.kind == "precompute"]
    assert sorted(svc.run(j).parent for j in prepared) == sorted(runs)
    # jobs of the finished runs: the same queue, the same workers
    jobs = [int(svc.start_score_job(run_id, new)) for run_id in runs[:3]]
    jobs += [svc.start_explain_job(run_id) for run_id in runs[:2]]
    queue = svc.queue()
    assert sorted(queue) == sorted(jobs) and sorted(queue.values()) == [1, 2, 3, 4, 5]
    assert {j.kind for j in svc.jobs()} == {"score", "explain", "precompute"}
    jobs += prepared
    pair = [worker(svc, "machine-a", "--until-idle"), worker(svc, "machine-b", "--until-idle")]
    outputs += [finish(p) for p in pair]

    records = [svc.run(i) for i in runs + jobs]
    assert [r.status for r in records] == ["done"] * len(records), [r.error for r in records]
    assert [r.attempts for r in records] == [1] * len(records)
    assert carried_out(outputs) == Counter({i: 1 for i in runs + jobs})
    assert {r.host for r in records} <= {"machine-a", "machine-b"}
    scored = svc.score_jobs(runs[0])[0]
    assert scored["done"] == scored["total"] == 40 and scored["flagged"] >= 1
    results, _ = svc.scored_results(runs[0], scored["job"])
    assert len(results) == 40
    assert svc.explain_job(runs[0])["status"] == "done"


def test_a_killed_workers_run_is_resumed_by_the_other_from_its_checkpoint(shared):
    svc = shared
    train, _ = image_sets()
    train_id = svc.registry.add(train, name="blobs").id
    settings = {"epochs": 10_000, "image_size": SIZE, "batch_size": 16, "checkpoint_every": 1}
    run_id = svc.start("ae", settings, train_id)

    first = worker(svc, "machine-a", "--max-jobs", "1")
    wait_for("a few epochs on machine-a", lambda: svc.run(run_id).epoch >= 3)
    assert svc.run(run_id).host == "machine-a"
    first.send_signal(signal.SIGKILL)  # the machine is gone: no cancel, no last word
    first.communicate(timeout=PATIENCE)
    killed_at = svc.run(run_id).epoch
    assert svc.run(run_id).status == "running"  # as the store last heard

    second = worker(svc, "machine-b", "--max-jobs", "1")
    wait_for(
        "machine-b to take the run over",
        lambda: svc.run(run_id).host == "machine-b" and svc.run(run_id).epoch > killed_at,
    )
    resumed = svc.run(run_id)
    assert resumed.status == "running" and resumed.attempts == 2
    log = svc.log_path(run_id).read_text()
    assert log.count("resuming run") == 1  # from its checkpoint, not from epoch 1
    after = int(log.split("resuming run")[1].split("after epoch")[1].split()[0])
    # a checkpoint every epoch; the store hears of epochs at most once a second, so the
    # checkpoint may be ahead of what it last heard, never more than an epoch or two behind
    assert after >= killed_at - 2 >= 1
    assert [h["epoch"] for h in svc.history(run_id)][: after + 1] == list(range(1, after + 2))

    svc.cancel(run_id)  # across machines: the flag in the store
    out = finish(second)
    assert f"train job {run_id}: cancelled" in out
    assert svc.run(run_id).status == "cancelled" and svc.run(run_id).attempts == 2
