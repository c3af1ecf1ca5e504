"""Where a run's files live: the one place that names the paths under a run's folder.

Every run has one folder, ``<root>/<id>/``, where ``root`` is the artifact root of the run
store (:class:`Artifacts`)::

    run.json                    what the index knows of the run when it is created, so the
                                index can be rebuilt from the folders
    run.log                     the worker's log, including tracebacks of failures
    model/                      the fitted detector (Detector.save)
    last.*, prev.*, resume.*    the resumable training checkpoint; the checkpoint code
                                (deepad.train.checkpoint) names these files
    explain/                    explanations of the scored set (deepad.runs.artifacts)
    explainers/                 the explain job's comparison of explainers: summary.json
    explainers/items/           explainers precomputed per item (deepad.explain.precompute),
                                by the run's precompute job
    explainers/items.partial/   the same while that job writes them (never read)
    pixel_auroc_by_defect.json  each defect type's pixel AUROC, computed when the run ended
    runner.json                 marker: the run was last started as a Ray task
    deleted.json                the run is in the trash since then
    scored/<job>/               a score job of new data: scores.npz, explain/
    model.onnx                  the default ONNX export

A job's state (progress, cancel flag, result, where a threshold came from, whether a queued
run resumes) is its row's in the run store, not a file here.

What is inside ``model/``, ``explain/`` and ``explainers/items/`` is the format of the code
that writes and reads them; this module names the folders.

The artifact root is ``<home>/runs`` on this machine by default. A team whose dashboard
and workers share a PostgreSQL store points every machine at one shared folder (a network
mount) instead: ``$DEEPAD_ARTIFACTS`` or ``deepad --artifacts PATH``. A shared root is never
created here: a mount that is missing is an error, not a fresh empty folder on the local disk
where the other machines' runs would not be.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ARTIFACTS_ENV = "DEEPAD_ARTIFACTS"  # a shared artifact root, e.g. a network mount
RUNS = "runs"  # the default artifact root's folder in the deepad home


@dataclass(frozen=True)
class ScoreJobFolder:
    """One score job of a finished run: new data scored by its detector."""

    path: Path

    @property
    def job(self) -> str:
        return self.path.name

    @property
    def scores(self) -> Path:
        """``score`` and ``component.<name>`` arrays (``.npz``)."""
        return self.path / "scores.npz"

    @property
    def scores_partial(self) -> Path:
        """Where the job writes the scores before renaming them to :attr:`scores`, so a job
        stopped while writing leaves no ``scores.npz`` that reads as finished."""
        return self.path / "scores.npz.partial"

    @property
    def explain(self) -> Path:
        """The scored items' explanations, in the format of a run's ``explain/``."""
        return self.path / "explain"


@dataclass(frozen=True)
class RunFolder:
    """The paths of one run's folder (nothing is created or read here)."""

    path: Path

    @property
    def run_id(self) -> int:
        return int(self.path.name)

    # ------------------------------------------------------------------ the run itself
    @property
    def record(self) -> Path:
        """``run.json``: the index's record of the run when it was created."""
        return self.path / "run.json"

    @property
    def log(self) -> Path:
        return self.path / "run.log"

    @property
    def model(self) -> Path:
        """The fitted detector's folder (its files: :data:`deepad.models.checksum.MODEL_FILES`)."""
        return self.path / "model"

    @property
    def checkpoints(self) -> Path:
        """The folder the training checkpoint is kept in (the run's folder itself; the
        checkpoint code names its files)."""
        return self.path

    @property
    def explain(self) -> Path:
        """Explanations of the scored set (:mod:`deepad.runs.artifacts`)."""
        return self.path / "explain"

    @property
    def defects(self) -> Path:
        """Pixel AUROC per defect type, as JSON."""
        return self.path / "pixel_auroc_by_defect.json"

    # ------------------------------------------------------------------ markers
    @property
    def ray_marker(self) -> Path:
        """Present when the run was last started as a Ray task."""
        return self.path / "runner.json"

    @property
    def trash_marker(self) -> Path:
        """Present (with the time) while the run is in the trash."""
        return self.path / "deleted.json"

    # ------------------------------------------------------------------ explainers
    @property
    def explainers(self) -> Path:
        """The explain job's folder."""
        return self.path / "explainers"

    @property
    def explainer_items(self) -> Path:
        """Explainers precomputed per item (:mod:`deepad.explain.precompute`)."""
        return self.explainers / "items"

    @property
    def explainer_items_partial(self) -> Path:
        """Where the precompute job writes the items until they are all written; renamed to
        :attr:`explainer_items` at the end, so a job that stopped half-way (cancelled,
        its worker killed) never leaves items that read as finished."""
        return self.explainers / "items.partial"

    @property
    def explain_summary(self) -> Path:
        """The explain job's comparison of explainers, as JSON."""
        return self.explainers / "summary.json"

    # ------------------------------------------------------------------ exports
    @property
    def onnx(self) -> Path:
        """Where ``deepad export`` writes the ONNX file unless told otherwise."""
        return self.path / "model.onnx"

    # ------------------------------------------------------------------ score jobs
    @property
    def scored(self) -> Path:
        """The folder of the run's score jobs."""
        return self.path / "scored"

    def score_job(self, job: str) -> ScoreJobFolder:
        """Score job ``job`` (a number); anything else is a ``ValueError``, so a job id from a
        URL never names a path outside the run's folder."""
        if not (isinstance(job, str) and job.isascii() and job.isdigit()):
            raise ValueError(f"no score job {job!r}")
        return ScoreJobFolder(self.scored / job)


class Artifacts:
    """The storage of run artifacts: one :class:`RunFolder` per run under ``root``.

    ``Artifacts.local(home)`` is ``<home>/runs`` on this machine, created when missing;
    ``Artifacts.shared(path)`` is a folder every machine of a team reaches at the same path
    (a network mount), which must exist already. Both are plain folders, so a worker on
    another machine reads and writes the same run folders as the dashboard.
    """

    def __init__(self, root: Path, *, shared: bool = False) -> None:
        self.root = Path(root)
        self.shared = shared

    @classmethod
    def local(cls, home: Path) -> Artifacts:
        return cls(Path(home) / RUNS)

    @classmethod
    def shared_at(cls, path: str | os.PathLike[str]) -> Artifacts:
        return cls(Path(path).expanduser(), shared=True)

    @classmethod
    def for_home(cls, home: Path, root: str | os.PathLike[str] | None = None) -> Artifacts:
        """``root`` when given, else ``$DEEPAD_ARTIFACTS`` when set (both shared), else the
        home's own ``runs`` folder."""
        chosen = root if root is not None else (os.environ.get(ARTIFACTS_ENV) or None)
        return cls.shared_at(chosen) if chosen is not None else cls.local(home)

    def check(self) -> None:
        """A shared root must be a folder that exists (a mount that is not there is an
        error); a local one is created by the store."""
        if self.shared and not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise FileNotFoundError(
                f"{self.root}: the shared artifact root ({ARTIFACTS_ENV}) {what}; mount it "
                "or point the setting at the shared folder"
            )

    def run(self, run_id: int) -> RunFolder:
        return RunFolder(self.root / str(int(run_id)))

    def environment(self) -> dict[str, str]:
        """What a worker process needs in its environment to use these artifacts."""
        return {ARTIFACTS_ENV: str(self.root)} if self.shared else {}

    def describe(self) -> str:
        return f"{self.root} (shared)" if self.shared else str(self.root)

    def __repr__(self) -> str:
        return f"Artifacts({self.describe()!r})"
