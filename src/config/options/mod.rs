//! The option registry: every ebb option, defined once.
//!
//! One table drives the command line (clap arguments, `--help`, the man page), the TOML
//! keys, the uWSGI ini keys, the `UWSGI_*` environment variables and the commented example
//! `conf/ebb.toml` (checked by a test). An option's canonical name is its long flag;
//! aliases are accepted wherever the option is (TOML, ini, environment and command line),
//! and `_` may be written for `-` in files and variables.
//!
//! uWSGI and gunicorn options ebb does not map to one of these (always-on behaviour,
//! unsupported features) are classified in [`super::uwsgi`] and [`super::gunicorn`].

use super::model::Protocol;

/// Identifies an option independently of its spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    HttpSocket,
    Socket,
    Listen,
    ChmodSocket,
    ChownSocket,
    Processes,
    ExampleApp,
    Module,
    WsgiFile,
    Callable,
    Pythonpath,
    Virtualenv,
    Python,
    Threads,
    LazyApps,
    ForkAnyway,
    KeepAlive,
    NoDeferAccept,
    Command,
    Chdir,
    Env,
    Uid,
    Gid,
    Pidfile,
    MaxRequests,
    MaxRequestsDelta,
    MaxRequestsJitter,
    MaxWorkerLifetime,
    MaxWorkerLifetimeDelta,
    ReloadOnRss,
    Harakiri,
    Watchdog,
    MaxSurge,
    MaxDraining,
    StartAttempts,
    TouchReload,
    TouchWorkersReload,
    // Side processes (crate::config::daemons).
    AttachDaemon,
    AttachDaemon2,
    Mule,
    Mules,
    Cron,
    Cron2,
    // Hooks (crate::config::hooks).
    HookAsap,
    ExecAsap,
    HookPreApp,
    ExecPreApp,
    HookPostApp,
    ExecPostApp,
    // uWSGI's spooler (crate::config::spooler).
    Spooler,
    SpoolerExternal,
    SpoolerProcesses,
    SpoolerFrequency,
    SpoolerOrdered,
    SpoolerHarakiri,
    SpoolerQuiet,
    SpoolerMaxTasks,
    SpoolerChdir,
    SpoolerImport,
    StaticMap,
    StaticMap2,
    CheckStatic,
    StaticIndex,
    StaticSafe,
    StaticGzip,
    StaticGzipAll,
    StaticExpiresType,
    StaticExpires,
    StaticExpiresUri,
    OffloadThreads,
    Umask,
    MaxFd,
    // uWSGI's internal routing, request chain (read by the Python worker's routes layer).
    Route,
    RouteHost,
    RouteUri,
    RouteQs,
    RouteRemoteAddr,
    RouteUserAgent,
    RouteReferer,
    RouteIf,
    RouteIfNot,
    RouteRun,
    RouteLabel,
    AddHeader,
    DelHeader,
    DrainSignal,
    DrainTimeout,
    ReadyTimeout,
    LostWorkLog,
    Logto,
    LogFormat,
    // Log options (issue 10; read by crate::logs::settings).
    Logformat,
    AccessLogformat,
    AccessLogfile,
    DisableLogging,
    Log4xx,
    Log5xx,
    LogSlow,
    LogXForwardedFor,
    MemoryReport,
    ReqLogger,
    Logger,
    LogMaxsize,
    // uWSGI's encoders, routes and rotation names (issue 13; crate::logs::dispatch).
    LogEncoder,
    LogReqEncoder,
    LogRoute,
    LogBackupname,
    LogBackupcount,
    LogTruncate,
    Daemonize,
    LogLevel,
    Verbose,
    Quiet,
    Config,
    Ini,
    Strict,
    CheckConfig,
    // Operating ebb (issue 11: control, stats, metrics, systemd, titles, Kubernetes).
    Control,
    MasterFifo,
    Stats,
    StatsHttp,
    Metrics,
    Procname,
    ProcnamePrefix,
    ProcnamePrefixSpaced,
    ProcnameAppend,
    ProcnameMaster,
    ShutdownDelay,
    // ---- Added with issues 13 and 14 (cfg): uWSGI and gunicorn options mapped since.
    SocketProtocol,
    ClientTimeout,
    Mount,
    ManageScriptName,
    LimitRequestLine,
    LimitRequestFields,
    LimitRequestFieldSize,
    BufferSize,
    NoApp,
    // ---- Python app options and reload triggers (crate::config::python_opts, issue 13).
    PyAutoreload,
    FsReload,
    ReloadOnAs,
    Pyargv,
    HonourStdin,
    Import,
    NoSite,
    LimitPost,
    NoDefaultApp,
    HarakiriGracefulTimeout,
    ShowConfig,
}

