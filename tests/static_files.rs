//! Issue 13, static files: `static-map` & co. served by the Python worker in front of the app,
//! over real TCP on the real binary. Content-Type, Content-Length, Last-Modified and 304, byte
//! ranges (206, 416), HEAD, precompressed `.gz`, a directory index, keep-alive across static
//! responses, a 1 MB file byte for byte — and no way out of the mapped folder (`..`, encoded
//! dots, a symlink), which the app answers instead. One ebb serves all the checks of a
//! configuration (Python start-up is the slow part); a uWSGI ini file and a bad option each
//! have their own.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::*;
use nix::sys::signal::Signal;

/// A generous bound for Python workers to start on a loaded 2-core box.
const START: Duration = Duration::from_secs(60);

/// 2020-01-01T00:00:00Z, the mtime given to the files whose Last-Modified is checked.
const MTIME: u64 = 1_577_836_800;
const MTIME_HTTP: &str = "Wed, 01 Jan 2020 00:00:00 GMT";

const CSS: &[u8] = b"body { color: #333 }\n";
const CSS_GZ: &[u8] = b"\x1f\x8b precompressed stand-in";

/// A response with its body as bytes (the harness's [`Response`] keeps text).
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }
}

/// One keep-alive connection that reads responses framed by Content-Length (as every static
/// response is) or chunked (the app's).
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn open(t: &Target) -> Client {
        let Target::Tcp(addr) = t else {
            panic!("a TCP target")
        };
        let s = TcpStream::connect_timeout(addr, IO_TIMEOUT).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client { s, buf: Vec::new() }
    }

    fn fill(&mut self) {
        let mut tmp = [0u8; 64 * 1024];
        let n = self.s.read(&mut tmp).expect("read a response");
        assert!(n > 0, "the server closed the connection mid-response");
        self.buf.extend_from_slice(&tmp[..n]);
    }

    /// `method path` with extra header lines; the whole response.
    fn send(&mut self, method: &str, path: &str, headers: &[&str]) -> Raw {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: ebb-test\r\n");
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.s.write_all(req.as_bytes()).expect("send a request");
        let head_len = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill();
        };
        let (status, headers) = parse_head(&self.buf[..head_len]).expect("a response head");
        self.buf.drain(..head_len);
        let mut r = Raw {
            status,
            headers,
            body: Vec::new(),
        };
        let no_body = method == "HEAD" || status == 304 || status < 200;
        if no_body {
            return r;
        }
        if r.header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let end = loop {
                    if let Some(i) = self.buf.windows(5).position(|w| w == b"0\r\n\r\n") {
                        break i + 5;
                    }
                    self.fill();
                };
                // A whole chunked body ends with the last chunk; decode what came.
                if let Ok(b) = dechunk(&self.buf[..end]) {
                    r.body = b;
                    self.buf.drain(..end);
                    return r;
                }
                self.fill();
            }
        }
        let n: usize = r
            .header("content-length")
            .expect("a Content-Length")
            .parse()
            .expect("a numeric Content-Length");
        while self.buf.len() < n {
            self.fill();
        }
        r.body = self.buf.drain(..n).collect();
        r
    }

    fn get(&mut self, path: &str) -> Raw {
        self.send("GET", path, &[])
    }
}

fn set_mtime(path: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .unwrap();
}

/// 1 MiB of bytes that are not a repeating pattern (a cut or shifted body cannot match).
fn megabyte() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..1 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The app (its answers say "hello pid=…"), `static/` with files, a subdirectory with an
/// index, a symlink out of the folder and one into a `static-safe` folder, and a secret next
/// to the app that no URL may reach.
fn site(dir: &Path) {
    std::fs::copy(wsgi_app("hello.py"), dir.join("app.py")).unwrap();
    let st = dir.join("static");
    std::fs::create_dir_all(st.join("docs")).unwrap();
    std::fs::create_dir_all(dir.join("shared")).unwrap();
    std::fs::write(st.join("site.css"), CSS).unwrap();
    set_mtime(&st.join("site.css"), MTIME);
    std::fs::write(st.join("site.css.gz"), CSS_GZ).unwrap();
    std::fs::write(st.join("docs/index.html"), b"<h1>docs</h1>\n").unwrap();
    std::fs::write(st.join("big.bin"), megabyte()).unwrap();
    std::fs::write(dir.join("secret.txt"), b"SECRET\n").unwrap();
    std::os::unix::fs::symlink(dir.join("secret.txt"), st.join("leak.txt")).unwrap();
    std::fs::write(dir.join("shared/logo.svg"), b"<svg/>\n").unwrap();
    std::os::unix::fs::symlink(dir.join("shared/logo.svg"), st.join("logo.svg")).unwrap();
}

