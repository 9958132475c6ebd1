//! Integration-test harness: run the real `ebb` binary, read its log, talk HTTP to it, and
//! leave nothing behind.
//!
//! - [`Ebb`] starts the master with `--log-format json` (unless told otherwise), captures its
//!   stderr (and its workers') line by line, and on drop SIGKILLs the master *and every
//!   worker* (found through `/proc/*/environ`: each worker carries `EBB_MASTER_PID`), even
//!   when the test failed. On a failing test it prints the tail of the log.
//! - Every wait has a deadline; nothing sleeps where an event can be waited for.
//! - [`Conn`] is a tiny keep-alive HTTP/1.1 client over TCP or a Unix socket.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use serde_json::Value;

pub const EBB: &str = env!("CARGO_BIN_EXE_ebb");

/// A generous bound for "it happens soon" (a loaded 2-core box).
pub const SOON: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Log lines

/// One line of ebb's stderr: a JSON log record, or anything else (a worker's own output).
#[derive(Debug, Clone)]
pub struct Line {
    pub raw: String,
    pub json: Option<Value>,
    /// When the harness read it.
    pub at: Instant,
}

impl Line {
    fn new(raw: String) -> Line {
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
struct LogState {
    lines: Vec<Line>,
    closed: bool,
}

#[derive(Default)]
struct LogBuf {
    state: Mutex<LogState>,
    cv: Condvar,
}

// ---------------------------------------------------------------------------------------------
// The ebb process

/// How to start ebb.
pub struct EbbBuilder {
    args: Vec<String>,
    envs: Vec<(String, String)>,
    json: bool,
    dir: Option<Arc<tempfile::TempDir>>,
}

impl EbbBuilder {
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push(a.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set in ebb's own environment (so every worker inherits it).
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// Do not add `--log-format json` (for tests of the text output or of config errors).
    pub fn text_log(mut self) -> Self {
        self.json = false;
        self
    }

    /// Use this temp dir instead of a fresh one.
    pub fn dir(mut self, d: Arc<tempfile::TempDir>) -> Self {
        self.dir = Some(d);
        self
    }

    pub fn start(self) -> Ebb {
        let dir = self.dir.unwrap_or_else(|| Arc::new(tempdir()));
        let mut args = Vec::new();
        if self.json {
            args.extend(["--log-format".to_string(), "json".to_string()]);
        }
        // Options must come before a `--` worker command.
        let split = self.args.iter().position(|a| a == "--");
        match split {
            Some(i) => {
                let mut a = self.args.clone();
                let tail = a.split_off(i);
                a.extend(args);
                a.extend(tail);
                args = a;
            }
            None => {
                let mut a = self.args.clone();
                a.extend(args);
                args = a;
            }
        }
        let log_path = dir.path().join("ebb.log");
        let stdout = File::create(dir.path().join("stdout.log")).expect("stdout file");
        let mut cmd = Command::new(EBB);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDNAMES")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("EBB_EXAMPLE_CRASH_AT_START")
            .env_remove("EBB_EXAMPLE_NO_READY")
            .env_remove("EBB_JOB_JOURNAL");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {EBB}: {e}"));
        let pid = child.id() as i32;
        let log = Arc::new(LogBuf::default());
        let stderr = child.stderr.take().expect("piped stderr");
        {
            let log = Arc::clone(&log);
            let mut file = File::create(&log_path).expect("log file");
            std::thread::spawn(move || {
                let mut r = BufReader::new(stderr);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match r.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let _ = file.write_all(&buf);
                            let s = String::from_utf8_lossy(&buf)
                                .trim_end_matches(['\n', '\r'])
                                .to_string();
                            let mut st = log.state.lock().unwrap();
                            st.lines.push(Line::new(s));
                            drop(st);
                            log.cv.notify_all();
                        }
                    }
                }
                log.state.lock().unwrap().closed = true;
                log.cv.notify_all();
            });
        }
        Ebb {
            child: Some(child),
            pid,
            log,
            dir,
            args,
            status: None,
            tail_shown: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ebb-test-")
        .tempdir()
        .expect("temp dir")
}

/// A running ebb master. Dropping it kills the master and all its workers.
pub struct Ebb {
    child: Option<Child>,
    pub pid: i32,
    log: Arc<LogBuf>,
    pub dir: Arc<tempfile::TempDir>,
    pub args: Vec<String>,
    status: Option<ExitStatus>,
    /// The log tail was already printed by [`Ebb::fail`].
    tail_shown: std::sync::atomic::AtomicBool,
}

impl Ebb {
    pub fn builder() -> EbbBuilder {
        EbbBuilder {
            args: Vec::new(),
            envs: Vec::new(),
            json: true,
            dir: None,
        }
    }

    /// `ebb --http-socket 127.0.0.1:0 -p N --example-app EXTRA…`
    pub fn example(processes: usize) -> EbbBuilder {
        Ebb::builder().args([
            "--http-socket".to_string(),
            "127.0.0.1:0".to_string(),
            "--processes".to_string(),
            processes.to_string(),
            "--example-app".to_string(),
        ])
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// All lines so far.
    pub fn lines(&self) -> Vec<Line> {
        self.log.state.lock().unwrap().lines.clone()
    }

    /// How many lines have been read so far (a mark for [`Ebb::wait_for_after`]).
    pub fn mark(&self) -> usize {
        self.log.state.lock().unwrap().lines.len()
    }

    pub fn count(&self, pred: impl Fn(&Line) -> bool) -> usize {
        self.log
            .state
            .lock()
            .unwrap()
            .lines
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    pub fn count_after(&self, mark: usize, pred: impl Fn(&Line) -> bool) -> usize {
        self.log.state.lock().unwrap().lines[mark..]
            .iter()
            .filter(|l| pred(l))
            .count()
    }

    pub fn events(&self, e: &str) -> Vec<Line> {
        self.lines().into_iter().filter(|l| l.is_event(e)).collect()
    }

    /// Wait for a line matching `pred` (any line so far counts).
    pub fn wait_for(
        &self,
        pred: impl Fn(&Line) -> bool,
        timeout: Duration,
    ) -> Result<Line, String> {
        self.wait_for_after(0, pred, timeout)
    }

    /// Wait for a line at index `mark` or later matching `pred`.
    pub fn wait_for_after(
        &self,
        mark: usize,
        pred: impl Fn(&Line) -> bool,
        timeout: Duration,
    ) -> Result<Line, String> {
        self.wait_n_after(mark, 1, pred, timeout)
            .map(|mut v| v.pop().expect("one line"))
    }

    /// Wait until `n` lines at `mark` or later match `pred`; returns them.
    pub fn wait_n_after(
        &self,
        mark: usize,
        n: usize,
        pred: impl Fn(&Line) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Line>, String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.log.state.lock().unwrap();
        loop {
            let found: Vec<Line> = st.lines[mark.min(st.lines.len())..]
                .iter()
                .filter(|l| pred(l))
                .take(n)
                .cloned()
                .collect();
            if found.len() >= n {
                return Ok(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(format!(
                    "timed out after {:.1}s waiting for {n} matching log line(s) (found {})",
                    timeout.as_secs_f64(),
                    found.len()
                ));
            }
            if st.closed {
                return Err(format!(
                    "ebb's stderr closed while waiting for {n} matching log line(s) (found {})",
                    found.len()
                ));
            }
            st = self.log.cv.wait_timeout(st, deadline - now).unwrap().0;
        }
    }

    /// Like [`Ebb::wait_for_after`] but panics with the log tail on timeout.
    pub fn expect_after(
        &self,
        mark: usize,
        what: &str,
        pred: impl Fn(&Line) -> bool,
        timeout: Duration,
    ) -> Line {
        self.wait_for_after(mark, pred, timeout)
            .unwrap_or_else(|e| self.fail(&format!("waiting for {what}: {e}")))
    }

    /// Wait until `n` workers have become ready (READY=1 or the ready timeout) since `mark`.
    pub fn wait_ready(&self, mark: usize, n: usize, timeout: Duration) -> Vec<Line> {
        self.wait_n_after(
            mark,
            n,
            |l| l.is_event("ready") || l.is_event("ready-timeout"),
            timeout,
        )
        .unwrap_or_else(|e| self.fail(&format!("waiting for {n} ready worker(s): {e}")))
    }

    /// The master's "listening on" line (logged once the sockets are bound).
    pub fn started_line(&self, timeout: Duration) -> Line {
        self.wait_for(|l| l.message().contains("listening on"), timeout)
            .unwrap_or_else(|e| self.fail(&format!("waiting for the master to start: {e}")))
    }

    /// The first HTTP TCP address the master says it listens on (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        let line = self.started_line(SOON);
        let msg = line.message();
        let rest = &msg[msg.find("listening on ").expect("checked") + "listening on ".len()..];
        let rest = rest.split(';').next().unwrap_or(rest);
        for part in rest.split(", ") {
            if let Some(a) = part.trim().strip_prefix("http://")
                && let Ok(sa) = a.parse::<SocketAddr>()
            {
                return sa;
            }
        }
        self.fail(&format!("no http TCP address in {msg:?}"))
    }

    pub fn target(&self) -> Target {
        Target::Tcp(self.addr())
    }

    /// Start and wait for `n` ready workers; returns the TCP target.
    pub fn ready(&self, n: usize) -> Target {
        let t = self.target();
        self.wait_ready(0, n, SOON);
        t
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid), sig).unwrap_or_else(|e| panic!("kill {sig}: {e}"));
    }

    /// The master's exit status, if it has exited.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Some(c) = self.child.as_mut()
            && let Ok(Some(s)) = c.try_wait()
        {
            self.status = Some(s);
        }
        self.status
    }

    /// Wait for the master to exit, polling every 10 ms up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_status() {
                return Ok(s);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "ebb (pid {}) still running after {:.1}s",
                    self.pid,
                    timeout.as_secs_f64()
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn expect_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_exit(timeout) {
            Ok(s) => s,
            Err(e) => self.fail(&e),
        }
    }

