//! Tests of the gunicorn compatibility table.
use super::table::*;
use super::*;
use crate::config::args;
use crate::config::options::OPTIONS;
use std::collections::HashSet;

/// The registry option a long command-line flag names.
fn cli_option(flag: &str) -> Option<&'static options::OptionSpec> {
    let flag = options::normalize_key(flag);
    OPTIONS
        .iter()
        .filter(|o| o.scope.cli)
        .find(|o| o.names().any(|n| n == flag))
}

#[test]
fn table_agrees_with_registry() {
    let mut seen = HashSet::new();
    for s in GUNICORN_SETTINGS {
        assert!(
            seen.insert((s.name, s.values)),
            "{} {:?} listed twice",
            s.name,
            s.values
        );
        for f in s.flags {
            let mapped = cli_option(f);
            match s.status {
                Status::Same => {
                    let m = mapped.unwrap_or_else(|| panic!("--{f} not in the registry"));
                    assert_eq!(m.name, options::normalize_key(s.name), "--{f}");
                }
                Status::Alias(t) | Status::Different(t, _) => {
                    let m = mapped.unwrap_or_else(|| panic!("--{f} not in the registry"));
                    assert_eq!(m.name, t, "--{f} maps to {}, table says {t}", m.name);
                }
                _ => assert!(mapped.is_none(), "--{f} is an ebb option"),
            }
        }
        if let Some(t) = s.status.target() {
            assert!(options::OPTIONS.iter().any(|o| o.name == t), "{t}");
        }
        // A short flag means the same in ebb, unless it is a listed clash.
        if let Some(c) = s.short {
            let ebb = OPTIONS.iter().find(|o| o.short == Some(c));
            let clash = SHORT_CLASHES.iter().any(|(x, _, _)| *x == c);
            match (s.status.target(), ebb) {
                (_, Some(_)) if clash => {}
                (Some(t), Some(o)) => assert_eq!(o.name, t, "-{c}"),
                (None, Some(o)) if s.status == Status::Same => {
                    assert_eq!(o.name, options::normalize_key(s.name), "-{c}")
                }
                (_, Some(o)) => panic!("-{c} is ebb's {} but gunicorn's {}", o.name, s.name),
                (_, None) => {}
            }
        }
    }
    // Settings with rows per value have a row for the rest.
    for s in GUNICORN_SETTINGS.iter().filter(|s| !s.values.is_empty()) {
        assert!(
            GUNICORN_SETTINGS
                .iter()
                .any(|o| o.name == s.name && o.values.is_empty()),
            "{} has no row for other values",
            s.name
        );
    }
}

/// Every gunicorn flag and short flag is accepted on ebb's command line: as an ebb
/// option, or as a hidden flag classified here (or in the uWSGI table, which must agree).
#[test]
fn every_flag_is_accepted() {
    let cmd = args::command_line();
    for s in GUNICORN_SETTINGS {
        for f in s.flags {
            let arg = cmd.get_arguments().find(|a| {
                a.get_long() == Some(f) || a.get_all_aliases().is_some_and(|v| v.contains(f))
            });
            let arg = arg.unwrap_or_else(|| panic!("--{f} is not accepted"));
            if s.status.target().is_none() && s.status != Status::Same {
                assert!(arg.is_hide_set(), "--{f}");
                assert_eq!(
                    arg.get_action().takes_values(),
                    s.takes_value,
                    "--{f} takes a value?"
                );
                // Also in the uWSGI table: the two must agree on warn or not.
                if let Some(u) = crate::config::uwsgi::UWSGI_OPTIONS
                    .iter()
                    .find(|u| u.name == options::normalize_key(f))
                {
                    assert_eq!(
                        std::mem::discriminant(&u.status),
                        std::mem::discriminant(&s.status),
                        "--{f}: uWSGI says {}, gunicorn {}",
                        u.status.label(),
                        s.status.label()
                    );
                }
            }
        }
        if let Some(c) = s.short
            && !SHORT_CLASHES.iter().any(|(x, _, _)| *x == c)
        {
            assert!(
                cmd.get_arguments().any(|a| a.get_short() == Some(c)),
                "-{c} ({}) is not accepted",
                s.name
            );
        }
    }
}

#[test]
fn classification() {
    let no = |h: &str| Verdict::Unsupported(h.to_string());
    let cases: &[(&str, &str, Verdict)] = &[
        ("worker-class", "sync", Verdict::Quiet),
        ("worker_class", "gthread", Verdict::Quiet),
        ("--worker-class", "GTHREAD", Verdict::Quiet),
        (
            "worker-class",
            "gunicorn.workers.gthread.ThreadWorker",
            Verdict::Quiet,
        ),
        // The default: a fork server imports the app once.
        ("preload", "", Verdict::Quiet),
        ("preload_app", "true", Verdict::Quiet),
        ("reload", "", no(RELOAD)),
        ("capture-output", "", Verdict::Quiet),
        ("header-map", "drop", Verdict::Quiet),
        (
            "header-map",
            "refuse",
            no("not configurable: headers with _ in their name are dropped (gunicorn's drop)"),
        ),
        ("post_fork", "", no(WORKER_INIT)),
        ("frobnicate", "", Verdict::Unknown(None)),
    ];
    for (key, value, want) in cases {
        assert_eq!(&classify(key, value), want, "{key} {value}");
    }
    for class in [
        "gevent",
        "eventlet",
        "tornado",
        "uvicorn.workers.UvicornWorker",
    ] {
        let Verdict::Error(m) = classify("worker-class", class) else {
            panic!("{class} accepted");
        };
        assert_eq!(m, format!("{class:?} is not available: {WORKER_CLASS_NO}"));
    }
    assert!(matches!(
        classify("print-config", ""),
        Verdict::Error(m) if m.contains("--check-config")
    ));
    assert!(matches!(
        classify("daemon", ""),
        Verdict::Unsupported(m) if m.contains("systemd")
    ));
}

#[test]
fn markdown_lists_every_setting() {
    let md = compat_markdown();
    for s in GUNICORN_SETTINGS {
        assert!(md.contains(&format!("| `{}`", s.name)), "{}", s.name);
        for f in s.flags {
            assert!(md.contains(&format!("`--{f}`")), "--{f}");
        }
    }
}
