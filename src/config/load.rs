//! Loading: read every layer into settings, merge them, validate, build a [`Config`].

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::compat::{Dialect, Verdict};
use super::model::{Config, PythonApp, SocketSpec, WorkerCommand};
use super::options::{self, Id, Ty};
use super::values::{self, Raw};
use super::{ConfigError, ConfigErrors, Loaded, args, env, gunicorn, ini, toml_file};

/// What loading may look at besides the arguments: injected in tests.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    pub cwd: PathBuf,
    pub env: BTreeMap<String, String>,
    pub pid: u32,
    pub is_root: bool,
}

impl Context {
    fn home(&self) -> Option<&str> {
        self.env.get("HOME").map(String::as_str)
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    File {
        /// The file as it was named (for messages).
        file: PathBuf,
        /// Its directory, absolute: relative paths in it are taken from here.
        dir: PathBuf,
        line: Option<usize>,
        /// The key as written.
        key: String,
    },
    Env {
        var: String,
    },
    Cli {
        flag: String,
    },
}

impl Origin {
    /// 0 files, 1 environment, 2 command line.
    fn layer(&self) -> u8 {
        match self {
            Origin::File { .. } => 0,
            Origin::Env { .. } => 1,
            Origin::Cli { .. } => 2,
        }
    }

    fn key(&self) -> &str {
        match self {
            Origin::File { key, .. } => key,
            Origin::Env { var } => var,
            Origin::Cli { flag } => flag,
        }
    }

    /// `app.ini:12`, `UWSGI_PROCESSES`, `--processes`.
    fn describe(&self) -> String {
        match self {
            Origin::File {
                file,
                line: Some(l),
                key,
                ..
            } => format!("{key} ({}:{l})", file.display()),
            Origin::File { file, key, .. } => format!("{key} ({})", file.display()),
            Origin::Env { var } => var.clone(),
            Origin::Cli { flag } => flag.clone(),
        }
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigError {
        let (file, line) = match self {
            Origin::File { file, line, .. } => (Some(file.clone()), *line),
            _ => (None, None),
        };
        ConfigError {
            file,
            line,
            key: self.key().to_string(),
            message: message.into(),
        }
    }
}

/// One value for one option.
#[derive(Debug, Clone)]
pub(crate) struct Setting {
    pub id: Id,
    pub value: Raw,
    pub origin: Origin,
}

impl Setting {
    pub(crate) fn new(id: Id, value: Raw, origin: Origin) -> Setting {
        Setting { id, value, origin }
    }
}

/// A uWSGI or gunicorn option that is not an ebb option, to be warned about (or an error
/// in strict mode).
#[derive(Debug, Clone)]
pub(crate) struct Extra {
    pub dialect: Dialect,
    pub key: String,
    pub verdict: Verdict,
    pub origin: Origin,
}

/// Everything the front ends read, in precedence order (files, environment, command line).
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub settings: Vec<Setting>,
    pub extras: Vec<Extra>,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
    /// Files read, as named, in order.
    pub files: Vec<PathBuf>,
}

impl Collected {
    pub(crate) fn push(&mut self, s: Setting) {
        self.settings.push(s);
    }
    pub(crate) fn error_at(&mut self, origin: &Origin, message: impl Into<String>) {
        self.errors.push(origin.error(message));
    }
    pub(crate) fn file_error(
        &mut self,
        file: &Path,
        line: Option<usize>,
        message: impl Into<String>,
    ) {
        self.errors.push(ConfigError {
            file: Some(file.to_path_buf()),
            line,
            key: String::new(),
            message: message.into(),
        });
    }
    /// An option of `dialect` that is not an ebb option: nothing to do when it is accepted
    /// quietly, an error now when it is refused, else kept for one warning (or errors in
    /// strict mode, which is known only once every layer is read).
    pub(crate) fn extra(&mut self, dialect: Dialect, key: &str, verdict: Verdict, origin: Origin) {
        match verdict {
            Verdict::Quiet => {}
            Verdict::Error(message) => self.error_at(&origin, message),
            verdict => self.extras.push(Extra {
                dialect,
                key: key.to_string(),
                verdict,
                origin,
            }),
        }
    }
}

fn general(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: None,
        line: None,
        key: key.to_string(),
        message: message.into(),
    }
}