    /// Live (non-zombie) worker processes of this master, with their environment.
    pub fn workers(&self) -> Vec<(i32, HashMap<String, String>)> {
        workers_of(self.pid)
    }

    pub fn worker_pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.workers().into_iter().map(|(p, _)| p).collect();
        v.sort();
        v
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let lines = self.lines();
        let from = lines.len().saturating_sub(n);
        let mut s = format!(
            "---- last {} of {} lines of ebb's log ({}) ----\n",
            lines.len() - from,
            lines.len(),
            self.dir.path().join("ebb.log").display()
        );
        for l in &lines[from..] {
            s.push_str(&l.raw);
            s.push('\n');
        }
        s.push_str("---- end of log ----");
        s
    }

    /// Panic with `msg` and the tail of the log.
    pub fn fail(&self, msg: &str) -> ! {
        self.tail_shown
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // EBB_TEST_KEEP_LOGS=DIR keeps the whole log of a failed test there, for reading.
        if let Some(dir) = std::env::var_os("EBB_TEST_KEEP_LOGS") {
            let to = PathBuf::from(dir).join(format!("ebb-{}.log", std::process::id()));
            let _ = std::fs::copy(self.path("ebb.log"), &to);
            eprintln!("the whole log is in {}", to.display());
        }
        panic!("{msg}\n{}", self.tail(80))
    }

    /// Kill the master and every worker now (what drop does).
    pub fn kill_all(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.status.is_none() {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
        kill_workers_of(self.pid, Duration::from_secs(5));
    }
}

