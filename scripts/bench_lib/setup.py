"""What the benchmark needs, installed when missing; versions and the machine's description."""

import os
import platform
import re
import shutil
import subprocess
import sys

from . import procs

# django: the site of scenario 9 (scripts/bench-apps/djsite/).
VENV_PACKAGES = ["uwsgi", "gunicorn", "matplotlib", "django"]


class Context:
    def __init__(self, root, args):
        self.root = root
        self.args = args
        self.venv = os.path.join(root, "target", "bench-venv")
        self.ebb = os.path.join(root, "target", "release", "ebb")
        self.app = os.path.join(root, "scripts", "bench-apps", "app.py")
        self.vpython = os.path.join(self.venv, "bin", "python")
        self.uwsgi_http_opt = "--http11-socket"
        self.gunicorn_extra = []


def _run(argv, **kw):
    procs.debug("run: " + " ".join(argv))
    return subprocess.run(argv, **kw)


def ensure_wrk():
    if shutil.which("wrk"):
        return
    procs.say("setup: installing wrk with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-qq"], check=True, env=env)
    _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"], check=True, env=env,
         stdout=subprocess.DEVNULL)
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is still missing after apt-get install wrk")


def ensure_venv(ctx):
    """uWSGI, gunicorn, matplotlib and Django in target/bench-venv (created with the system
    python3)."""
    if not os.path.exists(ctx.vpython):
        procs.say("setup: creating %s" % ctx.venv)
        _run([sys.executable, "-m", "venv", ctx.venv], check=True)
    have = {
        "uwsgi": os.path.exists(os.path.join(ctx.venv, "bin", "uwsgi")),
        "gunicorn": os.path.exists(os.path.join(ctx.venv, "bin", "gunicorn")),
        "matplotlib": _run([ctx.vpython, "-c", "import matplotlib"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL).returncode == 0,
        "django": _run([ctx.vpython, "-c", "import django"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL).returncode == 0,
    }
    missing = [p for p in VENV_PACKAGES if not have[p]]
    if missing:
        procs.say("setup: pip install %s (into %s; uWSGI compiles, this takes a minute)"
                  % (" ".join(missing), ctx.venv))
        _run([ctx.vpython, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + missing,
             check=True)


def build_ebb(ctx):
    procs.say("setup: cargo build --release")
    _run(["cargo", "build", "--release", "--quiet"], cwd=ctx.root, check=True)


def probe_options(ctx):
    """uWSGI: --http11-socket exists in this build? gunicorn: how to keep its control socket off."""
    if "uwsgi" in ctx.args.servers:
        out = _run([os.path.join(ctx.venv, "bin", "uwsgi"), "--help"], capture_output=True,
                   text=True).stdout
        ctx.uwsgi_http_opt = "--http11-socket" if "--http11-socket" in out else "--http-socket"
    if "gunicorn" in ctx.args.servers:
        out = _run([os.path.join(ctx.venv, "bin", "gunicorn"), "--help"], capture_output=True,
                   text=True).stdout
        # gunicorn >= 24 opens a control socket under ~/.gunicorn by default: keep it off so
        # parallel runs do not share it. (Older versions have no such socket, nor the flag.)
        # Access logging is off: it is only written when --access-logfile is given.
        ctx.gunicorn_extra = ["--no-control-socket"] if "--no-control-socket" in out else []


def _first_line(argv):
    try:
        p = _run(argv, capture_output=True, text=True, timeout=30)
        text = (p.stdout or p.stderr).strip()
        return text.splitlines()[0] if text else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def versions(ctx):
    v = {
        "ebb": _first_line([ctx.ebb, "--version"]),
        "python": _first_line([ctx.vpython, "--version"]),
        "wrk": _first_line(["wrk", "--version"]),
    }
    if os.path.exists(os.path.join(ctx.venv, "bin", "uwsgi")):
        v["uwsgi"] = "uWSGI " + _first_line([os.path.join(ctx.venv, "bin", "uwsgi"), "--version"])
    if os.path.exists(os.path.join(ctx.venv, "bin", "gunicorn")):
        v["gunicorn"] = _first_line([os.path.join(ctx.venv, "bin", "gunicorn"), "--version"])
    django = _run([ctx.vpython, "-c", "import django; print(django.get_version())"],
                  capture_output=True, text=True)
    if django.returncode == 0:
        v["django"] = "Django " + django.stdout.strip()
    v["wrk"] = re.sub(r"\s*Copyright.*", "", v["wrk"])
    try:
        git = _run(["git", "-C", ctx.root, "rev-parse", "--short", "HEAD"], capture_output=True,
                   text=True).stdout.strip()
        dirty = _run(["git", "-C", ctx.root, "status", "--porcelain", "--", "src"],
                     capture_output=True, text=True).stdout.strip()
        v["ebb_commit"] = git + ("+uncommitted src changes" if dirty else "")
    except OSError:
        pass
    return v


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = "%.1f GiB" % (kb / 1048576)
    except (OSError, ValueError, IndexError):
        pass
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "os": platform.platform(), "memory": mem, "loadavg_start": loadavg()}
