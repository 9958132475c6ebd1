//! The `ebb` command: parse the invocation, set up logging, run the master or a worker.
use std::process::ExitCode;

use ebb::cli::{self, Invocation};
use ebb::config::Config;

/// The master's log: one writer for its own events and its workers' output
/// (`ebb::logs`), on stderr or the configured files.
fn init_logging(config: &Config) -> anyhow::Result<()> {
    ebb::logs::dispatch::truncate_at_start(config.logto.as_deref(), &config.logs.uwsgi)?;
    let logger = ebb::logs::Logger::new(config.log_format, config.logto.as_deref(), &config.logs)?;
    ebb::logs::install(logger);
    ebb::logs::layer::init(&config.log_level);
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let invocation = match cli::parse(args.clone()) {
        Ok(i) => i,
        Err(errors) => {
            eprintln!("ebb: the configuration has errors:\n{errors}");
            // The unsupported-options line may name the option behind a failure.
            if let Err((_, warnings)) = ebb::config::Loader::new(args).load_all() {
                for w in &warnings {
                    eprintln!("warning: {w}");
                }
            }
            return ExitCode::from(2);
        }
    };
    match invocation {
        Invocation::ExampleApp(args) => {
            titled_worker();
            match ebb::example_app::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ebb example-app: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Invocation::PythonPath => match python_path() {
            Ok(dir) => {
                println!("{}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ebb python-path: {e:#}");
                ExitCode::FAILURE
            }
        },
        Invocation::Control(c) => match control(&c) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("ebb {}: {e:#}", c.command.line());
                ExitCode::from(2)
            }
        },
        Invocation::CheckConfig(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            if !loaded.typos.is_empty() {
                eprintln!("ebb: the configuration has errors:");
                for t in &loaded.typos {
                    eprintln!("{t}");
                }
                return ExitCode::from(2);
            }
            let no_app = cli::command_line()
                .try_get_matches_from(&args)
                .is_ok_and(|m| m.get_flag("no-app"));
            if !no_app && let Err(e) = check_app(&loaded.config) {
                eprintln!("ebb: {e}");
                return ExitCode::FAILURE;
            }
            println!("configuration OK\n{}", summary(&loaded.config));
            ExitCode::SUCCESS
        }
        Invocation::Run(loader, loaded) => {
            // Re-executed with the master's title as argv[0] (once; see live::title).
            let title = ebb::live::title::master(&loaded.config.ops);
            let _ = ebb::live::title::become_titled(&title);
            ebb::live::title::set_comm(&title);
            // hook-asap / exec-asap: before anything else (exec-asap = mkdir -p of the log's
            // folder is common), once: a reload does not run them again.
            if let Err(e) = ebb::config::hooks::run_asap(&loaded.config.asap_hooks) {
                eprintln!("ebb: {e}");
                return ExitCode::from(2);
            }
            if let Some(file) = &loaded.config.logs.daemonize {
                // Detaching makes no sense where a service manager waits for the process.
                if std::env::var_os("INVOCATION_ID").is_some()
                    || std::env::var_os("NOTIFY_SOCKET").is_some()
                {
                    eprintln!(
                        "ebb: daemonize = {} makes no sense under systemd, which expects the \
                         service in the foreground: remove daemonize and log with logto (or \
                         to the journal)",
                        file.display()
                    );
                    return ExitCode::from(2);
                }
                if let Err(e) = ebb::spawn::daemonize() {
                    eprintln!("ebb: {e:#}");
                    return ExitCode::from(2);
                }
            }
            if let Err(e) = init_logging(&loaded.config) {
                eprintln!("ebb: {e:#}");
                return ExitCode::from(2);
            }
            if loaded.config.python_opts.show_config {
                // uWSGI's show-config: the configuration as ebb resolved it, at start.
                for line in summary(&loaded.config).lines() {
                    tracing::info!(event = "show-config", "config: {line}");
                }
            }
            let result = ebb::master::Master::new(loader, loaded).and_then(|m| m.run());
            let code = match result {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::from(1)
                }
            };
            ebb::logs::flush();
            code
        }
    }
}

