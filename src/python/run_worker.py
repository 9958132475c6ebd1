"""Starts ebb's Python worker: the ebb_worker package next to this file, imported so that Python
keeps its compiled form in __pycache__ there.  Run as a script, the 2,000-line worker would be
compiled again by every worker start (about 15 ms of CPU each time).

``run_worker.py --fork-server APP-ARGS`` starts the fork server instead (ebb_worker.forkserver):
it imports the app once and forks the workers.  ``run_worker.py --spooler DIR APP-ARGS`` runs a
spooler process (ebb_worker.spooler)."""
import sys

_dont_write = sys.dont_write_bytecode
sys.dont_write_bytecode = False   # cache ebb's own module even under PYTHONDONTWRITEBYTECODE
if sys.argv[1:2] == ["--fork-server"]:
    from ebb_worker.forkserver import main as _fork_server
    main = lambda: _fork_server(sys.argv[2:])  # noqa: E731
elif sys.argv[1:2] == ["--spooler"]:
    from ebb_worker.spooler import main as _spooler
    main = lambda: _spooler(sys.argv[2:])  # noqa: E731
else:
    from ebb_worker.main import main  # noqa: E402

sys.dont_write_bytecode = _dont_write    # the application's modules: as the user set it
sys.exit(main())
