//! The start table: workers that fail before READY or cannot be started at all (the app, or
//! the master out of file descriptors), the back-off between attempts and when ebb gives up
//! (need-app, need-fds), each step with the actions it must yield.

use super::*;

#[test]
fn start_table() {
    let recycle10 = with(|p| p.max_requests = Some(10));
    let cases: Vec<(&str, Params, Vec<Step>)> = vec![
        (
            "replacement crashes before READY: old keeps serving, retry with back-off",
            recycle10.clone(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(2, In::Requests(1, 10), &["spawn w2 s1 g2"]),
                step(100, In::Exit(2, 1), &["log backoff"]),
                step(599, In::Tick, &[]),
                step(600, In::Tick, &["spawn w3 s1 g3"]),
                step(700, In::Exit(3, 1), &["log backoff"]),
                step(1699, In::Tick, &[]),
                step(1700, In::Tick, &["spawn w4 s1 g4"]),
                step(1800, In::Ready(4), &["drain w1"]),
            ],
        ),
        (
            "crash at start: exponential back-off, never a fork loop",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 4), &["log backoff"]),
                step(11, In::Tick, &[]),
                step(510, In::Tick, &["spawn w2 s1 g2"]),
                step(520, In::Exit(2, 4), &[]),
                step(1519, In::Tick, &[]),
                step(1520, In::Tick, &["spawn w3 s1 g3"]),
                step(1530, In::Exit(3, 4), &[]),
                step(3529, In::Tick, &[]),
                step(3530, In::Tick, &["spawn w4 s1 g4"]),
                step(3540, In::Ready(4), &[]),
            ],
        ),
        (
            "stop while a worker is failing to start: no more spawns",
            params(),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 1), &["log backoff"]),
                step(20, In::Stop, &["exit 0"]),
                step(1000, In::Tick, &[]),
            ],
        ),
        (
            "need-app: no worker ever ready, the attempts run out: exit 3",
            with(|p| p.start_attempts = 2),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(10, In::Exit(1, 4), &["log backoff"]),
                step(510, In::Tick, &["spawn w2 s1 g2"]),
                step(520, In::Exit(2, 4), &["log need-app", "exit 3"]),
                step(2000, In::Tick, &[]),
            ],
        ),
        (
            "need-app: the other starting workers are told to quit, then exit 3",
            with(|p| {
                p.processes = 2;
                p.start_attempts = 1;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(10, In::Exit(1, 4), &["log need-app", "quit w2"]),
                step(20, In::Exit(2, 4), &["exit 3"]),
            ],
        ),
        (
            "need-app: once a worker was ready, failed starts back off as before",
            with(|p| p.start_attempts = 1),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Exit(1, 1), &["spawn w2 s1 g2"]),
                step(20, In::Exit(2, 4), &["log backoff", "no log need-app"]),
                step(520, In::Tick, &["spawn w3 s1 g3"]),
            ],
        ),
        (
            "out of fds with no worker running, none ever ready: said once, no retry, exit 3",
            with(|p| p.start_attempts = 3),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    5,
                    In::OutOfFds(1),
                    &[
                        "log spawn-failed ~out of file descriptors$",
                        "log need-fds ~Raise the open-files limit",
                        "exit 3",
                    ],
                ),
                step(2000, In::Tick, &[]),
            ],
        ),
        (
            "out of fds while another worker runs: back off until none is left, then exit 3",
            with(|p| {
                p.processes = 2;
                p.start_attempts = 3;
            }),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1", "spawn w2 s2 g1"]),
                step(
                    5,
                    In::OutOfFds(1),
                    &[
                        "log backoff ~(raise the open-files limit)$",
                        "no log need-fds",
                    ],
                ),
                step(6, In::OutOfFds(2), &["log need-fds", "exit 3"]),
            ],
        ),
        (
            "out of fds once a worker was ready: back off, raise the limit, keep serving",
            with(|p| p.start_attempts = 1),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(1, In::Ready(1), &[]),
                step(10, In::Exit(1, 1), &["spawn w2 s1 g2"]),
                step(
                    20,
                    In::OutOfFds(2),
                    &[
                        "log spawn-failed ~out of file descriptors$",
                        "log backoff ~(raise the open-files limit)$",
                        "no log need-fds",
                    ],
                ),
                step(520, In::Tick, &["spawn w3 s1 g3"]),
            ],
        ),
        (
            "a worker the master could not start otherwise: the app's advice, the attempts count",
            with(|p| p.start_attempts = 2),
            vec![
                step(0, In::Tick, &["spawn w1 s1 g1"]),
                step(
                    5,
                    In::SpawnFailed(1),
                    &["log spawn-failed", "log backoff ~fix the app"],
                ),
                step(505, In::Tick, &["spawn w2 s1 g2"]),
                step(510, In::SpawnFailed(2), &["log need-app", "exit 3"]),
            ],
        ),
    ];
    for (name, params, steps) in cases {
        run(name, params, &steps);
    }
}
