//! Side processes: uWSGI's `attach-daemon`, `attach-daemon2`, `mule`, `mules`, `cron`,
//! `cron2` and `unique-cron`, read into [`SideProcesses`] (run by `crate::master::daemons`).
//!
//! Commands run with `/bin/sh -c`, as uWSGI runs them; a mule script runs with the Python
//! app's interpreter. Relative paths in commands are left to the shell and to Python, which
//! start in `chdir` (as uWSGI's master has changed directory before it starts them).

use std::time::Duration;

use nix::sys::signal::Signal;

use super::model::Config;
use super::options::Id;
use super::values::{self, Raw};
use crate::policy::cron::Schedule;

/// Everything ebb runs beside the workers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SideProcesses {
    pub daemons: Vec<DaemonSpec>,
    pub crons: Vec<CronSpec>,
    /// `mules = N` and `mule` without a script: accepted, nothing to run (warned about).
    pub idle_mules: u64,
    /// uWSGI's spooler (`crate::config::spooler`): its processes are in [`SideProcesses::all_daemons`].
    pub spooler: super::spooler::Spooler,
}

/// What a supervised side process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// A shell command (`attach-daemon`).
    Shell(String),
    /// A Python file run as `__main__` with the app's interpreter (`mule = file.py`).
    MuleScript(String),
    /// `mule = package.module:function`: the function is called.
    MuleCallable(String),
    /// A spooler process on this directory (`crate::config::spooler`).
    Spooler(String),
}

/// One supervised side process.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSpec {
    pub run: Run,
    /// Sent to its process group on ebb's stop (`stopsignal`, default TERM).
    pub stop_signal: Signal,
    /// Sent instead on a reload (`reloadsignal`); it is started again once it exited.
    pub reload_signal: Option<Signal>,
    /// The longest restart delay (`max_throttle`, seconds).
    pub max_throttle: Option<Duration>,
    /// Its own directory (`chdir` key of `attach-daemon2`), instead of the workers'.
    pub chdir: Option<std::path::PathBuf>,
    /// When it exits, ebb stops (`control`, as `attach-control-daemon`).
    pub control: bool,
}

impl DaemonSpec {
    pub(super) fn new(run: Run) -> DaemonSpec {
        DaemonSpec {
            run,
            stop_signal: Signal::SIGTERM,
            reload_signal: None,
            max_throttle: None,
            chdir: None,
            control: false,
        }
    }

    /// The kind, for log lines (`daemon`, `mule`).
    pub fn kind(&self) -> &'static str {
        match self.run {
            Run::Shell(_) => "daemon",
            Run::MuleScript(_) | Run::MuleCallable(_) => "mule",
            Run::Spooler(_) => "spooler",
        }
    }

    /// What it runs, in words.
    pub fn command(&self) -> &str {
        match &self.run {
            Run::Shell(c) | Run::MuleScript(c) | Run::MuleCallable(c) | Run::Spooler(c) => c,
        }
    }
}

/// One cron entry. A run never overlaps the previous one of the same entry (uWSGI's
/// `unique-cron`): a run that comes while the previous is still going is skipped and logged.
#[derive(Debug, Clone, PartialEq)]
pub struct CronSpec {
    pub schedule: Schedule,
    pub command: String,
    /// Kill a run that takes longer (`cron2 harakiri=N`).
    pub harakiri: Option<Duration>,
}

/// Set what side-process option `id` says. Errors are messages for the key that gave `raw`.
pub(crate) fn apply(
    id: Id,
    raw: &Raw,
    base: &std::path::Path,
    home: Option<&str>,
    c: &mut Config,
) -> Result<(), String> {
    let side = &mut c.side;
    match id {
        Id::AttachDaemon => {
            let cmd = values::parse_text(raw, "a command")?;
            side.daemons.push(DaemonSpec::new(Run::Shell(cmd)));
        }
        Id::AttachDaemon2 => side.daemons.push(daemon2(raw, base, home)?),
        Id::Mule => match mule(raw)? {
            Some(run) => side.daemons.push(DaemonSpec::new(run)),
            None => side.idle_mules += 1,
        },
        Id::Mules => side.idle_mules += values::parse_uint(raw, 0, 1024)?,
        Id::Cron => side.crons.push(cron(raw)?),
        Id::Cron2 => side.crons.push(cron2(raw)?),
        _ => unreachable!("not a side-process option: {id:?}"),
    }
    Ok(())
}