/// Load the configuration `args` (with `argv[0]`) describe.
pub(crate) fn load(argv: &[OsString], ctx: &Context) -> Result<Loaded, ConfigErrors> {
    let m = args::command_line()
        .try_get_matches_from(argv)
        .map_err(|e| ConfigErrors(vec![general("command line", e.to_string().trim_end())]))?;
    let mut out = Collected::default();

    let mut files: Vec<(bool, String)> = Vec::new();
    if let Some(ini) = ctx.env.get("UWSGI_INI").filter(|s| !s.is_empty()) {
        files.push((true, ini.clone()));
    }
    files.extend(args::config_files(&m));
    let mut source = None;
    for (is_ini, spec) in &files {
        let path = read_file(*is_ini, spec, ctx, &mut out);
        if source.is_none() {
            source = path;
        }
    }
    env::collect(ctx, &mut out);
    args::collect(&m, &mut out);
    let (verbose, quiet) = args::verbosity(&m);
    build(out, ctx, source, verbose, quiet)
}

/// Read one config file into `out`; returns its absolute path.
fn read_file(is_ini: bool, spec: &str, ctx: &Context, out: &mut Collected) -> Option<PathBuf> {
    let (name, section) = split_section(spec, is_ini);
    let lower = name.to_ascii_lowercase();
    let is_ini = if lower.ends_with(".ini") {
        true
    } else if lower.ends_with(".toml") {
        false
    } else {
        is_ini
    };
    let display = PathBuf::from(name);
    let abs = values::absolutize(name, &ctx.cwd, ctx.home());
    out.files.push(display.clone());
    if lower.ends_with(".py") || lower.starts_with("python:") {
        out.file_error(
            &display,
            None,
            "gunicorn's Python config files are not read: write the options in a TOML file \
             (see conf/ebb.toml) and pass it with --config",
        );
        return Some(abs);
    }
    let text = match std::fs::read_to_string(&abs) {
        Ok(t) => t,
        Err(e) => {
            out.file_error(&display, None, format!("cannot read the config file: {e}"));
            return Some(abs);
        }
    };
    let dir = abs
        .parent()
        .map_or_else(|| ctx.cwd.clone(), Path::to_path_buf);
    if is_ini {
        ini::collect(
            &display,
            &abs,
            &dir,
            section.unwrap_or("uwsgi"),
            &text,
            ctx,
            out,
        );
    } else {
        if let Some(s) = section {
            out.file_error(
                &display,
                None,
                format!(
                    "TOML files have no sections to choose (:{s}); options go at the top level"
                ),
            );
        }
        toml_file::collect(&display, &dir, &text, out);
    }
    Some(abs)
}

/// `app.ini:prod` → (`app.ini`, Some(`prod`)).
fn split_section(spec: &str, is_ini: bool) -> (&str, Option<&str>) {
    if let Some((file, section)) = spec.rsplit_once(':')
        && (is_ini || file.to_ascii_lowercase().ends_with(".ini"))
        && !section.contains('/')
    {
        return (file, (!section.is_empty()).then_some(section));
    }
    (spec, None)
}

/// The worker kinds, for "exactly one".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Example,
    Python,
    Exec,
}

/// A path given relative to where it was written, resolved once `chdir` is known.
struct Deferred {
    text: String,
    at: usize,
}