/// `ebb status|reload|stop|scale|recycle`: ask the running master; 0 when it agreed, 1
/// when it refused (the reason is printed), 2 when it could not be reached.
fn control(c: &ebb::cli::Control) -> anyhow::Result<ExitCode> {
    use ebb::live::{Command, control, table};
    let path = control::find(c.control.as_deref(), c.pidfile.as_deref())?;
    let answer = control::request(&path, &c.command)?;
    if c.command == Command::Status {
        if c.json {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        } else {
            print!("{}", table::render(&answer));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if answer["ok"] == true {
        println!("{}", answer["message"].as_str().unwrap_or("done"));
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "ebb {}: {}",
            c.command.line(),
            answer["error"].as_str().unwrap_or("refused")
        );
        Ok(ExitCode::FAILURE)
    }
}

/// `ebb example-app` as a worker: take the title the master chose (`EBB_PROCNAME`).
fn titled_worker() {
    if let Ok(t) = std::env::var("EBB_PROCNAME")
        && !t.is_empty()
    {
        let _ = ebb::live::title::become_titled(&t);
        ebb::live::title::set_comm(&t);
    }
}

/// `--check-config`: import the Python app in a child interpreter, as a worker would (same
/// interpreter, directory, environment and import path), bounded by `--ready-timeout`. Its
/// traceback goes to stderr. Nothing to do for other workers.
fn check_app(c: &Config) -> Result<(), String> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let ebb::config::WorkerCommand::Python(app) = &c.command else {
        return Ok(());
    };
    let dir = tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
    ebb::embedded::write_python_files(dir.path())
        .map_err(|e| format!("writing the Python worker's files: {e:#}"))?;
    let py_dir = dir.path().join("python");
    let args = app.app_args();
    let python = app.interpreter();
    let mut cmd = Command::new(&python);
    cmd.args(c.python_opts.interpreter_flags())
        .arg("-c")
        .arg("import sys\nfrom ebb_worker.app import load_app\nfrom ebb_worker.options import parse_args\nload_app(parse_args(sys.argv[1:]))\n")
        .args(&args)
        .stdin(Stdio::null());
    if let Some(d) = &c.chdir {
        cmd.current_dir(d);
    }
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    // What `import uwsgi` gives the app (uwsgidecorators' @spool needs a spooler), and
    // pyargv and import, as the app sees them in a worker.
    for (k, v) in c
        .side
        .spooler
        .env()
        .into_iter()
        .chain(c.python_opts.worker_env())
    {
        cmd.env(k, v);
    }
    let pythonpath = match std::env::var("PYTHONPATH") {
        Ok(old) if !old.is_empty() => format!("{}:{old}", py_dir.display()),
        _ => py_dir.display().to_string(),
    };
    cmd.env("PYTHONPATH", pythonpath);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run the Python interpreter {python}: {e}"))?;
    let deadline = Instant::now() + c.ready_timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(_)) => {
                return Err("the app cannot be imported (the traceback is above); \
                            --check-config --no-app checks the configuration alone"
                    .to_string());
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "importing the app took longer than the ready timeout ({} s): raise \
                     --ready-timeout, or find what the import waits for",
                    c.ready_timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the app's import: {e}")),
        }
    }
}

/// `ebb python-path`: write the `ebb` Python module to a per-user cache directory and
/// return it, for `PYTHONPATH` outside ebb (tests, `manage.py runserver`).
fn python_path() -> anyhow::Result<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("ebb-{}", env!("CARGO_PKG_VERSION")));
    ebb::embedded::write_python_files(&base)?;
    Ok(base.join("python"))
}