/// The kind of value an option takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// On/off; a bare command-line flag.
    Flag,
    /// A command-line counter (`-vv`).
    Count,
    /// A whole number in `min..=max`.
    Int { min: u64, max: u64 },
    /// Seconds, or a number with a unit (`500ms`, `2m`).
    Duration,
    /// Megabytes (`512`, `2G`).
    SizeMb,
    /// An octal mode; given without a value it means 666.
    Octal,
    /// A signal name or number.
    Signal,
    /// A listening address speaking this protocol.
    Address(Protocol),
    /// `KEY=VALUE`.
    EnvPair,
    /// A file or directory path.
    Path,
    /// Free text.
    Text,
    /// One of a few words.
    Choice(&'static [&'static str]),
    /// The worker command and its arguments.
    Argv,
}

/// Where an option may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub cli: bool,
    pub toml: bool,
    pub ini: bool,
    pub env: bool,
}

impl Scope {
    /// Everywhere: command line, TOML, ini and `UWSGI_*` variables.
    pub const ALL: Scope = Scope {
        cli: true,
        toml: true,
        ini: true,
        env: true,
    };
    /// Only on the command line (`--config`, `--check-config`, `-v`).
    pub const CLI: Scope = Scope {
        cli: true,
        toml: false,
        ini: false,
        env: false,
    };
    /// Command line and TOML: options whose name means something else to uWSGI.
    pub const CLI_TOML: Scope = Scope {
        cli: true,
        toml: true,
        ini: false,
        env: false,
    };
}

/// One option.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    pub id: Id,
    /// Canonical name: the long flag and the TOML key (kebab-case).
    pub name: &'static str,
    /// Other names, shown in `--help`.
    pub aliases: &'static [&'static str],
    /// Other names accepted but not advertised (uWSGI and gunicorn spellings).
    pub hidden_aliases: &'static [&'static str],
    pub short: Option<char>,
    pub ty: Ty,
    /// May be given several times; the values form a list.
    pub repeat: bool,
    pub scope: Scope,
    pub value_name: &'static str,
    /// The default as shown in help and in `conf/ebb.toml`.
    pub default: Option<&'static str>,
    pub heading: &'static str,
    pub help: &'static str,
    /// A TOML value for the example configuration (`conf/ebb.toml`).
    pub example: &'static str,
}

impl OptionSpec {
    const fn new(id: Id, name: &'static str, ty: Ty, heading: &'static str) -> Self {
        OptionSpec {
            id,
            name,
            aliases: &[],
            hidden_aliases: &[],
            short: None,
            ty,
            repeat: false,
            scope: Scope::ALL,
            value_name: "VALUE",
            default: None,
            heading,
            help: "",
            example: "",
        }
    }
    const fn aliases(mut self, a: &'static [&'static str]) -> Self {
        self.aliases = a;
        self
    }
    const fn hidden(mut self, a: &'static [&'static str]) -> Self {
        self.hidden_aliases = a;
        self
    }
    const fn short(mut self, c: char) -> Self {
        self.short = Some(c);
        self
    }
    const fn repeat(mut self) -> Self {
        self.repeat = true;
        self
    }
    const fn scope(mut self, s: Scope) -> Self {
        self.scope = s;
        self
    }
    const fn value(mut self, v: &'static str) -> Self {
        self.value_name = v;
        self
    }
    const fn default(mut self, d: &'static str) -> Self {
        self.default = Some(d);
        self
    }
    const fn help(mut self, h: &'static str) -> Self {
        self.help = h;
        self
    }
    const fn example(mut self, e: &'static str) -> Self {
        self.example = e;
        self
    }

    /// Canonical name, visible and hidden aliases.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name)
            .chain(self.aliases.iter().copied())
            .chain(self.hidden_aliases.iter().copied())
    }

    /// Whether the option takes a value on the command line.
    pub fn takes_value(&self) -> bool {
        !matches!(self.ty, Ty::Flag | Ty::Count)
    }

    /// The `UWSGI_*` variable names that set this option.
    pub fn env_names(&self) -> Vec<String> {
        if !self.scope.env {
            return Vec::new();
        }
        self.names().map(env_name).collect()
    }
}

/// `http-socket` → `UWSGI_HTTP_SOCKET`.
pub fn env_name(option: &str) -> String {
    format!("UWSGI_{}", option.to_ascii_uppercase().replace('-', "_"))
}

/// Lower-case, `_` → `-`: how keys are compared.
pub fn normalize_key(key: &str) -> String {
    key.trim().to_ascii_lowercase().replace('_', "-")
}

