//! Loading tests: `conf/ebb.toml`.

use super::*;

#[test]
fn example_config_loads_and_shows_every_option() {
    let path = root().join("conf/ebb.toml");
    let text = std::fs::read_to_string(&path).expect("conf/ebb.toml exists");
    let l = load(&["--config", "conf/ebb.toml"], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);

    for o in options::OPTIONS.iter().filter(|o| o.scope.toml) {
        let line = text.lines().find(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{} = ", o.name))
        });
        let line = line.unwrap_or_else(|| panic!("conf/ebb.toml does not show {}", o.name));
        // Each commented example, uncommented, is a valid value for its key.
        let snippet = line.trim_start_matches('#').trim_start();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "one.toml", &format!("{snippet}\n"));
        let mut out = source::Collected::default();
        toml_file::collect(Path::new("one.toml"), dir.path(), snippet, &mut out);
        assert!(out.errors.is_empty(), "{snippet}: {:?}", out.errors);
        assert!(!out.settings.is_empty(), "{snippet}");
    }
}

#[test]
fn error_display() {
    let cases = [
        (
            ConfigError {
                file: Some("conf/bad.toml".into()),
                line: Some(3),
                key: "processes".into(),
                message: "expected a positive integer, got \"four\"".into(),
            },
            "conf/bad.toml:3: processes: expected a positive integer, got \"four\"",
        ),
        (
            ConfigError {
                file: None,
                line: None,
                key: "--processes".into(),
                message: "m".into(),
            },
            "--processes: m",
        ),
        (
            ConfigError {
                file: Some("a.toml".into()),
                line: None,
                key: String::new(),
                message: "cannot read".into(),
            },
            "a.toml: cannot read",
        ),
    ];
    for (e, want) in cases {
        assert_eq!(e.to_string(), want);
    }
    let all = ConfigErrors(vec![cases_first(), cases_first()]);
    assert_eq!(all.to_string(), "--x: y\n--x: y");
}

fn cases_first() -> ConfigError {
    ConfigError {
        file: None,
        line: None,
        key: "--x".into(),
        message: "y".into(),
    }
}

#[test]
fn example_ini_maps_every_option() {
    let path = root().join("conf/uwsgi-example.ini");
    let text = std::fs::read_to_string(&path).expect("conf/uwsgi-example.ini exists");
    let ctx = source::Context {
        cwd: root(),
        env: Default::default(),
        pid: 1,
        is_root: false,
    };
    let mut out = source::Collected::default();
    let named = Path::new("conf/uwsgi-example.ini");
    ini::collect(named, &path, "uwsgi", &text, &ctx, &mut out);
    assert!(out.errors.is_empty(), "{:?}", out.errors);
    assert!(out.extras.is_empty(), "{:?}", out.extras);
    assert_eq!(out.settings.len(), 20);
    // Its values are valid (the paths are an example: /srv/mysite need not exist here).
    let errs = errors(&["conf/uwsgi-example.ini"], &[]);
    for e in &errs {
        assert!(e.contains("does not exist"), "{e}");
    }
}
