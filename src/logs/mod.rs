//! One log stream (issue 10): the master is the one writer of the log.
//!
//! Every worker's stdout and stderr are pipes the master reads in its poll loop, plus a
//! third pipe for structured records (`EBB_LOG_FD`, docs/protocol.md). Each line is stamped
//! with the time and the worker (slot, pid, generation, respawn) and written in one style:
//! text, or one JSON object per line. The master's own `tracing` events go through the same
//! writer, so master and worker lines read as one log.
//!
//! The pieces: [`line`] splits and escapes output (pure), [`record`] parses records,
//! [`access`] renders access lines (ebb's, gunicorn's and uWSGI's formats), [`sink`] writes
//! to stderr or files (rotation, reopen), [`Logger`] renders entries, [`layer`] connects
//! `tracing`, [`pipes`] is the master's side of a worker's three pipes.

pub mod access;
pub mod dispatch;
pub mod encoder;
pub mod layer;
pub mod line;
pub mod pipes;
pub mod record;
pub mod rotate;
pub mod route;
pub mod settings;
pub mod sink;
pub mod strftime;
pub mod syslog;
pub mod time;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

use access::AccessFormat;
use line::{Piece, printable, printable_lines};
use record::Record;
use sink::{Sink, Target};

use crate::config::LogFormat;

/// The longest line (or record) kept whole; longer output is cut into pieces of this size.
pub const MAX_LINE: usize = 16 * 1024;

/// Where access lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessTo {
    /// With everything else (stderr, or the `logto` file).
    #[default]
    Main,
    /// The master's stdout (`--access-logfile -`, as gunicorn reads `-`).
    Stdout,
    /// A file of their own (`--access-logfile FILE`, `req-logger = file:FILE`).
    File(PathBuf),
}

/// The log settings beyond `logto`, `log-format` and `log-level`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// One access line per request (`disable-logging` turns it off).
    pub requests: bool,
    /// With `requests` off, still log 4xx / 5xx answers / requests slower than this.
    pub log_4xx: bool,
    pub log_5xx: bool,
    pub slow_ms: Option<u64>,
    /// The client address is the first `X-Forwarded-For` hop.
    pub xff: bool,
    /// Workers add their RSS and VSZ to each access record (`memory-report`).
    pub memory: bool,
    pub access_to: AccessTo,
    pub access_format: AccessFormat,
    /// Rotate a log file once it holds this many bytes (`log-maxsize`).
    pub max_size: Option<u64>,
    /// Detach from the terminal and log to this file (`daemonize`).
    pub daemonize: Option<PathBuf>,
    /// uWSGI's loggers, encoders, routes and rotation names ([`dispatch`]).
    pub uwsgi: dispatch::Config,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            requests: true,
            log_4xx: false,
            log_5xx: false,
            slow_ms: None,
            xff: false,
            memory: false,
            access_to: AccessTo::Main,
            access_format: AccessFormat::Default,
            max_size: None,
            daemonize: None,
            uwsgi: dispatch::Config::default(),
        }
    }
}

impl Settings {
    /// The `EBB_LOG_*` variables that tell a worker which records to write and with which
    /// fields (docs/protocol.md).
    pub fn worker_env(&self) -> Vec<(&'static str, String)> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let needs = self.access_format.needs();
        let mut env = vec![
            ("EBB_LOG_REQUESTS", flag(self.requests)),
            ("EBB_LOG_4XX", flag(self.log_4xx)),
            ("EBB_LOG_5XX", flag(self.log_5xx)),
            ("EBB_LOG_XFF", flag(self.xff)),
            ("EBB_LOG_MEMORY", flag(self.memory || needs.memory)),
        ];
        if let Some(ms) = self.slow_ms {
            env.push(("EBB_LOG_SLOW_MS", ms.to_string()));
        }
        for (k, v) in [
            ("EBB_LOG_REQ_HEADERS", &needs.req_headers),
            ("EBB_LOG_RESP_HEADERS", &needs.resp_headers),
            ("EBB_LOG_ENV", &needs.env),
        ] {
            if !v.is_empty() {
                env.push((k, v.join(",")));
            }
        }
        env
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The name padded to 5 characters.
    fn padded(self) -> &'static str {
        match self {
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            l => l.name(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }

    /// A worker record's `level` (`debug`, `info`, `warning`, `error`; others are info).
    fn from_record(s: &str) -> Level {
        match s.to_ascii_lowercase().as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "warn" | "warning" => Level::Warn,
            "error" | "err" | "critical" | "fatal" => Level::Error,
            _ => Level::Info,
        }
    }
}

/// Which worker a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerTag {
    pub slot: usize,
    pub pid: i32,
    pub generation: u64,
    pub respawn: u64,
    /// A side process (`daemon`, `mule`, `cron`; `slot` is its number), not a worker.
    pub side: Option<&'static str>,
}

