//! Request and job counters, reported to the master as absolute values.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::notify::{Notifier, status_message};

/// How long the reporter coalesces changes before sending again.
pub const COALESCE: Duration = Duration::from_millis(20);

/// At most this many job names go in `X_EBB_JOB_NAMES`.
pub const MAX_JOB_NAMES: usize = 20;

/// Job names are cut to this many bytes in reports.
pub const MAX_JOB_NAME_LEN: usize = 64;

/// Counts requests and background jobs, and reports them to the master.
///
/// Cheap to clone (an `Arc`); share one per process. Counting is a few atomic operations and
/// never a system call in steady state: a background thread (started only when the notifier is
/// enabled) sends `X_EBB_REQUESTS`, `X_EBB_INFLIGHT`, `X_EBB_JOBS` and `X_EBB_JOB_NAMES` in one
/// datagram at most every [`COALESCE`] while something changes, sleeps on a condition variable
/// when nothing does (no idle wake-ups, except `WATCHDOG=1` when `WATCHDOG_USEC` asks for it),
/// and — once [`Reporter::stopping`] was called — reports at once when the worker becomes idle.
#[derive(Clone, Debug)]
pub struct Reporter {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    requests: AtomicU64,
    /// Response bytes sent and time spent in requests: `X_EBB_TX`, `X_EBB_RT_US`. The time
    /// is summed in nanoseconds (sent in µs): a request shorter than a microsecond, as the
    /// example app's `/` is, would add nothing in whole µs.
    tx: AtomicU64,
    rt_ns: AtomicU64,
    inflight: AtomicU64,
    jobs: AtomicU64,
    /// Bumped on every job start and end, so a changed name list is seen as a change.
    jobs_version: AtomicU64,
    /// Threads waiting on `cv` for a change; the hot path notifies only when non-zero.
    waiters: AtomicUsize,
    draining: AtomicBool,
    lock: Mutex<()>,
    cv: Condvar,
    names: Mutex<Names>,
    /// Serializes sends (so an older snapshot never overtakes a newer one) and remembers the
    /// last snapshot sent.
    sent: Mutex<Option<Snapshot>>,
    notifier: Notifier,
}

#[derive(Debug, Default)]
struct Names {
    next: u64,
    running: BTreeMap<u64, String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Snapshot {
    requests: u64,
    tx: u64,
    rt_us: u64,
    inflight: u64,
    jobs: u64,
    jobs_version: u64,
}

/// Marks one request in progress; dropping it counts the request as handled.
#[must_use = "the request counts as in flight until the guard is dropped"]
#[derive(Debug)]
pub struct RequestGuard<'a> {
    shared: &'a Shared,
    began: Instant,
}

/// Marks one background job in progress under a name; dropping it ends the job.
///
/// Owned (`'static + Send`): move it into the thread or task that runs the job.
#[must_use = "the job counts as running until the guard is dropped"]
#[derive(Debug)]
pub struct JobGuard {
    shared: Arc<Shared>,
    id: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Reporter {
    /// Counters reporting through `notifier`. Starts the reporter thread if the notifier is
    /// enabled; otherwise the counters still work (for [`Reporter::wait_idle`]) and nothing is
    /// sent.
    pub fn new(notifier: Notifier) -> io::Result<Reporter> {
        let enabled = notifier.is_enabled();
        let shared = Arc::new(Shared {
            notifier,
            // Nothing to report until something changes (and READY=1 comes first).
            sent: Mutex::new(Some(Snapshot::default())),
            ..Shared::default()
        });
        if enabled {
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("ebb-reporter".into())
                .stack_size(64 * 1024)
                .spawn(move || s.run())?;
        }
        Ok(Reporter { shared })
    }

    /// The notifier reports go to.
    pub fn notifier(&self) -> &Notifier {
        &self.shared.notifier
    }

    /// Counts a request as in flight until the guard is dropped, then as handled.
    #[inline]
    pub fn request(&self) -> RequestGuard<'_> {
        self.shared.inflight.fetch_add(1, SeqCst);
        self.shared.changed();
        RequestGuard {
            shared: &self.shared,
            began: Instant::now(),
        }
    }

