//! Background jobs: one timer thread runs every job (they are sleeps).

use super::*;

/// One timer thread runs every job: a job is a deadline, its journal lines and its guard.
#[derive(Default)]
pub(super) struct JobTimer {
    pub(super) heap: Mutex<BinaryHeap<Job>>,
    pub(super) cv: Condvar,
}

pub(super) struct Job {
    pub(super) due: Instant,
    pub(super) seq: u64,
    pub(super) id: String,
    pub(super) ms: u64,
    pub(super) _guard: JobGuard,
}

impl PartialEq for Job {
    fn eq(&self, o: &Job) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Job {}
impl PartialOrd for Job {
    fn partial_cmp(&self, o: &Job) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Job {
    /// Reversed, so the max-heap pops the earliest deadline first.
    fn cmp(&self, o: &Job) -> CmpOrdering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

impl JobTimer {
    pub(super) fn submit(&self, job: Job) {
        let mut h = lock(&self.heap);
        let earliest = h.peek().is_none_or(|top| job.due < top.due);
        h.push(job);
        if earliest {
            self.cv.notify_one();
        }
    }

    pub(super) fn run(&self, app: &App) {
        let mut h = lock(&self.heap);
        loop {
            let now = Instant::now();
            match h.peek().map(|j| j.due) {
                Some(due) if due <= now => {
                    let job = h.pop().expect("peeked");
                    drop(h);
                    // Journal first, then drop the guard: "no jobs" implies "all journaled".
                    app.journal("done", &job.id, job.ms);
                    app.jobs_done.fetch_add(1, Ordering::SeqCst);
                    drop(job);
                    h = lock(&self.heap);
                }
                Some(due) => {
                    h = self
                        .cv
                        .wait_timeout(h, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                None => h = self.cv.wait(h).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }
}

impl App {
    /// Appends `<what> <id> worker=<slot> pid=<pid> ms=<ms>` with one `O_APPEND` write.
    pub(super) fn journal(&self, what: &str, id: &str, ms: u64) {
        let Some(f) = &self.journal else { return };
        let line = format!(
            "{what} {id} worker={} pid={} ms={ms}\n",
            self.slot, self.pid
        );
        let res = (&*f).write(line.as_bytes());
        let ok = matches!(res, Ok(n) if n == line.len());
        if !ok && !self.journal_failed.swap(true, Ordering::Relaxed) {
            say!(
                "ebb example-app[worker={} pid={}]: writing EBB_JOB_JOURNAL failed: {res:?}",
                self.slot,
                self.pid
            );
        }
    }

    pub(super) fn start_job(&self, id: Option<&str>, ms: u64) -> String {
        let id = match id {
            Some(i) if !i.is_empty() => journal_safe(i),
            _ => format!("job-{}", self.job_names.fetch_add(1, Ordering::Relaxed) + 1),
        };
        // Count the job before the request that started it is answered.
        let guard = self.reporter.job(&id);
        self.journal("start", &id, ms);
        self.jobs.submit(Job {
            due: Instant::now() + Duration::from_millis(ms),
            seq: self.job_seq.fetch_add(1, Ordering::Relaxed),
            id: id.clone(),
            ms,
            _guard: guard,
        });
        id
    }
}

/// A job id safe for the one-line journal: no whitespace or control characters, ≤ 128 bytes.
pub(super) fn journal_safe(id: &str) -> String {
    let mut out = String::new();
    for c in id.chars() {
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(if c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        });
    }
    out
}
