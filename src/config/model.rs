//! The validated configuration ebb runs on.
//!
//! Every front end (command line, TOML file, uWSGI ini, `UWSGI_*` variables) produces a
//! [`Config`]; the master only ever sees this type. Values here are already checked: a
//! `Config` that exists is one the master can run.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

/// The wire protocol a listening socket speaks. Passed to workers as the socket's name in
/// `LISTEN_FDNAMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// HTTP/1.1 (`--http-socket`, `--bind`).
    Http,
    /// The uwsgi binary protocol spoken by nginx `uwsgi_pass` (`--socket`).
    Uwsgi,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Uwsgi => "uwsgi",
        }
    }
}

/// Where a listening socket lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// `host:port`; an empty host (`:8000`) means every interface, as uWSGI reads it.
    /// IPv6 hosts are kept without brackets.
    Tcp { host: String, port: u16 },
    /// A Unix stream socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One listening socket to bind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SocketSpec {
    pub address: Address,
    pub protocol: Protocol,
}

/// A Python WSGI application run by the bundled worker.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonApp {
    /// `pkg.mod:callable` or `pkg.mod` (`--module`, `--wsgi`, `-w`).
    pub module: Option<String>,
    /// A file defining the app (`--wsgi-file`).
    pub wsgi_file: Option<PathBuf>,
    /// The callable's name (`--callable`, default `application` as in uWSGI).
    pub callable: String,
    /// Extra import directories (`--pythonpath`, repeatable).
    pub pythonpath: Vec<PathBuf>,
    /// A virtualenv whose interpreter runs the app (`--virtualenv`, `--home`, `-H`).
    pub home: Option<PathBuf>,
    /// An explicit interpreter (`--python`); default `python3` from `PATH`.
    pub python: Option<PathBuf>,
    /// Threads per worker (`--threads`).
    pub threads: usize,
    /// Each worker imports the app itself (`--lazy-apps`); else a fork server per
    /// configuration generation imports it once and forks the workers.
    pub lazy_apps: bool,
    /// Fork even when the import left threads or connected sockets (`--fork-anyway`).
    pub fork_anyway: bool,
}

impl PythonApp {
    /// The worker's arguments that name the app (`--module`/`--wsgi-file`, `--callable`,
    /// `--pythonpath`): the same for a worker and for `--check-config`'s import.
    pub fn app_args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(m) = &self.module {
            v.extend(["--module".into(), m.clone()]);
        }
        if let Some(f) = &self.wsgi_file {
            v.extend(["--wsgi-file".into(), f.display().to_string()]);
        }
        v.extend(["--callable".into(), self.callable.clone()]);
        for p in &self.pythonpath {
            v.extend(["--pythonpath".into(), p.display().to_string()]);
        }
        v
    }

    /// The interpreter that runs it: `--python`, else the virtualenv's `bin/python`, else
    /// `python3` from `PATH`.
    pub fn interpreter(&self) -> String {
        match (&self.python, &self.home) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(home)) => home.join("bin/python").display().to_string(),
            (None, None) => "python3".into(),
        }
    }
}

