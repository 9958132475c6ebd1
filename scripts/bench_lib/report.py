"""results/latest.md from the raw results (results/latest.json holds everything)."""


def num(v, digits=0):
    if v is None:
        return "–"
    if isinstance(v, float) and digits == 0 and abs(v) < 10 and v != int(v):
        digits = 2
    return ("{:,.%df}" % digits).format(v)


def fmt(sp, digits=0, unit=""):
    """median (min..max); the plain value when there is one run or no spread."""
    if not sp:
        return "–"
    med = num(sp["median"], digits) + unit
    if sp["n"] == 1 or sp["min"] == sp["max"]:
        return med
    return "%s (%s..%s)" % (med, num(sp["min"], digits), num(sp["max"], digits))


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


NOTES = [
    "Graceful stops: ebb and gunicorn `SIGTERM`; uWSGI `q` on its master FIFO (in uWSGI 2.0 "
    "`SIGTERM` is a brutal reload and `SIGINT`/`SIGQUIT` kill at once). Lost jobs are counted "
    "after that stop has finished.",
    "wrk uses fewer connections than the servers have threads: uWSGI's HTTP socket gives each "
    "thread one connection for as long as it is kept alive, so with more keep-alive connections "
    "than threads, new connections (the `/job` client's) wait in the listen queue.",
    "uWSGI 2.0's `--http11-socket` ignores a client's `Connection: close` (it neither closes nor "
    "answers `Connection: close`), so for it the non-keep-alive rows are measured with HTTP/1.0 "
    "requests, which it closes; the connections-per-request column shows the check.",
    "uWSGI does not recycle a worker younger than 10 s (`--min-worker-lifetime`, default 10), "
    "so it recycles less often than every 2000 requests at these rates: compare the recycles "
    "column. ebb replaces one worker at a time beyond `--processes` (`--max-surge 1`): a "
    "worker over its limit keeps serving until the previous replacement has drained, so it "
    "too recycles less often than every 2000 requests when drains take 2 s.",
    "gunicorn's `--max-requests` restart has no grace limit: the worker stops accepting, then "
    "its interpreter waits at exit for the executor's jobs (killed only by `--timeout`, 30 s), "
    "so it loses no job there but leaves its slot empty meanwhile (see the slowest-answer "
    "columns); `--graceful-timeout` applies to stops and `HUP`.",
    "Recycle moments in the chart: ebb's `recycle` (trigger) and `drained` (old worker gone) "
    "log events; for uWSGI and gunicorn a new worker pid, seen by polling the master's "
    "children every 100 ms.",
]