mod hooks;
mod log_table;
mod python;
mod side;
mod spooler;
mod table;

/// Every option, in the order `--help` and the man page show them: the main table, then the
/// tables of the Python app's options and reload triggers, the side processes, the spooler
/// and the hooks.
pub static OPTIONS: std::sync::LazyLock<Vec<OptionSpec>> = std::sync::LazyLock::new(|| {
    [
        table::OPTIONS,
        python::OPTIONS,
        side::OPTIONS,
        spooler::OPTIONS,
        hooks::OPTIONS,
    ]
    .concat()
});

/// The option `id`.
pub fn spec(id: Id) -> &'static OptionSpec {
    OPTIONS
        .iter()
        .find(|o| o.id == id)
        .expect("every Id has an entry in OPTIONS")
}

/// Which front end a key is looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Toml,
    Ini,
    Env,
}

impl Front {
    fn allows(self, scope: Scope) -> bool {
        match self {
            Front::Toml => scope.toml,
            Front::Ini => scope.ini,
            Front::Env => scope.env,
        }
    }
}

/// The option a file key names, in any spelling (`max_requests`, `workers`, `home`).
pub fn lookup(key: &str, front: Front) -> Option<&'static OptionSpec> {
    let key = normalize_key(key);
    OPTIONS
        .iter()
        .filter(|o| front.allows(o.scope))
        .find(|o| o.names().any(|n| n == key))
}

/// The closest known name to `key`, if it is close enough to be a likely typo.
pub fn suggest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let key = normalize_key(key);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = edit_distance(&key, c);
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    let (d, c) = best?;
    let limit = (key.chars().count() / 3).clamp(1, 3);
    (d <= limit || (c.starts_with(&key) && key.len() >= 4)).then_some(c)
}

/// Every name a front end accepts, for suggestions.
pub fn names_for(front: Front) -> impl Iterator<Item = &'static str> {
    OPTIONS
        .iter()
        .filter(move |o| front.allows(o.scope))
        .flat_map(|o| o.names())
}

/// Levenshtein distance (small strings only).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::Id::*;
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_id_once_and_names_unique() {
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        let mut shorts = HashSet::new();
        for o in OPTIONS.iter() {
            assert!(ids.insert(o.id), "{:?} twice", o.id);
            for n in o.names() {
                assert_eq!(n, normalize_key(n), "{n} is not in canonical form");
                assert!(names.insert(n), "name {n} used twice");
            }
            if let Some(c) = o.short {
                assert!(shorts.insert(c), "short -{c} used twice");
            }
            assert!(!o.help.is_empty(), "{} has no help", o.name);
            if o.scope.toml {
                assert!(!o.example.is_empty(), "{} has no example", o.name);
            }
        }
    }

    #[test]
    fn lookups() {
        let cases: &[(&str, Front, Option<Id>)] = &[
            ("processes", Front::Toml, Some(Processes)),
            ("workers", Front::Ini, Some(Processes)),
            ("max_requests", Front::Toml, Some(MaxRequests)),
            ("HTTP_SOCKET", Front::Env, Some(HttpSocket)),
            ("home", Front::Ini, Some(Virtualenv)),
            ("log-format", Front::Toml, Some(LogFormat)),
            ("logformat", Front::Ini, Some(Logformat)),
            ("req_logger", Front::Ini, Some(ReqLogger)),
            // ebb-only, but ini files and UWSGI_WATCHDOG may set it too.
            ("watchdog", Front::Ini, Some(Watchdog)),
            ("WATCHDOG", Front::Env, Some(Watchdog)),
            // uWSGI's log-format: a request format or ebb's style, by its value.
            ("log-format", Front::Ini, Some(LogFormat)),
            ("config", Front::Toml, None),
            ("proceses", Front::Toml, None),
        ];
        for (key, front, want) in cases {
            assert_eq!(lookup(key, *front).map(|o| o.id), *want, "{key} {front:?}");
        }
    }

    #[test]
    fn suggestions() {
        let names = || names_for(Front::Toml);
        assert_eq!(suggest("proceses", names()), Some("processes"));
        assert_eq!(suggest("max_request", names()), Some("max-requests"));
        assert_eq!(suggest("drain-timout", names()), Some("drain-timeout"));
        assert_eq!(suggest("zebra", names()), None);
    }

    #[test]
    fn env_names() {
        assert_eq!(
            spec(HttpSocket).env_names(),
            vec![
                "UWSGI_HTTP_SOCKET",
                "UWSGI_HTTP",
                "UWSGI_BIND",
                "UWSGI_HTTP11_SOCKET"
            ]
        );
        assert!(spec(Config).env_names().is_empty());
    }
}
