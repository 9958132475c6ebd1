//! Tests of the uwsgi compatibility table.
use super::*;
use std::collections::HashSet;

#[test]
fn table_agrees_with_registry() {
    let mut seen = HashSet::new();
    for o in UWSGI_OPTIONS.iter() {
        assert!(seen.insert(o.name), "{} listed twice", o.name);
        assert_eq!(o.name, options::normalize_key(o.name));
        let mapped = options::lookup(o.name, Front::Ini);
        match o.status {
            Status::Same => {
                let m = mapped.unwrap_or_else(|| panic!("{} not in the registry", o.name));
                assert_eq!(m.name, o.name, "{} is Same but maps to {}", o.name, m.name);
            }
            Status::Alias(t) | Status::Different(t, _) => {
                let m = mapped.unwrap_or_else(|| panic!("{} not in the registry", o.name));
                assert_eq!(m.name, t, "{} maps to {}, table says {t}", o.name, m.name);
            }
            Status::AlwaysOn(_) | Status::Unsupported(_) | Status::Refused(_) => {
                assert!(
                    mapped.is_none(),
                    "{} is mapped but listed as {}",
                    o.name,
                    o.status.label()
                );
            }
        }
    }
}

#[test]
fn classification() {
    let cases: &[(&str, &str, Verdict)] = &[
        ("master", "true", Verdict::Quiet),
        ("enable_threads", "", Verdict::Quiet),
        ("plugins", "python3", Verdict::Quiet),
        ("plugins", "python3, http", Verdict::Quiet),
        ("plugin", "python312", Verdict::Quiet),
        (
            "hook-as-user",
            "exec:true",
            Verdict::Unsupported(
                "run these steps from the service manager (ExecStartPre= in systemd)".into(),
            ),
        ),
        (
            "cheaper-algo",
            "spare",
            Verdict::Unsupported(
                "ebb runs a fixed number of workers: set processes, and use SIGTTIN/SIGTTOU".into(),
            ),
        ),
        ("frobnicate", "1", Verdict::Unknown(None)),
        ("proceses", "4", Verdict::Unknown(Some("processes"))),
    ];
    for (key, value, want) in cases {
        assert_eq!(&classify(key, value), want, "{key} = {value}");
    }
    assert!(
        matches!(classify("plugins", "python3,gevent"), Verdict::Unsupported(m) if m.contains("gevent"))
    );
    assert!(matches!(
        classify("stats-push", "statsd:127.0.0.1:8125"),
        Verdict::Unsupported(_)
    ));
}

#[test]
fn markdown_lists_every_option() {
    let md = compat_markdown();
    for o in UWSGI_OPTIONS.iter() {
        assert!(md.contains(&format!("| `{}` |", o.name)), "{}", o.name);
    }
}
