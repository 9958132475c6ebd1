//! The policy's smaller rules: deadlines and wake-ups, jitter, job ages and lists, back-off,
//! counters, status text, and a worker forked after a reload took its slot.

use super::*;

#[test]
fn no_wakeups_when_idle_and_deadlines_when_needed() {
    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    assert!(h.p.next_deadline().is_some(), "ready-timeout pending");
    h.input(1, In::Ready(1));
    assert_eq!(
        h.p.next_deadline(),
        None,
        "an idle supervisor must not wake up"
    );
    h.input(2, In::Stop);
    assert_eq!(
        h.p.next_deadline(),
        Some(h.t0 + Duration::from_millis(2 + 5000)),
        "the first progress report of the drain"
    );
}

#[test]
fn watchdog_and_extended_ready_deadlines_wake_the_loop() {
    let t = |h: &Harness, ms| Some(h.t0 + Duration::from_millis(ms));
    let mut h = Harness::new(with(|p| p.watchdog = Some(Duration::from_secs(2))));
    h.input(0, In::Tick);
    h.input(1, In::Ready(1));
    assert_eq!(h.p.next_deadline(), None, "not armed: no wake-up");
    h.input(500, In::Watchdog(1));
    assert_eq!(h.p.next_deadline(), t(&h, 2_500));
    h.input(1_000, In::Watchdog(1));
    assert_eq!(h.p.next_deadline(), t(&h, 3_000));

    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    assert_eq!(h.p.next_deadline(), t(&h, 5_000), "the ready timeout");
    h.input(4_000, In::Extend(1, 3_000_000));
    assert_eq!(h.p.next_deadline(), t(&h, 7_000), "extended");
    h.input(4_500, In::Extend(1, 1_000_000));
    assert_eq!(h.p.next_deadline(), t(&h, 7_000), "never shortened");
}

#[test]
fn warns_once_when_a_worker_never_reports_requests() {
    let mut h = Harness::new(with(|p| {
        p.processes = 2;
        p.max_requests = Some(10);
    }));
    h.input(0, In::Tick);
    let ready_without_count = |id| Event::Notify {
        id,
        update: Update {
            ready: true,
            ..Default::default()
        },
    };
    h.feed(1, ready_without_count(1));
    h.feed(1, ready_without_count(2));
    assert_eq!(
        h.p.next_deadline(),
        Some(h.t0 + Duration::from_millis(1) + REQUESTS_REPORT_GRACE)
    );
    let out = h.input(10_001, In::Tick);
    let warnings = summary(&out, &["no-request-count"]);
    assert_eq!(warnings, vec!["log no-request-count"]);
    let out = h.input(20_001, In::Tick);
    assert!(summary(&out, &["no-request-count"]).is_empty());
    assert_eq!(h.p.next_deadline(), None);
}

#[test]
fn jitter_stays_within_bounds_and_varies() {
    let mut limits = std::collections::BTreeSet::new();
    let mut h = Harness::new(with(|p| {
        p.max_requests = Some(100);
        p.max_requests_jitter = 10;
    }));
    h.input(0, In::Tick);
    for respawn in 1..40u64 {
        h.input(respawn * 10, In::Ready(respawn));
        let limit = h.p.worker(respawn).unwrap().request_limit.unwrap();
        assert!((100..=110).contains(&limit), "limit {limit}");
        limits.insert(limit);
        h.input(respawn * 10 + 1, In::Requests(respawn, 1000));
        h.input(respawn * 10 + 2, In::Ready(respawn + 1));
        h.input(respawn * 10 + 3, In::Exit(respawn, 0));
    }
    assert!(limits.len() > 3, "jitter should vary: {limits:?}");
}

#[test]
fn job_ages_survive_updates() {
    let mut h = Harness::new(params());
    h.input(0, In::Tick);
    h.input(1, In::Ready(1));
    h.input(1000, In::Jobs(1, 1, &["a"]));
    h.input(3000, In::Jobs(1, 2, &["a", "b"]));
    let w = h.p.worker(1).unwrap();
    let t = |ms| h.t0 + Duration::from_millis(ms);
    assert_eq!(
        w.job_names,
        vec![("a".to_string(), t(1000)), ("b".to_string(), t(3000))]
    );
}

#[test]
fn backoff_is_capped() {
    assert_eq!(backoff(1), BACKOFF_FIRST);
    assert_eq!(backoff(2), BACKOFF_FIRST * 2);
    assert_eq!(backoff(40), BACKOFF_MAX);
}

