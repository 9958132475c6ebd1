"""Starts ebb's Python worker: the ebb_worker package next to this file, imported so that Python
keeps its compiled form in __pycache__ there.  Run as a script, the 2,000-line worker would be
compiled again by every worker start (about 15 ms of CPU each time)."""
import sys

_dont_write = sys.dont_write_bytecode
sys.dont_write_bytecode = False   # cache ebb's own module even under PYTHONDONTWRITEBYTECODE
from ebb_worker.main import main  # noqa: E402

sys.dont_write_bytecode = _dont_write    # the application's modules: as the user set it
sys.exit(main())
