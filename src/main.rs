//! The `ebb` command: parse the invocation, set up logging, run the master or a worker.
use std::process::ExitCode;

use ebb::cli::{self, Invocation};
use ebb::config::Config;

/// The master's log: one writer for its own events and its workers' output
/// (`ebb::logs`), on stderr or the configured files.
fn init_logging(config: &Config) -> anyhow::Result<()> {
    let logger = ebb::logs::Logger::new(config.log_format, config.logto.as_deref(), &config.logs)?;
    ebb::logs::install(logger);
    ebb::logs::layer::init(&config.log_level);
    Ok(())
}

fn main() -> ExitCode {
    let invocation = match cli::parse(std::env::args_os().collect()) {
        Ok(i) => i,
        Err(errors) => {
            eprintln!("ebb: the configuration has errors:\n{errors}");
            return ExitCode::from(2);
        }
    };
    match invocation {
        Invocation::ExampleApp(args) => match ebb::example_app::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ebb example-app: {e:#}");
                ExitCode::FAILURE
            }
        },
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
        Invocation::CheckConfig(loaded) => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            println!("configuration OK\n{}", summary(&loaded.config));
            ExitCode::SUCCESS
        }
        Invocation::Run(loader, loaded) => {
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
    if let Some(d) = c.harakiri {
        recycle.push(format!("when a request runs over {} (harakiri)", secs(d)));
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