#[test]
fn counters_follow_recycles_drains_crashes_and_reloads() {
    let mut h = Harness::new(with(|p| p.max_requests = Some(10)));
    h.input(0, In::Tick);
    h.input(10, In::Ready(1));
    assert!(h.p.settled());
    h.input(20, In::Requests(1, 10));
    assert!(!h.p.settled(), "a replacement is under way");
    h.input(520, In::Ready(2));
    h.input(1520, In::Exit(1, 0));
    h.input(2000, In::Jobs(2, 1, &["mail"]));
    h.input(2100, In::Killed(2));
    h.input(2200, In::Reload(with(|p| p.max_requests = Some(10))));
    let c = h.p.counters();
    assert_eq!(c.recycles.get("max-requests"), Some(&1));
    assert_eq!(c.requests_retired, 10);
    assert_eq!(c.drain_seconds.count, 1);
    assert!((c.drain_seconds.sum - 1.0).abs() < 1e-9);
    assert_eq!(c.replace_seconds.count, 1);
    assert!((c.replace_seconds.sum - 0.5).abs() < 1e-9);
    assert_eq!(c.crashes, 1);
    assert_eq!(c.jobs_lost, 1);
    assert_eq!(c.reloads, 1);
    let last = h.p.last_recycle(1).expect("slot 1 was recycled");
    assert_eq!(last.reason, Reason::MaxRequests);
    assert_eq!(h.p.last_recycle(2), None);
    let cum = c.drain_seconds.cumulative();
    assert_eq!(cum.last(), Some(&(f64::INFINITY, 1)));
    assert_eq!(cum.iter().find(|(b, _)| *b == 1.0).map(|x| x.1), Some(1));
    assert_eq!(cum.iter().find(|(b, _)| *b == 0.5).map(|x| x.1), Some(0));
}

#[test]
fn job_lists_say_when_they_are_cut() {
    let now = Instant::now();
    let names: Vec<(String, Instant)> = (0..2).map(|i| (format!("j{i}"), now)).collect();
    assert_eq!(super::job_list(&names, 2, now), " [j0 (0.0s), j1 (0.0s)]");
    assert_eq!(
        super::job_list(&names, 61, now),
        " [j0 (0.0s), j1 (0.0s); 2 of 61 jobs named]"
    );
    assert_eq!(super::job_list(&[], 5, now), "");
}

#[test]
fn status_text_is_clipped_in_log_lines() {
    assert_eq!(clip("short", 10), "short");
    assert_eq!(clip("0123456789abc", 10), "0123456789… (13 bytes in all)");
    // Cut on a character boundary, never inside one.
    assert_eq!(clip("ééé", 2), "éé… (6 bytes in all)");
}

/// A fork server answers a spawn later than an exec does: a reload that came in between took
/// the slot for the new generation, so the late worker is drained as soon as its pid is known
/// (it never serves in a slot it no longer has).
#[test]
fn a_worker_forked_after_a_reload_took_its_slot_drains_at_once() {
    let mut p = Policy::new(params(), 42);
    let t0 = Instant::now();
    let spawns = |a: &[Action]| -> Vec<(WorkerId, u64)> {
        a.iter()
            .filter_map(|a| match a {
                Action::Spawn { id, generation, .. } => Some((*id, *generation)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(spawns(&p.handle(t0, Event::Tick)), [(1, 1)]);
    p.handle(t0, Event::Spawned { id: 1, pid: 101 });
    let ready = Update {
        ready: true,
        requests: Some(0),
        ..Default::default()
    };
    p.handle(
        t0,
        Event::Notify {
            id: 1,
            update: ready.clone(),
        },
    );
    // A recycle asks for w2; before its pid comes back, a reload.
    assert_eq!(spawns(&p.handle(t0, Event::Recycle { slot: 1 })), [(2, 1)]);
    let a = p.handle(t0, Event::Reload { params: params() });
    assert!(
        spawns(&a).is_empty(),
        "w2 still holds the surge place: {a:?}"
    );
    let a = p.handle(t0, Event::Spawned { id: 2, pid: 102 });
    assert!(
        a.contains(&Action::Drain { id: 2, pid: 102 }),
        "the late worker drains at once: {a:?}"
    );
    // Once it has exited, the slot starts over on generation 2 (w1 serves meanwhile).
    let a = p.handle(
        t0,
        Event::Exited {
            pid: 102,
            status: ExitStatus::Code(0),
        },
    );
    assert_eq!(spawns(&a), [(3, 2)], "{a:?}");
    // w3, answered in time, is not drained; it replaces w1 once ready.
    let a = p.handle(t0, Event::Spawned { id: 3, pid: 103 });
    assert!(
        !a.iter().any(|a| matches!(a, Action::Drain { id: 3, .. })),
        "{a:?}"
    );
    let a = p.handle(
        t0,
        Event::Notify {
            id: 3,
            update: ready,
        },
    );
    assert!(a.contains(&Action::Drain { id: 1, pid: 101 }), "{a:?}");
}