    /// Counts a background job named `name` as running until the guard is dropped.
    ///
    /// Take the guard *before* answering the request that started the job, so a drain can never
    /// see a moment with neither the request nor the job counted. The start is reported at once
    /// (one non-blocking datagram, not coalesced): a worker killed right after answering must
    /// not take a job the master never heard of with it, or the loss would go unnamed. Commas,
    /// whitespace and control characters in the name become `_` in reports, and it is cut to
    /// [`MAX_JOB_NAME_LEN`] bytes.
    pub fn job(&self, name: &str) -> JobGuard {
        let s = &self.shared;
        let id = {
            let mut n = lock(&s.names);
            let id = n.next;
            n.next += 1;
            n.running.insert(id, sanitize_job_name(name));
            id
        };
        s.jobs.fetch_add(1, SeqCst);
        s.jobs_version.fetch_add(1, SeqCst);
        s.changed();
        if s.notifier.is_enabled() {
            // A full socket buffer (the master is behind) is not an error here: the reporter
            // thread sends the same counts again.
            let _ = s.send_counts(None);
        }
        JobGuard {
            shared: Arc::clone(s),
            id,
        }
    }

    /// Requests handled since start.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(SeqCst)
    }

    /// Requests in progress.
    pub fn inflight(&self) -> u64 {
        self.shared.inflight.load(SeqCst)
    }

    /// Background jobs running.
    pub fn jobs(&self) -> u64 {
        self.shared.jobs.load(SeqCst)
    }

    /// Names of the newest [`MAX_JOB_NAMES`] running jobs, newest first.
    pub fn job_names(&self) -> Vec<String> {
        lock(&self.shared.names)
            .running
            .values()
            .rev()
            .take(MAX_JOB_NAMES)
            .cloned()
            .collect()
    }

    /// The worker is ready: sends `READY=1`, `STATUS=<status>` (if not empty) and the current
    /// counts in one datagram, so the master learns at once that this worker reports counts.
    /// Call it only once listeners are open and [`crate::worker::Drain`] is installed.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        let mut prefix = String::from("READY=1");
        if !status.is_empty() {
            prefix.push('\n');
            prefix.push_str(&status_message(status));
        }
        self.shared.send_counts(Some(&prefix))
    }

    /// The worker has stopped accepting: sends `STOPPING=1` with the current counts, and from
    /// now on reports immediately when the worker becomes idle (no requests, no jobs).
    pub fn stopping(&self) -> io::Result<()> {
        self.shared.draining.store(true, SeqCst);
        self.shared.send_counts(Some("STOPPING=1"))
    }

    /// Sends the current counts now, from the calling thread (e.g. as the last thing before
    /// exiting).
    pub fn flush(&self) -> io::Result<()> {
        self.shared.send_counts(None)
    }

    /// Blocks until no request is in flight and no job runs, or `timeout` passes (`None`: no
    /// limit). Returns whether the worker is idle.
    pub fn wait_idle(&self, timeout: Option<Duration>) -> bool {
        let s = &self.shared;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut g = lock(&s.lock);
        loop {
            s.waiters.fetch_add(1, SeqCst);
            if s.is_idle() {
                s.waiters.fetch_sub(1, SeqCst);
                return true;
            }
            g = match deadline {
                None => s.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        s.waiters.fetch_sub(1, SeqCst);
                        return false;
                    }
                    s.cv.wait_timeout(g, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            };
            s.waiters.fetch_sub(1, SeqCst);
        }
    }

    /// The datagram that would be sent now (for tests and debugging).
    pub fn message(&self) -> String {
        self.shared.message(None)
    }
}

impl RequestGuard<'_> {
    /// The request is answered with `bytes` (head and body): counted in `X_EBB_TX`.
    #[inline]
    pub fn done(self, bytes: u64) {
        self.shared.tx.fetch_add(bytes, SeqCst);
    }
}

impl Drop for RequestGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.shared.add_request_time(self.began.elapsed());
        self.shared.requests.fetch_add(1, SeqCst);
        self.shared.inflight.fetch_sub(1, SeqCst);
        self.shared.changed();
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let s = &self.shared;
        lock(&s.names).running.remove(&self.id);
        s.jobs.fetch_sub(1, SeqCst);
        s.jobs_version.fetch_add(1, SeqCst);
        s.changed();
    }
}

impl Shared {
    /// Called after every counter change. Lost wake-ups are impossible: a waiter increments
    /// `waiters` and then re-checks the counters while holding `lock`; we changed a counter and
    /// then read `waiters` (all SeqCst), so either it sees our change or we see it waiting, and
    /// then we notify under `lock`, after it has started waiting.
    #[inline]
    fn changed(&self) {
        if self.waiters.load(SeqCst) != 0 {
            let _g = lock(&self.lock);
            self.cv.notify_all();
        }
    }

    fn is_idle(&self) -> bool {
        self.inflight.load(SeqCst) == 0 && self.jobs.load(SeqCst) == 0
    }

