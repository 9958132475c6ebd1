//! Property tests (issue 14): whatever an ini or TOML file holds, loading gives a
//! configuration or errors that name where they are, never a panic.

use proptest::prelude::*;

use super::*;

/// Pieces real ini files are made of, and pieces that stress the reader: logic, includes
/// (of itself, of the other file, of a missing one), expansions, comments, odd bytes.
fn ini_line() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "[uwsgi]",
        "[other]",
        "[",
        "]",
        "ini = :other",
        "ini = :uwsgi",
        "ini = a.ini",
        "ini = b.ini:uwsgi",
        "include = b.ini",
        "inherit = missing.ini",
        "ini = %(self)",
        "self = a.ini",
        "if-env = HOME",
        "if-not-env = NOPE",
        "if-exists = b.ini",
        "if-dir = .",
        "if-opt = processes=2",
        "if-weird = x",
        "else",
        "endif",
        "endfor =",
        "for = a b c",
        "for-times = 3",
        "for-times = 99999999999",
        "for-glob = *.ini",
        "for-readline = b.ini",
        "for-readline = /nonexistent",
        "processes = 2",
        "processes = -1",
        "processes = 99999999999999999999999",
        "max-requests = 1000 ; comment",
        "http-socket = :8000",
        "http-socket = %(_):1",
        "socket = /tmp/x.sock",
        "protocol = http",
        "module = app",
        "wsgi-file = app.py",
        "mount = /x=app",
        "mount = nope",
        "buffer-size = 1",
        "limit-request-line = 0",
        "strict = true",
        "set-ph = k=v",
        "set-ph = =",
        "chdir = %(k)",
        "env = A=%(_)",
        "x = $(HOME)",
        "y = $(",
        "z = %(",
        "w = @(b.ini)",
        "v = @(/nonexistent)",
        "hook-master-start = unix_signal:15 gracefully_kill_them_all",
        "proceses = 4",
        "; comment",
        "# comment",
        "=",
        "= value",
        "key =",
        "%d%n%p%s%e%c%x%v%h%k%u%g%%%",
    ])
    .prop_map(str::to_string);
    prop_oneof![4 => fixed, 1 => any::<String>()]
}

fn ini_text() -> impl Strategy<Value = String> {
    prop::collection::vec(ini_line(), 0..24).prop_map(|lines| lines.join("\n"))
}

fn check(result: Result<Loaded, ConfigErrors>) {
    if let Err(e) = result {
        assert!(!e.0.is_empty());
        for err in &e.0 {
            assert!(!err.message.is_empty(), "{err:?}");
            assert!(!err.to_string().is_empty());
        }
    }
}

fn toml_piece() -> impl Strategy<Value = String> {
    let keys: Vec<String> = options::OPTIONS
        .iter()
        .flat_map(|o| o.names())
        .map(str::to_string)
        .chain(
            [
                "master",
                "workers",
                "bind",
                "worker_class",
                "[uwsgi]",
                "[x]",
            ]
            .map(String::from),
        )
        .collect();
    let values = prop::sample::select(vec![
        "1",
        "-1",
        "0",
        "99999999999999999999",
        "1.5",
        "-0.0",
        "nan",
        "inf",
        "true",
        "\"\"",
        "\"x\"",
        "\":8000\"",
        "\"/tmp/x.sock\"",
        "[]",
        "[1, \"a\"]",
        "{}",
        "{ A = \"b\" }",
        "1979-05-27",
        "0o777",
        "0x10",
        "0b11",
        "\"30s\"",
        "\"-5s\"",
        "'''\nx\n'''",
        "\"\\u0000\"",
        "[\"python3\", \"x.py\"]",
    ]);
    let line = (prop::sample::select(keys), values).prop_map(|(k, v)| {
        if k.starts_with('[') {
            k
        } else {
            format!("{k} = {v}")
        }
    });
    prop_oneof![6 => line, 1 => any::<String>()]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_ini_tree_loads_or_errs_never_panics(a in ini_text(), b in ini_text()) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.ini", &a);
        write(dir.path(), "b.ini", &b);
        check(load_in(dir.path(), &["a.ini"], &[("HOME", "/root")]));
        check(load_in(dir.path(), &["--ini", "a.ini:other", "--strict"], &[]));
    }

    #[test]
    fn any_toml_loads_or_errs_never_panics(lines in prop::collection::vec(toml_piece(), 0..16)) {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", &lines.join("\n"));
        check(load_in(dir.path(), &["a.toml"], &[]));
    }

    #[test]
    fn any_command_line_value_errs_never_panics(
        flag in prop::sample::select(
            options::OPTIONS.iter().filter(|o| o.scope.cli && o.takes_value()).map(|o| o.name).collect::<Vec<_>>()
        ),
        value in any::<String>(),
    ) {
        let flag = format!("--{flag}");
        check(load(&["--example-app", "-b", ":1", &flag, &value], &[]));
    }

    #[test]
    fn gunicorn_cmd_args_never_panic(text in any::<String>()) {
        check(load(&["-b", ":1", "app"], &[("GUNICORN_CMD_ARGS", &text)]));
    }
}
