//! What /proc says about processes (memory by process group).

use std::collections::HashMap;

use crate::policy::WorkerId;

/// The RSS of each worker's process group (the worker and what it started), in KiB.
pub fn rss_by_group(workers: &[(WorkerId, i32)]) -> Vec<(WorkerId, u64)> {
    memory_by_group(workers)
        .into_iter()
        .map(|(id, rss, _)| (id, rss))
        .collect()
}

/// The RSS and the address space (VSZ) of each worker's process group, in KiB.
pub fn memory_by_group(workers: &[(WorkerId, i32)]) -> Vec<(WorkerId, u64, u64)> {
    let page_kb = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4, |p| (p as u64) / 1024);
    let mut by_group: HashMap<i32, (u64, u64)> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the ")" that ends the command name: state ppid pgrp ... vsize
            // (bytes) and rss (pages) are fields 23 and 24 overall, indexes 20 and 21 after
            // the name.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            let f: Vec<&str> = rest.split_whitespace().collect();
            let (Some(pgrp), Some(vsize), Some(rss)) = (
                f.get(2).and_then(|s| s.parse::<i32>().ok()),
                f.get(20).and_then(|s| s.parse::<u64>().ok()),
                f.get(21).and_then(|s| s.parse::<u64>().ok()),
            ) else {
                continue;
            };
            let e = by_group.entry(pgrp).or_default();
            e.0 += rss * page_kb;
            e.1 += vsize / 1024;
        }
    }
    workers
        .iter()
        .filter_map(|(id, pid)| by_group.get(pid).map(|(rss, vsz)| (*id, *rss, *vsz)))
        .collect()
}
