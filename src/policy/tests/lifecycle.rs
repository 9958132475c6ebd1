//! The lifecycle table: scripts of events through spawns, recycles, drains, reloads, crashes
//! and stops, each step with the actions it must yield.

use super::*;

#[test]
fn lifecycle_table() {
    let two = with(|p| p.processes = 2);
    let two_drain2 = with(|p| {
        p.processes = 2;
        p.max_draining = 2;
    });
    let three_drain1 = with(|p| {
        p.processes = 3;
        p.max_surge = 2;
        p.max_draining = 1;
    });
    let recycle10 = with(|p| p.max_requests = Some(10));
    let two_recycle10 = with(|p| {
        p.processes = 2;
        p.max_requests = Some(10);
    });
    let watchdog2 = with(|p| p.watchdog = Some(Duration::from_secs(2)));
    let delay2 = with(|p| p.shutdown_delay = Duration::from_secs(2));
    let cases: Vec<(&str, Params, Vec<Step>)> = vec![
        (
            "shutdown delay: keep serving (and replacing a crash), then drain",
            delay2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(100, In::Stop, &["log shutdown-delay ~graceful stop in 2s"]),
                step(200, In::Reload(delay2.clone()), &["log reload ~ignored"]),
                step(300, In::Exit(1, 1), &["spawn w2 s1 g2"]),
                step(400, In::Ready(2), &[]),
                step(2100, In::Tick, &["log stop", "drain w2"]),
                step(2200, In::Exit(2, 0), &["exit 0"]),
            ],
        ),
        (
            "shutdown delay: a second TERM stops at once, QUIT is fast",
            delay2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(100, In::Stop, &[]),
                step(200, In::Stop, &["drain w1"]),
                step(300, In::Quit, &["quit w1"]),
            ],
        ),
        (
            "ebb recycle: the slot's replacement starts first, then the old one drains",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Ready(1), &[]),
                step(10, In::Ready(2), &[]),
                step(
                    20,
                    In::Recycle(2),
                    &["log recycle ~command", "spawn w3 s2 g2"],
                ),
                step(25, In::Recycle(2), &[]),
                step(30, In::Ready(3), &["drain w2"]),
                step(
                    40,
                    In::Recycle(7),
                    &["log recycle ~there are workers 1 to 2"],
                ),
            ],
        ),
        (
            "ebb scale: up fills new slots, down drains the last ones, 0 is refused",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(
                    20,
                    In::Scale(3),
                    &["log scale", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(30, In::Ready(2), &[]),
                step(30, In::Ready(3), &[]),
                step(40, In::Scale(1), &["log scale", "drain w3", "drain w2"]),
                step(50, In::Scale(0), &["log scale ~at least one"]),
            ],
        ),
        (
            "starts one worker per slot, no idle deadlines once ready",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Ready(1), &[]),
                step(10, In::Ready(2), &[]),
                step(5000, In::Tick, &[]),
            ],
        ),
        (
            "max-requests: replacement first, then drain, then a clean exit",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Ready(1), &[]),
                step(20, In::Requests(1, 9), &[]),
                step(30, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(40, In::Requests(1, 12), &[]),
                step(50, In::Ready(2), &["drain w1"]),
                step(60, In::Exit(1, 0), &["log drained"]),
                step(70, In::Requests(2, 10), &["spawn w3 s1 g3"]),
            ],
        ),
        (
            "surge cap: the second recycle waits for a free place",
            two_recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(1, 10), &["spawn w3 s1 g2"]),
                step(11, In::Requests(2, 10), &["log surge-wait"]),
                step(12, In::Requests(2, 11), &[]),
                step(20, In::Ready(3), &["drain w1"]),
                step(30, In::Exit(1, 0), &["spawn w4 s2 g2"]),
                step(40, In::Ready(4), &["drain w2"]),
            ],
        ),
        (
            "drain timeout kills the group and names the lost jobs",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["report-42"]), &[]),
                step(3, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
                step(5000, In::Tick, &[]),
                step(9999, In::Tick, &["log draining"]),
                step(10004, In::Tick, &["kill w1", "log kill", "lost w1 jobs=1"]),
                step(10010, In::Killed(1), &[]),
            ],
        ),
        (
            "exit at the drain deadline, before the tick: no kill",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(3, In::Ready(2), &["drain w1"]),
                step(10003, In::Exit(1, 0), &[]),
                step(10003, In::Tick, &[]),
            ],
        ),
        (
            "replacement never says READY: taken as ready at the timeout",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4000, In::Tick, &[]),
                step(5002, In::Tick, &["log ready-timeout", "drain w1"]),
                step(5003, In::Ready(2), &[]),
            ],
        ),
        (
            "a ready worker killed by SIGKILL is replaced at once",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Killed(1), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "a crash with jobs in flight is reported as lost work",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 2, &["a", "b"]), &[]),
                step(3, In::Killed(1), &["lost w1 jobs=2", "spawn w2 s1 g2"]),
            ],
        ),
        (
            "graceful stop waits for every worker, exits 0",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Stop, &["drain w1", "drain w2"]),
                step(11, In::Stop, &[]),
                step(20, In::Exit(1, 0), &[]),
                step(1500, In::Exit(2, 0), &["exit 0"]),
            ],
        ),
        (
            "a draining worker that re-raises the drain signal exited as asked",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["j"]), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(20, In::Signaled(1, 15), &["log drained", "exit 0"]),
            ],
        ),
        (
            "graceful stop with a job past the deadline: killed, lost, exit 1",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(10010, In::Tick, &["kill w1", "lost w1 jobs=1"]),
                step(10011, In::Killed(1), &["exit 1"]),
            ],
        ),
        (
            "fast stop: QUIT, then kill after the grace",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Quit, &["quit w1"]),
                step(3010, In::Tick, &["kill w1"]),
                step(3011, In::Killed(1), &["exit 0"]),
            ],
        ),
        (
            "fast stop: the worker's exit is the quit asked for, not an unexpected exit",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Quit, &["quit w1"]),
                step(20, In::Exit(1, 0), &["log quit", "exit 0"]),
            ],
        ),
        (
            "work lost before the stop: the exit status still says so",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["j"]), &[]),
                step(3, In::Killed(1), &["lost w1 jobs=1", "spawn w2 s1 g2"]),
                step(4, In::Ready(2), &[]),
                step(10, In::Stop, &["drain w2"]),
                step(20, In::Exit(2, 0), &["exit 1"]),
            ],
        ),
        (
            "graceful stop escalated to fast stop: a draining worker's exit is the quit asked \
             for, not a crash; its job is lost",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Jobs(1, 1, &["j"]), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(20, In::Quit, &["quit w1"]),
                step(
                    21,
                    In::Exit(1, 131),
                    &["log quit", "lost w1 jobs=1", "exit 1"],
                ),
            ],
        ),
        (
            "graceful stop escalated to fast stop",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Stop, &["drain w1"]),
                step(20, In::Quit, &["quit w1"]),
                step(3020, In::Tick, &["kill w1", "log kill"]),
            ],
        ),
        (
            "reload: a rolling replacement bounded by the surge",
            two.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Reload(two.clone()), &["spawn w3 s1 g2"]),
                step(20, In::Ready(3), &["drain w1"]),
                step(30, In::Exit(1, 0), &["spawn w4 s2 g2"]),
                step(40, In::Ready(4), &["drain w2"]),
                step(50, In::Exit(2, 0), &[]),
                step(60, In::Tick, &[]),
            ],
        ),
        (
            "reload: a long drain does not hold back the next replacement (--max-draining 2)",
            two_drain2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(10, In::Reload(two_drain2.clone()), &["spawn w3 s1 g2"]),
                // w1 drains its long job; slot 2 is replaced meanwhile: draining workers do
                // not count against the surge.
                step(20, In::Ready(3), &["drain w1", "spawn w4 s2 g2"]),
                step(30, In::Ready(4), &["drain w2"]),
                step(40, In::Exit(2, 0), &[]),
                step(5000, In::Exit(1, 0), &[]),
            ],
        ),
        (
            "max-draining bounds the draining: the next replacement waits for a drain to end",
            three_drain1.clone(),
            vec![
                step(
                    0,
                    In::Tick,
                    &["spawn w1 s1 g1", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(1, In::Ready(3), &[]),
                step(2, In::Jobs(1, 1, &["long"]), &[]),
                step(
                    10,
                    In::Reload(three_drain1.clone()),
                    &[
                        "spawn w4 s1 g2",
                        "log surge-wait ~--max-draining 1",
                        "log surge-wait ~--max-draining 1",
                    ],
                ),
                step(20, In::Ready(4), &["drain w1"]),
                // One worker drains: slot 2 keeps its old worker serving until w1 is gone.
                step(30, In::Tick, &[]),
                step(5000, In::Exit(1, 0), &["spawn w5 s2 g2"]),
                step(5010, In::Ready(5), &["drain w2"]),
                step(5020, In::Exit(2, 0), &["spawn w6 s3 g2"]),
            ],
        ),
        (
            "HUP during HUP: the old-config replacement drains, the new one starts",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Reload(params()), &["spawn w2 s1 g2"]),
                step(20, In::Reload(params()), &["drain w2"]),
                step(30, In::Exit(2, 0), &["spawn w3 s1 g3"]),
                step(40, In::Ready(3), &["drain w1"]),
            ],
        ),
        (
            "HUP during HUP after the replacement is ready: replaced again",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Reload(params()), &["spawn w2 s1 g2"]),
                step(11, In::Ready(2), &["drain w1"]),
                step(20, In::Reload(params()), &[]),
                step(21, In::Exit(1, 0), &["spawn w3 s1 g3"]),
                step(30, In::Ready(3), &["drain w2"]),
            ],
        ),
        (
            "reload to more processes adds slots; to fewer drains the extra ones",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(
                    10,
                    In::Reload(with(|p| p.processes = 2)),
                    &["spawn w2 s2 g1", "spawn w3 s1 g2"],
                ),
                step(11, In::Ready(3), &["drain w1"]),
                step(12, In::Ready(2), &[]),
                step(13, In::Exit(1, 0), &[]),
                step(20, In::Reload(params()), &["drain w2"]),
                step(30, In::Exit(2, 0), &["spawn w4 s1 g3"]),
                step(40, In::Ready(4), &["drain w3"]),
            ],
        ),
        (
            "TTIN adds a slot, TTOU drains the last one",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Ttin, &["spawn w2 s2 g1"]),
                step(11, In::Ready(2), &[]),
                step(20, In::Ttou, &["drain w2"]),
                step(21, In::Ttou, &["log scale"]),
                step(30, In::Exit(2, 0), &[]),
            ],
        ),
        (
            "TTOU while the last slot's worker is being recycled",
            with(|p| {
                p.processes = 2;
                p.max_requests = Some(10);
                p.max_surge = 2;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(2, 10), &["spawn w3 s2 g2"]),
                step(11, In::Ready(3), &["drain w2"]),
                step(12, In::Ttou, &["drain w3"]),
                step(13, In::Exit(2, 0), &[]),
                step(14, In::Exit(3, 0), &[]),
                step(15, In::Tick, &[]),
            ],
        ),
        (
            "a free surge place goes to the worker that has waited longest",
            with(|p| {
                p.processes = 3;
                p.max_requests = Some(10);
            }),
            vec![
                step(
                    0,
                    In::Tick,
                    &["spawn w1 s1 g1", "spawn w2 s2 g1", "spawn w3 s3 g1"],
                ),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(1, In::Ready(3), &[]),
                step(10, In::Requests(1, 10), &["spawn w4 s1 g2"]),
                step(11, In::Requests(3, 10), &[]),
                step(12, In::Requests(2, 10), &[]),
                step(20, In::Ready(4), &["drain w1"]),
                // Slot 3 asked before slot 2: it goes first, though slot 2 comes first.
                step(30, In::Exit(1, 0), &["spawn w5 s3 g2"]),
                step(40, In::Ready(5), &["drain w3"]),
                step(50, In::Exit(3, 0), &["spawn w6 s2 g2"]),
            ],
        ),
        (
            "max-requests-delta spreads the limits per slot",
            with(|p| {
                p.processes = 2;
                p.max_requests = Some(10);
                p.max_requests_delta = 5;
                p.max_surge = 2;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(10, In::Requests(2, 14), &[]),
                step(11, In::Requests(2, 15), &["spawn w3 s2 g2"]),
            ],
        ),
        (
            "max-worker-lifetime",
            with(|p| p.max_worker_lifetime = Some(Duration::from_secs(60))),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(59_999, In::Tick, &[]),
                step(60_000, In::Tick, &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "reload-on-rss samples every few seconds and recycles",
            with(|p| p.reload_on_rss_mb = Some(100)),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(4999, In::Tick, &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 50 * 1024), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::RssKb(1, 200 * 1024), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "reload-on-as alone samples too, and recycles on the address space, not the RSS",
            with(|p| p.reload_on_as_mb = Some(100)),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(4999, In::Tick, &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 500 * 1024), &[]),
                step(5002, In::VszKb(1, 100 * 1024 - 1), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::VszKb(1, 100 * 1024), &["spawn w2 s1 g2"]),
                step(10_002, In::Ready(2), &["drain w1"]),
            ],
        ),
        (
            "reload-on-rss and reload-on-as: each limit holds on its own measure",
            with(|p| {
                p.reload_on_rss_mb = Some(100);
                p.reload_on_as_mb = Some(1000);
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(5000, In::Tick, &["rss 1"]),
                step(5001, In::RssKb(1, 50 * 1024), &[]),
                step(5002, In::VszKb(1, 999 * 1024), &[]),
                step(10_000, In::Tick, &["rss 1"]),
                step(10_001, In::VszKb(1, 2000 * 1024), &["spawn w2 s1 g2"]),
            ],
        ),
        (
            "harakiri: a stuck worker is replaced at once",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Inflight(1, 1), &[]),
                step(3, In::Stuck(1), &["log harakiri", "spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
            ],
        ),
        (
            "harakiri-graceful-timeout: the stuck worker is killed that long after its drain \
             began; another drained worker still has drain-timeout",
            with(|p| {
                p.processes = 2;
                p.harakiri_graceful_timeout = Some(Duration::from_secs(2));
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(1, In::Ready(1), &[]),
                step(1, In::Ready(2), &[]),
                step(2, In::Inflight(1, 1), &[]),
                step(3, In::Stuck(1), &["log harakiri", "spawn w3 s1 g2"]),
                step(4, In::Ready(3), &["drain w1"]),
                step(2003, In::Tick, &[]),
                step(2004, In::Tick, &["kill w1", "log kill", "lost w1 jobs=0"]),
                step(2005, In::Ttou, &["drain w2"]),
                step(4005, In::Tick, &[]),
                step(12_004, In::Tick, &[]),
                step(12_005, In::Tick, &["kill w2", "log kill"]),
            ],
        ),
        (
            "watchdog: a worker that never sent WATCHDOG=1 is not held to it",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2_001, In::Tick, &["no log watchdog"]),
                step(60_000, In::Tick, &["no log watchdog"]),
            ],
        ),
        (
            "watchdog: armed by a ping; silence past the limit replaces the worker",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Watchdog(1), &["log watchdog-armed"]),
                step(600, In::Jobs(1, 1, &["report-7"]), &[]),
                step(2_499, In::Tick, &[]),
                step(
                    2_500,
                    In::Tick,
                    &[
                        "log watchdog ~worker sent no WATCHDOG=1 for 2.0s (--watchdog 2s); \
                         replacing it",
                        "log recycle ~(watchdog: no WATCHDOG=1 for 2.0s)",
                        "spawn w2 s1 g2",
                    ],
                ),
                // The hung worker serves on until its replacement is ready.
                step(3_000, In::Tick, &[]),
                step(3_100, In::Ready(2), &["drain w1"]),
                // A hung worker does not drain: the drain timeout kills it, reporting its job.
                step(13_100, In::Tick, &["kill w1", "lost w1 jobs=1"]),
                step(13_101, In::Killed(1), &[]),
            ],
        ),
        (
            "watchdog: pings keep a worker alive; the period starts at READY",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                // A ping while starting arms it; the ready timeout governs this state.
                step(10, In::Watchdog(1), &[]),
                step(3_000, In::Ready(1), &[]),
                step(4_999, In::Tick, &["no log watchdog"]),
                step(4_999, In::Watchdog(1), &[]),
                step(6_500, In::Watchdog(1), &[]),
                step(8_000, In::Watchdog(1), &[]),
                step(9_999, In::Tick, &["no log watchdog"]),
                step(10_000, In::Tick, &["log watchdog", "spawn w2 s1 g2"]),
            ],
        ),
        (
            "watchdog: a draining worker is not held to it",
            with(|p| {
                p.watchdog = Some(Duration::from_secs(2));
                p.max_requests = Some(10);
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Watchdog(1), &[]),
                step(3, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(4, In::Ready(2), &["drain w1"]),
                step(2_002, In::Tick, &["no log watchdog"]),
                step(9_000, In::Tick, &["no log watchdog"]),
                step(9_500, In::Exit(1, 0), &["log drained"]),
            ],
        ),
        (
            "watchdog: after a fast stop, no deadline for it",
            watchdog2.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Watchdog(1), &[]),
                step(1_000, In::Quit, &["quit w1"]),
                step(2_500, In::Tick, &["no log watchdog"]),
                step(4_000, In::Tick, &["kill w1"]),
            ],
        ),
        (
            "a fast stop does not wake for a lifetime deadline either",
            with(|p| p.max_worker_lifetime = Some(Duration::from_secs(1))),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(500, In::Quit, &["quit w1"]),
                step(1_500, In::Tick, &[]),
                step(3_500, In::Tick, &["kill w1"]),
            ],
        ),
        (
            "EXTEND_TIMEOUT_USEC while starting pushes the ready deadline out",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    4_000,
                    In::Extend(1, 3_000_000),
                    &["log extend-timeout ~worker asked for 3.0s more to start"],
                ),
                step(5_000, In::Tick, &["no log ready-timeout"]),
                step(6_999, In::Tick, &["no log ready-timeout"]),
                step(
                    7_000,
                    In::Tick,
                    &["log ready-timeout ~did not send READY=1 within 7.0s"],
                ),
            ],
        ),
        (
            "EXTEND_TIMEOUT_USEC never shortens the ready deadline, and is ignored once ready",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    100,
                    In::Extend(1, 1_000_000),
                    &["log extend-timeout ~taken as ready in 4.9s at the latest"],
                ),
                step(4_999, In::Tick, &["no log ready-timeout"]),
                step(5_000, In::Tick, &["log ready-timeout ~within 5.0s"]),
                step(5_001, In::Extend(1, 60_000_000), &["no log extend-timeout"]),
            ],
        ),
        (
            "ERRNO is named when the worker exits unexpectedly",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Errno(1, 2), &[]),
                step(
                    3,
                    In::Exit(1, 1),
                    &[
                        "log exit ~worker exited unexpectedly with exit code 1 after 0.0s \
                         (it reported errno 2: No such file or directory)",
                        "spawn w2 s1 g2",
                    ],
                ),
            ],
        ),
        (
            "ERRNO is named when the worker fails to start; ERRNO=0 clears it",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Errno(1, 98), &[]),
                step(
                    2,
                    In::Exit(1, 1),
                    &[
                        "log exit ~before it was ready (it reported errno 98: Address already \
                         in use)",
                        "log backoff",
                    ],
                ),
                step(502, In::Tick, &["spawn w2 s1 g2"]),
                step(503, In::Errno(2, 98), &[]),
                step(504, In::Errno(2, 0), &[]),
                step(505, In::Exit(2, 1), &["log exit ~before it was ready$"]),
            ],
        ),
    ];
    for (name, params, steps) in cases {
        run(name, params, &steps);
    }
}
