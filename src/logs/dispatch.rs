//! Where each message goes when uWSGI's logger options are used (`logger = NAME …`,
//! `log-route`, `log-encoder`, `log-req-encoder`, a syslog logger), as uWSGI sends them:
//!
//! - A message every matching `log-route` takes goes to each of those named loggers, encoded
//!   by the encoders for that name (and those for every logger).
//! - A message no route took goes to the unnamed log (stderr, the `logto` file, or an
//!   unnamed syslog logger), with the encoders for every logger.
//! - Access lines go the same way, unless a `req-logger` is set: then they go to it with
//!   the `log-req-encoder` chain (routes do not apply, as in uWSGI).
//!
//! None of these set: no [`Router`], and the logger writes as before (no cost).

use std::path::PathBuf;

use super::Level;
use super::encoder::Chain;
use super::rotate::Rotation;
use super::route::{LoggerSpec, Out, Route};
use super::sink::{Sink, Target};
use super::syslog::{self, Syslog};

/// The settings (read by [`super::settings`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Named loggers, in order (a name given twice: the last).
    pub loggers: Vec<LoggerSpec>,
    /// An unnamed syslog logger: the log goes there instead of stderr or `logto`.
    pub main_syslog: Option<syslog::Spec>,
    pub routes: Vec<Route>,
    pub encoders: Chain,
    pub req_encoders: Chain,
    /// A `req-logger` was given: access lines take `req_encoders`.
    pub req_logger: bool,
    /// `log-backupname`, `log-backupcount` (the main log file's rotation).
    pub backupname: Option<PathBuf>,
    pub backupcount: Option<u32>,
    /// `log-truncate`: empty the main log file when ebb starts.
    pub truncate: bool,
}

impl Config {
    /// Whether messages need routing or encoding at all.
    pub fn active(&self) -> bool {
        !self.loggers.is_empty()
            || self.main_syslog.is_some()
            || !self.routes.is_empty()
            || !self.encoders.is_empty()
            || (self.req_logger && !self.req_encoders.is_empty())
    }

    /// For `--check-config`: `uWSGI loggers: syslog uwsgi, 2 named, 2 routes, 3 encoders`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.main_syslog {
            parts.push(match &s.remote {
                Some(a) => format!("the log to rsyslog {a} as {}", s.ident),
                None => format!("the log to syslog as {}", s.ident),
            });
        }
        for (n, what) in [
            (self.loggers.len(), "named logger(s)"),
            (self.routes.len(), "route(s)"),
            (self.encoders.len(), "encoder(s)"),
            (self.req_encoders.len(), "request encoder(s)"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!("uWSGI loggers: {}", parts.join(", "))
    }

    /// Define (or redefine) a named logger.
    pub fn add_logger(&mut self, l: LoggerSpec) {
        self.loggers.retain(|o| o.name != l.name);
        self.loggers.push(l);
    }
}

/// `log-truncate`: empty the main log file when ebb starts (not on a reload), as uWSGI.
pub fn truncate_at_start(logto: Option<&std::path::Path>, cfg: &Config) -> anyhow::Result<()> {
    use anyhow::Context;
    if let (true, Some(p)) = (cfg.truncate, logto)
        && p.exists()
    {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(p)
            .with_context(|| format!("log-truncate: cannot empty {}", p.display()))?;
    }
    Ok(())
}

enum Output {
    /// The unnamed log's sink (`stdio`).
    Main,
    File(Sink),
    Syslog(Syslog),
}

/// The open outputs and the rules, in the master.
pub struct Router {
    cfg: Config,
    named: Vec<(String, Output)>,
    main_syslog: Option<Syslog>,
    /// ebb's own rendering of the message being dispatched (one or more lines).
    pub(super) pending: Vec<String>,
    /// Said once on the log when it opens (routes to no logger).
    pub(super) notes: Vec<String>,
}

/// The sinks a message may be written to besides the router's own.
pub(super) struct Sinks<'a> {
    pub main: &'a mut Sink,
    pub access: Option<&'a mut Sink>,
}