def write(path, data):
    m, v, s = data["machine"], data["versions"], data["settings"]
    L = []
    L.append("# ebb benchmark: ebb vs uWSGI vs gunicorn")
    L.append("")
    L.append("Made by `%s` on %s (%s mode, %d repetition(s) per figure; figures are "
             "**median (min..max)** over the repetitions)." % (
                 data["command"].strip(), data["date"], s["mode"], s["repeat"]))
    L.append("")
    L.append("Machine: %s cores, %s, Linux %s, %s memory. Load average (1/5/15 min) before the "
             "run %s (during and after it, the benchmark's own processes count in it: %s at the "
             "end). The run took %s min." % (
                 m["cores"], m["cpu"], m["kernel"], m["memory"],
                 " / ".join("%.2f" % x for x in m["loadavg_start"]),
                 " / ".join("%.2f" % x for x in m.get("loadavg_end", [])),
                 "%.0f" % (data.get("seconds", 0) / 60.0)))
    if m["loadavg_start"][0] >= 0.5:
        L.append("")
        L.append("**The machine was busy (load ≥ 0.5) during this run: the numbers check that the "
                 "benchmark works; do not publish them.**")
    L.append("")
    L.append(table(["component", "version"], [[k, "`%s`" % x] for k, x in v.items()]))
    L.append("")
    L.append("Every server runs `scripts/bench-apps/app.py` with %d processes × %d threads on the "
             "same Python (%s); load from wrk with %d threads and %d connections, servers "
             "alternated (order rotated every repetition), each started fresh for each measurement. "
             "Durations: %s." % (
                 s["processes"], s["threads"], v.get("python", "?"), s["wrk_threads"],
                 s["connections"], ", ".join("%s %s s" % (k, x) for k, x in s["durations"].items())))
    L.append("")
    L.append("Command lines (PORT, paths shortened):")
    L.append("")
    for name, argv in data.get("command_lines", {}).items():
        argv = argv.replace("  (+ --max-requests N, grace option per scenario)", "")
        L.append("- %s: `%s`" % (name, argv))
    L.append("")
    L.append("plus `--max-requests N` and the grace option (`--drain-timeout` / "
             "`--worker-reload-mercy` / `--graceful-timeout`) where a scenario sets them.")
    L.append("")

    sc = data["scenarios"]
    if "1" in sc:
        L.append("## 1. Hello world and a 1 ms app")
        L.append("")
        L.append("*hello*: `GET /` (14 bytes); *1 ms app*: `GET /sleep?ms=1`, which sleeps 1 ms in "
                 "the app (a quick database query: the GIL is free meanwhile). *browser* = ten "
                 "browser-like headers with cookies; *close* = `Connection: close` on every request "
                 "(a new connection per request). Latency as wrk measures it (from sending a "
                 "request to its response), percentiles at wrk's full resolution. *÷ uWSGI*: this "
                 "row's median req/s over uWSGI's. Errors: wrk socket errors + non-2xx, summed over "
                 "the runs.")
        L.append("")
        rows, notes = [], []
        summ = sc["1"]["summary"]
        apps = {"hello": "hello", "sleep1": "1 ms app"}
        uw = {(r.get("app", "hello"), r["conn"], r["headers"]): r["rps"]["median"]
              for r in summ if r["server"] == "uwsgi" and r["rps"]}
        for r in summ:
            app = r.get("app", "hello")
            mark = ""
            if r["http10_runs"]:
                mark = " ¹"
                notes.append("%s, %s %s/%s: kept the connection open after answering a "
                             "`Connection: close` request, so wrk reused it (%s req/s, a keep-alive "
                             "figure); the row shows the same load sent as HTTP/1.0 requests, "
                             "which it closes." % (r["server"], apps.get(app, app), r["conn"],
                                                   r["headers"], fmt(r["ignored_close_rps"])))
            stopped = r.get("stopped_answering", 0)
            base = uw.get((app, r["conn"], r["headers"]))
            ratio = ("%.2f" % (r["rps"]["median"] / base)) if base and r["rps"] else "–"
            rows.append(["%s, %s, %s" % (apps.get(app, app), r["conn"], r["headers"]),
                         r["server"] + mark, fmt(r["rps"]), ratio,
                         fmt(r["p50_ms"], 2), fmt(r["p99_ms"], 2), fmt(r.get("p999_ms"), 2),
                         r["errors"], fmt(r["conns_per_request"], 2),
                         ("**%d of %d**" % (stopped, r["rps"]["n"])) if stopped else "–"])
        rows.sort(key=lambda x: x[0])
        L.append(table(["requests", "server", "req/s", "÷ uWSGI", "p50 ms", "p99 ms",
                        "p99.9 ms", "errors", "connections per request",
                        "stopped answering after the run"], rows))
        L.append("")
        for n in notes:
            L.append("¹ " + n)
            L.append("")
        L.append("*Stopped answering*: runs after which a plain `GET /` got no answer within 3 s "
                 "(the server had stopped accepting connections; its figure then counts only "
                 "what it served before). Each row's server is started fresh.")
        L.append("")
        L.append("*Connections per request*: TCP connections the machine opened during the run "
                 "(/proc/net/snmp ActiveOpens) per request served; about 1 means one connection "
                 "per request.")
        L.append("")
    if "2" in sc:
        x = data["settings"]
        L.append("## 2. Recycling with background jobs")
        L.append("")
        L.append("`GET /` under wrk for %s s while a side client sends `GET /job` at %s/s (each "
                 "queues a 2 s job in a ThreadPoolExecutor); recycling every %d requests "
                 "(`--max-requests`) vs never. Ratio = recycling / never, per repetition. Failed = "
                 "wrk errors + failed `/job` requests. Lost = jobs journaled `start` without "
                 "`done` after the server was stopped gracefully. Recycles = ebb's `recycle` log "
                 "events; for uWSGI and gunicorn, new worker pids seen by polling the master's "
                 "children every 100 ms. Chart: `recycle-throughput.svg`." % (
                     x["durations"]["recycle"], x["job_rate"], x["max_requests"]))
        L.append("")
        rows, starved = [], []
        for r in sc["2"]["summary"]:
            n, c = r["never"], r["recycle"]
            rows.append([r["server"], fmt(n["rps"]), fmt(c["rps"]), fmt(r["ratio"], 3),
                         fmt(c["recycles"]), "%d / %d" % (n["failed"], c["failed"]),
                         "%d of %d / %d of %d" % (n["jobs_lost"], n["jobs_started"],
                                                  c["jobs_lost"], c["jobs_started"]),
                         "%s / %s" % (fmt(n["side_slowest_s"], 2), fmt(c["side_slowest_s"], 2))])
            if n["starved_runs"] or c["starved_runs"]:
                starved.append(r["server"])
        L.append(table(["server", "req/s never", "req/s recycling", "ratio", "recycles per run",
                        "failed (never / recycling)", "lost jobs (never / recycling)",
                        "slowest /job answer, s (never / recycling)"], rows))
        L.append("")
        if starved:
            L.append("**Side client starved** (fewer than half the jobs could be sent) with: %s. "
                     "Lower `--connections`." % ", ".join(starved))
            L.append("")
    if "3" in sc:
        x = data["settings"]
        L.append("## 3. Jobs longer than the grace window")
        L.append("")
        L.append("%d jobs of %d ms (at %s/s, each followed by %d `GET /`), recycling every %d "
                 "requests, grace %d s (`--drain-timeout` / `--worker-reload-mercy` / "
                 "`--graceful-timeout`). The server is stopped gracefully only after the jobs "
                 "of workers that were not recycled had time to finish, so losses come from "
                 "recycles. *Logged*: runs with a loss whose server log names a lost job id "
                 "or has a kill message." % (
                     x["long_jobs"], x["long_job_ms"], x["long_rate"], x["long_extra"],
                     x["long_max_requests"], x["long_grace"]))
        L.append("")
        rows = []
        for r in sc["3"]["summary"]:
            rows.append([r["server"], fmt(r["jobs_started"]), fmt(r["jobs_lost"]),
                         fmt(r["recycles"]), fmt(r["side_slowest_s"], 2, " s"),
                         "%d of %d" % (r["runs_with_loss_logged"], r["runs_with_loss"]),
                         r["lost_ids_named"],
                         "`%s`" % r["kill_sample"][:160].replace("|", "\\|") if r["kill_sample"] else "–",
                         r["failed"]])
        L.append(table(["server", "jobs started", "jobs lost", "recycles", "slowest answer",
                        "losses logged",
                        "lost ids named in log", "kill message (first)", "failed requests"], rows))
        L.append("")
    if "4" in sc:
        L.append("## 4. SIGHUP under load")
        L.append("")
        L.append("wrk `GET /` for %s s with `/job` (2 s jobs) at %s/s on the side; `SIGHUP` to the "
                 "master a third of the way in. *All new* = time from the HUP until no worker "
                 "from before it is left (the master's children polled every 50 ms; for ebb "
                 "the new workers' `EBB_CONFIG_GENERATION` is checked too). Lost = jobs without `done` after "
                 "a graceful stop." % (data["settings"]["durations"]["hup"],
                                       data["settings"]["job_rate"]))
        L.append("")
        rows = []
        for r in sc["4"]["summary"]:
            rows.append([r["server"], fmt(r["rps"]), fmt(r["failed"]), fmt(r["jobs_lost"]),
                         fmt(r["side_slowest_s"], 2, " s"),
                         fmt(r["first_new_s"], 2, " s"),
                         fmt(r.get("old_stopped_accepting_s"), 2, " s"),
                         fmt(r["replaced_s"], 2, " s") + (" (%d run(s) never)" % r["not_replaced"]
                                                          if r["not_replaced"] else "")])
        L.append(table(["server", "req/s", "failed requests", "lost jobs", "slowest /job answer",
                        "first new worker", "last old worker stopped accepting (ebb log)",
                        "all workers new"], rows))
        L.append("")
    if "5" in sc:
        L.append("## 5. Master footprint (idle)")
        L.append("")
        L.append("Idle servers (started together, no requests), window %s s. Master: VmRSS; CPU = "
                 "utime+stime over the window; wake-ups = voluntary + nonvoluntary context "
                 "switches of all its threads per second (and of its main thread alone). Workers "
                 "(for context): PSS summed, CPU and wake-ups summed." % (
                     data["settings"]["durations"]["idle"]))
        L.append("")
        rows = []
        for r in sc["5"]["summary"]:
            rows.append([r["server"], fmt(r["rss_kb"], 0, " kB"), fmt(r["cpu_ms"], 1, " ms"),
                         fmt(r["wakeups_per_s"], 2), fmt(r["wakeups_main_per_s"], 2),
                         fmt(r["workers_pss_kb"], 0, " kB"), fmt(r["workers_cpu_ms"], 1, " ms"),
                         fmt(r["workers_wakeups_per_s"], 2)])
        L.append(table(["server", "master RSS", "master CPU", "master wake-ups/s",
                        "(main thread)", "workers PSS", "workers CPU", "workers wake-ups/s"],
                       rows))
        L.append("")
    if "6" in sc:
        L.append("## 6. Supervisor overhead")
        L.append("")
        L.append("The bundled example app alone (`EBB_EXAMPLE_BIND=… ebb example-app`) vs one "
                 "worker under ebb (`ebb --http-socket … -p 1 --example-app`), wrk `GET /`, "
                 "alternated, %d runs each. On 2 cores shared by wrk and the server, single runs "
                 "of a Rust server at ~100k req/s vary by ±30%%: read the ratio's spread before "
                 "its median." % sc["6"]["summary"][0]["rps"]["n"])
        L.append("")
        rows = []
        for r in sc["6"]["summary"]:
            if "ratio" in r:
                rows.append([r["mode"], fmt(r["ratio"], 3), "", "", ""])
            else:
                rows.append([r["mode"], fmt(r["rps"]), fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3),
                             r["errors"]])
        L.append(table(["", "req/s", "p50 ms", "p99 ms", "errors"], rows))
        L.append("")
    if "7" in sc:
        worker = next((r.get("worker") for r in sc["7"]["runs"]), "example")
        L.append("## 7. Access log cost")
        L.append("")
        L.append("Hello world (`GET /`, wrk) with one access line per request written to a file: "
                 "ebb (%s) with `--access-logfile FILE` against uWSGI's default request logging "
                 "with `--logto FILE` (its own `app.py`), same processes and threads; and ebb with "
                 "`--disable-logging`. `log lines` counts what reached the file during the "
                 "measurement." % ("the Python worker, `--wsgi-file`" if worker == "wsgi"
                                   else "the bundled example app"))
        L.append("")
        rows = []
        for r in sc["7"]["summary"]:
            if "ratio" in r:
                rows.append([r["case"], fmt(r["ratio"], 3), "", "", "", ""])
            else:
                rows.append([r["case"], fmt(r["rps"]), fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3),
                             r["log_lines"], r["errors"]])
        L.append(table(["", "req/s", "p50 ms", "p99 ms", "log lines", "errors"], rows))
        L.append("")
    if "8" in sc:
        L.append("## 8. Static files")
        L.append("")
        L.append("`--static-map /static=DIR` given to both servers (the same options otherwise: "
                 "processes, threads, no request log; uWSGI with `--tcp-nodelay`, which ebb "
                 "always sets, and without `--offload-threads`, so both send from the serving "
                 "thread), wrk keep-alive `GET` of one file: a 1 KiB "
                 "stylesheet and a 1 MiB binary, the order alternated. Each server is checked "
                 "first to answer with the file's exact bytes (not the app's). MB/s = req/s × "
                 "file size.")
        skipped = sc["8"].get("not_measured") or {}
        if skipped:
            L.append("")
            L.append("Not measured: %s (gunicorn has no static file serving; its documentation "
                     "leaves static files to a proxy or WhiteNoise)." % ", ".join(sorted(skipped)))
        L.append("")
        rows = []
        for r in sc["8"]["summary"]:
            if "ratio" in r:
                rows.append([r["file"], r["server"], fmt(r["ratio"], 3), "", "", "", ""])
            else:
                rows.append([r["file"], r["server"], fmt(r["rps"]), fmt(r["mb_s"], 1),
                             fmt(r["p50_ms"], 3), fmt(r["p99_ms"], 3), r["errors"]])
        L.append(table(["file", "server", "req/s", "MB/s", "p50 ms", "p99 ms", "errors"], rows))
        L.append("")
    if "9" in sc:
        from .forkserver import report_lines
        L.extend(report_lines(sc["9"]))
    L.append("## How it is measured, and what to keep in mind")
    L.append("")
    L.extend("- " + n for n in NOTES)
    L.append("")
    errs = [(k, e) for k, v in sc.items() for e in v.get("errors", [])]
    skipped = data.get("skipped", {})
    if errs or skipped:
        L.append("## Problems during the run")
        L.append("")
        for k, e in errs:
            L.append("- scenario %s, %s: %s" % (k, e["server"], e["error"].splitlines()[0][:300]))
        for k, why in skipped.items():
            L.append("- scenario %s skipped: %s" % (k, why))
        L.append("")
    L.append("Raw numbers: `latest.json`. Logs of this run: `%s`." % data["workdir"])
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")
