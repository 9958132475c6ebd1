//! Log lines: ebb's stderr and `--logto` files, parsed.

use super::*;

/// One line of ebb's stderr: a JSON log record, or anything else (a worker's own output).
#[derive(Debug, Clone)]
pub struct Line {
    pub raw: String,
    pub json: Option<Value>,
    /// When the harness read it.
    pub at: Instant,
}

impl Line {
    pub(super) fn new(raw: String) -> Line {
        // The master writes every line, its workers' output included, as one JSON object.
        let json = raw
            .starts_with('{')
            .then(|| serde_json::from_str(&raw).ok())
            .flatten();
        Line {
            raw,
            json,
            at: Instant::now(),
        }
    }

    /// A field of the record (`fields.<name>`, or top level).
    pub fn field(&self, name: &str) -> Option<&Value> {
        let j = self.json.as_ref()?;
        j.get("fields")
            .and_then(|f| f.get(name))
            .or_else(|| j.get(name))
    }

    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    pub fn int_field(&self, name: &str) -> Option<i64> {
        self.field(name).and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    }

    /// The policy's transition name (`spawn`, `ready`, `drain`, `drained`, …).
    pub fn event(&self) -> Option<&str> {
        self.str_field("event")
    }

    pub fn is_event(&self, e: &str) -> bool {
        self.event() == Some(e)
    }

    pub fn level(&self) -> Option<&str> {
        self.json.as_ref()?.get("level")?.as_str()
    }

    pub fn message(&self) -> &str {
        self.str_field("msg").unwrap_or(&self.raw)
    }

    pub fn pid(&self) -> Option<i32> {
        self.int_field("pid").map(|p| p as i32)
    }

    pub fn worker(&self) -> Option<i64> {
        self.int_field("worker")
    }

    pub fn contains(&self, s: &str) -> bool {
        self.raw.contains(s)
    }
}

#[derive(Default)]
pub(super) struct LogState {
    pub(super) lines: Vec<Line>,
    pub(super) closed: bool,
}

#[derive(Default)]
pub(super) struct LogBuf {
    pub(super) state: Mutex<LogState>,
    pub(super) cv: Condvar,
}

/// The lines of a log file written by `--logto` (JSON records parsed as in [`Line`]).
pub fn read_log_file(path: &Path) -> Vec<Line> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| Line::new(l.to_string()))
        .collect()
}

/// Poll a `--logto` file until `n` of its lines match `pred`; returns them.
pub fn wait_log_file(
    path: &Path,
    n: usize,
    pred: impl Fn(&Line) -> bool,
    timeout: Duration,
) -> Result<Vec<Line>, String> {
    poll_until(timeout, || {
        let found: Vec<Line> = read_log_file(path)
            .into_iter()
            .filter(|l| pred(l))
            .collect();
        (found.len() >= n).then_some(found)
    })
    .ok_or_else(|| {
        let all = std::fs::read_to_string(path).unwrap_or_default();
        let tail: Vec<&str> = all.lines().rev().take(40).collect::<Vec<_>>();
        format!(
            "timed out after {:.1}s waiting for {n} matching line(s) in {}; its last lines:\n{}",
            timeout.as_secs_f64(),
            path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })
}