impl Drop for Ebb {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.tail_shown.load(std::sync::atomic::Ordering::SeqCst) {
            eprintln!("{}", self.tail(80));
        }
        self.kill_all();
    }
}

/// Run ebb to completion (for quick commands: `--check-config`, start failures).
/// Returns the status, stdout and stderr; kills it after `timeout`.
pub fn run_ebb(args: &[&str], timeout: Duration) -> (ExitStatus, String, String) {
    let mut child = Command::new(EBB)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .env_remove("RUST_BACKTRACE")
        .spawn()
        .expect("start ebb");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break s;
        }
        if Instant::now() >= deadline {
            let pid = child.id() as i32;
            let _ = child.kill();
            let _ = child.wait();
            kill_workers_of(pid, Duration::from_secs(5));
            panic!(
                "ebb {args:?} did not exit within {:.1}s",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    kill_workers_of(child.id() as i32, Duration::from_secs(5));
    (status, t_out.join().unwrap(), t_err.join().unwrap())
}

// ---------------------------------------------------------------------------------------------
// Processes

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

// ---------------------------------------------------------------------------------------------
// HTTP client

#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(b),
            Stream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The server will close the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// `key=<number>` from the body (`worker=`, `pid=`, `respawn=`).
    pub fn num(&self, key: &str) -> Option<u64> {
        body_num(&self.body, key)
    }

    pub fn pid(&self) -> Option<i32> {
        self.num("pid").map(|p| p as i32)
    }

    /// `KEY=VALUE` lines of the body (for `/env`).
    pub fn env(&self) -> HashMap<String, String> {
        self.body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// `key=<digits>` anywhere in `s` (preceded by start or a space).
pub fn body_num(s: &str, key: &str) -> Option<u64> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = s[from..].find(&pat) {
        let at = from + i;
        if at == 0 || s.as_bytes()[at - 1].is_ascii_whitespace() || s.as_bytes()[at - 1] == b'[' {
            let digits: String = s[at + pat.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
        from = at + pat.len();
    }
    None
}

/// One HTTP/1.1 connection (keep-alive capable).
pub struct Conn {
    s: Stream,
    buf: Vec<u8>,
    pub served: usize,
}

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

impl Conn {
    pub fn open(t: &Target) -> io::Result<Conn> {
        let s = match t {
            Target::Tcp(a) => {
                let s = TcpStream::connect_timeout(a, IO_TIMEOUT)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Target::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                Stream::Unix(s)
            }
        };
        Ok(Conn {
            s,
            buf: Vec::new(),
            served: 0,
        })
    }

    /// Send `GET path` and read the whole response.
    pub fn get(&mut self, path: &str, keep_alive: bool) -> io::Result<Response> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: ebb-test\r\nConnection: {}\r\n\r\n",
            if keep_alive { "keep-alive" } else { "close" }
        );
        self.s.write_all(req.as_bytes())?;
        let r = self.read_response()?;
        self.served += 1;
        Ok(r)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.s.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed after {} bytes of a response head",
                        self.buf.len()
                    ),
                ));
            }
        };
        let (status, headers) = parse_head(&self.buf[..head_len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let body = match len {
            Some(n) => {
                while self.buf.len() < head_len + n {
                    if self.fill()? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed in a response body",
                        ));
                    }
                }
                let b = self.buf[head_len..head_len + n].to_vec();
                self.buf.drain(..head_len + n);
                b
            }
            None => {
                // Read to EOF.
                while self.fill()? > 0 {}
                let b = self.buf[head_len..].to_vec();
                self.buf.clear();
                b
            }
        };
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        })
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// `GET path` on a fresh connection.
pub fn get(t: &Target, path: &str) -> io::Result<Response> {
    Conn::open(t)?.get(path, false)
}

