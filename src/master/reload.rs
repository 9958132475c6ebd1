//! SIGHUP: read the configuration again and apply it only when it is valid.

use tracing::{error, info, warn};

use super::Master;
use super::setup::{open_append, resolve_ids, unix_perms};
use super::touch::TouchWatch;
use crate::policy::{Event, Params};
use crate::sockets::{self, Listener};

impl Master {
    /// SIGHUP: load the configuration again; apply it if valid, else keep the old one.
    pub(super) fn reload(&mut self) -> Option<Event> {
        if self.policy.is_stopping() {
            info!("SIGHUP ignored: ebb is stopping");
            return None;
        }
        info!("reload requested (SIGHUP): reading the configuration again");
        let loaded = match self.loader.load() {
            Ok(l) => l,
            Err(errs) => {
                for e in &errs.0 {
                    error!("{e}");
                }
                error!(
                    "reload aborted: the configuration has {} error(s); still running the previous one",
                    errs.0.len()
                );
                return None;
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
                error!("reload aborted: {e:#}; still running the previous configuration");
                self.listeners = inherited.into_iter().chain(old).collect();
                return None;
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
                error!("reload aborted: {e:#}; still running the previous configuration");
                let mut all = inherited;
                all.append(&mut old);
                self.listeners = all;
                return None;
            }
        }
        match resolve_ids(&new) {
            Ok(ids) => self.ids = ids,
            Err(e) => {
                error!("reload aborted: {e:#}; still running the previous configuration");
                return None;
            }
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
        Some(Event::Reload { params })
    }
}
