//! Python WSGI apps, the framework venv, and nginx in front of ebb.

use super::*;

// tests/uwsgi_ini.rs)

/// `tests/wsgi_apps/<name>`.
pub fn wsgi_app(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/wsgi_apps")
        .join(name)
}

/// The venv with Django and Flask (`$EBB_TEST_VENV`, default `target/ci-venv`). Panics with
/// what to run when it is missing: framework tests fail, they are never skipped silently.
pub fn test_venv() -> PathBuf {
    static CHECKED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let venv = std::env::var_os("EBB_TEST_VENV")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("target/ci-venv"));
            let venv = if venv.is_absolute() {
                venv
            } else {
                root.join(venv)
            };
            let python = venv.join("bin/python");
            let ok = Command::new(&python)
                .args(["-c", "import django, flask"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                Ok(venv)
            } else {
                Err(format!(
                    "the test venv {} is missing or lacks Django/Flask: run scripts/test (or \
                     .ci/run on a fresh machine), which creates it with `python3 -m venv {0} && \
                     {0}/bin/pip install django flask`; or point EBB_TEST_VENV at such a venv",
                    venv.display()
                ))
            }
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Copy a directory tree (skipping `__pycache__`).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "__pycache__" {
            continue;
        }
        let (src, dst) = (e.path(), to.join(&name));
        if e.file_type().unwrap().is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst)
                .unwrap_or_else(|e| panic!("copy {} -> {}: {e}", src.display(), dst.display()));
        }
    }
}

/// The nginx binary, or a panic saying how to install it.
pub fn nginx_bin() -> PathBuf {
    for p in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("nginx is not installed: run .ci/run (it installs nginx), or apt-get install nginx")
}

/// The standard `uwsgi_params` file (nginx's own, or the same content written into `dir`).
pub fn uwsgi_params(dir: &Path) -> PathBuf {
    let sys = Path::new("/etc/nginx/uwsgi_params");
    if sys.exists() {
        return sys.to_path_buf();
    }
    let p = dir.join("uwsgi_params");
    let mut text = String::new();
    for (k, v) in [
        ("QUERY_STRING", "$query_string"),
        ("REQUEST_METHOD", "$request_method"),
        ("CONTENT_TYPE", "$content_type"),
        ("CONTENT_LENGTH", "$content_length"),
        ("REQUEST_URI", "$request_uri"),
        ("PATH_INFO", "$document_uri"),
        ("DOCUMENT_ROOT", "$document_root"),
        ("SERVER_PROTOCOL", "$server_protocol"),
        ("REQUEST_SCHEME", "$scheme"),
        ("HTTPS", "$https if_not_empty"),
        ("REMOTE_ADDR", "$remote_addr"),
        ("REMOTE_PORT", "$remote_port"),
        ("SERVER_PORT", "$server_port"),
        ("SERVER_NAME", "$server_name"),
    ] {
        text.push_str(&format!("uwsgi_param  {k:<16}{v};\n"));
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// nginx in the foreground (`daemon off; master_process off;`) with a config rendered from a
/// template in `tests/wsgi_apps/nginx/` into its own directory; killed on drop.
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Nginx {
    /// Render `template` (`@DIR@`, `@PORT@`, `@UPSTREAM@`, `@UWSGI_PARAMS@`) into `dir/nginx`
    /// and start nginx on a free loopback port; waits until it accepts connections.
    /// `upstream` is what follows `uwsgi_pass` (`unix:/path` or `127.0.0.1:port`).
    pub fn start(dir: &Path, template: &str, upstream: &str) -> Nginx {
        let bin = nginx_bin();
        let ndir = dir.join("nginx");
        std::fs::create_dir_all(&ndir).unwrap();
        let tpl_path = wsgi_app("nginx").join(template);
        let tpl = std::fs::read_to_string(&tpl_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", tpl_path.display()));
        let params = uwsgi_params(&ndir);
        let error_log = ndir.join("error.log");
        let mut last_err = String::new();
        // A port from bind(:0) may be taken by someone else before nginx binds it: retry.
        for _attempt in 0..5 {
            let port = free_port();
            let conf = tpl
                .replace("@DIR@", &ndir.display().to_string())
                .replace("@PORT@", &port.to_string())
                .replace("@UPSTREAM@", upstream)
                .replace("@UWSGI_PARAMS@", &params.display().to_string());
            let conf_path = ndir.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let _ = std::fs::remove_file(&error_log);
            let mut child = Command::new(&bin)
                .arg("-p")
                .arg(&ndir)
                .arg("-c")
                .arg(&conf_path)
                .arg("-e")
                .arg(&error_log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(
                    File::create(ndir.join("stderr.log")).expect("nginx stderr file"),
                ))
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let addr: SocketAddr = ([127, 0, 0, 1], port).into();
            let up = poll_until(SOON, || {
                if let Ok(Some(_)) = child.try_wait() {
                    return Some(false);
                }
                TcpStream::connect_timeout(&addr, Duration::from_millis(200))
                    .is_ok()
                    .then_some(true)
            });
            if up == Some(true) {
                return Nginx {
                    child,
                    port,
                    dir: ndir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            last_err = format!(
                "{}{}",
                std::fs::read_to_string(&error_log).unwrap_or_default(),
                std::fs::read_to_string(ndir.join("stderr.log")).unwrap_or_default()
            );
            if !last_err.contains("Address already in use") {
                break;
            }
        }
        panic!("nginx did not start: {last_err}")
    }

    pub fn target(&self) -> Target {
        Target::Tcp(([127, 0, 0, 1], self.port).into())
    }

    /// nginx's error log so far (for failure messages).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