fn stop_ok(ebb: &mut Ebb) {
    ebb.signal(Signal::SIGTERM);
    let status = ebb.expect_exit(Duration::from_secs(30));
    if status.code() != Some(0) {
        ebb.fail(&format!("ebb exited with {status}, expected 0"));
    }
}

fn from_app(ebb: &Ebb, what: &str, r: &Raw) {
    if r.status != 200 || !r.text().starts_with("hello pid=") {
        ebb.fail(&format!(
            "{what}: expected the app's answer, got {} {:?}",
            r.status,
            r.text()
        ));
    }
}

#[test]
fn static_map_serves_files_without_the_app_and_never_leaves_the_folder() {
    let dir = Arc::new(tempdir());
    site(dir.path());
    let d = dir.path().display().to_string();
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--wsgi-file",
            &format!("{d}/app.py"),
            "--threads",
            "2",
            "--static-map",
            &format!("/static={d}/static"),
            "--static-index",
            "index.html",
            "--static-gzip-all",
            "--static-safe",
            &format!("{d}/shared"),
            "--static-expires-type",
            "image/svg+xml=3600",
        ])
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    let mut c = Client::open(&t);

    // A file: its bytes, type, length and date; never the app.
    let r = c.get("/static/site.css");
    assert_eq!(r.status, 200, "{:?}", r.headers);
    assert_eq!(r.body, CSS);
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some(&*CSS.len().to_string()));
    assert_eq!(r.header("last-modified"), Some(MTIME_HTTP));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));

    // Conditional: not modified since its date; modified since an older one.
    let r = c.send(
        "GET",
        "/static/site.css",
        &[&format!("If-Modified-Since: {MTIME_HTTP}")],
    );
    assert_eq!(r.status, 304, "{:?}", r.headers);
    assert_eq!(r.header("last-modified"), Some(MTIME_HTTP));
    let r = c.send(
        "GET",
        "/static/site.css",
        &["If-Modified-Since: Tue, 31 Dec 2019 23:59:59 GMT"],
    );
    assert_eq!((r.status, r.body.as_slice()), (200, CSS));

    // Ranges: a slice, a suffix, one past the end.
    let r = c.send("GET", "/static/site.css", &["Range: bytes=5-9"]);
    assert_eq!(r.status, 206, "{:?}", r.headers);
    assert_eq!(r.body, &CSS[5..10]);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 5-9/{}", CSS.len()))
    );
    let r = c.send("GET", "/static/site.css", &["Range: bytes=-4"]);
    assert_eq!((r.status, r.body.as_slice()), (206, &CSS[CSS.len() - 4..]));
    let r = c.send(
        "GET",
        "/static/site.css",
        &[&format!("Range: bytes={}-", CSS.len())],
    );
    assert_eq!(r.status, 416, "{:?}", r.headers);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes */{}", CSS.len()))
    );

    // HEAD: the GET's head and no body (the next response on this connection would be
    // garbled by stray body bytes).
    let r = c.send("HEAD", "/static/big.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1048576"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));

    // The precompressed file when the client accepts gzip; a range of it is not offered.
    let r = c.send("GET", "/static/site.css", &["Accept-Encoding: br, gzip"]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, CSS_GZ);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("content-type"), Some("text/css; charset=utf-8"));

    // A directory's index, with or without the slash.
    for p in ["/static/docs/", "/static/docs"] {
        let r = c.get(p);
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.text(), "<h1>docs</h1>\n", "{p}");
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    }

    // A symlink into a static-safe folder is served, with its expiry by type.
    let r = c.get("/static/logo.svg");
    assert_eq!((r.status, r.text().as_str()), (200, "<svg/>\n"));
    assert_eq!(r.header("cache-control"), Some("max-age=3600"));
    assert!(r.header("expires").is_some_and(|v| v.ends_with(" GMT")));

    // No way out: each of these reaches the app, and the secret is never sent.
    for p in [
        "/static/../secret.txt",
        "/static/%2e%2e/secret.txt",
        "/static/%2E%2E/secret.txt",
        "/static/..%2fsecret.txt",
        "/static/docs/../../secret.txt",
        "/static/leak.txt",
        "/static/nope.css",
        "/static/site.css%00.png",
    ] {
        let r = c.get(p);
        assert!(!r.text().contains("SECRET"), "{p} sent the secret");
        from_app(&ebb, p, &r);
    }
    // Other paths and methods go to the app.
    from_app(&ebb, "/", &c.get("/"));
    let mut c2 = Client::open(&t);
    let r = c2.send("POST", "/static/site.css", &["Content-Length: 0"]);
    from_app(&ebb, "POST /static/site.css", &r);

    // The 1 MiB file, whole and exact, several times on the one connection, between small
    // ones (keep-alive across static responses).
    let big = megabyte();
    for i in 0..3 {
        let r = c.get("/static/big.bin");
        assert_eq!(r.status, 200, "round {i}");
        assert!(r.body == big, "round {i}: the 1 MiB body differs");
        let r = c.send("GET", "/static/big.bin", &["Range: bytes=1000000-1000099"]);
        assert_eq!(r.status, 206);
        assert!(
            r.body == big[1_000_000..1_000_100],
            "round {i}: the range differs"
        );
        assert_eq!(c.get("/static/site.css").body, CSS, "round {i}");
    }
    drop(c);
    drop(c2);
    stop_ok(&mut ebb);
}

