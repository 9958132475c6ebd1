//! Processes: workers found through /proc, waits with deadlines, ports.

use super::*;

/// The environment a process started with, if it is alive and not a zombie.
pub fn proc_environ(pid: i32) -> Option<HashMap<String, String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let mut env = HashMap::new();
    for kv in raw.split(|&b| b == 0) {
        let s = String::from_utf8_lossy(kv);
        if let Some((k, v)) = s.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    Some(env)
}

pub fn is_alive(pid: i32) -> bool {
    proc_environ(pid).is_some()
}

/// Processes whose environment says `EBB_MASTER_PID=<master>`: its workers (and anything
/// they started), whether or not the master is still alive. Zombies are not listed.
pub fn workers_of(master: i32) -> Vec<(i32, HashMap<String, String>)> {
    let want = master.to_string();
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == master {
            continue;
        }
        if let Some(env) = proc_environ(pid)
            && env.get("EBB_MASTER_PID") == Some(&want)
        {
            out.push((pid, env));
        }
    }
    out
}

/// SIGKILL every process group (and process) of `master`'s workers until none is left.
pub fn kill_workers_of(master: i32, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let ws = workers_of(master);
        if ws.is_empty() {
            return;
        }
        for (pid, _) in &ws {
            let _ = killpg(Pid::from_raw(*pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        if Instant::now() >= deadline {
            eprintln!("warning: could not kill every worker of master {master}: {ws:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Poll `f` every 10 ms until it returns `Some`, or `timeout`.
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free TCP port (bound and released; prefer port 0 and the master's start log line).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The name of the user the tests run as (for `uid =` lines in templated ini files).
pub fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| nix::unistd::getuid().to_string(), |u| u.name)
}

/// Workers of `master` (see [`workers_of`]) that are the master's direct children: not
/// processes the workers themselves started.
pub fn direct_workers_of(master: i32) -> Vec<i32> {
    let mut v: Vec<i32> = workers_of(master)
        .into_iter()
        .filter(|(pid, _)| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .and_then(|(_, r)| r.split_whitespace().nth(1).map(str::to_string))
                })
                .and_then(|pp| pp.parse::<i32>().ok())
                == Some(master)
        })
        .map(|(p, _)| p)
        .collect();
    v.sort();
    v
}
