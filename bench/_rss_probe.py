"""A probe for ``bench/xdist_memory.py`` and ``bench/field.py``: the pytest process's own peak RSS.

At ``pytest_unconfigure`` in the process that owns the session (the xdist controller, or the
only process), it writes the peak RSS of that process alone, in KiB, to the file named by
``BENCH_RSS_FILE``: ``VmHWM`` from ``/proc/self/status`` where there is one (the peak since
``exec``; ``ru_maxrss`` also counts what the process that started pytest held when it did),
else ``ru_maxrss``. The peak of a process tree (``wait4``) is the peak of its largest
process, which under xdist may be a worker, or the delivery process; this is the controller's.

Loaded with ``-p _rss_probe`` (this folder on ``PYTHONPATH``); not part of the package.
"""

from __future__ import annotations

import os
import resource

import pytest

FILE_ENV = "BENCH_RSS_FILE"


@pytest.hookimpl(tryfirst=True)  # before any other plugin's pytest_unconfigure can raise
def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get(FILE_ENV)
    if path and not hasattr(config, "workerinput"):  # not on an xdist worker
        with open(path, "w") as out:
            out.write(str(peak_kib()))


def peak_kib() -> int:
    """This process's peak RSS in KiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass  # not Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
