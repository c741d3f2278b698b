"""Run one command and report its own wall time, CPU and peak RSS: bench/timing.py's launcher.

Why a launcher: Linux keeps a process's peak RSS (ru_maxrss) across exec, and a child that
Python's subprocess starts (vfork, or fork) begins with its parent's memory. So a command
started straight from the harness reports at least the harness's own peak RSS (measured: /bin/true
started from a 200 MB Python process reports 210 MB). This launcher is a small Python with no
site packages (about 10 MB); it forks, execs the command, and reads the command's own rusage
with os.wait4. The figures go to the file named first, as JSON; the exit code is the command's.

    python -S bench/spawn.py RESULT.json COMMAND [ARG ...]
"""

import os
import sys
import time


def main() -> None:
    result, argv = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: become the command, with this process's cwd, env and streams
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - the benchmark's own command line
        except OSError as exc:
            os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    with open(result, "w", encoding="utf-8") as f:  # JSON, without importing json (and re)
        f.write(f'{{"wall_s": {wall!r}, "cpu_s": {cpu!r}, "maxrss_kb": {usage.ru_maxrss}}}')
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
