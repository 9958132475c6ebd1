//! Options for the Python worker's layers in front of the app: static files (uWSGI's
//! `static-*`). Each becomes an `EBB_*` variable the worker reads when it builds its layers
//! (see `src/python/ebb_worker/static.py`); the values are checked here, so a mistake is a
//! configuration error with its file and line, not a worker that fails at start.

use super::options::{self, Id};
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

/// The routing actions the Python worker runs (`src/python/ebb_worker/routes.py`, whose
/// tests check that both lists agree).
pub(super) const ROUTE_ACTIONS: &[&str] = &[
    "continue",
    "last",
    "break",
    "return",
    "redirect",
    "redirect-302",
    "redirect-permanent",
    "redirect-301",
    "rewrite",
    "rewrite-last",
    "addheader",
    "delheader",
    "remheader",
    "addvar",
    "setpathinfo",
    "setscriptname",
    "setmethod",
    "goto",
    "log",
    "static",
    "basicauth",
    "donotlog",
];

/// The conditions of `route-if` / `route-if-not`, with how many `;`-separated values each
/// takes.
pub(super) const ROUTE_CONDITIONS: &[(&str, usize)] = &[
    ("equal", 2),
    ("isequal", 2),
    ("startswith", 2),
    ("endswith", 2),
    ("contains", 2),
    ("contain", 2),
    ("regexp", 2),
    ("re", 2),
    ("ishigher", 2),
    ("isgreater", 2),
    ("ishigherequal", 2),
    ("isgreaterequal", 2),
    ("islower", 2),
    ("isless", 2),
    ("islowerequal", 2),
    ("islessequal", 2),
    ("empty", 1),
    ("exists", 1),
    ("isfile", 1),
    ("isdir", 1),
    ("islink", 1),
];

/// uWSGI actions that ebb does not run, with what to do instead.
const ROUTE_ELSEWHERE: &[(&str, &str)] = &[
    ("http", "proxy from nginx (proxy_pass), not from a worker"),
    ("uwsgi", "proxy from nginx (uwsgi_pass), not from a worker"),
    (
        "proxyhttp",
        "proxy from nginx (proxy_pass), not from a worker",
    ),
    ("cache", "use a cache service or the app's cache"),
    ("cachestore", "use a cache service or the app's cache"),
    ("chdir", "set chdir once for the app"),
    ("setapp", "ebb runs one app"),
    ("sethome", "ebb runs one app: set virtualenv"),
    ("setfile", "ebb runs one app: set wsgi-file"),
    ("send", "answer from the app"),
    ("harakiri", "set harakiri for every request"),
];

