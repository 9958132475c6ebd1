//! Settings of the bundled Python worker that reach it through its environment
//! (`EBB_LIMIT_REQUEST_*`).

use std::time::Duration;

/// Settings for the Python worker, given to it in its environment.
#[derive(Debug, Default)]
pub(super) struct WorkerSettings {
    pub client_timeout: Option<Duration>,
    pub manage_script_name: bool,
    pub line: Option<u64>,
    pub fields: Option<u64>,
    pub field_size: Option<u64>,
    /// `buffer-size`: the whole request head.
    pub head: Option<u64>,
}

impl WorkerSettings {
    /// The request limits as the worker's variables, when any was set. `buffer-size` bounds
    /// the head, and the line and field limits never exceed it; 0 (gunicorn: unlimited) means
    /// only the head's bound, or gunicorn's maximum of 32768 fields.
    pub(super) fn limits(&self) -> Vec<(&'static str, u64)> {
        if self.line.is_none()
            && self.fields.is_none()
            && self.field_size.is_none()
            && self.head.is_none()
        {
            return Vec::new();
        }
        let head = self.head.unwrap_or(DEFAULT_HEAD);
        let cap = |v: Option<u64>, default: u64| match v {
            Some(0) => head,
            Some(n) => n.min(head),
            None => default.min(head),
        };
        vec![
            ("EBB_LIMIT_REQUEST_LINE", cap(self.line, 8190)),
            (
                "EBB_LIMIT_REQUEST_FIELDS",
                match self.fields {
                    Some(0) => 32768,
                    Some(n) => n,
                    None => 100,
                },
            ),
            ("EBB_LIMIT_REQUEST_FIELD_SIZE", cap(self.field_size, 8190)),
            ("EBB_LIMIT_REQUEST_HEAD", head),
        ]
    }
}

/// The Python worker's bound on a request head when buffer-size is not set.
const DEFAULT_HEAD: u64 = 65536;