    /// One request's time, into `X_EBB_RT_US`'s sum.
    #[inline]
    fn add_request_time(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.rt_ns.fetch_add(ns, SeqCst);
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            requests: self.requests.load(SeqCst),
            tx: self.tx.load(SeqCst),
            rt_us: self.rt_ns.load(SeqCst) / 1000,
            inflight: self.inflight.load(SeqCst),
            jobs: self.jobs.load(SeqCst),
            jobs_version: self.jobs_version.load(SeqCst),
        }
    }

    fn message_for(&self, snap: &Snapshot, prefix: Option<&str>) -> String {
        let names: Vec<String> = lock(&self.names)
            .running
            .values()
            .rev()
            .take(MAX_JOB_NAMES)
            .cloned()
            .collect();
        let mut s = format_counts(prefix, snap.requests, snap.inflight, snap.jobs, &names);
        let _ = write!(s, "\nX_EBB_TX={}\nX_EBB_RT_US={}", snap.tx, snap.rt_us);
        s
    }

    fn message(&self, prefix: Option<&str>) -> String {
        self.message_for(&self.snapshot(), prefix)
    }

    fn send_counts(&self, prefix: Option<&str>) -> io::Result<()> {
        let mut sent = lock(&self.sent);
        let snap = self.snapshot();
        let msg = self.message_for(&snap, prefix);
        *sent = Some(snap);
        self.notifier.send(&msg)
    }

    fn last_sent(&self) -> Option<Snapshot> {
        *lock(&self.sent)
    }

    /// The reporter thread: send on change, at most every COALESCE; sleep when nothing changes.
    fn run(&self) {
        let watchdog = self.notifier.watchdog_interval();
        let mut next_watchdog = watchdog.map(|w| Instant::now() + w);
        loop {
            // Wait for a change (or the watchdog).
            {
                let mut g = lock(&self.lock);
                loop {
                    if let (Some(w), Some(t)) = (watchdog, next_watchdog) {
                        let now = Instant::now();
                        if now >= t {
                            let _ = self.notifier.watchdog();
                            next_watchdog = Some(now + w);
                        }
                    }
                    self.waiters.fetch_add(1, SeqCst);
                    if Some(self.snapshot()) != self.last_sent() {
                        self.waiters.fetch_sub(1, SeqCst);
                        break;
                    }
                    g = match next_watchdog {
                        None => self.cv.wait(g).unwrap_or_else(|e| e.into_inner()),
                        Some(t) => {
                            let d = t.saturating_duration_since(Instant::now());
                            self.cv
                                .wait_timeout(g, d)
                                .unwrap_or_else(|e| e.into_inner())
                                .0
                        }
                    };
                    self.waiters.fetch_sub(1, SeqCst);
                }
            }
            let _ = self.send_counts(None);
            // Coalesce: hold further sends for COALESCE, except when a draining worker becomes
            // idle, which the master wants to know at once.
            let until = Instant::now() + COALESCE;
            let mut g = lock(&self.lock);
            loop {
                let now = Instant::now();
                if now >= until {
                    break;
                }
                let draining = self.draining.load(SeqCst);
                if draining {
                    self.waiters.fetch_add(1, SeqCst);
                    if self.is_idle() && Some(self.snapshot()) != self.last_sent() {
                        self.waiters.fetch_sub(1, SeqCst);
                        break;
                    }
                }
                g = self
                    .cv
                    .wait_timeout(g, until - now)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
                if draining {
                    self.waiters.fetch_sub(1, SeqCst);
                }
            }
        }
    }
}

/// Formats the counters datagram (pure).
pub(crate) fn format_counts(
    prefix: Option<&str>,
    requests: u64,
    inflight: u64,
    jobs: u64,
    names: &[String],
) -> String {
    let mut s = String::with_capacity(96 + names.len() * 16);
    if let Some(p) = prefix {
        s.push_str(p);
        s.push('\n');
    }
    let _ = write!(
        s,
        "X_EBB_REQUESTS={requests}\nX_EBB_INFLIGHT={inflight}\nX_EBB_JOBS={jobs}\nX_EBB_JOB_NAMES="
    );
    for (i, n) in names.iter().take(MAX_JOB_NAMES).enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(n);
    }
    s
}