/// What reloads besides SIGHUP: touched files, watched paths, module files.
fn reload_triggers(c: &Config) -> Option<String> {
    let paths = |v: &[std::path::PathBuf]| {
        v.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut v = Vec::new();
    if !c.touch_reload.is_empty() {
        v.push(format!("touching {}", paths(&c.touch_reload)));
    }
    if !c.python_opts.fs_reload.is_empty() {
        v.push(format!("changes in {}", paths(&c.python_opts.fs_reload)));
    }
    if c.python_opts.py_autoreload.is_some() {
        v.push("changes of the app's module files (py-autoreload)".into());
    }
    (!v.is_empty()).then(|| v.join("; "))
}

/// What `--check-config` prints after "configuration OK": what ebb would run, in words.
fn summary(c: &Config) -> String {
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs_f64());
    let sockets: Vec<String> = c
        .sockets
        .iter()
        .map(|s| format!("{}://{}", s.protocol.name(), s.address))
        .collect();
    let mut worker = ebb::master::describe(&c.command);
    if let ebb::config::WorkerCommand::Python(app) = &c.command {
        let python = app.interpreter();
        worker += &format!(", {} thread(s), interpreter {python}", app.threads);
        let o = &c.python_opts;
        if o.dispatches() {
            let prefixes: Vec<&str> = o
                .mounts
                .iter()
                .map(|(p, _)| if p.is_empty() { "/" } else { p.as_str() })
                .collect();
            worker += &format!(
                "; mounts {}{}",
                prefixes.join(", "),
                if o.no_default_app {
                    " (others: 404)"
                } else {
                    " (others: the first)"
                }
            );
        }
    }
    let mut recycle = Vec::new();
    if let Some(n) = c.max_requests {
        let mut s = format!("after {n} requests");
        if c.max_requests_delta > 0 {
            s += &format!(" (+{} per slot)", c.max_requests_delta);
        }
        if c.max_requests_jitter > 0 {
            s += &format!(" (+0..={} at random)", c.max_requests_jitter);
        }
        recycle.push(s);
    }
    if let Some(d) = c.max_worker_lifetime {
        recycle.push(format!("after living {}", secs(d)));
    }
    if let Some(mb) = c.reload_on_rss_mb {
        recycle.push(format!("over {mb} MB RSS"));
    }
    let o = &c.python_opts;
    if let Some(mb) = o.reload_on_as_mb {
        recycle.push(format!("over {mb} MB of address space"));
    }
    if let Some(d) = c.harakiri {
        let kill = o
            .harakiri_graceful_timeout
            .map(|g| format!(", killed {} after its drain began", secs(g)))
            .unwrap_or_default();
        recycle.push(format!(
            "when a request runs over {} (harakiri{kill})",
            secs(d)
        ));
    }
    if let Some(d) = c.watchdog {
        recycle.push(format!("when silent for {} (watchdog)", secs(d)));
    }
    let mut lines = vec![
        format!(
            "sockets: {}",
            if sockets.is_empty() {
                "(from systemd)".into()
            } else {
                sockets.join(", ")
            }
        ),
        format!(
            "processes: {} (+{} starting while replacing, up to {} draining)",
            c.processes,
            c.max_surge,
            c.max_draining.unwrap_or(c.processes)
        ),
        format!("worker: {worker}"),
        format!(
            "reload on: {}",
            reload_triggers(c).unwrap_or_else(|| "SIGHUP only".into())
        ),
        format!(
            "recycle: {}",
            if recycle.is_empty() {
                "on reload only".into()
            } else {
                recycle.join("; ")
            }
        ),
        format!(
            "drain: {} signal, {} timeout; ready timeout {}",
            c.drain_signal.as_str(),
            secs(c.drain_timeout),
            secs(c.ready_timeout)
        ),
    ];
    let mut operate = Vec::new();
    if let Some(a) = &c.ops.stats {
        let http = if c.ops.stats_http { " (HTTP)" } else { "" };
        operate.push(format!("stats on {a}{http}"));
    }
    if let Some(a) = &c.ops.metrics {
        operate.push(format!("metrics on {a}/metrics"));
    }
    if let Some(p) = &c.ops.control {
        operate.push(format!("control socket {}", p.display()));
    }
    if let Some(p) = &c.ops.master_fifo {
        operate.push(format!("master fifo {}", p.display()));
    }
    if !c.ops.shutdown_delay.is_zero() {
        operate.push(format!(
            "shutdown delay {} (stops within {} of SIGTERM)",
            secs(c.ops.shutdown_delay),
            secs(c.ops.shutdown_delay + c.drain_timeout)
        ));
    }
    if !operate.is_empty() {
        lines.push(format!("operate: {}", operate.join("; ")));
    }
    lines.push(format!("log: {}", log_summary(c)));
    if let Some(src) = &c.source {
        lines.push(format!("read from: {}", src.display()));
    }
    lines.join("\n")
}

/// The log line of `--check-config`: style, where it goes, the access lines and their filters.
fn log_summary(c: &Config) -> String {
    use ebb::logs::AccessTo;
    let l = &c.logs;
    let mut s = format!(
        "{} to {}",
        match c.log_format {
            ebb::config::LogFormat::Text => "text",
            ebb::config::LogFormat::Json => "json",
        },
        c.logto
            .as_ref()
            .map_or("stderr".to_string(), |p| p.display().to_string())
    );
    if let Some(d) = &l.daemonize {
        s += &format!(" (detached: daemonize {})", d.display());
    }
    if let Some(n) = l.max_size {
        s += &format!(", rotated at {n} bytes");
    }
    if let Some(u) = Some(&l.uwsgi).filter(|u| u.active()) {
        s += &format!("; {}", u.summary());
    }
    let mut filters = Vec::new();
    if l.log_4xx {
        filters.push("4xx".to_string());
    }
    if l.log_5xx {
        filters.push("5xx".to_string());
    }
    if let Some(ms) = l.slow_ms {
        filters.push(format!("slower than {ms} ms"));
    }
    let which = if l.requests {
        "every request".to_string()
    } else if filters.is_empty() {
        "none (disable-logging)".to_string()
    } else {
        format!("only {}", filters.join(", "))
    };
    let format = match &l.access_format {
        ebb::logs::access::AccessFormat::Default => "ebb's line".to_string(),
        ebb::logs::access::AccessFormat::Gunicorn(f, _) => format!("gunicorn format {f:?}"),
        ebb::logs::access::AccessFormat::Uwsgi(f, _) => format!("uWSGI format {f:?}"),
    };
    let to = match &l.access_to {
        AccessTo::Main => "with the rest".to_string(),
        AccessTo::Stdout => "to stdout".to_string(),
        AccessTo::File(p) => format!("to {}", p.display()),
    };
    s + &format!("; access lines: {which}, {format}, {to}")
}
