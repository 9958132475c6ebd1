//! Loading tests: uWSGI and gunicorn options mapped with issues 13 and 14 (socket protocol,
//! client timeouts, mount, request limits, the graceful-stop hook, module with wsgi-file).

use super::*;

/// Load an ini file with `text`, in a temporary directory that is also the current one.
fn ini(text: &str) -> Result<Loaded, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.py", "");
    write(dir.path(), "a.ini", text);
    load_in(dir.path(), &["a.ini"], &[])
}

fn env_of(l: &Loaded) -> Vec<(String, String)> {
    l.config
        .env
        .iter()
        .filter(|(k, _)| k.starts_with("EBB_") || k == "SCRIPT_NAME")
        .cloned()
        .collect()
}

fn kv(k: &str, v: &str) -> (String, String) {
    (k.to_string(), v.to_string())
}

#[test]
fn sockets_http11_and_protocol_http() {
    let l = ini("[uwsgi]\nhttp11-socket = :8001\nsocket = :8002\nprotocol = http\nmodule = app\n")
        .unwrap();
    assert_eq!(
        l.config.sockets,
        [tcp("", 8001, Protocol::Http), tcp("", 8002, Protocol::Http)]
    );
    let e = ini("[uwsgi]\nsocket = :8002\nprotocol = fastcgi\nmodule = app\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("a.ini:3: protocol: expected uwsgi or http"),
        "{e}"
    );
}

#[test]
fn graceful_stop_hook_is_accepted_quietly() {
    let l = ini(
        "[uwsgi]\nhttp = :1\nmodule = app\nhook-master-start = unix_signal:15 gracefully_kill_them_all\n",
    )
    .unwrap();
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\nhook-master-start = unix_signal:1 reload\n")
        .unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
}

#[test]
fn client_timeouts_reach_the_worker() {
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\nsocket-timeout = 10\n").unwrap();
    assert_eq!(env_of(&l), [kv("EBB_REQUEST_TIMEOUT", "10")]);
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\nhttp-timeout = 2m ; two minutes\n").unwrap();
    assert_eq!(env_of(&l), [kv("EBB_REQUEST_TIMEOUT", "120")]);
    let e = ini("[uwsgi]\nhttp = :1\nmodule = app\nhttp-timeout = 0\n").unwrap_err();
    assert!(e.to_string().contains("must be more than 0"), "{e}");
}

#[test]
fn mount_and_manage_script_name() {
    let l = ini("[uwsgi]\nhttp = :1\nmount = /app=myproj.wsgi:application\nmanage-script-name\n")
        .unwrap();
    assert_eq!(
        python(&l.config).module.as_deref(),
        Some("myproj.wsgi:application")
    );
    assert_eq!(env_of(&l), [kv("SCRIPT_NAME", "/app")]);
    // Without manage-script-name the prefix is not split off (uWSGI selects the app by
    // SCRIPT_NAME, which HTTP clients do not send).
    let l = ini("[uwsgi]\nhttp = :1\nmount = /app/=app.py\n").unwrap();
    assert!(
        python(&l.config)
            .wsgi_file
            .as_ref()
            .unwrap()
            .ends_with("app.py")
    );
    assert!(env_of(&l).is_empty());
    // The same app in module and mount: fine; another one: an error.
    let l = ini(
        "[uwsgi]\nhttp = :1\nmodule = pkg.wsgi\nmount = /x=pkg.wsgi\nmanage-script-name = true\n",
    )
    .unwrap();
    assert_eq!(env_of(&l), [kv("SCRIPT_NAME", "/x")]);
    let e = ini("[uwsgi]\nhttp = :1\nmodule = pkg.wsgi\nmount = /x=other.wsgi\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("a.ini:4: mount: mount names the app other.wsgi"),
        "{e}"
    );
    // Several mounts: the worker dispatches (no SCRIPT_NAME for all of them).
    let l = ini(
        "[uwsgi]\nhttp = :1\nmount = /a=app.py\nmount = /b/=pkg.b:app\nmanage-script-name = true\n",
    )
    .unwrap();
    assert!(env_of(&l).is_empty());
    let o = &l.config.python_opts;
    assert_eq!(
        o.mounts,
        [
            ("/a".into(), "app.py".into()),
            ("/b".into(), "pkg.b:app".into())
        ]
    );
    assert!(o.dispatches() && o.manage_script_name);
    let e = ini("[uwsgi]\nhttp = :1\nmount = /a=app.py\nmount = /a/=b.py\n").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("a.ini:4: mount: /a is mounted twice (the other is app.py)"),
        "{e}"
    );
    let e = ini("[uwsgi]\nhttp = :1\nmount = app.wsgi\n").unwrap_err();
    assert!(e.to_string().contains("expected /PREFIX=APP"), "{e}");
}