/// Makes a job name safe for the comma-separated, line-based report (pure).
pub(crate) fn sanitize_job_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len().min(MAX_JOB_NAME_LEN));
    for c in name.chars() {
        if out.len() + c.len_utf8() > MAX_JOB_NAME_LEN {
            break;
        }
        out.push(if c == ',' || c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn message_format() {
        assert_eq!(
            format_counts(None, 5, 1, 0, &[]),
            "X_EBB_REQUESTS=5\nX_EBB_INFLIGHT=1\nX_EBB_JOBS=0\nX_EBB_JOB_NAMES="
        );
        assert_eq!(
            format_counts(Some("STOPPING=1"), 1, 0, 2, &["b".into(), "a".into()]),
            "STOPPING=1\nX_EBB_REQUESTS=1\nX_EBB_INFLIGHT=0\nX_EBB_JOBS=2\nX_EBB_JOB_NAMES=b,a"
        );
    }

    #[test]
    fn request_time_is_summed_below_a_microsecond() {
        let r = Reporter::new(Notifier::disabled()).unwrap();
        // Three requests of 0.6 µs (the example app's `/` takes less): 1.8 µs, sent as 1;
        // each counted in whole µs they would add up to 0.
        for _ in 0..3 {
            r.shared.add_request_time(Duration::from_nanos(600));
        }
        assert_eq!(r.shared.snapshot().rt_us, 1);
        r.shared.add_request_time(Duration::from_micros(2));
        assert_eq!(r.shared.snapshot().rt_us, 3);
        assert!(r.shared.message(None).ends_with("\nX_EBB_RT_US=3"));
        // A real request adds its time too.
        let before = r.shared.rt_ns.load(SeqCst);
        drop(r.request());
        assert!(r.shared.rt_ns.load(SeqCst) > before);
    }

    #[test]
    fn job_name_sanitizing() {
        assert_eq!(sanitize_job_name("a,b c\nd"), "a_b_c_d");
        assert_eq!(sanitize_job_name(""), "_");
        assert_eq!(sanitize_job_name(&"é".repeat(100)).len(), MAX_JOB_NAME_LEN);
    }

    #[test]
    fn counters_and_names() {
        let r = Reporter::new(Notifier::disabled()).unwrap();
        {
            let _g = r.request();
            assert_eq!(r.inflight(), 1);
            assert_eq!(r.requests(), 0);
        }
        assert_eq!((r.requests(), r.inflight()), (1, 0));
        let jobs: Vec<JobGuard> = (0..25).map(|i| r.job(&format!("j{i}"))).collect();
        assert_eq!(r.jobs(), 25);
        let names = r.job_names();
        assert_eq!(names.len(), MAX_JOB_NAMES);
        assert_eq!(names[0], "j24");
        assert_eq!(names[19], "j5");
        assert!(!r.wait_idle(Some(Duration::from_millis(5))));
        let t = std::thread::spawn(move || drop(jobs));
        assert!(r.wait_idle(Some(Duration::from_secs(10))));
        t.join().unwrap();
        assert_eq!(r.jobs(), 0);
        assert!(r.job_names().is_empty());
    }

    fn recv_until(rx: &UnixDatagram, want: &str) -> Vec<String> {
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = rx.recv(&mut buf).expect("timed out waiting for a report");
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = m.contains(want);
            got.push(m);
            if done {
                return got;
            }
        }
    }

    #[test]
    fn reports_changes_coalesced_and_idle_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        let rx = UnixDatagram::bind(&path).unwrap();
        let r = Reporter::new(Notifier::new(path.to_str().unwrap()).unwrap()).unwrap();
        for _ in 0..10_000 {
            drop(r.request());
        }
        let got = recv_until(&rx, "X_EBB_REQUESTS=10000\n");
        assert!(
            got.len() < 100,
            "{} datagrams for 10000 requests",
            got.len()
        );

        r.ready("up\nnow").unwrap();
        recv_until(&rx, "READY=1\nSTATUS=up now\nX_EBB_REQUESTS=10000\n");
        let job = r.job("slow,one");
        recv_until(&rx, "X_EBB_JOB_NAMES=slow_one");
        r.stopping().unwrap();
        recv_until(&rx, "STOPPING=1\n");
        let t0 = Instant::now();
        drop(job);
        recv_until(&rx, "X_EBB_JOBS=0\nX_EBB_JOB_NAMES=");
        assert!(t0.elapsed() < Duration::from_secs(1));
        r.flush().unwrap();
        recv_until(&rx, "X_EBB_REQUESTS=10000\nX_EBB_INFLIGHT=0\nX_EBB_JOBS=0");
    }

    #[test]
    fn a_job_start_is_sent_before_job_returns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n");
        let rx = UnixDatagram::bind(&path).unwrap();
        let r = Reporter::new(Notifier::new(path.to_str().unwrap()).unwrap()).unwrap();
        // A change just before: the reporter thread is now coalescing, not sending.
        drop(r.request());
        recv_until(&rx, "X_EBB_REQUESTS=1\n");
        drop(r.request());
        let _job = r.job("urgent");
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while let Ok(n) = rx.recv(&mut buf) {
            seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        assert!(
            seen.iter()
                .any(|m| m.contains("X_EBB_JOBS=1\n") && m.contains("urgent")),
            "the job start was not sent at once: {seen:?}"
        );
    }
}