/// `mule = file.py` or `package.module:function`; `None` for a mule without one.
fn mule(raw: &Raw) -> Result<Option<Run>, String> {
    let v = match raw {
        Raw::Bare | Raw::Bool(_) | Raw::Int { .. } => return Ok(None),
        _ => values::parse_text(raw, "a Python file (script.py) or module:function")?,
    };
    if v.ends_with(".py") {
        Ok(Some(Run::MuleScript(v)))
    } else if let Some((m, f)) = v.split_once(':')
        && !m.is_empty()
        && !f.is_empty()
    {
        Ok(Some(Run::MuleCallable(v)))
    } else if v.chars().all(|ch| ch.is_ascii_digit()) || matches!(v.as_str(), "true" | "1") {
        Ok(None)
    } else {
        Err(format!(
            "{v:?} is neither a Python file (ending in .py) nor module:function, which is what \
             a mule runs"
        ))
    }
}

/// `min hour day month weekday command`.
fn cron(raw: &Raw) -> Result<CronSpec, String> {
    let v = values::parse_text(raw, "minute hour day month weekday command")?;
    let mut words = v.split_whitespace();
    let fields: Vec<&str> = words.by_ref().take(5).collect();
    let schedule = Schedule::parse(&fields)?;
    // The command: the text after the fifth number, as written.
    let mut rest = v.as_str();
    for f in &fields {
        rest = rest.trim_start();
        rest = &rest[f.len()..];
    }
    let command = rest.trim().to_string();
    if command.is_empty() {
        return Err(format!(
            "{v:?} has no command after the five numbers (minute hour day month weekday)"
        ));
    }
    Ok(CronSpec {
        schedule,
        command,
        harakiri: None,
    })
}

/// Split `key=val,key=val` (uWSGI's keyval lists). A value may not contain `,`.
fn keyvals(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|kv| !kv.trim().is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => Ok((
                k.trim().to_ascii_lowercase().replace('-', "_"),
                v.to_string(),
            )),
            None => Err(format!("{kv:?} is not key=value")),
        })
        .collect()
}

/// `cron2 = minute=0,hour=2 command` (unset fields are -1, every).
fn cron2(raw: &Raw) -> Result<CronSpec, String> {
    let v = values::parse_text(raw, "key=value,... command")?;
    let (opts, command) = match v.split_once(' ') {
        Some((first, rest)) if first.contains('=') => (first, rest.trim()),
        _ if !v.contains('=') => ("", v.as_str()),
        _ => {
            return Err(format!(
                "{v:?}: write the keys first, then a space and the command: \
                 cron2 = minute=0,hour=2 /usr/bin/backup"
            ));
        }
    };
    let mut s = Schedule {
        minute: -1,
        hour: -1,
        day: -1,
        month: -1,
        week: -1,
    };
    let mut harakiri = None;
    for (k, val) in keyvals(opts)? {
        let field = |name, range| Schedule::field(&val, name, range);
        match k.as_str() {
            "minute" => s.minute = field("minute", (0, 59))?,
            "hour" => s.hour = field("hour", (0, 23))?,
            "day" => s.day = field("day", (1, 31))?,
            "month" => s.month = field("month", (1, 12))?,
            "week" => s.week = field("weekday", (0, 7))?,
            // Every entry is unique in ebb.
            "unique" => {}
            "harakiri" => {
                let n: u64 = val
                    .trim()
                    .parse()
                    .map_err(|_| format!("harakiri {val:?} is not a number of seconds"))?;
                harakiri = (n > 0).then(|| Duration::from_secs(n));
            }
            other => {
                return Err(format!(
                    "cron2 key {other:?} is not supported: ebb reads minute, hour, day, month, \
                     week, unique and harakiri"
                ));
            }
        }
    }
    if command.is_empty() {
        return Err(format!("{v:?} has no command"));
    }
    Ok(CronSpec {
        schedule: s,
        command: command.to_string(),
        harakiri,
    })
}