fn build(
    mut out: Collected,
    ctx: &Context,
    source: Option<PathBuf>,
    verbose: u8,
    quiet: u8,
) -> Result<Loaded, ConfigErrors> {
    let mut c = Config {
        source,
        ..Config::default()
    };
    let home = ctx.home();
    let settings = std::mem::take(&mut out.settings);
    let mut errors = std::mem::take(&mut out.errors);
    let mut warnings = std::mem::take(&mut out.warnings);

    // Index of the setting that gave each single value (for later checks).
    let mut last: HashMap<Id, usize> = HashMap::new();
    let mut sockets: Vec<(SocketSpec, usize)> = Vec::new();
    let mut kinds: Vec<(Kind, usize)> = Vec::new();
    let mut module: Option<(String, usize)> = None;
    let mut wsgi_file: Option<Deferred> = None;
    let mut pythonpath: Vec<Deferred> = Vec::new();
    let mut exec: Option<Vec<String>> = None;
    let mut python = PythonApp {
        callable: "application".to_string(),
        threads: 1,
        ..PythonApp::default()
    };
    let mut log_level = "info";
    let mut strict = false;
    let mut keep_alive: Option<Duration> = None;
    // A worker was named, but wrongly: "no worker to run" would only add noise.
    let mut bad_worker = false;

    for (i, s) in settings.iter().enumerate() {
        let base = match &s.origin {
            Origin::File { dir, .. } => dir.as_path(),
            _ => ctx.cwd.as_path(),
        };
        let raw = &s.value;
        let spec = options::spec(s.id);
        let result: Result<(), String> = (|| {
            if let Some(message) = gunicorn::short_flag_clash(s.id, raw, &s.origin) {
                return Err(message);
            }
            match s.id {
                Id::HttpSocket | Id::Socket => {
                    let Ty::Address(protocol) = spec.ty else {
                        unreachable!("socket options have an address type")
                    };
                    let address = values::parse_address(raw, base)?;
                    sockets.push((SocketSpec { address, protocol }, i));
                }
                Id::Listen => c.listen = values::parse_uint(raw, 1, 65535)? as u32,
                Id::ChmodSocket => c.chmod_socket = Some(values::parse_octal_mode(raw)?),
                Id::Processes => c.processes = values::parse_uint(raw, 1, 1024)? as usize,
                Id::ExampleApp => {
                    if values::parse_bool(raw)? {
                        kinds.push((Kind::Example, i));
                    }
                }
                Id::Module => {
                    module = Some((values::parse_module(raw)?, i));
                    kinds.push((Kind::Python, i));
                }
                Id::WsgiFile => {
                    let text = values::parse_text(raw, "a Python file")?;
                    wsgi_file = Some(Deferred { text, at: i });
                    kinds.push((Kind::Python, i));
                }
                Id::Callable => python.callable = values::parse_text(raw, "a callable name")?,
                Id::Pythonpath => {
                    let text = values::parse_text(raw, "a directory")?;
                    pythonpath.push(Deferred { text, at: i });
                }
                Id::Virtualenv => python.home = Some(values::parse_path(raw, base, home)?),
                Id::Python => {
                    let p = values::parse_text(raw, "a Python interpreter")?;
                    python.python = Some(if p.contains('/') {
                        values::absolutize(&p, base, home)
                    } else {
                        PathBuf::from(p)
                    });
                }
                Id::Threads => python.threads = values::parse_uint(raw, 1, 4096)? as usize,
                Id::KeepAlive => {
                    let d = values::parse_duration(raw)?;
                    if d.is_zero() {
                        return Err("must be more than 0: ebb's Python worker always keeps \
                                    connections alive, and this is how long an idle one stays \
                                    open (gunicorn's --keep-alive 0, keep-alive off, has no \
                                    equivalent)"
                            .to_string());
                    }
                    keep_alive = Some(d);
                }
                Id::Command => {
                    let Raw::Argv(argv) = raw else {
                        return Err(format!(
                            "expected the command and its arguments as a list, like \
                             [\"python3\", \"my_server.py\"], got {raw}"
                        ));
                    };
                    if argv.is_empty() || argv[0].is_empty() {
                        return Err("the worker command is empty".to_string());
                    }
                    exec = Some(argv.clone());
                    kinds.push((Kind::Exec, i));
                }
                Id::Chdir => c.chdir = Some(values::parse_path(raw, base, home)?),
                Id::Env => {
                    let (k, v) = values::parse_env_pair(raw)?;
                    c.env.retain(|(old, _)| *old != k);
                    c.env.push((k, v));
                }
                Id::Uid => c.uid = Some(values::parse_text(raw, "a user name or number")?),
                Id::Gid => c.gid = Some(values::parse_text(raw, "a group name or number")?),
                Id::Pidfile => c.pidfile = Some(values::parse_path(raw, base, home)?),
                Id::MaxRequests => {
                    let n = values::parse_uint(raw, 0, u64::MAX)?;
                    c.max_requests = (n > 0).then_some(n);
                }
                Id::MaxRequestsDelta => {
                    c.max_requests_delta = values::parse_uint(raw, 0, u64::MAX)?
                }
                Id::MaxRequestsJitter => {
                    c.max_requests_jitter = values::parse_uint(raw, 0, u64::MAX)?
                }
                Id::MaxWorkerLifetime => {
                    let d = values::parse_duration(raw)?;
                    c.max_worker_lifetime = (!d.is_zero()).then_some(d);
                }
                Id::MaxWorkerLifetimeDelta => {
                    c.max_worker_lifetime_delta = values::parse_duration(raw)?
                }
                Id::ReloadOnRss => {
                    let mb = values::parse_size_mb(raw)?;
                    c.reload_on_rss_mb = (mb > 0).then_some(mb);
                }
                Id::Harakiri => {
                    let d = values::parse_duration(raw)?;
                    c.harakiri = (!d.is_zero()).then_some(d);
                }
                Id::Watchdog => {
                    let d = values::parse_duration(raw)?;
                    c.watchdog = (!d.is_zero()).then_some(d);
                }
                Id::MaxSurge => c.max_surge = values::parse_uint(raw, 1, 1024)? as usize,
                Id::StaticMap | Id::StaticMap2 => {
                    let v = values::parse_text(raw, "/url-prefix=/folder")?;
                    match v.split_once('=') {
                        Some((p, d)) if p.starts_with('/') && !d.is_empty() => {}
                        _ => {
                            return Err(format!(
                                "{v:?}: write it as /url-prefix=/folder (static-map = \
                                 /static=/srv/app/static)"
                            ));
                        }
                    }
                    let key = if s.id == Id::StaticMap {
                        "EBB_STATIC_MAP"
                    } else {
                        "EBB_STATIC_MAP2"
                    };
                    c.static_files.push((key, v));
                }
                Id::CheckStatic => c
                    .static_files
                    .push(("EBB_STATIC_CHECK", values::parse_text(raw, "a folder")?)),
                Id::StaticIndex => c
                    .static_files
                    .push(("EBB_STATIC_INDEX", values::parse_text(raw, "a file name")?)),
                Id::StaticSafe => c
                    .static_files
                    .push(("EBB_STATIC_SAFE", values::parse_text(raw, "a folder")?)),
                Id::StaticGzip => {
                    values::parse_text(raw, "a pattern")?;
                    c.static_files.push(("EBB_STATIC_GZIP", "1".into()));
                }
                Id::StaticGzipAll => {
                    if values::parse_bool(raw)? {
                        c.static_files.push(("EBB_STATIC_GZIP", "1".into()));
                    }
                }
                Id::StaticExpiresType => {
                    let v = values::parse_text(raw, "content/type=seconds")?;
                    match v.rsplit_once('=') {
                        Some((t, s)) if t.contains('/') && s.trim().parse::<u64>().is_ok() => {}
                        _ => {
                            return Err(format!(
                                "{v:?}: write it as content/type=seconds (text/css=86400)"
                            ));
                        }
                    }
                    c.static_files.push(("EBB_STATIC_EXPIRES_TYPE", v));
                }
                Id::StaticExpires | Id::StaticExpiresUri => {
                    let v = values::parse_text(raw, "a regexp and seconds")?;
                    match v.trim().rsplit_once(char::is_whitespace) {
                        Some((re, s)) if !re.trim().is_empty() && s.parse::<u64>().is_ok() => {}
                        _ => {
                            return Err(format!(
                                "{v:?}: write it as a regular expression, a space and seconds \
                                 (\\.png$ 604800)"
                            ));
                        }
                    }
                    let key = if s.id == Id::StaticExpires {
                        "EBB_STATIC_EXPIRES"
                    } else {
                        "EBB_STATIC_EXPIRES_URI"
                    };
                    c.static_files.push((key, v));
                }
                Id::OffloadThreads => {
                    values::parse_uint(raw, 0, 1024)?;
                }
                Id::TouchReload => c.touch_reload.push(values::parse_path(raw, base, home)?),
                Id::TouchWorkersReload => c
                    .touch_workers_reload
                    .push(values::parse_path(raw, base, home)?),
                Id::StartAttempts => c.start_attempts = values::parse_uint(raw, 0, 1000)? as u32,
                Id::MaxDraining => {
                    c.max_draining = Some(values::parse_uint(raw, 1, 1024)? as usize)
                }
                Id::DrainSignal => c.drain_signal = values::parse_signal(raw)?,
                Id::DrainTimeout => c.drain_timeout = positive(values::parse_duration(raw)?)?,
                Id::ReadyTimeout => c.ready_timeout = positive(values::parse_duration(raw)?)?,
                Id::LostWorkLog => c.lost_work_log = Some(values::parse_path(raw, base, home)?),
                // `-`: stderr, as gunicorn's --log-file - (the default anyway).
                Id::Logto if matches!(raw, Raw::Str(v) if v.trim() == "-") => c.logto = None,
                Id::Logto => c.logto = Some(values::parse_path(raw, base, home)?),
                Id::LogFormat
                | Id::Logformat
                | Id::AccessLogformat
                | Id::AccessLogfile
                | Id::DisableLogging
                | Id::Log4xx
                | Id::Log5xx
                | Id::LogSlow
                | Id::LogXForwardedFor
                | Id::MemoryReport
                | Id::ReqLogger
                | Id::Logger
                | Id::LogMaxsize
                | Id::Daemonize => crate::logs::settings::apply(s.id, raw, base, home, &mut c)?,
                Id::LogLevel => log_level = values::parse_log_level(raw)?,
                Id::Strict => strict = values::parse_bool(raw)?,
                Id::Verbose | Id::Quiet | Id::Config | Id::Ini | Id::CheckConfig => {}
            }
            Ok(())
        })();
        match result {
            Ok(()) => {
                last.insert(s.id, i);
            }
            Err(message) => {
                bad_worker |= matches!(
                    s.id,
                    Id::ExampleApp | Id::Module | Id::WsgiFile | Id::Command
                );
                errors.push(s.origin.error(message));
            }
        }
    }

    // uWSGI and gunicorn options ebb does not take: one warning line for the uWSGI ones,
    // one per gunicorn option (with what to do instead), or errors in strict mode.
    let extras = std::mem::take(&mut out.extras);
    if strict {
        for e in &extras {
            let message = match &e.verdict {
                Verdict::Unsupported(hint) => {
                    format!(
                        "unsupported {} option (strict mode): {hint}",
                        e.dialect.name()
                    )
                }
                Verdict::Unknown(Some(s)) => {
                    format!("unknown option (strict mode); did you mean {s}?")
                }
                Verdict::Unknown(None) | Verdict::Quiet | Verdict::Error(_) => {
                    "unknown option (strict mode)".to_string()
                }
            };
            errors.push(e.origin.error(message));
        }
    } else {
        let (uwsgi, gunicorn): (Vec<Extra>, Vec<Extra>) = extras
            .into_iter()
            .partition(|e| e.dialect == Dialect::Uwsgi);
        if !uwsgi.is_empty() {
            warnings.push(extras_warning(&uwsgi, out.files.len()));
        }
        for e in &gunicorn {
            if let Verdict::Unsupported(hint) = &e.verdict {
                warnings.push(format!(
                    "gunicorn's {} is ignored: {hint} (--strict makes this an error)",
                    e.origin.key()
                ));
            }
        }
    }

    // The worker command: the highest layer that names one decides.
    let top = kinds.iter().map(|(_, i)| settings[*i].origin.layer()).max();
    let chosen: Vec<(Kind, usize)> = match top {
        Some(layer) => kinds
            .iter()
            .copied()
            .filter(|(_, i)| settings[*i].origin.layer() == layer)
            .collect(),
        None => Vec::new(),
    };
    let mut distinct: Vec<Kind> = chosen.iter().map(|(k, _)| *k).collect();
    distinct.sort_by_key(|k| *k as u8);
    distinct.dedup();
    let choices = "give exactly one of --example-app, --module MOD (or --wsgi-file FILE), \
                   or -- CMD ARGS... (the worker command)";
    if chosen.is_empty() {
        if !bad_worker {
            errors.push(general("worker", format!("no worker to run: {choices}")));
        }
    } else if distinct.len() > 1 {
        let mut seen = Vec::new();
        let mut named = Vec::new();
        for (k, i) in &chosen {
            if !seen.contains(k) {
                seen.push(*k);
                named.push(settings[*i].origin.describe());
            }
        }
        let (_, first) = chosen[0];
        errors.push(settings[first].origin.error(format!(
            "more than one worker: {}; {choices}",
            named.join(" and ")
        )));
    } else {
        let layer = top.unwrap_or(0);
        let in_layer = |i: usize| settings[i].origin.layer() == layer;
        c.command = match distinct[0] {
            Kind::Example => WorkerCommand::ExampleApp,
            Kind::Exec => WorkerCommand::Exec(exec.clone().unwrap_or_default()),
            Kind::Python => {
                let module = module.as_ref().filter(|(_, i)| in_layer(*i));
                let file = wsgi_file.as_ref().filter(|d| in_layer(d.at));
                if let (Some((_, mi)), Some(f)) = (module, file) {
                    errors.push(settings[f.at].origin.error(format!(
                        "both a module ({}) and a wsgi-file are given: give one",
                        settings[*mi].origin.describe()
                    )));
                }
                python.module = module.map(|(m, _)| m.clone());
                WorkerCommand::Python(python.clone())
            }
        };
    }

    // Paths the Python worker opens after chdir: relative to chdir when it is set.
    let resolve = |d: &Deferred| -> PathBuf {
        let base = match (&c.chdir, &settings[d.at].origin) {
            (Some(dir), _) => dir.clone(),
            (None, Origin::File { dir, .. }) => dir.clone(),
            (None, _) => ctx.cwd.clone(),
        };
        values::absolutize(&d.text, &base, home)
    };
    if let WorkerCommand::Python(app) = &mut c.command {
        let layer = top.unwrap_or(0);
        app.wsgi_file = wsgi_file
            .as_ref()
            .filter(|d| settings[d.at].origin.layer() == layer)
            .map(resolve);
        app.pythonpath = pythonpath.iter().map(resolve).collect();
        app.pythonpath.dedup();
        if let Some(d) = keep_alive {
            c.env.retain(|(k, _)| k != "EBB_KEEPALIVE_TIMEOUT");
            c.env.push((
                "EBB_KEEPALIVE_TIMEOUT".to_string(),
                d.as_secs_f64().to_string(),
            ));
        }
    } else if !chosen.is_empty() {
        let mut unused: Vec<&str> = Vec::new();
        for (id, name) in [
            (Id::Threads, "threads"),
            (Id::Callable, "callable"),
            (Id::Pythonpath, "pythonpath"),
            (Id::Virtualenv, "virtualenv"),
            (Id::Python, "python"),
            (Id::KeepAlive, "keep-alive"),
        ] {
            if last.contains_key(&id) {
                unused.push(name);
            }
        }
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only apply to the Python worker (--module or --wsgi-file): ignored",
                unused.join(", ")
            ));
        }
    }

    // Files and directories that must exist.
    let origin_of = |id: Id| last.get(&id).map(|i| &settings[*i].origin);
    let mut need = |origin: Option<&Origin>, path: &Path, what: Need| {
        if let (Some(message), Some(o)) = (what.check(path), origin) {
            errors.push(o.error(message));
        }
    };
    if let Some(dir) = &c.chdir {
        need(origin_of(Id::Chdir), dir, Need::Dir);
    }
    if let Some(p) = &c.pidfile {
        need(origin_of(Id::Pidfile), p, Need::Parent);
    }
    if let Some(p) = &c.logto {
        need(origin_of(Id::Logto), p, Need::Parent);
    }
    if let Some(p) = &c.lost_work_log {
        need(origin_of(Id::LostWorkLog), p, Need::Parent);
    }
    if let WorkerCommand::Python(app) = &c.command {
        if let (Some(f), Some(d)) = (&app.wsgi_file, &wsgi_file) {
            need(Some(&settings[d.at].origin), f, Need::File);
        }
        for (p, d) in app.pythonpath.iter().zip(&pythonpath) {
            need(Some(&settings[d.at].origin), p, Need::Exists);
        }
        if let Some(home) = &app.home {
            need(origin_of(Id::Virtualenv), home, Need::Venv);
        }
        if let Some(py) = &app.python
            && py.is_absolute()
        {
            need(origin_of(Id::Python), py, Need::File);
        }
    }

    // Sockets: an address given twice is bound once.
    let mut seen: HashMap<super::Address, (super::Protocol, usize)> = HashMap::new();
    for (spec, i) in sockets {
        match seen.get(&spec.address) {
            Some((p, _)) if *p == spec.protocol => continue,
            Some((_, first)) => {
                errors.push(settings[i].origin.error(format!(
                    "{} is already a {} socket ({}): one address, one protocol",
                    spec.address,
                    seen[&spec.address].0.name(),
                    settings[*first].origin.describe()
                )));
                continue;
            }
            None => {}
        }
        if let super::Address::Unix(path) = &spec.address
            && let Some(message) = Need::Parent.check(path)
        {
            errors.push(settings[i].origin.error(message));
        }
        seen.insert(spec.address.clone(), (spec.protocol, i));
        c.sockets.push(spec);
    }
    if c.sockets.is_empty() && !systemd_sockets(ctx) {
        errors.push(general(
            "http-socket",
            "no socket to listen on: add --http-socket 127.0.0.1:8000 (or http-socket = \
             \"127.0.0.1:8000\" in the config file)",
        ));
    }

    // uid/gid mean something only to root.
    if c.uid.is_some() || c.gid.is_some() {
        if !ctx.is_root {
            let given: Vec<String> = [("uid", &c.uid), ("gid", &c.gid)]
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} = {v}")))
                .collect();
            warnings.push(format!(
                "{} ignored: ebb is not running as root, so the workers run as the current user",
                given.join(", ")
            ));
            c.uid = None;
            c.gid = None;
        } else {
            if let Some(u) = &c.uid
                && !u.chars().all(|ch| ch.is_ascii_digit())
                && !matches!(nix::unistd::User::from_name(u), Ok(Some(_)))
                && let Some(o) = origin_of(Id::Uid)
            {
                errors.push(o.error(format!("no user named {u:?} on this system")));
            }
            if let Some(g) = &c.gid
                && !g.chars().all(|ch| ch.is_ascii_digit())
                && !matches!(nix::unistd::Group::from_name(g), Ok(Some(_)))
                && let Some(o) = origin_of(Id::Gid)
            {
                errors.push(o.error(format!("no group named {g:?} on this system")));
            }
        }
    }

    c.log_level = adjust_level(log_level, verbose, quiet).to_string();

    if errors.is_empty() {
        Ok(Loaded {
            config: c,
            warnings,
        })
    } else {
        sort_errors(&mut errors, &out.files);
        Err(ConfigErrors(errors))
    }
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be more than 0".to_string())
    } else {
        Ok(d)
    }
}