/// Which of a worker's pipes a line came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
    Records,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Records => "records",
        }
    }
}

/// A field of a master event.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Str(String),
}

impl Field {
    fn as_i64(&self) -> Option<i64> {
        match self {
            Field::I64(n) => Some(*n),
            Field::U64(n) => i64::try_from(*n).ok(),
            Field::Str(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// Who a line is from, for the stamp.
enum From<'a> {
    Master,
    /// The master, about a worker (its lifecycle events).
    MasterAbout(&'a WorkerTag),
    Worker(&'a WorkerTag),
}

/// Renders entries in the chosen style and hands them to the sinks.
pub struct Logger {
    style: LogFormat,
    main: Sink,
    access: Option<Sink>,
    format: AccessFormat,
    master_pid: u32,
    buf: String,
    /// The last timestamp rendered, by millisecond: most lines share it with the one before.
    stamp: (i64, u32, String),
    /// The last worker stamp rendered (`worker=1 pid=… generation=… respawn=…`).
    tag_text: (Option<WorkerTag>, String),
    /// uWSGI's loggers, routes and encoders, when any is set.
    router: Option<Box<dispatch::Router>>,
}

static LOGGER: Mutex<Option<Logger>> = Mutex::new(None);

/// Run `f` on the installed logger (none before [`install`]).
pub fn with<R>(f: impl FnOnce(&mut Logger) -> R) -> Option<R> {
    let mut g = LOGGER.lock().unwrap_or_else(|e| e.into_inner());
    g.as_mut().map(f)
}

/// Make `logger` the one writer of the log.
pub fn install(logger: Logger) {
    *LOGGER.lock().unwrap_or_else(|e| e.into_inner()) = Some(logger);
}

/// Write out what is buffered (the loop calls this before it waits).
pub fn flush() {
    with(|l| l.flush());
}

impl Logger {
    /// The writer for `config`: stderr or the `logto` file; access lines where
    /// `access_to` says.
    pub fn new(
        style: LogFormat,
        logto: Option<&std::path::Path>,
        s: &Settings,
    ) -> anyhow::Result<Logger> {
        let main = match logto {
            Some(p) => Target::File {
                path: p.to_path_buf(),
                redirect: true,
            },
            None => Target::Stderr,
        };
        let u = &s.uwsgi;
        let rotation = |backupname: Option<PathBuf>| rotate::Rotation {
            max_size: s.max_size,
            backupname,
            backupcount: u.backupcount,
        };
        let access = match &s.access_to {
            AccessTo::Main => None,
            AccessTo::Stdout => Some(Sink::open(Target::Stdout, rotation(None))?),
            AccessTo::File(p) => Some(Sink::open(
                Target::File {
                    path: p.clone(),
                    redirect: false,
                },
                rotation(None),
            )?),
        };
        let mut main = Sink::open(main, rotation(u.backupname.clone()))?;
        let router = dispatch::Router::open(u, s.max_size)?;
        for n in router.iter().flat_map(|r| &r.notes) {
            main.line(n);
        }
        Ok(Logger {
            style,
            main,
            access,
            format: s.access_format.clone(),
            master_pid: std::process::id(),
            buf: String::with_capacity(1024),
            stamp: (-1, 0, String::new()),
            tag_text: (None, String::new()),
            router,
        })
    }

    /// A logger on stderr with default settings (tests, early errors).
    pub fn stderr(style: LogFormat) -> Logger {
        Logger {
            style,
            main: Sink::open(Target::Stderr, rotate::Rotation::default())
                .expect("stderr needs no opening"),
            access: None,
            format: AccessFormat::Default,
            master_pid: std::process::id(),
            buf: String::new(),
            stamp: (-1, 0, String::new()),
            tag_text: (None, String::new()),
            router: None,
        }
    }

    /// Take a new configuration's settings (SIGHUP): style and access format; files are
    /// reopened if they changed.
    pub fn reconfigure(
        &mut self,
        style: LogFormat,
        logto: Option<&std::path::Path>,
        s: &Settings,
    ) -> anyhow::Result<()> {
        let fresh = Logger::new(style, logto, s)?;
        self.flush();
        *self = fresh;
        Ok(())
    }

    pub fn flush(&mut self) {
        if let Some(r) = &mut self.router {
            r.flush(&mut self.main);
            r.sinks().for_each(Sink::flush);
        }
        self.main.flush();
        if let Some(a) = &mut self.access {
            a.flush();
        }
    }

    /// SIGUSR1: open every log file again. Returns what failed.
    pub fn reopen(&mut self) -> Vec<String> {
        let mut errs = Vec::new();
        let named = self.router.iter_mut().flat_map(|r| r.sinks());
        for s in std::iter::once(&mut self.main)
            .chain(self.access.as_mut())
            .chain(named)
        {
            if let Err(e) = s.reopen() {
                errs.push(format!("{e:#}"));
            }
        }
        errs
    }

    /// The files being written, for the reopen message.
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(&self.main)
            .chain(self.access.as_ref())
            .filter_map(|s| match s.target() {
                Target::File { path, .. } => Some(path.clone()),
                _ => None,
            })
            .chain(self.router.iter().flat_map(|r| r.files()))
            .collect()
    }

    /// `2026-12-01T09:39:46.123Z` for `now`, rendered once per millisecond.
    fn ts(&mut self, now: SystemTime) -> &str {
        let (secs, us) = time::unix_micros(now);
        let ms = us / 1000;
        if self.stamp.0 != secs || self.stamp.1 != ms {
            self.stamp = (secs, ms, time::rfc3339_millis(secs, us));
        }
        &self.stamp.2
    }

    fn stamp_text(&mut self, out: &mut String, now: SystemTime, level: Level, from: &From<'_>) {
        out.push_str(self.ts(now));
        out.push(' ');
        out.push_str(level.padded());
        out.push(' ');
        match from {
            From::Master => {
                let _ = write!(out, "master pid={}", self.master_pid);
            }
            From::MasterAbout(t) | From::Worker(t) if t.side.is_some() => {
                let kind = t.side.unwrap_or_default();
                let _ = write!(
                    out,
                    "{kind}={} pid={} restarts={}",
                    t.slot, t.pid, t.respawn
                );
            }
            From::MasterAbout(t) | From::Worker(t) => {
                // Rendered once per worker in a row (lines come in runs from one worker).
                if self.tag_text.0 != Some(**t) {
                    self.tag_text = (
                        Some(**t),
                        format!(
                            "worker={} pid={} generation={} respawn={}",
                            t.slot, t.pid, t.generation, t.respawn
                        ),
                    );
                }
                out.push_str(&self.tag_text.1);
            }
        }
    }

    fn stamp_json(&mut self, o: &mut Json, now: SystemTime, level: Level, from: &From<'_>) {
        o.str("ts", self.ts(now));
        o.str("level", level.name());
        match from {
            From::Master => o.str("source", "master"),
            From::Worker(t) if t.side.is_some() => {
                let kind = t.side.unwrap_or_default();
                o.str("source", kind);
                o.num(kind, t.slot as u64);
                o.num("pid", t.pid.max(0) as u64);
                o.num("restarts", t.respawn);
            }
            From::MasterAbout(t) | From::Worker(t) => {
                o.str(
                    "source",
                    if matches!(from, From::Master | From::MasterAbout(_)) {
                        "master"
                    } else {
                        "worker"
                    },
                );
                o.num("worker", t.slot as u64);
                o.num("pid", t.pid.max(0) as u64);
                o.num("generation", t.generation);
                o.num("respawn", t.respawn);
            }
        }
    }

    /// One text entry; a message with newlines is written as several lines, each stamped.
    fn text(&mut self, level: Level, from: &From<'_>, tag: &str, msg: &str, tail: &str) {
        let now = SystemTime::now();
        let mut prefix = String::with_capacity(96);
        self.stamp_text(&mut prefix, now, level, from);
        if !tag.is_empty() {
            prefix.push(' ');
            prefix.push_str(tag);
        }
        prefix.push_str(" | ");
        let mut lines = msg.split('\n').peekable();
        while let Some(l) = lines.next() {
            self.buf.clear();
            self.buf.push_str(&prefix);
            self.buf.push_str(l);
            if lines.peek().is_none() {
                self.buf.push_str(tail);
            }
            let line = std::mem::take(&mut self.buf);
            self.put(&line);
            self.buf = line;
        }
    }

    /// A master event (from `tracing`). `fields` that name a worker (`worker`, `pid`,
    /// `generation`, `respawn`) stamp the line with it.
    pub fn master(&mut self, level: Level, msg: &str, fields: &[(&str, Field)]) {
        let get = |k: &str| {
            fields
                .iter()
                .find(|(n, _)| *n == k)
                .and_then(|(_, v)| v.as_i64())
        };
        let from = match get("worker") {
            Some(slot) if slot > 0 => Some(WorkerTag {
                slot: slot as usize,
                pid: get("pid").unwrap_or(0) as i32,
                generation: get("generation").unwrap_or(0) as u64,
                respawn: get("respawn").unwrap_or(0) as u64,
                side: None,
            }),
            _ => None,
        };
        let from = match &from {
            Some(t) => From::MasterAbout(t),
            None => From::Master,
        };
        let stamped = |k: &str| {
            matches!(from, From::MasterAbout(_))
                && matches!(k, "worker" | "pid" | "generation" | "respawn")
        };
        let msg = printable_lines(msg);
        let mut tail = String::new();
        if self.style == LogFormat::Text || self.router.is_some() {
            for (k, v) in fields {
                if stamped(k) {
                    continue;
                }
                let _ = write!(tail, " {k}=");
                match v {
                    Field::Str(s) if s.is_empty() || s.contains([' ', '"', '=']) => {
                        let _ = write!(tail, "{:?}", printable(s.as_bytes()));
                    }
                    Field::Str(s) => tail.push_str(&printable(s.as_bytes())),
                    Field::I64(n) => {
                        let _ = write!(tail, "{n}");
                    }
                    Field::U64(n) => {
                        let _ = write!(tail, "{n}");
                    }
                    Field::F64(n) => {
                        let _ = write!(tail, "{n}");
                    }
                    Field::Bool(b) => {
                        let _ = write!(tail, "{b}");
                    }
                }
            }
        }
        match self.style {
            LogFormat::Text => self.text(level, &from, "", &msg, &tail),
            LogFormat::Json => {
                let mut o = Json::new();
                self.stamp_json(&mut o, SystemTime::now(), level, &from);
                o.str("msg", &msg);
                for (k, v) in fields {
                    if stamped(k) {
                        continue;
                    }
                    let k = match *k {
                        "ts" | "level" | "source" | "msg" => format!("field_{k}"),
                        k => k.to_string(),
                    };
                    match v {
                        Field::Str(s) => o.str(&k, s),
                        Field::I64(n) => o.raw(&k, &n.to_string()),
                        Field::U64(n) => o.num(&k, *n),
                        Field::F64(n) if n.is_finite() => o.raw(&k, &n.to_string()),
                        Field::F64(_) => o.raw(&k, "null"),
                        Field::Bool(b) => o.raw(&k, if *b { "true" } else { "false" }),
                    }
                }
                self.put(&o.finish());
            }
        }
        if self.router.is_some() {
            // No stamp on an encoded line: the worker it is about goes in the message.
            let who = match &from {
                From::MasterAbout(t) => format!(
                    " worker={} pid={} generation={} respawn={}",
                    t.slot, t.pid, t.generation, t.respawn
                ),
                _ => String::new(),
            };
            self.routed(level, &format!("{msg}{who}{tail}"), false);
        }
    }

    /// One line (or piece of one) a worker wrote to its stdout or stderr.
    pub fn output(&mut self, tag: &WorkerTag, stream: Stream, piece: &Piece<'_>) {
        let text = printable(piece.bytes);
        let from = From::Worker(tag);
        match self.style {
            LogFormat::Text => {
                let mut msg = String::with_capacity(text.len() + 24);
                if piece.continued {
                    msg.push_str("… ");
                }
                msg.push_str(&text);
                if piece.cut {
                    let _ = write!(msg, " … (line longer than {MAX_LINE} bytes continues)");
                }
                self.text(Level::Info, &from, stream.name(), &msg, "");
            }
            LogFormat::Json => {
                let mut o = Json::new();
                self.stamp_json(&mut o, SystemTime::now(), Level::Info, &from);
                o.str("stream", stream.name());
                if piece.cut {
                    o.raw("cut", "true");
                }
                if piece.continued {
                    o.raw("continued", "true");
                }
                o.str("msg", &text);
                self.put(&o.finish());
            }
        }
        self.routed(Level::Info, &text, false);
    }

    /// One line from a worker's record pipe. `truncated` when it was longer than
    /// [`MAX_LINE`] (the rest was dropped).
    pub fn record(&mut self, tag: &WorkerTag, limit: Option<u64>, piece: &Piece<'_>) {
        if piece.continued {
            return; // the rest of a record too long to keep: dropped, said on its first piece
        }
        if piece.cut {
            let mut msg = printable(piece.bytes).into_owned();
            let _ = write!(
                msg,
                " … (record longer than {MAX_LINE} bytes: truncated, the rest dropped)"
            );
            self.worker_message(tag, Level::Warn, Some("records"), &msg);
            return;
        }
        match record::parse(piece.bytes) {
            Record::Access(a) => self.access(tag, limit, &a),
            Record::Log(m) => {
                let level = Level::from_record(&m.level);
                let msg = printable_lines(&m.msg);
                let msg = msg.strip_suffix('\n').unwrap_or(&msg);
                self.worker_message(tag, level, m.stream.as_deref(), msg);
            }
            Record::Raw => {
                let msg = printable(piece.bytes);
                self.worker_message(tag, Level::Info, Some("records"), &msg);
            }
        }
    }

    fn worker_message(&mut self, tag: &WorkerTag, level: Level, stream: Option<&str>, msg: &str) {
        let from = From::Worker(tag);
        match self.style {
            LogFormat::Text => self.text(level, &from, stream.unwrap_or(""), msg, ""),
            LogFormat::Json => {
                let mut o = Json::new();
                self.stamp_json(&mut o, SystemTime::now(), level, &from);
                if let Some(s) = stream {
                    o.str("stream", s);
                }
                o.str("msg", msg);
                self.put(&o.finish());
            }
        }
        self.routed(level, msg, false);
    }

    /// An access record: ebb's line (stamped), a gunicorn or uWSGI format line (as the
    /// user wrote it: their parsers expect exactly that), or a JSON object.
    pub fn access(&mut self, tag: &WorkerTag, limit: Option<u64>, a: &record::Access<'_>) {
        let who = access::Who {
            slot: tag.slot,
            pid: tag.pid,
            limit,
        };
        // The line is rendered into the logger's own buffer (no allocation per record).
        let mut line = std::mem::take(&mut self.buf);
        line.clear();
        // The format's line without ebb's stamp or object, for uWSGI's routes and encoders.
        let mut plain = String::new();
        match self.style {
            LogFormat::Text => {
                if self.format == AccessFormat::Default {
                    self.stamp_text(
                        &mut line,
                        SystemTime::now(),
                        Level::Info,
                        &From::Worker(tag),
                    );
                    line.push_str(" access | ");
                }
                let at = line.len();
                self.format.render(a, &who, &mut line);
                if self.router.is_some() {
                    plain.push_str(&line[at..]);
                }
            }
            LogFormat::Json => {
                let mut o = Json::new();
                self.stamp_json(&mut o, SystemTime::now(), Level::Info, &From::Worker(tag));
                o.str("kind", "access");
                o.str("addr", &a.addr);
                o.str("user", &a.user);
                o.str("method", &a.method);
                o.str("uri", &a.uri);
                o.str("proto", &a.proto);
                o.num("status", u64::from(a.status));
                o.num("size", a.size);
                o.num("head_size", a.hsize);
                if a.start.is_finite() && a.start > 0.0 {
                    o.str(
                        "start",
                        &time::rfc3339_millis(a.start as i64, (a.start.fract() * 1e6) as u32),
                    );
                }
                o.num("duration_us", a.us);
                o.num("requests", a.req);
                match limit {
                    Some(l) => o.num("request_limit", l),
                    None => o.raw("request_limit", "null"),
                }
                o.str("host", &a.host);
                o.str("referer", &a.referer);
                o.str("user_agent", &a.ua);
                for (k, m) in [
                    ("request_headers", &a.rh),
                    ("response_headers", &a.oh),
                    ("env", &a.env),
                ] {
                    if !m.is_empty() {
                        o.raw(k, &serde_json::to_string(m).unwrap_or_default());
                    }
                }
                if let Some(r) = a.rss {
                    o.num("rss", r);
                }
                if let Some(v) = a.vsz {
                    o.num("vsz", v);
                }
                let mut msg = String::with_capacity(120);
                self.format.render(a, &who, &mut msg);
                o.str("msg", &msg);
                line = o.finish();
                plain = msg;
            }
        }
        match (&mut self.router, &mut self.access) {
            (Some(r), _) => {
                r.pending.push(line.clone());
                self.routed(Level::Info, &plain, true);
            }
            (None, Some(s)) => s.line(&line),
            (None, None) => self.main.line(&line),
        }
        self.buf = line;
    }
}

/// A JSON object written key by key, in order (`ts` first).
struct Json(String);

impl Json {
    fn new() -> Json {
        let mut s = String::with_capacity(256);
        s.push('{');
        Json(s)
    }
    fn key(&mut self, k: &str) {
        if self.0.len() > 1 {
            self.0.push(',');
        }
        self.push_str_value(k);
        self.0.push(':');
    }
    fn push_str_value(&mut self, v: &str) {
        // serde_json escapes quotes, backslashes and control characters.
        let _ = serde_json::to_writer(string_writer(&mut self.0), v);
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.push_str_value(v);
    }
    fn num(&mut self, k: &str, v: u64) {
        self.key(k);
        let _ = write!(self.0, "{v}");
    }
    fn raw(&mut self, k: &str, json: &str) {
        self.key(k);
        self.0.push_str(json);
    }
    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

/// An `io::Write` appending to a `String`; serde_json writes only valid UTF-8.
fn string_writer(s: &mut String) -> impl std::io::Write + '_ {
    struct W<'a>(&'a mut String);
    impl std::io::Write for W<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.push_str(&String::from_utf8_lossy(b));
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    W(s)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_dispatch;
