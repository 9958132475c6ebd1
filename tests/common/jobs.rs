//! The job journal (`EBB_JOB_JOURNAL`): every accepted job started and finished.

use super::*;

/// What `EBB_JOB_JOURNAL` says: ids of started and finished jobs.
#[derive(Debug, Default)]
pub struct Journal {
    pub starts: Vec<String>,
    pub dones: Vec<String>,
}

impl Journal {
    pub fn read(path: &Path) -> Journal {
        let mut j = Journal::default();
        let Ok(text) = std::fs::read_to_string(path) else {
            return j;
        };
        for line in text.lines() {
            let mut w = line.split_whitespace();
            match (w.next(), w.next()) {
                (Some("start"), Some(id)) => j.starts.push(id.to_string()),
                (Some("done"), Some(id)) => j.dones.push(id.to_string()),
                _ => {}
            }
        }
        j
    }

    /// Started jobs with no `done` line.
    pub fn lost(&self) -> Vec<String> {
        let done: std::collections::HashSet<&String> = self.dones.iter().collect();
        self.starts
            .iter()
            .filter(|s| !done.contains(s))
            .cloned()
            .collect()
    }
}

/// Every job a client saw accepted was journaled as started, and every start has its done;
/// on failure the lost ids are shown with ebb's log.
pub fn assert_jobs_complete(ebb: &Ebb, j: &Journal, accepted: &[String]) {
    let started: std::collections::HashSet<&String> = j.starts.iter().collect();
    let missing: Vec<&String> = accepted.iter().filter(|id| !started.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "accepted jobs never started: {missing:?}"
    );
    let lost = j.lost();
    if !lost.is_empty() {
        ebb.fail(&format!(
            "{} of {} jobs lost (started, never done): {:?}",
            lost.len(),
            j.starts.len(),
            &lost[..lost.len().min(20)]
        ));
    }
}

/// Rewrite a file atomically (write a temp file, rename), so a reader never sees half of it.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}