/// What a path must be.
#[derive(Clone, Copy)]
enum Need {
    Dir,
    File,
    Exists,
    /// A virtualenv: a directory with bin/python.
    Venv,
    /// Its directory must exist (a file ebb creates).
    Parent,
}

impl Need {
    fn check(self, p: &Path) -> Option<String> {
        let d = p.display();
        match self {
            Need::Dir if !p.exists() => Some(format!(
                "directory {d} does not exist: create it, or fix the path"
            )),
            Need::Dir if !p.is_dir() => Some(format!("{d} is not a directory")),
            Need::File if !p.exists() => Some(format!(
                "file {d} does not exist: fix the path (relative paths start from chdir when set, else from the config file's directory)"
            )),
            Need::File if p.is_dir() => Some(format!("{d} is a directory, not a file")),
            Need::Exists if !p.exists() && d.to_string().contains(',') => Some(format!(
                "{d} does not exist: give one directory per pythonpath, and repeat it for \
                 several (gunicorn's comma-separated list is not split)"
            )),
            Need::Exists if !p.exists() => Some(format!("{d} does not exist: fix the path")),
            Need::Venv if !p.is_dir() => Some(format!(
                "virtualenv {d} does not exist: create it with python3 -m venv {d}, or fix the path"
            )),
            Need::Venv if !p.join("bin/python").exists() && !p.join("bin/python3").exists() => {
                Some(format!("{d} has no bin/python: is it a virtualenv?"))
            }
            Need::Parent => {
                let parent = p.parent().filter(|x| !x.as_os_str().is_empty())?;
                (!parent.is_dir()).then(|| {
                    format!(
                        "directory {} does not exist: create it first",
                        parent.display()
                    )
                })
            }
            _ => None,
        }
    }
}

