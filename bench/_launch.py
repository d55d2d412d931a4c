"""Run a command and write its exit code and the peak RSS of its process tree, like ``time -v``.

    python -I -S bench/_launch.py OUT_FILE COMMAND [ARG ...]

Writes ``<exit code> <peak RSS in KiB>`` to OUT_FILE. The peak is ``wait4``'s ``ru_maxrss``:
that of the largest process of the tree (the command, or a descendant it waited for).

Why a launcher: Linux carries a process's resident size at ``fork`` into its child's
``ru_maxrss``, across ``exec``. A benchmark that has grown (it reads the results of earlier
runs) would raise the figure of every small command it starts itself; this process, started
without ``site`` (``-S``), stays a few MiB.
"""

import os
import sys

out_file, command = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(command[0], command)
_, status, usage = os.wait4(pid, 0)
exit_code = os.waitstatus_to_exitcode(status)
with open(out_file, "w") as out:
    out.write(f"{exit_code} {usage.ru_maxrss}")
sys.exit(exit_code if exit_code >= 0 else 128 - exit_code)
