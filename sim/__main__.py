import atexit
import os
import sys

from sim.cli import main


def _exit(code: int) -> None:
    """Leave without tearing down native thread pools: run Python's exit handlers, flush, then end the
    process. Arrow's C++ thread pool can abort the interpreter's final teardown ("terminate called without
    an active exception", apache/arrow#34314) after the command has finished and reported correctly."""
    atexit._run_exitfuncs()
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


try:
    _code = main()
except SystemExit as e:  # argparse's --help and usage errors
    _code = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if e.code is not None and not isinstance(e.code, int):
        print(e.code, file=sys.stderr)
_exit(int(_code or 0))