impl Router {
    /// `None` when nothing needs routing.
    pub fn open(cfg: &Config, max_size: Option<u64>) -> anyhow::Result<Option<Box<Router>>> {
        if !cfg.active() {
            return Ok(None);
        }
        let mut named = Vec::new();
        for l in &cfg.loggers {
            let name = l.name.clone().unwrap_or_default();
            let out = match &l.out {
                Out::Stdio => Output::Main,
                Out::File(p) => Output::File(Sink::open(
                    Target::File {
                        path: p.clone(),
                        redirect: false,
                    },
                    Rotation {
                        max_size,
                        backupname: None,
                        backupcount: cfg.backupcount,
                    },
                )?),
                Out::Syslog(s) => Output::Syslog(Syslog::open(s)?),
            };
            named.push((name, out));
        }
        let notes = cfg
            .routes
            .iter()
            .filter(|r| !named.iter().any(|(n, _)| *n == r.logger))
            .map(|r| {
                format!(
                    "ebb: log-route for {0}: no logger is named {0} (define it with logger = {0} \
                     stdio); the route is ignored, as uWSGI ignores it",
                    r.logger
                )
            })
            .collect();
        Ok(Some(Box::new(Router {
            main_syslog: cfg.main_syslog.as_ref().map(Syslog::open).transpose()?,
            cfg: cfg.clone(),
            named,
            pending: Vec::new(),
            notes,
        })))
    }

    /// Write the message (`plain`: its text without ebb's stamp; `self.pending`: ebb's
    /// rendering of it) where the rules send it.
    pub(super) fn dispatch(&mut self, s: Sinks<'_>, level: Level, plain: &str, access: bool) {
        let pending = std::mem::take(&mut self.pending);
        let secs = super::time::unix_micros(std::time::SystemTime::now()).0;
        if access && self.cfg.req_logger {
            let sink = match s.access {
                Some(a) => a,
                None => s.main,
            };
            match self.cfg.req_encoders.apply(None, plain) {
                Some(line) => sink.line(&line),
                None => pending.iter().for_each(|l| sink.line(l)),
            }
            return;
        }
        let mut routed = false;
        for r in &self.cfg.routes {
            if !r.matches(plain) {
                continue;
            }
            let Some((name, out)) = self.named.iter_mut().find(|(n, _)| *n == r.logger) else {
                continue;
            };
            routed = true;
            let encoded = self.cfg.encoders.apply(Some(name), plain);
            let lines = encoded.as_slice_or(&pending);
            for l in lines {
                match out {
                    Output::Main => s.main.line(l),
                    Output::File(f) => f.line(l),
                    Output::Syslog(y) => y.line(level, secs, l),
                }
            }
        }
        if routed {
            return;
        }
        let encoded = self.cfg.encoders.apply(None, plain);
        let lines = encoded.as_slice_or(&pending);
        match (&mut self.main_syslog, s.access) {
            (Some(y), _) => lines.iter().for_each(|l| y.line(level, secs, l)),
            (None, Some(a)) if access => lines.iter().for_each(|l| a.line(l)),
            _ => lines.iter().for_each(|l| s.main.line(l)),
        }
    }

    pub fn flush(&mut self, main: &mut Sink) {
        for (_, o) in &mut self.named {
            match o {
                Output::File(f) => f.flush(),
                Output::Syslog(y) => {
                    if let Some(n) = y.take_dropped() {
                        main.line(&format!(
                            "ebb: {n} syslog datagram(s) dropped: the socket did not take them"
                        ));
                    }
                }
                Output::Main => {}
            }
        }
        if let Some(n) = self.main_syslog.as_mut().and_then(Syslog::take_dropped) {
            main.line(&format!(
                "ebb: {n} syslog datagram(s) dropped: the socket did not take them"
            ));
        }
    }

    /// The named loggers' files (reopened on SIGUSR1 with the others).
    pub fn sinks(&mut self) -> impl Iterator<Item = &mut Sink> {
        self.named.iter_mut().filter_map(|(_, o)| match o {
            Output::File(f) => Some(f),
            _ => None,
        })
    }

    pub fn files(&self) -> impl Iterator<Item = PathBuf> + '_ {
        self.named.iter().filter_map(|(_, o)| match o {
            Output::File(f) => match f.target() {
                Target::File { path, .. } => Some(path.clone()),
                _ => None,
            },
            _ => None,
        })
    }
}

impl super::Logger {
    /// ebb's rendering of a message: to the main sink, or held for the router.
    pub(super) fn put(&mut self, line: &str) {
        match &mut self.router {
            Some(r) => r.pending.push(line.to_string()),
            None => self.main.line(line),
        }
    }

    /// With uWSGI's loggers set, write the held rendering of the message `plain` where
    /// they send it ([`self`]).
    pub(super) fn routed(&mut self, level: Level, plain: &str, access: bool) {
        if let Some(r) = &mut self.router {
            let sinks = Sinks {
                main: &mut self.main,
                access: self.access.as_mut(),
            };
            r.dispatch(sinks, level, plain, access);
        }
    }
}

trait OrPending {
    fn as_slice_or<'a>(&'a self, pending: &'a [String]) -> &'a [String];
}

impl OrPending for Option<String> {
    fn as_slice_or<'a>(&'a self, pending: &'a [String]) -> &'a [String] {
        match self {
            Some(s) => std::slice::from_ref(s),
            None => pending,
        }
    }
}