/// systemd socket activation of ebb itself: the master adopts these sockets.
fn systemd_sockets(ctx: &Context) -> bool {
    let fds = ctx
        .env
        .get("LISTEN_FDS")
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(0);
    let pid = ctx
        .env
        .get("LISTEN_PID")
        .and_then(|v| v.trim().parse::<u32>().ok());
    fds > 0 && pid == Some(ctx.pid)
}

fn adjust_level(level: &'static str, verbose: u8, quiet: u8) -> &'static str {
    if verbose == 0 && quiet == 0 {
        return level;
    }
    let levels = values::LOG_LEVELS;
    // "off" is index 0; -q never goes below "error".
    let i = levels.iter().position(|l| *l == level).unwrap_or(3) as i32;
    let i = (i + i32::from(verbose) - i32::from(quiet)).clamp(1, levels.len() as i32 - 1);
    levels[i as usize]
}

fn extras_warning(extras: &[Extra], files: usize) -> String {
    let items: Vec<String> = extras
        .iter()
        .map(|e| {
            let place = match &e.origin {
                Origin::File {
                    file,
                    line: Some(l),
                    ..
                } if files > 1 => format!("{}:{l}", file.display()),
                Origin::File { line: Some(l), .. } => format!("line {l}"),
                Origin::File { file, .. } => file.display().to_string(),
                Origin::Env { var } => var.clone(),
                Origin::Cli { flag } => flag.clone(),
            };
            let name = match &e.origin {
                Origin::Cli { .. } | Origin::Env { .. } => e.key.clone(),
                Origin::File { key, .. } => key.clone(),
            };
            match &e.verdict {
                Verdict::Unknown(Some(s)) => {
                    format!("{name} ({place}: unknown option, did you mean {s}?)")
                }
                Verdict::Unknown(None) => format!("{name} ({place}: unknown option)"),
                _ if matches!(e.origin, Origin::Cli { .. }) => place,
                _ => format!("{name} ({place})"),
            }
        })
        .collect();
    format!(
        "unsupported uWSGI options ignored: {}; set strict = true to make these errors",
        items.join(", ")
    )
}

fn sort_errors(errors: &mut [ConfigError], files: &[PathBuf]) {
    errors.sort_by_key(|e| {
        let rank = e
            .file
            .as_ref()
            .and_then(|f| files.iter().position(|x| x == f))
            .unwrap_or(usize::MAX);
        (rank, e.line.unwrap_or(0))
    });
}