#[test]
fn request_limits_and_buffer_size() {
    let dir = tempfile::tempdir().unwrap();
    let l = load_in(
        dir.path(),
        &[
            "-b",
            ":1",
            "app:application",
            "--limit-request-line",
            "4094",
            "--limit-request-fields",
            "0",
            "--limit-request-field_size",
            "0",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(
        env_of(&l),
        [
            kv("EBB_LIMIT_REQUEST_LINE", "4094"),
            kv("EBB_LIMIT_REQUEST_FIELDS", "32768"),
            kv("EBB_LIMIT_REQUEST_FIELD_SIZE", "65536"),
            kv("EBB_LIMIT_REQUEST_HEAD", "65536"),
        ]
    );
    // uWSGI's buffer-size bounds the whole head, and the line and fields with it.
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\nbuffer-size = 4096\n").unwrap();
    assert_eq!(
        env_of(&l),
        [
            kv("EBB_LIMIT_REQUEST_LINE", "4096"),
            kv("EBB_LIMIT_REQUEST_FIELDS", "100"),
            kv("EBB_LIMIT_REQUEST_FIELD_SIZE", "4096"),
            kv("EBB_LIMIT_REQUEST_HEAD", "4096"),
        ]
    );
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\n").unwrap();
    assert!(env_of(&l).is_empty(), "{:?}", env_of(&l));
    let e = ini("[uwsgi]\nhttp = :1\nmodule = app\nbuffer-size = 100\n").unwrap_err();
    assert!(e.to_string().contains("between 1024 and 1048576"), "{e}");
}

#[test]
fn module_and_wsgi_file_the_module_runs() {
    let l = ini("[uwsgi]\nhttp = :1\nmodule = pkg.wsgi\nwsgi-file = app.py\n").unwrap();
    let app = python(&l.config);
    assert_eq!(app.module.as_deref(), Some("pkg.wsgi"));
    assert_eq!(app.wsgi_file, None);
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(
        l.warnings[0].starts_with("wsgi-file (a.ini:4) is ignored: the module pkg.wsgi"),
        "{:?}",
        l.warnings
    );
}

#[test]
fn near_misses_are_typos_for_check_config() {
    let l = ini("[uwsgi]\nhttp = :1\nmodule = app\nproceses = 4\nbase = /tmp\nchdir = %(base)\n")
        .unwrap();
    let typos: Vec<String> = l.typos.iter().map(ToString::to_string).collect();
    assert_eq!(
        typos,
        ["a.ini:4: proceses: unknown option; did you mean processes? (ignored when ebb starts)"]
    );
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
}

#[test]
fn hash_comments_after_numbers_as_uwsgi_reads_them() {
    // City of Helsinki's uwsgi.ini: `max-requests = 1000       # Restart workers after...`.
    let l = ini(
        "[uwsgi]\nhttp = :8000 # the port\nmodule = app\nmax-requests = 1000       # restart\n\
         harakiri = 30 # secs\nmaster = true # yes\nenv = A=b # kept, as in uWSGI\n",
    )
    .unwrap();
    assert_eq!(l.config.max_requests, Some(1000));
    assert_eq!(l.config.harakiri, Some(Duration::from_secs(30)));
    assert_eq!(l.config.sockets, [tcp("", 8000, Protocol::Http)]);
    assert_eq!(l.config.env, [kv("A", "b # kept, as in uWSGI")]);
    let e = ini("[uwsgi]\nhttp = :1\nmodule = pkg.wsgi  # the app\n").unwrap_err();
    assert!(
        e.to_string().contains(
            "a '#' after a value is part of it in uWSGI ini files, not a comment; put the \
             comment on its own line (module = pkg.wsgi)"
        ),
        "{e}"
    );
}