/// One routing option (`route`, `route-if`, `route-run`, `route-label`, `add-header`...):
/// checked here, run by the worker, which gets every rule in `EBB_ROUTES`, one
/// `option<TAB>value` per line, in the order written.
pub(super) fn route_option(id: Id, raw: &Raw, out: &mut WorkerVars) -> Result<(), String> {
    let name = options::spec(id).name;
    let v = values::parse_text(raw, "a routing rule")?;
    if v.contains('\n') || v.contains('\t') {
        return Err(format!("{v:?}: a routing rule is one line, without tabs"));
    }
    let text = v.trim();
    match id {
        Id::RouteLabel => {
            if text.contains(char::is_whitespace) {
                return Err(format!("{text:?}: a label is one word"));
            }
        }
        Id::AddHeader => {
            if !matches!(text.split_once(':'), Some((n, _)) if !n.trim().is_empty()) {
                return Err(format!("{text:?}: write it as Name: value"));
            }
        }
        Id::DelHeader => {}
        Id::RouteRun => check_action(text)?,
        _ => {
            let Some((head, action)) = text.split_once(char::is_whitespace) else {
                return Err(format!(
                    "{text:?}: write it as {} and an action, e.g. {name} = {}",
                    if matches!(id, Id::RouteIf | Id::RouteIfNot) {
                        "CONDITION:ARGS"
                    } else {
                        "REGEXP"
                    },
                    if matches!(id, Id::RouteIf | Id::RouteIfNot) {
                        "equal:${HTTPS};on last:"
                    } else {
                        "^/health/ return:204"
                    }
                ));
            };
            if matches!(id, Id::RouteIf | Id::RouteIfNot) {
                let (cond, args) = head.split_once(':').unwrap_or((head, ""));
                let Some((_, n)) = ROUTE_CONDITIONS.iter().find(|(c, _)| *c == cond) else {
                    return Err(format!(
                        "unknown condition {cond:?}: ebb knows {}",
                        ROUTE_CONDITIONS
                            .iter()
                            .map(|(c, _)| *c)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                };
                if *n == 2 && !args.contains(';') {
                    return Err(format!(
                        "{cond}:{args}: {cond} compares two values separated by ';' \
                         ({cond}:${{HTTP_HOST}};example.com)"
                    ));
                }
            }
            check_action(action.trim())?;
        }
    }
    out.push(("EBB_ROUTES", format!("{name}\t{text}")));
    Ok(())
}

fn check_action(action: &str) -> Result<(), String> {
    let (verb, arg) = action.split_once(':').unwrap_or((action, ""));
    if ROUTE_ACTIONS.contains(&verb) {
        return match verb {
            "return" if arg.is_empty() => Err("return: needs a status (return:403)".into()),
            "return" | "break" if !arg.is_empty() && !status_ok(arg) => Err(format!(
                "{verb}:{arg}: not an HTTP status (write {verb}:403 or {verb}:403 Forbidden)"
            )),
            "redirect" | "redirect-302" | "redirect-permanent" | "redirect-301" | "goto"
            | "static" | "rewrite" | "rewrite-last"
                if arg.is_empty() =>
            {
                Err(format!("{verb}: needs a value ({verb}:...)"))
            }
            "basicauth" if !matches!(arg.split_once(','), Some((_, c)) if c.contains(':')) => {
                Err(format!(
                    "basicauth:{arg}: write it as basicauth:Realm,user:password \
                     (ebb reads no htpasswd file)"
                ))
            }
            _ => Ok(()),
        };
    }
    if let Some((_, instead)) = ROUTE_ELSEWHERE.iter().find(|(a, _)| *a == verb) {
        return Err(format!(
            "the routing action {verb:?} is not supported by ebb: {instead}"
        ));
    }
    Err(format!(
        "unknown routing action {verb:?}: ebb runs {}",
        ROUTE_ACTIONS.join(", ")
    ))
}

fn status_ok(s: &str) -> bool {
    let code = s.trim().split(' ').next().unwrap_or("");
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(id: Id, v: &str) -> Result<String, String> {
        let mut out = Vec::new();
        route_option(id, &Raw::Str(v.into()), &mut out)?;
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "EBB_ROUTES");
        Ok(out.remove(0).1)
    }

    #[test]
    fn routing_rules_are_checked_as_uwsgi_writes_them() {
        let ok: &[(Id, &str, &str)] = &[
            (
                Id::Route,
                "^/health/ continue:",
                "route\t^/health/ continue:",
            ),
            (
                Id::Route,
                "  ^/a  return:403 Forbidden ",
                "route\t^/a  return:403 Forbidden",
            ),
            (
                Id::RouteHost,
                "^www\\. redirect-permanent:https://x${REQUEST_URI}",
                "route-host\t^www\\. redirect-permanent:https://x${REQUEST_URI}",
            ),
            (
                Id::RouteIf,
                "equal:${HTTPS};on last:",
                "route-if\tequal:${HTTPS};on last:",
            ),
            (
                Id::RouteIfNot,
                "empty:${X} break:",
                "route-if-not\tempty:${X} break:",
            ),
            (
                Id::RouteRun,
                "addheader:X-A: 1",
                "route-run\taddheader:X-A: 1",
            ),
            (Id::RouteLabel, "https", "route-label\thttps"),
            (
                Id::AddHeader,
                "X-Content-Type-Options: nosniff",
                "add-header\tX-Content-Type-Options: nosniff",
            ),
            (Id::DelHeader, "Server", "del-header\tServer"),
            (
                Id::Route,
                "^/p basicauth:Staff,ann:pw",
                "route\t^/p basicauth:Staff,ann:pw",
            ),
        ];
        for (id, v, want) in ok {
            assert_eq!(one(*id, v).as_deref(), Ok(*want), "{v}");
        }
        let bad: &[(Id, &str, &str)] = &[
            (Id::Route, "^/x", "REGEXP and an action"),
            (
                Id::Route,
                "^/x frobnicate:1",
                "unknown routing action \"frobnicate\"",
            ),
            (
                Id::Route,
                "^/api/ uwsgi:127.0.0.1:3031",
                "\"uwsgi\" is not supported by ebb",
            ),
            (Id::Route, "^/x return:", "return: needs a status"),
            (Id::Route, "^/x break:4o4", "not an HTTP status"),
            (Id::Route, "^/x redirect:", "redirect: needs a value"),
            (
                Id::Route,
                "^/x basicauth:Realm,/etc/htpasswd",
                "ebb reads no htpasswd file",
            ),
            (Id::RouteIf, "same:a;b last:", "unknown condition \"same\""),
            (Id::RouteIf, "equal:a last:", "separated by ';'"),
            (Id::RouteIf, "equal:a;b", "CONDITION:ARGS and an action"),
            (Id::RouteLabel, "two words", "one word"),
            (Id::AddHeader, "no colon", "Name: value"),
            (Id::Route, "^/x\tlast:", "without tabs"),
        ];
        for (id, v, want) in bad {
            let e = one(*id, v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }
}