#[test]
fn static_map_from_a_uwsgi_ini_file() {
    let dir = Arc::new(tempdir());
    site(dir.path());
    let ini = dir.path().join("site.ini");
    std::fs::write(
        &ini,
        "[uwsgi]\n\
         http-socket = 127.0.0.1:0\n\
         wsgi-file = %dapp.py\n\
         master = true\n\
         processes = 1\n\
         static-map = /static=%dstatic\n\
         static-index = index.html\n\
         offload-threads = 2\n",
    )
    .unwrap();
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .arg(ini.display().to_string())
        .start();
    let t = ebb.target();
    ebb.wait_ready(0, 1, START);
    let mut c = Client::open(&t);
    let r = c.get("/static/site.css");
    assert_eq!((r.status, r.body.as_slice()), (200, CSS));
    assert_eq!(r.header("last-modified"), Some(MTIME_HTTP));
    assert_eq!(r.header("vary"), None, "no static-gzip option was given");
    assert_eq!(c.get("/static/docs/").text(), "<h1>docs</h1>\n");
    from_app(&ebb, "/static/leak.txt", &c.get("/static/leak.txt"));
    from_app(&ebb, "/", &c.get("/"));
    drop(c);
    stop_ok(&mut ebb);
}

#[test]
fn a_bad_static_expires_is_one_error_naming_the_option() {
    let dir = Arc::new(tempdir());
    site(dir.path());
    let d = dir.path().display().to_string();
    let mut ebb = Ebb::builder()
        .dir(dir.clone())
        .args([
            "--http-socket",
            "127.0.0.1:0",
            "--wsgi-file",
            &format!("{d}/app.py"),
            "--start-attempts",
            "1",
            "--static-map",
            &format!("/static={d}/static"),
            "--static-expires",
            "([a-z 60",
        ])
        .start();
    let status = ebb.expect_exit(START);
    assert!(!status.success(), "ebb exited with {status}");
    let errors: Vec<Line> = ebb
        .lines()
        .into_iter()
        .filter(|l| l.contains("static-expires"))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(
        errors[0].contains("bad regular expression"),
        "{:?}",
        errors[0]
    );
    assert_eq!(
        ebb.count(|l| l.contains("cannot load the WSGI application")),
        0,
        "a static option is not an import error"
    );
}
