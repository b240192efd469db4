"""papermill's nbclient engine, with a kernel that dies reported as :class:`KernelDied`.

nbclient raises a bare ``DeadKernelError("Kernel died")`` when the kernel process goes away in a
cell (the out-of-memory killer, a segfault in a native library, ``os._exit``), and papermill then
has no notebook to show. The engine registered here under :data:`ENGINE` raises
:class:`KernelDied` instead, carrying the notebook executed up to that cell, the cell's index and
the kernel's exit code, so that :func:`facexai.execution.execute_notebook` fails the notebook like a
cell that raises.
"""
from __future__ import annotations

import signal
from typing import Any

from nbclient.exceptions import DeadKernelError
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.log import logger

#: The name of the engine in papermill's registry.
ENGINE = "facexai"


def describe_exit(code: int | None) -> str:
    """``"exit code 3"``; a negative code (killed by a signal) with the signal's name."""
    if code is None:
        return "exit code unknown"
    if code < 0:
        try:
            return f"exit code {code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"exit code {code}"
    return f"exit code {code}"


class KernelDied(RuntimeError):
    """The kernel died in a cell: ``nb`` is the notebook executed up to it, ``cell_index`` its
    index in ``nb.cells`` (None if no cell had started), ``exit_code`` the kernel process's."""

    def __init__(self, nb: Any, cell_index: int | None, exit_code: int | None):
        self.nb, self.cell_index, self.exit_code = nb, cell_index, exit_code
        super().__init__(f"kernel died ({describe_exit(exit_code)}): killed by the out-of-memory "
                         "killer, a segfault or os._exit")


def _last_started(nb: Any) -> int | None:
    """The index of the last cell papermill started (the one running when the kernel died)."""
    started = [i for i, c in enumerate(nb.cells) if c.metadata.get("papermill", {}).get("start_time")]
    return started[-1] if started else None


class _Client(PapermillNotebookClient):
    def papermill_execute_cells(self) -> None:
        try:
            super().papermill_execute_cells()
        except DeadKernelError:
            raise KernelDied(self.nb, _last_started(self.nb), self._exit_code()) from None

    def _exit_code(self) -> int | None:
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        try:
            return None if process is None else process.wait(timeout=5)
        except Exception:  # noqa: BLE001 - the code is a detail of the message
            return None


class _Engine(NBClientEngine):
    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                 stderr_file=None, start_timeout=60, execution_timeout=None,
                                 **kwargs):
        """As papermill's nbclient engine, with :class:`_Client`."""
        kwargs.pop("input_path", None)
        kwargs.pop("startup_timeout", None)
        timeout = execution_timeout or kwargs.pop("timeout", None)
        kwargs.pop("timeout", None)
        return _Client(nb_man, timeout=timeout, startup_timeout=start_timeout,
                       kernel_name=kernel_name, log=logger, log_output=log_output,
                       stdout_file=stdout_file, stderr_file=stderr_file, **kwargs).execute()


papermill_engines.register(ENGINE, _Engine)
