//! Options for the Python worker's layers in front of the app: static files (uWSGI's
//! `static-*`). Each becomes an `EBB_*` variable the worker reads when it builds its layers
//! (see `src/python/ebb_worker/static.py`); the values are checked here, so a mistake is a
//! configuration error with its file and line, not a worker that fails at start.

use super::options::Id;
use super::values::{self, Raw};

/// The worker variables of the static-files layer, in the order given.
pub(super) type WorkerVars = Vec<(&'static str, String)>;

/// One static-files option: checked, and added to `out`.
pub(super) fn static_file_option(id: Id, raw: &Raw, out: &mut WorkerVars) -> Result<(), String> {
    match id {
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
            let key = if id == Id::StaticMap {
                "EBB_STATIC_MAP"
            } else {
                "EBB_STATIC_MAP2"
            };
            out.push((key, v));
        }
        Id::CheckStatic => out.push(("EBB_STATIC_CHECK", values::parse_text(raw, "a folder")?)),
        Id::StaticIndex => out.push(("EBB_STATIC_INDEX", values::parse_text(raw, "a file name")?)),
        Id::StaticSafe => out.push(("EBB_STATIC_SAFE", values::parse_text(raw, "a folder")?)),
        Id::StaticGzip => {
            values::parse_text(raw, "a pattern")?;
            out.push(("EBB_STATIC_GZIP", "1".into()));
        }
        Id::StaticGzipAll => {
            if values::parse_bool(raw)? {
                out.push(("EBB_STATIC_GZIP", "1".into()));
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
            out.push(("EBB_STATIC_EXPIRES_TYPE", v));
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
            let key = if id == Id::StaticExpires {
                "EBB_STATIC_EXPIRES"
            } else {
                "EBB_STATIC_EXPIRES_URI"
            };
            out.push((key, v));
        }
        _ => unreachable!("not a static-files option: {id:?}"),
    }
    Ok(())
}