/// `GET path` on fresh connections, retried every 10 ms until it answers or `timeout`.
pub fn get_retry(t: &Target, path: &str, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get(t, path) {
            Ok(r) => return Ok(r),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("GET {path}: no answer within {timeout:?}: {last}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `GET path` that must succeed with 200 (panics with the log tail otherwise).
pub fn get_ok(ebb: &Ebb, t: &Target, path: &str) -> Response {
    match get(t, path) {
        Ok(r) if r.status == 200 => r,
        Ok(r) => ebb.fail(&format!(
            "GET {path}: status {} body {:?}",
            r.status, r.body
        )),
        Err(e) => ebb.fail(&format!("GET {path}: {e}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Job journal

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

// ---------------------------------------------------------------------------------------------
// Python WSGI apps, framework venv, raw HTTP, the uwsgi protocol, nginx (tests/wsgi.rs and
// tests/uwsgi_ini.rs)

/// `tests/wsgi_apps/<name>`.
pub fn wsgi_app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wsgi_apps")
        .join(name)
}

/// The venv with Django and Flask (`$EBB_TEST_VENV`, default `target/ci-venv`). Panics with
/// what to run when it is missing: framework tests fail, they are never skipped silently.
pub fn test_venv() -> PathBuf {
    static CHECKED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let venv = std::env::var_os("EBB_TEST_VENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target/ci-venv"));
            let venv = if venv.is_absolute() {
                venv
            } else {
                root.join(venv)
            };
            let python = venv.join("bin/python");
            let ok = Command::new(&python)
                .args(["-c", "import django, flask"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                Ok(venv)
            } else {
                Err(format!(
                    "the test venv {} is missing or lacks Django/Flask: run scripts/test (or \
                     .ci/run on a fresh machine), which creates it with `python3 -m venv {0} && \
                     {0}/bin/pip install django flask`; or point EBB_TEST_VENV at such a venv",
                    venv.display()
                ))
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Copy a directory tree (skipping `__pycache__`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "__pycache__" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", src.display(), dst.display()));
        }
    }
}

/// Status and headers of a complete response head (through its blank line).
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hdrs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => return Err(format!("bad response head ({other:?})")),
    }
    let headers = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).to_string(),
            )
        })
        .collect();
    Ok((resp.code.unwrap_or(0), headers))
}

