//! uWSGI's spooler, read into [`Spooler`]: the directories, how many processes run each, and
//! how they run tasks. Its processes are side processes ([`Run::Spooler`]), started,
//! stopped and restarted with the daemons and mules (`crate::master::daemons`); what runs the
//! tasks is the Python worker's `ebb_worker.spooler`.

use std::path::PathBuf;

use super::daemons::{DaemonSpec, Run, SideProcesses};
use super::model::Config;
use super::options::Id;
use super::values::{self, Raw};

/// uWSGI's `spooler-frequency` default, seconds.
pub const DEFAULT_FREQUENCY: u64 = 30;

/// The spooler settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spooler {
    /// `spooler = DIR`: each gets `processes` processes.
    pub dirs: Vec<PathBuf>,
    /// `spooler-external = DIR`: tasks may be queued there; nothing runs them here.
    pub external: Vec<PathBuf>,
    pub processes: u64,
    pub frequency: u64,
    pub ordered: bool,
    /// Seconds; 0: never.
    pub harakiri: u64,
    pub quiet: bool,
    /// 0: never.
    pub max_tasks: u64,
    pub chdir: Option<PathBuf>,
    pub imports: Vec<String>,
}

impl Spooler {
    /// Whether any spooler option was given.
    pub fn is_set(&self) -> bool {
        !self.dirs.is_empty() || !self.external.is_empty()
    }

    /// The environment the workers and the spooler processes read (`ebb_worker.uwsgi_api`,
    /// `ebb_worker.spooler`): the directories one per line, the rest as numbers.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        if !self.is_set() {
            return Vec::new();
        }
        let lines = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        };
        let mut env = vec![
            ("EBB_SPOOLER_DIRS", lines(&self.dirs)),
            ("EBB_SPOOLER_EXTERNAL", lines(&self.external)),
            ("EBB_SPOOLER_PROCESSES", self.processes.max(1).to_string()),
            ("EBB_SPOOLER_FREQUENCY", self.frequency().to_string()),
            ("EBB_SPOOLER_ORDERED", u8::from(self.ordered).to_string()),
            ("EBB_SPOOLER_HARAKIRI", self.harakiri.to_string()),
            ("EBB_SPOOLER_QUIET", u8::from(self.quiet).to_string()),
            ("EBB_SPOOLER_MAX_TASKS", self.max_tasks.to_string()),
            ("EBB_SPOOLER_IMPORTS", self.imports.join("\n")),
        ];
        if let Some(d) = &self.chdir {
            env.push(("EBB_SPOOLER_CHDIR", d.display().to_string()));
        }
        env
    }

    pub fn frequency(&self) -> u64 {
        if self.frequency == 0 {
            DEFAULT_FREQUENCY
        } else {
            self.frequency
        }
    }
}

impl SideProcesses {
    /// The daemons and mules, then one spooler process per directory and `spooler-processes`.
    pub fn all_daemons(&self) -> Vec<DaemonSpec> {
        let mut all = self.daemons.clone();
        for dir in &self.spooler.dirs {
            for _ in 0..self.spooler.processes.max(1) {
                let mut d = DaemonSpec::new(Run::Spooler(dir.display().to_string()));
                // A spooler finishes its task on TERM, and exits at once when idle.
                d.stop_signal = nix::sys::signal::Signal::SIGTERM;
                all.push(d);
            }
        }
        all
    }
}

/// Set what spooler option `id` says. Errors are messages for the key that gave `raw`.
pub(crate) fn apply(
    id: Id,
    raw: &Raw,
    base: &std::path::Path,
    home: Option<&str>,
    c: &mut Config,
) -> Result<(), String> {
    let s = &mut c.side.spooler;
    match id {
        Id::Spooler => {
            let dir = values::parse_path(raw, base, home)?;
            if !s.dirs.contains(&dir) {
                s.dirs.push(dir);
            }
        }
        Id::SpoolerExternal => s.external.push(values::parse_path(raw, base, home)?),
        Id::SpoolerProcesses => s.processes = values::parse_uint(raw, 1, 256)?,
        Id::SpoolerFrequency => s.frequency = values::parse_uint(raw, 1, 86400)?,
        Id::SpoolerOrdered => s.ordered = values::parse_bool(raw)?,
        Id::SpoolerHarakiri => s.harakiri = values::parse_uint(raw, 0, 31_536_000)?,
        Id::SpoolerQuiet => s.quiet = values::parse_bool(raw)?,
        Id::SpoolerMaxTasks => s.max_tasks = values::parse_uint(raw, 0, 1 << 40)?,
        Id::SpoolerChdir => s.chdir = Some(values::parse_path(raw, base, home)?),
        Id::SpoolerImport => {
            let v = values::parse_text(raw, "a Python module or file.py")?;
            if v.trim().is_empty() {
                return Err("spooler-import needs a module name or a .py file".into());
            }
            s.imports.push(v.trim().to_string());
        }
        _ => unreachable!("not a spooler option: {id:?}"),
    }
    Ok(())
}

/// A configuration error, or None: spoolers run Python, and need a Python app.
pub(crate) fn check(c: &Config) -> Option<String> {
    let s = &c.side.spooler;
    if s.dirs.is_empty() {
        return None;
    }
    match c.command {
        super::WorkerCommand::Python(_) => None,
        _ => Some(
            "spooler: a spooler runs the Python app's spooler function, and this configuration \
             has no Python app (module or wsgi-file)"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_per_dir() {
        let mut side = SideProcesses::default();
        side.spooler.dirs = vec!["/a".into(), "/b".into()];
        side.spooler.processes = 2;
        let all = side.all_daemons();
        let dirs: Vec<&str> = all.iter().map(|d| d.command()).collect();
        assert_eq!(dirs, ["/a", "/a", "/b", "/b"]);
        assert!(all.iter().all(|d| d.kind() == "spooler"));
    }

    #[test]
    fn env_is_empty_without_a_spooler() {
        assert!(Spooler::default().env().is_empty());
        let s = Spooler {
            dirs: vec!["/a".into(), "/b".into()],
            ..Spooler::default()
        };
        let env = s.env();
        assert!(env.contains(&("EBB_SPOOLER_DIRS", "/a\n/b".into())));
        assert!(env.contains(&("EBB_SPOOLER_FREQUENCY", "30".into())));
    }
}
