//! Merging and validation: the settings every layer gave, in precedence order, become one
//! [`Config`], with every problem reported at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layers;
use super::load::general;
use super::model::{Config, PythonApp, SocketSpec, WorkerCommand};
use super::options::{self, Id, Ty};
use super::paths::Need;
use super::source::{Collected, Context, Origin};
use super::values::{self, Raw};
use super::worker_env::WorkerSettings;
use super::{ConfigError, ConfigErrors, Loaded, gunicorn};

mod extras;

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

pub(super) fn build(
    mut out: Collected,
    ctx: &Context,
    source: Option<PathBuf>,
    verbose: u8,
    quiet: u8,
) -> Result<Loaded, (ConfigErrors, Vec<String>)> {
    let mut c = Config {
        source,
        ..Config::default()
    };
    let home = ctx.home();
    let settings = std::mem::take(&mut out.settings);
    let mut errors = std::mem::take(&mut out.errors);
    // A file that could not be read or parsed: what it would have given is missing, and
    // "no worker" or "no socket" would only add noise.
    let file_failed = errors.iter().any(|e| e.key.is_empty() && e.file.is_some());
    let mut warnings = std::mem::take(&mut out.warnings);
    // Problems --check-config fails on, that only warn when ebb starts.
    let mut typos: Vec<ConfigError> = Vec::new();

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
    let mut no_defer_accept = false;
    // A worker was named, but wrongly: "no worker to run" would only add noise.
    let mut bad_worker = false;
    let mut wsgi_file_ignored = false;
    // Likewise for a socket given wrongly: "no socket to listen on" would be noise.
    let mut bad_socket = false;
    let mut socket_http = false;
    let mut mount: Option<((String, String), usize)> = None;
    let mut worker = WorkerSettings::default();
    let mut script_name: Option<String> = None;

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
                Id::Umask => {
                    if matches!(raw, Raw::Bare | Raw::Bool(_)) {
                        return Err("needs a mask in octal, like 022".into());
                    }
                    c.umask = Some(values::parse_octal_mode(raw)?)
                }
                Id::MaxFd => {
                    c.max_fd = Some(values::parse_uint(raw, 16, spec_max(options::spec(s.id)))?)
                }
                Id::ChownSocket => {
                    let v = values::parse_text(raw, "user[:group]")?;
                    if v.split(':').count() > 2 {
                        return Err(format!("{v:?}: write it as user, user:group or :group"));
                    }
                    c.chown_socket = Some(v);
                }
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
                Id::LazyApps => python.lazy_apps = values::parse_bool(raw)?,
                Id::ForkAnyway => python.fork_anyway = values::parse_bool(raw)?,
                Id::NoDeferAccept => no_defer_accept = values::parse_bool(raw)?,
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
                Id::StaticMap
                | Id::StaticMap2
                | Id::CheckStatic
                | Id::StaticIndex
                | Id::StaticSafe
                | Id::StaticGzip
                | Id::StaticGzipAll
                | Id::StaticExpiresType
                | Id::StaticExpires
                | Id::StaticExpiresUri => layers::static_file_option(s.id, raw, &mut c.layer_env)?,
                Id::Route
                | Id::RouteHost
                | Id::RouteUri
                | Id::RouteQs
                | Id::RouteRemoteAddr
                | Id::RouteUserAgent
                | Id::RouteReferer
                | Id::RouteIf
                | Id::RouteIfNot
                | Id::RouteRun
                | Id::RouteLabel
                | Id::AddHeader
                | Id::DelHeader => layers::route_option(s.id, raw, &mut c.layer_env)?,
                Id::OffloadThreads => {
                    values::parse_uint(raw, 0, 1024)?;
                }
                Id::TouchReload => c.touch_reload.push(values::parse_path(raw, base, home)?),
                Id::TouchWorkersReload => c
                    .touch_workers_reload
                    .push(values::parse_path(raw, base, home)?),
                Id::AttachDaemon
                | Id::AttachDaemon2
                | Id::Mule
                | Id::Mules
                | Id::Cron
                | Id::Cron2 => super::daemons::apply(s.id, raw, base, home, &mut c)?,
                Id::HookAsap
                | Id::ExecAsap
                | Id::HookPreApp
                | Id::ExecPreApp
                | Id::HookPostApp
                | Id::ExecPostApp => super::hooks::apply(s.id, raw, &mut c)?,
                Id::Spooler
                | Id::SpoolerExternal
                | Id::SpoolerProcesses
                | Id::SpoolerFrequency
                | Id::SpoolerOrdered
                | Id::SpoolerHarakiri
                | Id::SpoolerQuiet
                | Id::SpoolerMaxTasks
                | Id::SpoolerChdir
                | Id::SpoolerImport => super::spooler::apply(s.id, raw, base, home, &mut c)?,
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
                | Id::LogEncoder
                | Id::LogReqEncoder
                | Id::LogRoute
                | Id::LogBackupname
                | Id::LogBackupcount
                | Id::LogTruncate
                | Id::Daemonize => crate::logs::settings::apply(s.id, raw, base, home, &mut c)?,
                Id::LogLevel => log_level = values::parse_log_level(raw)?,
                Id::Strict => strict = values::parse_bool(raw)?,
                Id::Verbose | Id::Quiet | Id::Config | Id::Ini | Id::CheckConfig | Id::NoApp => {}
                // Operating ebb (src/live/).
                Id::Control => c.ops.control = Some(values::parse_path(raw, base, home)?),
                Id::MasterFifo => c.ops.master_fifo = Some(values::parse_path(raw, base, home)?),
                Id::Stats => c.ops.stats = Some(values::parse_address(raw, base)?),
                Id::StatsHttp => c.ops.stats_http = values::parse_bool(raw)?,
                Id::Metrics => c.ops.metrics = Some(values::parse_address(raw, base)?),
                Id::Procname => c.ops.procname = Some(values::parse_text(raw, "a name")?),
                Id::ProcnamePrefix => c.ops.procname_prefix = values::parse_text(raw, "a prefix")?,
                Id::ProcnamePrefixSpaced => {
                    c.ops.procname_prefix = format!("{} ", values::parse_text(raw, "a prefix")?)
                }
                Id::ProcnameAppend => c.ops.procname_append = values::parse_text(raw, "text")?,
                Id::ShutdownDelay => c.ops.shutdown_delay = values::parse_duration(raw)?,
                Id::ProcnameMaster => {
                    c.ops.procname_master = Some(values::parse_text(raw, "a name")?)
                }
                // ---- Added with issues 13 and 14 (cfg).
                Id::SocketProtocol => {
                    let p = values::parse_text(raw, "uwsgi or http")?.to_ascii_lowercase();
                    socket_http = match p.as_str() {
                        "uwsgi" => false,
                        "http" | "http11" => true,
                        _ => {
                            return Err(format!(
                                "expected uwsgi or http, got {raw}: ebb speaks only these two"
                            ));
                        }
                    };
                }
                Id::ClientTimeout => {
                    worker.client_timeout = Some(positive(values::parse_duration(raw)?)?)
                }
                Id::Mount => {
                    // Every mount is kept there; the first also names the worker's app.
                    let m = super::python_opts::mount(raw, &mut c)?;
                    if mount.is_none() {
                        mount = Some((m, i));
                    }
                    kinds.push((Kind::Python, i));
                }
                Id::ManageScriptName => worker.manage_script_name = values::parse_bool(raw)?,
                Id::LimitRequestLine => {
                    worker.line = Some(values::parse_uint(raw, 0, spec_max(spec))?)
                }
                Id::LimitRequestFields => {
                    worker.fields = Some(values::parse_uint(raw, 0, spec_max(spec))?)
                }
                Id::LimitRequestFieldSize => {
                    worker.field_size = Some(values::parse_uint(raw, 0, spec_max(spec))?)
                }
                Id::BufferSize => {
                    worker.head = Some(values::parse_uint(raw, 1024, spec_max(spec))?)
                }
                Id::PyAutoreload
                | Id::FsReload
                | Id::ReloadOnAs
                | Id::Pyargv
                | Id::HonourStdin
                | Id::Import
                | Id::NoSite
                | Id::LimitPost
                | Id::NoDefaultApp
                | Id::HarakiriGracefulTimeout
                | Id::ShowConfig => super::python_opts::apply(s.id, raw, base, home, &mut c)?,
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
                    Id::ExampleApp | Id::Module | Id::WsgiFile | Id::Command | Id::Mount
                );
                bad_socket |= matches!(s.id, Id::HttpSocket | Id::Socket);
                errors.push(s.origin.error(message));
            }
        }
    }

    extras::report(
        std::mem::take(&mut out.extras),
        std::mem::take(&mut out.placeholders),
        strict,
        out.files.len(),
        &mut errors,
        &mut warnings,
        &mut typos,
    );

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
        if !bad_worker && !file_failed {
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
                if let Some(((prefix, app), mi)) = mount.as_ref().filter(|(_, i)| in_layer(*i)) {
                    let has_module = module.as_ref().is_some_and(|(_, i)| in_layer(*i));
                    let has_file = wsgi_file.as_ref().is_some_and(|d| in_layer(d.at));
                    if !has_module && !has_file {
                        if looks_like_a_file(app) {
                            wsgi_file = Some(Deferred {
                                text: app.clone(),
                                at: *mi,
                            });
                        } else {
                            match values::parse_module(&Raw::Str(app.clone())) {
                                Ok(m) => module = Some((m, *mi)),
                                Err(e) => errors.push(settings[*mi].origin.error(e)),
                            }
                        }
                    } else {
                        let same = module
                            .as_ref()
                            .is_some_and(|(m, _)| m == app || m.split(':').next() == Some(app))
                            || wsgi_file.as_ref().is_some_and(|d| d.text == *app);
                        if !same {
                            errors.push(settings[*mi].origin.error(format!(
                                "mount names the app {app}, and module or wsgi-file names \
                                 another: ebb runs one app; keep one (the mount's prefix \
                                 becomes SCRIPT_NAME with manage-script-name)"
                            )));
                        }
                    }
                    c.python_opts.manage_script_name = worker.manage_script_name;
                    if worker.manage_script_name
                        && !prefix.is_empty()
                        && !c.python_opts.dispatches()
                    {
                        script_name = Some(prefix.clone());
                    }
                }
                let module = module.as_ref().filter(|(_, i)| in_layer(*i));
                let file = wsgi_file.as_ref().filter(|d| in_layer(d.at));
                if let (Some((m, mi)), Some(f)) = (module, file) {
                    // uWSGI loads the module first; the file's app, at the same mount
                    // point, is then skipped ("mountpoint already configured").
                    warnings.push(format!(
                        "{} is ignored: the module {m} ({}) is given too, and uWSGI runs \
                         the module in that case; remove one of them",
                        settings[f.at].origin.describe(),
                        settings[*mi].origin.describe()
                    ));
                    wsgi_file_ignored = true;
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
            .filter(|d| settings[d.at].origin.layer() == layer && !wsgi_file_ignored)
            .map(resolve);
        app.pythonpath = pythonpath.iter().map(resolve).collect();
        app.pythonpath.dedup();
        let mut set = |k: &str, v: String| {
            c.env.retain(|(old, _)| old != k);
            c.env.push((k.to_string(), v));
        };
        if let Some(d) = keep_alive {
            set("EBB_KEEPALIVE_TIMEOUT", d.as_secs_f64().to_string());
        }
        if no_defer_accept {
            set("EBB_DEFER_ACCEPT", "0".to_string());
        }
        // ---- Added with issues 13 and 14 (cfg): the Python worker reads these.
        if let Some(d) = worker.client_timeout {
            set("EBB_REQUEST_TIMEOUT", d.as_secs_f64().to_string());
        }
        if let Some(prefix) = &script_name {
            set("SCRIPT_NAME", prefix.clone());
        }
        for (k, v) in worker.limits() {
            set(k, v.to_string());
        }
    } else if !chosen.is_empty() {
        let mut unused: Vec<&str> = Vec::new();
        for (id, name) in [
            (Id::Threads, "threads"),
            (Id::LazyApps, "lazy-apps"),
            (Id::ForkAnyway, "fork-anyway"),
            (Id::Callable, "callable"),
            (Id::Pythonpath, "pythonpath"),
            (Id::Virtualenv, "virtualenv"),
            (Id::Python, "python"),
            (Id::KeepAlive, "keep-alive"),
            (Id::NoDeferAccept, "no-defer-accept"),
            (Id::ClientTimeout, "client-timeout"),
            (Id::ManageScriptName, "manage-script-name"),
            (Id::LimitRequestLine, "limit-request-line"),
            (Id::LimitRequestFields, "limit-request-fields"),
            (Id::LimitRequestFieldSize, "limit-request-field-size"),
            (Id::BufferSize, "buffer-size"),
        ] {
            if last.contains_key(&id) {
                unused.push(name);
            }
        }
        unused.extend(c.python_opts.python_only_given());
        if !unused.is_empty() {
            warnings.push(format!(
                "{} only apply to the Python worker (--module or --wsgi-file): ignored",
                unused.join(", ")
            ));
        }
    }

    // Files and directories that must exist. The folder a file is written in may be made by
    // a hook-asap (`exec-asap = mkdir -p /var/log/site`), which runs after this: then opening
    // the file says what is missing.
    let origin_of = |id: Id| last.get(&id).map(|i| &settings[*i].origin);
    let made_at_start = !c.asap_hooks.is_empty();
    if let (Some(m), Some(o)) = (super::spooler::check(&c), origin_of(Id::Spooler)) {
        errors.push(o.error(m));
    }
    let mut need = |origin: Option<&Origin>, path: &Path, what: Need| {
        if made_at_start && matches!(what, Need::Parent) {
            return;
        }
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

    // gunicorn's defaults from the environment: WEB_CONCURRENCY workers when processes is
    // not set; a socket on 0.0.0.0:$PORT when none is.
    if !last.contains_key(&Id::Processes)
        && let Some(v) = ctx
            .env
            .get("WEB_CONCURRENCY")
            .filter(|v| !v.trim().is_empty())
    {
        match values::parse_uint(
            &Raw::Str(v.clone()),
            1,
            spec_max(options::spec(Id::Processes)),
        ) {
            Ok(n) => c.processes = n as usize,
            Err(e) => errors.push(general("WEB_CONCURRENCY", e)),
        }
    }
    if sockets.is_empty()
        && !systemd_sockets(ctx)
        && let Some(v) = ctx.env.get("PORT").filter(|v| !v.trim().is_empty())
    {
        match v.trim().parse::<u16>() {
            Ok(port) => c.sockets.push(SocketSpec {
                address: super::Address::Tcp {
                    host: "0.0.0.0".to_string(),
                    port,
                },
                protocol: super::Protocol::Http,
            }),
            Err(_) => errors.push(general(
                "PORT",
                format!("expected a port number (0 to 65535), got {v:?}"),
            )),
        }
    }
    // `protocol = http`: the `socket` sockets speak HTTP.
    if socket_http {
        for (spec, i) in &mut sockets {
            if settings[*i].id == Id::Socket {
                spec.protocol = super::Protocol::Http;
            }
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
    if c.sockets.is_empty()
        && !systemd_sockets(ctx)
        && !file_failed
        && !bad_socket
        && !ctx.env.contains_key("PORT")
    {
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
            typos,
        })
    } else {
        sort_errors(&mut errors, &out.files);
        Err((ConfigErrors(errors), warnings))
    }
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be more than 0".to_string())
    } else {
        Ok(d)
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

/// The largest value an integer option takes.
fn spec_max(spec: &options::OptionSpec) -> u64 {
    match spec.ty {
        Ty::Int { max, .. } => max,
        _ => u64::MAX,
    }
}

/// A mount's app that is a file (`app.py`, `/srv/app/wsgi.py`), not a module.
fn looks_like_a_file(app: &str) -> bool {
    let lower = app.to_ascii_lowercase();
    lower.ends_with(".py") || lower.ends_with(".wsgi") || app.contains('/')
}