/// What each worker process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerCommand {
    /// `ebb example-app`, the bundled Rust HTTP worker.
    ExampleApp,
    /// The bundled Python WSGI worker.
    Python(PythonApp),
    /// Any program, run as given after `--` (`argv[0]` searched in `PATH`).
    Exec(Vec<String>),
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The config file this was read from, if any (shown in logs, re-read on SIGHUP).
    pub source: Option<PathBuf>,
    /// Sockets to bind. Empty only when ebb inherits its sockets from systemd.
    pub sockets: Vec<SocketSpec>,
    /// Number of worker processes (`--processes`).
    pub processes: usize,
    /// Listen backlog (`--listen`).
    pub listen: u32,
    /// Mode for Unix socket files (`--chmod-socket`), e.g. 0o660.
    pub chmod_socket: Option<u32>,
    /// `umask`: the master's (and so its workers') file-mode mask.
    pub umask: Option<u32>,
    /// `max-fd`: the open-files limit to reach.
    pub max_fd: Option<u64>,
    /// `user[:group]` for the Unix socket files ebb creates.
    pub chown_socket: Option<String>,
    /// Directory the workers start in (`--chdir`).
    pub chdir: Option<PathBuf>,
    /// Extra environment for the workers (`--env KEY=VAL`).
    pub env: Vec<(String, String)>,
    /// Where the master writes its pid (`--pidfile`).
    pub pidfile: Option<PathBuf>,
    /// Log file for the master and workers' stdout/stderr (`--logto`).
    pub logto: Option<PathBuf>,
    pub log_format: LogFormat,
    /// Access lines, filters, log files and rotation (`crate::logs`).
    pub logs: crate::logs::Settings,
    /// Default log filter (`info`; `-v` gives `debug`, `-q` gives `warn`); `RUST_LOG` wins.
    pub log_level: String,
    /// User and group the workers run as, when ebb starts as root (`--uid`, `--gid`):
    /// names or numbers, resolved when the master starts.
    pub uid: Option<String>,
    pub gid: Option<String>,
    /// Signal asking a worker to drain (`--drain-signal`, default SIGTERM).
    pub drain_signal: Signal,
    /// How long a draining worker may take before its process group is killed.
    pub drain_timeout: Duration,
    /// How long a new worker may take to say READY=1 before it is taken as ready anyway.
    pub ready_timeout: Duration,
    pub command: WorkerCommand,

    // Recycling.
    /// Recycle a worker after this many requests (`--max-requests`, `-R`).
    pub max_requests: Option<u64>,
    /// uWSGI spread: slot k gets `max_requests + (k-1)·delta`.
    pub max_requests_delta: u64,
    /// gunicorn spread: a random `0..=jitter` added per respawn.
    pub max_requests_jitter: u64,
    /// Recycle a worker after it has lived this long.
    pub max_worker_lifetime: Option<Duration>,
    /// Slot k's lifetime is `lifetime + (k-1)·delta`.
    pub max_worker_lifetime_delta: Duration,
    /// Recycle a worker whose process tree's RSS exceeds this many MiB.
    pub reload_on_rss_mb: Option<u64>,
    /// How many workers may exist beyond `processes` while recycling (`--max-surge`).
    pub max_surge: usize,
    /// Replaced workers draining at once; `None`: as many as `processes`.
    pub max_draining: Option<usize>,
    /// Failed starts in a row, before any worker was ready, that end ebb (0: never).
    pub start_attempts: u32,
    /// Files whose mtime change triggers a reload / a replacement of every worker.
    pub touch_reload: Vec<PathBuf>,
    pub touch_workers_reload: Vec<PathBuf>,
    /// Settings of the Python worker's layers in front of the app (static files, routing)
    /// and its hooks: `(EBB_STATIC_*, EBB_ROUTES or EBB_HOOK_*, one value)`, in the order
    /// given (the master joins repeated ones, one per line).
    pub layer_env: Vec<(&'static str, String)>,
    /// `hook-asap` / `exec-asap`, run by the master at start (`hook-pre-app`... are in
    /// layer_env).
    pub asap_hooks: Vec<super::hooks::Hook>,
    /// Append one JSON line per forced kill, naming what was lost (`--lost-work-log`).
    pub lost_work_log: Option<PathBuf>,
    /// A request running longer than this gets its worker replaced (`--harakiri`).
    pub harakiri: Option<Duration>,
    /// A worker that sent `WATCHDOG=1` once and then none for this long is replaced
    /// (`--watchdog`); workers get `WATCHDOG_USEC`.
    pub watchdog: Option<Duration>,
    /// Operating ebb: control, stats, metrics, titles, shutdown delay.
    pub ops: Ops,
    /// Daemons, mules and cron entries run beside the workers (`crate::master::daemons`).
    pub side: super::daemons::SideProcesses,
    /// The Python app's options and reload triggers from uWSGI files (issue 13).
    pub python_opts: crate::config::python_opts::PythonOpts,
}

/// Operating ebb (issue 11): where the control socket, fifo, stats and metrics servers
/// listen, and how the master announces itself. Used by `src/live/`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ops {
    /// The control socket (`--control`); `None`: the default path in the runtime dir.
    pub control: Option<PathBuf>,
    /// uWSGI's `master-fifo`.
    pub master_fifo: Option<PathBuf>,
    /// The stats server (`--stats`), and whether it speaks HTTP (`--stats-http`).
    pub stats: Option<Address>,
    pub stats_http: bool,
    /// The Prometheus endpoint (`--metrics`).
    pub metrics: Option<Address>,
    /// Process titles: uWSGI's `procname`, `procname-prefix` (`-spaced` adds the space),
    /// `procname-append`, `procname-master`.
    pub procname: Option<String>,
    pub procname_prefix: String,
    pub procname_append: String,
    pub procname_master: Option<String>,
    /// After SIGTERM, keep serving this long before draining (`--shutdown-delay`).
    pub shutdown_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            sockets: Vec::new(),
            processes: 1,
            listen: 1024,
            chmod_socket: None,
            umask: None,
            max_fd: None,
            chown_socket: None,
            chdir: None,
            env: Vec::new(),
            pidfile: None,
            logto: None,
            log_format: LogFormat::Text,
            logs: crate::logs::Settings::default(),
            log_level: "info".to_string(),
            uid: None,
            gid: None,
            drain_signal: Signal::SIGTERM,
            drain_timeout: Duration::from_secs(60),
            ready_timeout: Duration::from_secs(30),
            command: WorkerCommand::ExampleApp,
            max_requests: None,
            max_requests_delta: 0,
            max_requests_jitter: 0,
            max_worker_lifetime: None,
            max_worker_lifetime_delta: Duration::ZERO,
            reload_on_rss_mb: None,
            max_surge: 1,
            max_draining: None,
            start_attempts: 3,
            touch_reload: Vec::new(),
            touch_workers_reload: Vec::new(),
            layer_env: Vec::new(),
            asap_hooks: Vec::new(),
            lost_work_log: None,
            harakiri: None,
            watchdog: None,
            ops: Ops::default(),
            side: Default::default(),
            python_opts: Default::default(),
        }
    }
}
