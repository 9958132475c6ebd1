"""Throughput over time during scenario 2, one panel per server, recycle moments marked.

Run by scripts/bench with the bench venv's python (matplotlib lives there):
    target/bench-venv/bin/python scripts/bench_lib/chart.py results/latest.json results/recycle-throughput.svg
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ebb": "#1b9e77", "uwsgi": "#d95f02", "gunicorn": "#7570b3"}


def series(run):
    """(x, req/s) with x = centre of each second relative to wrk's start; partial first and
    last seconds dropped."""
    frac = run.get("t0_frac", 0.0)
    got = {s: ok for s, ok, bad in run.get("per_second", [])}
    if not got:
        return []
    # A second in which nothing was answered has no bucket: it is a zero, not a gap.
    pts = [(s - frac + 0.5, got.get(s, 0)) for s in range(min(got), max(got) + 1)]
    return pts[1:-1] if len(pts) > 2 else pts


def main(src, dst):
    with open(src) as f:
        data = json.load(f)
    runs = data["scenarios"]["2"]["runs"]
    servers = [s for s in data["settings"]["servers"] if any(r["server"] == s for r in runs)]
    if not servers:
        print("chart: no scenario 2 runs", file=sys.stderr)
        return 1
    plt.rcParams["svg.fonttype"] = "none"
    fig, axes = plt.subplots(len(servers), 1, figsize=(10, 2.6 * len(servers) + 0.6),
                             sharex=True, squeeze=False)
    ymax = 0
    for r in runs:
        for _, y in series(r):
            ymax = max(ymax, y)
    for ax, name in zip(axes[:, 0], servers):
        mine = [r for r in runs if r["server"] == name]
        rec = next((r for r in mine if r["mode"] == "recycle"), None)
        nev = next((r for r in mine if r["mode"] == "never" and rec and r["rep"] == rec["rep"]),
                   None) or next((r for r in mine if r["mode"] == "never"), None)
        if nev:
            xs, ys = zip(*series(nev)) if series(nev) else ((), ())
            ax.plot(xs, ys, color="#999999", lw=1.2, ls="--",
                    label="never recycled (%.0f req/s)" % nev["rps"])
        if rec:
            xs, ys = zip(*series(rec)) if series(rec) else ((), ())
            ax.plot(xs, ys, color=COLORS.get(name, "k"), lw=1.8, marker="o", ms=2.5,
                    label="--max-requests %s (%.0f req/s, %d recycles)" % (
                        data["settings"]["max_requests"], rec["rps"], rec["recycles"]))
            first = {}
            for t, what in rec.get("marks", []):
                if t < 0 or t > rec.get("per_second", [[0]])[-1][0] + 1:
                    continue
                style = {"recycle": ("-", 0.55), "drained": (":", 0.45),
                         "new worker": ("-", 0.55)}.get(what, ("-", 0.4))
                lab = None if what in first else {
                    "recycle": "recycle triggered (ebb log)",
                    "drained": "old worker drained and exited (ebb log)",
                    "new worker": "new worker pid (polled /proc every 100 ms)"}.get(what, what)
                first[what] = True
                ax.axvline(t, color=COLORS.get(name, "k"), ls=style[0], lw=0.8, alpha=style[1],
                           label=lab)
        ax.set_title(name, loc="left", fontsize=11, fontweight="bold")
        ax.set_ylabel("req/s")
        ax.set_ylim(0, ymax * 1.45 if ymax else 1)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(loc="upper left", fontsize=7.5, ncol=2, framealpha=0.9)
    axes[-1, 0].set_xlabel("seconds since the load started")
    s = data["settings"]
    fig.suptitle("GET / throughput per second while 2 s background jobs arrive at %s/s; "
                 "%d processes x %d threads (%s, load %s)" % (
                     s["job_rate"], s["processes"], s["threads"], data["date"][:10],
                     " / ".join("%.1f" % x for x in data["machine"]["loadavg_start"])),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(dst)
    print("chart: wrote " + dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