/// A whole HTTP response read from raw bytes: Content-Length, chunked (decoded) or to EOF.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_len = find(raw, b"\r\n\r\n").map(|i| i + 4).ok_or_else(|| {
        format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(raw)
        )
    })?;
    let (status, headers) = parse_head(&raw[..head_len])?;
    let r = Response {
        status,
        headers,
        body: String::new(),
    };
    let rest = &raw[head_len..];
    let body = if r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = r
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if rest.len() < n {
            return Err(format!("body cut short: {} of {n} bytes", rest.len()));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        body: String::from_utf8_lossy(&body).to_string(),
        ..r
    })
}

/// Decode a chunked body (must be complete, with its last chunk).
pub fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = find(b, b"\r\n").ok_or("chunked body: no chunk-size line")?;
        let line = String::from_utf8_lossy(&b[..nl]).to_string();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunked body: bad size line {line:?}: {e}"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 || &b[size..size + 2] != b"\r\n" {
            return Err(format!("chunked body: chunk of {size} bytes cut short"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Send raw bytes on a fresh connection and read until the server closes it (or `timeout`).
pub fn exchange(t: &Target, req: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut c = Conn::open(t)?;
    match &c.s {
        Stream::Tcp(s) => s.set_read_timeout(Some(timeout))?,
        Stream::Unix(s) => s.set_read_timeout(Some(timeout))?,
    }
    c.s.write_all(req)?;
    let mut out = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match c.s.read(&mut tmp) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            // A reset after the response (the server closed with unread data): keep what came.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !out.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One request with `Connection: close` on a fresh connection; the whole response (chunked
/// bodies decoded). `headers` are extra `Name: value` lines.
pub fn http_request(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> Result<Response, String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: ebb-test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let raw = exchange(t, &bytes, IO_TIMEOUT).map_err(|e| format!("{method} {path}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
}

/// A request in the uwsgi wire protocol (what nginx's `uwsgi_pass` sends): a 4-byte header,
/// the vars, then the body. Reads the (plain HTTP) response to EOF.
pub fn uwsgi_request(t: &Target, method: &str, uri: &str, body: &[u8]) -> Result<Response, String> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut vars: Vec<(String, String)> = vec![
        ("REQUEST_METHOD".into(), method.into()),
        ("REQUEST_URI".into(), uri.into()),
        ("PATH_INFO".into(), path.into()),
        ("QUERY_STRING".into(), query.into()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
        ("SERVER_NAME".into(), "ebb-test".into()),
        ("SERVER_PORT".into(), "80".into()),
        ("REMOTE_ADDR".into(), "127.0.0.1".into()),
        ("HTTP_HOST".into(), "ebb-test".into()),
    ];
    if !body.is_empty() {
        vars.push(("CONTENT_LENGTH".into(), body.len().to_string()));
        vars.push(("CONTENT_TYPE".into(), "application/octet-stream".into()));
    }
    let mut data = Vec::new();
    for (k, v) in &vars {
        data.extend_from_slice(&(k.len() as u16).to_le_bytes());
        data.extend_from_slice(k.as_bytes());
        data.extend_from_slice(&(v.len() as u16).to_le_bytes());
        data.extend_from_slice(v.as_bytes());
    }
    let mut pkt = vec![0u8];
    pkt.extend_from_slice(&(data.len() as u16).to_le_bytes());
    pkt.push(0);
    pkt.extend_from_slice(&data);
    pkt.extend_from_slice(body);
    let raw = exchange(t, &pkt, IO_TIMEOUT).map_err(|e| format!("uwsgi {method} {uri}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("uwsgi {method} {uri}: {e}"))
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

/// The nginx binary, or a panic saying how to install it.
pub fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx is not installed: run .ci/run (it installs nginx), or apt-get install nginx")
}

/// The standard `uwsgi_params` file (nginx's own, or the same content written into `dir`).
pub fn uwsgi_params(dir: &Path) -> PathBuf {
    let sys = Path::new("/etc/nginx/uwsgi_params");
    if sys.exists() {
        return sys.to_path_buf();
    }
    let p = dir.join("uwsgi_params");
    let mut text = String::new();
    for (k, v) in [
        ("QUERY_STRING", "$query_string"),
        ("REQUEST_METHOD", "$request_method"),
        ("CONTENT_TYPE", "$content_type"),
        ("CONTENT_LENGTH", "$content_length"),
        ("REQUEST_URI", "$request_uri"),
        ("PATH_INFO", "$document_uri"),
        ("DOCUMENT_ROOT", "$document_root"),
        ("SERVER_PROTOCOL", "$server_protocol"),
        ("REQUEST_SCHEME", "$scheme"),
        ("HTTPS", "$https if_not_empty"),
        ("REMOTE_ADDR", "$remote_addr"),
        ("REMOTE_PORT", "$remote_port"),
        ("SERVER_PORT", "$server_port"),
        ("SERVER_NAME", "$server_name"),
    ] {
        text.push_str(&format!("uwsgi_param  {k:<16}{v};\n"));
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// nginx in the foreground (`daemon off; master_process off;`) with a config rendered from a
/// template in `tests/wsgi_apps/nginx/` into its own directory; killed on drop.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    /// Render `template` (`@DIR@`, `@PORT@`, `@UPSTREAM@`, `@UWSGI_PARAMS@`) into `dir/nginx`
    /// and start nginx on a free loopback port; waits until it accepts connections.
    /// `upstream` is what follows `uwsgi_pass` (`unix:/path` or `127.0.0.1:port`).
    pub fn start(dir: &Path, template: &str, upstream: &str) -> Nginx {
        let bin = nginx_bin();
        let ndir = dir.join("nginx");
        std::fs::create_dir_all(&ndir).unwrap();
        let tpl_path = wsgi_app("nginx").join(template);
        let tpl = std::fs::read_to_string(&tpl_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", tpl_path.display()));
        let params = uwsgi_params(&ndir);
        let error_log = ndir.join("error.log");
        let mut last_err = String::new();
        // A port from bind(:0) may be taken by someone else before nginx binds it: retry.
        for _attempt in 0..5 {
            let port = free_port();
            let conf = tpl
                .replace("@DIR@", &ndir.display().to_string())
                .replace("@PORT@", &port.to_string())
                .replace("@UPSTREAM@", upstream)
                .replace("@UWSGI_PARAMS@", &params.display().to_string());
            let conf_path = ndir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let _ = std::fs::remove_file(&error_log);
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(&ndir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(&error_log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    File::create(ndir.join("stderr.log")).expect("nginx stderr file"),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let up = poll_until(SOON, || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false);
                }
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .is_ok()
                    .then_some(true)
            });
            if up == Some(true) {
                return Nginx {
                    child,
                    port,
                    dir: ndir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = format!(
                "{}{}",
                std::fs::read_to_string(&error_log).unwrap_or_default(),
                std::fs::read_to_string(ndir.join("stderr.log")).unwrap_or_default()
            );
            if !last_err.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_err}")
    }

    pub fn target(&self) -> Target {
        Target::Tcp(([127, 0, 0, 1], self.port).into())
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
