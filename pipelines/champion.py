"""The scoring run's MLflow work, in a process of its own: the champion fetched while the day is read.

Importing MLflow and opening its store cost about 3 s of CPU per command, more than reading and
checking a day's manifest. A scoring run therefore starts one helper process (a fresh interpreter
running this module) that resolves ``name@alias`` in the registry, copies the
version's files to a temporary folder and reads its drift reference, while this process imports
the feature code and reads the manifest, the reference tables and the feature state. At the end
the same helper logs the day's drift run. This process never imports MLflow.

The helper ignores Ctrl-C (this process handles it and stops the helper), dies with this process
however it dies (Linux parent-death signal), and is stopped when the run ends.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ChampionFiles:
    """A registered version's files, copied locally, and its drift reference."""

    name: str
    version: str
    folder: str  # the RiskModel's files (model.json, booster.json, feature_state.pkl)
    drift_reference: dict | None
    drift_note: str  # why there is no reference, if there is none


def risk_model_folder(model_dir: Path) -> Path:
    """The RiskModel's files inside a downloaded MLflow model: its pyfunc artifact ``risk_model``."""
    import yaml

    meta = yaml.safe_load((model_dir / "MLmodel").read_text())
    return model_dir / meta["flavors"]["python_function"]["artifacts"]["risk_model"]["path"]


def fetch_champion(name: str, alias: str, dst: str) -> ChampionFiles:
    """(In the helper) resolve ``name@alias``, copy the version's files under ``dst``, read its drift
    reference. NoChampionError when there is no such model or alias; ModelUnavailableError when
    the registry cannot be read or the files cannot be copied."""
    import mlflow

    from pipelines.errors import NoChampionError
    from pipelines.registry import alias_version, unloadable
    from pipelines.tracking import load_drift_reference

    version = alias_version(name, alias)  # an unreadable registry raises ModelUnavailableError
    if version is None:
        raise NoChampionError(
            f"no model '{name}' with alias '{alias}' in the registry",
            "train one first: customs-risk train --bundle DIR",
        )
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=dst)
        folder = risk_model_folder(Path(local))
    except Exception as err:
        raise unloadable(f"{name}/{version}", err) from None
    reference, note = load_drift_reference(name, version)
    return ChampionFiles(name, str(version), str(folder), reference, note)


def load_champion(files: ChampionFiles):
    """The RiskModel from its copied files, or ModelUnavailableError with one line saying why."""
    from models.artifact import RiskModel
    from pipelines.registry import unloadable

    try:
        return RiskModel.load(Path(files.folder))
    except Exception as err:
        raise unloadable(f"{files.name}/{files.version}", err) from None


def _log_day_drift(day: str, version: str, drift, warn_at: float) -> str:
    from pipelines.tracking import log_day_drift

    return log_day_drift(day, version, drift, warn_at)


def _portable(err: Exception) -> Exception:
    """``err`` as the scoring process can receive it: itself when it survives pickling, else a
    ModelUnavailableError with its one line."""
    import pickle

    from pipelines.registry import ModelUnavailableError, _one_line

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return ModelUnavailableError(f"the MLflow helper failed: {_one_line(err)}")


def _helper_main(conn) -> None:
    """The helper process: run each job sent, send back ("ok", value) or ("error", exception);
    leave at once (no interpreter teardown: every MLflow write is committed) when told or when
    the scoring process is gone."""
    import os
    import signal

    from pipelines.runtime import quiet_third_party_logs

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the scoring process's to handle
    quiet_third_party_logs()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            job = None
        if job is None:
            os._exit(0)
        fn, args = job
        try:
            reply = ("ok", fn(*args))
        except Exception as err:  # sent back whole: the scoring process raises it
            reply = ("error", _portable(err))
        conn.send(reply)


class _Reply:
    """The reply to one job; replies come back in the order the jobs were sent."""

    def __init__(self, helper: MlflowHelper) -> None:
        self._helper = helper
        self._done = False
        self._value: object = None

    def result(self):
        while not self._done:
            self._helper._receive()
        kind, value = self._value
        if kind == "error":
            raise value
        return value


class MlflowHelper:
    """One helper process for a scoring run's MLflow work (see the module's docstring)."""

    def __init__(self) -> None:
        import socket
        import subprocess
        import sys
        from multiprocessing.connection import Connection

        from pipelines.runtime import die_with_parent

        self._files = tempfile.TemporaryDirectory(prefix="customs-risk-champion-")
        ours, theirs = socket.socketpair()
        with theirs:  # a fresh interpreter running this module: nothing of this process is re-run in it
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "pipelines.champion", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        self._conn = Connection(ours.detach())
        self._waiting: list[_Reply] = []

    def _submit(self, fn, *args) -> _Reply:
        reply = _Reply(self)
        self._conn.send((fn, args))
        self._waiting.append(reply)
        return reply

    def _receive(self) -> None:
        from pipelines.registry import ModelUnavailableError

        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            message = (
                "error",
                ModelUnavailableError(
                    f"the MLflow helper process stopped (exit code {self._proc.poll()}) before answering"
                ),
            )
        reply = self._waiting.pop(0)
        reply._value, reply._done = message, True

    def fetch_champion(self, name: str, alias: str) -> _Reply:
        """Start fetching ``name@alias``; ``.result()`` is a :class:`ChampionFiles`."""
        return self._submit(fetch_champion, name, alias, self._files.name)

    def log_day_drift(self, day: str, version: str, drift, warn_at: float) -> str:
        """``pipelines.tracking.log_day_drift`` in the helper; returns the MLflow run id."""
        return self._submit(_log_day_drift, day, version, drift, warn_at).result()

    def close(self) -> None:
        """Stop the helper (at once when idle; a job still running is cut short) and remove the files."""
        import contextlib
        import subprocess

        from pipelines.runtime import stop_process

        with contextlib.suppress(OSError):
            self._conn.send(None)
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            stop_process(self._proc, timeout=5)
        self._conn.close()
        self._files.cleanup()

    def __enter__(self) -> MlflowHelper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":  # the helper process: python -m pipelines.champion FD
    import sys
    from multiprocessing.connection import Connection

    _helper_main(Connection(int(sys.argv[1])))