/// `attach-daemon2 = cmd=...,stopsignal=15,...`. The command is the `cmd` (`command`,
/// `exec`) key, and takes the rest of the line when it comes last (so it may contain
/// commas).
fn daemon2(raw: &Raw, base: &std::path::Path, home: Option<&str>) -> Result<DaemonSpec, String> {
    let v = values::parse_text(raw, "key=value,... with a cmd key")?;
    let mut cmd: Option<String> = None;
    let mut rest = v.as_str();
    // A cmd key that comes last takes everything after it.
    for key in ["cmd=", "command=", "exec="] {
        if let Some(at) = rest.find(key)
            && (at == 0 || rest[..at].ends_with(','))
        {
            cmd = Some(rest[at + key.len()..].trim().to_string());
            rest = rest[..at].trim_end_matches(',');
            break;
        }
    }
    let Some(cmd) = cmd.filter(|c| !c.is_empty()) else {
        return Err(format!(
            "{v:?} has no cmd key: attach-daemon2 = cmd=/usr/bin/mydaemon"
        ));
    };
    let mut d = DaemonSpec::new(Run::Shell(cmd));
    let signal = |s: &str| values::parse_signal(&Raw::Str(s.to_string()));
    for (k, val) in keyvals(rest)? {
        match k.as_str() {
            "stopsignal" | "stop_signal" => d.stop_signal = signal(&val)?,
            "reloadsignal" | "reload_signal" => d.reload_signal = Some(signal(&val)?),
            "max_throttle" => {
                let n: u64 = val
                    .trim()
                    .parse()
                    .map_err(|_| format!("max_throttle {val:?} is not a number of seconds"))?;
                d.max_throttle = Some(Duration::from_secs(n.max(1)));
            }
            "chdir" => d.chdir = Some(values::absolutize(val.trim(), base, home)),
            "control" => d.control = !matches!(val.trim(), "0" | "false" | "no" | "off"),
            // Its stdin is never the terminal in ebb; the daemon's output is always logged.
            "stdin" | "freq" => {}
            "pidfile" | "daemonize" | "daemon" | "touch" | "uid" | "gid" | "ns_pid"
            | "notifypid" | "legion" => {
                return Err(format!(
                    "attach-daemon2 key {k:?} is not supported by ebb: it supervises a daemon \
                     that stays in the foreground (keys: cmd, stopsignal, reloadsignal, \
                     max_throttle, chdir, control); run a self-daemonizing program as its own \
                     service"
                ));
            }
            other => {
                return Err(format!(
                    "attach-daemon2 key {other:?} is not a uWSGI key (ebb reads cmd, \
                     stopsignal, reloadsignal, max_throttle, chdir, control)"
                ));
            }
        }
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Raw {
        Raw::Str(v.to_string())
    }

    #[test]
    fn cron_lines() {
        let c = cron(&s("0 2 -1 -1 -1 %(py) manage.py  dbbackup --x")).unwrap();
        assert_eq!(c.schedule.hour, 2);
        assert_eq!(c.command, "%(py) manage.py  dbbackup --x");
        for (bad, says) in [
            ("0 2 -1 -1", "five numbers"),
            ("0 2 -1 -1 -1", "no command"),
            ("0 25 -1 -1 -1 x", "hour 25 is out of range"),
        ] {
            let err = cron(&s(bad)).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let c = cron2(&s("minute=-5,harakiri=30,unique=1 /bin/backup, now")).unwrap();
        assert_eq!(c.schedule.minute, -5);
        assert_eq!(c.schedule.hour, -1);
        assert_eq!(c.harakiri, Some(Duration::from_secs(30)));
        assert_eq!(c.command, "/bin/backup, now");
        assert_eq!(cron2(&s("/bin/every-minute")).unwrap().schedule.minute, -1);
        let err = cron2(&s("legion=x /bin/a")).unwrap_err();
        assert!(err.contains("\"legion\" is not supported"), "{err}");
    }

    #[test]
    fn daemon2_keys() {
        let base = std::path::Path::new("/srv");
        let d = daemon2(
            &s("stopsignal=2,reloadsignal=HUP,max_throttle=5,chdir=app,cmd=sh -c 'a, b'"),
            base,
            None,
        )
        .unwrap();
        assert_eq!(d.run, Run::Shell("sh -c 'a, b'".into()));
        assert_eq!(d.stop_signal, Signal::SIGINT);
        assert_eq!(d.reload_signal, Some(Signal::SIGHUP));
        assert_eq!(d.max_throttle, Some(Duration::from_secs(5)));
        assert_eq!(d.chdir.as_deref(), Some(std::path::Path::new("/srv/app")));
        let err = daemon2(&s("pidfile=/x.pid,cmd=memcached -d"), base, None).unwrap_err();
        assert!(err.contains("\"pidfile\" is not supported"), "{err}");
        let err = daemon2(&s("stopsignal=15"), base, None).unwrap_err();
        assert!(err.contains("no cmd key"), "{err}");
    }

    #[test]
    fn mule_values() {
        assert_eq!(
            mule(&s("py/mules/radius.py")).unwrap(),
            Some(Run::MuleScript("py/mules/radius.py".into()))
        );
        assert_eq!(
            mule(&s("app.tasks:loop")).unwrap(),
            Some(Run::MuleCallable("app.tasks:loop".into()))
        );
        assert_eq!(mule(&Raw::Bare).unwrap(), None);
        assert_eq!(mule(&s("1")).unwrap(), None);
        assert!(
            mule(&s("radius"))
                .unwrap_err()
                .contains("neither a Python file")
        );
    }
}
