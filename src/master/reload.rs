//! SIGHUP: read the configuration again and apply it only when it is valid.

use tracing::{error, info, warn};

use super::Master;
use super::setup::{open_append, resolve_ids, unix_perms};
use super::touch::TouchWatch;
use crate::policy::{Event, Params};
use crate::sockets::{self, Listener};

impl Master {
    /// SIGHUP: load the configuration again; apply it if valid, else keep the old one and
    /// say why (logged here; `ebb reload` also shows it).
    pub(super) fn reload(&mut self) -> Result<Event, String> {
        if self.policy.is_stopping() {
            info!("SIGHUP ignored: ebb is stopping");
            return Err("ebb is stopping".into());
        }
        self.try_reload().map_err(|why| {
            error!("reload aborted: {why}; still running the previous configuration");
            format!("reload aborted: {why}; still running the previous configuration")
        })
    }

    fn try_reload(&mut self) -> Result<Event, String> {
        info!("reload requested (SIGHUP): reading the configuration again");
        let loaded = match self.loader.load() {
            Ok(l) => l,
            Err(errs) => {
                for e in &errs.0 {
                    error!("{e}");
                }
                let all: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "the configuration has {} error(s): {}",
                    all.len(),
                    all.join("; ")
                ));
            }
        };
        for w in &loaded.warnings {
            warn!("{w}");
        }
        let new = loaded.config;
        let mut old = std::mem::take(&mut self.listeners);
        let inherited: Vec<Listener> = {
            // Sockets from systemd are not in the configuration: keep them as they are.
            let (sd, rest): (Vec<_>, Vec<_>) = old
                .into_iter()
                .partition(|l| !self.config.sockets.contains(&l.spec));
            old = rest;
            sd
        };
        let perms = match unix_perms(&new) {
            Ok(p) => p,
            Err(e) => {
                self.listeners = inherited.into_iter().chain(old).collect();
                return Err(format!("{e:#}"));
            }
        };
        match sockets::bind_all(&new.sockets, new.listen, perms, &mut old) {
            Ok(mut bound) => {
                let mut all = inherited;
                all.append(&mut bound);
                self.listeners = all;
                for l in old {
                    info!(socket = %l.spec.address, "socket closed: no longer configured");
                    l.close();
                }
            }
            Err(e) => {
                let mut all = inherited;
                all.append(&mut old);
                self.listeners = all;
                return Err(format!("{e:#}"));
            }
        }
        match resolve_ids(&new) {
            Ok(ids) => self.ids = ids,
            Err(e) => return Err(format!("{e:#}")),
        }
        if new.lost_work_log != self.config.lost_work_log {
            self.lost_log = new
                .lost_work_log
                .as_deref()
                .and_then(|p| open_append(p).map_err(|e| error!("{e:#}")).ok());
        }
        if (new.log_format, &new.logto, &new.logs)
            != (
                self.config.log_format,
                &self.config.logto,
                &self.config.logs,
            )
        {
            let changed = crate::logs::with(|l| {
                l.reconfigure(new.log_format, new.logto.as_deref(), &new.logs)
            });
            if let Some(Err(e)) = changed {
                error!("the new log settings were not applied: {e:#}; still logging as before");
            }
        }
        if (&new.touch_reload, &new.touch_workers_reload)
            != (&self.config.touch_reload, &self.config.touch_workers_reload)
        {
            self.touch = TouchWatch::new(&new.touch_reload, &new.touch_workers_reload);
        }
        self.side_reload(&new);
        self.rewatch(&new);
        let params = Params::from_config(&new);
        self.config = new;
        Ok(Event::Reload { params })
    }
}
