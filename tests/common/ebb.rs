//! The ebb process: start it, wait on its log, stop it, leave nothing behind.

use super::*;

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
    /// The exit status once the master exited; by then its log has been read to the end
    /// (see [`Ebb::read_to_end`]).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Some(c) = self.child.as_mut()
            && let Ok(Some(s)) = c.try_wait()
        {
            self.status = Some(s);
            self.read_to_end(Duration::from_secs(5));
        }
        self.status
    }

    /// Wait, at most `bound`, until the reader thread has taken every line the master wrote
    /// (its stderr closed). The master's last lines can still be in the pipe when it has
    /// exited; a test that looked at once missed them. The bound is for a worker or daemon
    /// that outlives the master and keeps the pipe open.
    fn read_to_end(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut st = self.log.state.lock().unwrap();
        while !st.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self.log.cv.wait_timeout(st, deadline - now).unwrap().0;
        }
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
