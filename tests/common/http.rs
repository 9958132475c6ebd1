//! HTTP clients: a keep-alive connection, raw exchanges, response parsing, the uwsgi protocol.

use super::*;

#[derive(Debug, Clone)]
pub enum Target {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(b),
            Stream::Unix(s) => s.read(b),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(b),
            Stream::Unix(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The server will close the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// `key=<number>` from the body (`worker=`, `pid=`, `respawn=`).
    pub fn num(&self, key: &str) -> Option<u64> {
        body_num(&self.body, key)
    }

    pub fn pid(&self) -> Option<i32> {
        self.num("pid").map(|p| p as i32)
    }

    /// `KEY=VALUE` lines of the body (for `/env`).
    pub fn env(&self) -> HashMap<String, String> {
        self.body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// `key=<digits>` anywhere in `s` (preceded by start or a space).
pub fn body_num(s: &str, key: &str) -> Option<u64> {
    let pat = format!("{key}=");
    let mut from = 0;
    while let Some(i) = s[from..].find(&pat) {
        let at = from + i;
        if at == 0 || s.as_bytes()[at - 1].is_ascii_whitespace() || s.as_bytes()[at - 1] == b'[' {
            let digits: String = s[at + pat.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(n) = digits.parse() {
                return Some(n);
            }
        }
        from = at + pat.len();
    }
    None
}

/// One HTTP/1.1 connection (keep-alive capable).
pub struct Conn {
    s: Stream,
    buf: Vec<u8>,
    pub served: usize,
}

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

impl Conn {
    pub fn open(t: &Target) -> io::Result<Conn> {
        let s = match t {
            Target::Tcp(a) => {
                let s = TcpStream::connect_timeout(a, IO_TIMEOUT)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                Stream::Tcp(s)
            }
            Target::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                Stream::Unix(s)
            }
        };
        Ok(Conn {
            s,
            buf: Vec::new(),
            served: 0,
        })
    }

    /// Send `GET path` and read the whole response.
    pub fn get(&mut self, path: &str, keep_alive: bool) -> io::Result<Response> {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: ebb-test\r\nConnection: {}\r\n\r\n",
            if keep_alive { "keep-alive" } else { "close" }
        );
        self.s.write_all(req.as_bytes())?;
        let r = self.read_response()?;
        self.served += 1;
        Ok(r)
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 16 * 1024];
        let n = self.s.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn read_response(&mut self) -> io::Result<Response> {
        let head_len = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            if self.fill()? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed after {} bytes of a response head",
                        self.buf.len()
                    ),
                ));
            }
        };
        let (status, headers) = parse_head(&self.buf[..head_len])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let body = match len {
            Some(n) => {
                while self.buf.len() < head_len + n {
                    if self.fill()? == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed in a response body",
                        ));
                    }
                }
                let b = self.buf[head_len..head_len + n].to_vec();
                self.buf.drain(..head_len + n);
                b
            }
            None => {
                // Read to EOF.
                while self.fill()? > 0 {}
                let b = self.buf[head_len..].to_vec();
                self.buf.clear();
                b
            }
        };
        Ok(Response {
            status,
            headers,
            body: String::from_utf8_lossy(&body).to_string(),
        })
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// `GET path` on a fresh connection.
pub fn get(t: &Target, path: &str) -> io::Result<Response> {
    Conn::open(t)?.get(path, false)
}

/// `GET path` on fresh connections, retried every 10 ms until it answers or `timeout`.
pub fn get_retry(t: &Target, path: &str, timeout: Duration) -> Result<Response, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match get(t, path) {
            Ok(r) => return Ok(r),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            return Err(format!("GET {path}: no answer within {timeout:?}: {last}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `GET path` that must succeed with 200 (panics with the log tail otherwise).
pub fn get_ok(ebb: &Ebb, t: &Target, path: &str) -> Response {
    match get(t, path) {
        Ok(r) if r.status == 200 => r,
        Ok(r) => ebb.fail(&format!(
            "GET {path}: status {} body {:?}",
            r.status, r.body
        )),
        Err(e) => ebb.fail(&format!("GET {path}: {e}")),
    }
}

/// Status and headers of a complete response head (through its blank line).
pub fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), String> {
    let mut hdrs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hdrs);
    match resp.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        other => return Err(format!("bad response head ({other:?})")),
    }
    let headers = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).to_string(),
            )
        })
        .collect();
    Ok((resp.code.unwrap_or(0), headers))
}

/// A whole HTTP response read from raw bytes: Content-Length, chunked (decoded) or to EOF.
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_len = find(raw, b"\r\n\r\n").map(|i| i + 4).ok_or_else(|| {
        format!(
            "no complete response head in {:?}",
            String::from_utf8_lossy(raw)
        )
    })?;
    let (status, headers) = parse_head(&raw[..head_len])?;
    let r = Response {
        status,
        headers,
        body: String::new(),
    };
    let rest = &raw[head_len..];
    let body = if r
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(n) = r
        .header("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if rest.len() < n {
            return Err(format!("body cut short: {} of {n} bytes", rest.len()));
        }
        rest[..n].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        body: String::from_utf8_lossy(&body).to_string(),
        ..r
    })
}

/// Decode a chunked body (must be complete, with its last chunk).
pub fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let nl = find(b, b"\r\n").ok_or("chunked body: no chunk-size line")?;
        let line = String::from_utf8_lossy(&b[..nl]).to_string();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunked body: bad size line {line:?}: {e}"))?;
        b = &b[nl + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 || &b[size..size + 2] != b"\r\n" {
            return Err(format!("chunked body: chunk of {size} bytes cut short"));
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// Send raw bytes on a fresh connection and read until the server closes it (or `timeout`).
pub fn exchange(t: &Target, req: &[u8], timeout: Duration) -> io::Result<Vec<u8>> {
    let mut c = Conn::open(t)?;
    match &c.s {
        Stream::Tcp(s) => s.set_read_timeout(Some(timeout))?,
        Stream::Unix(s) => s.set_read_timeout(Some(timeout))?,
    }
    c.s.write_all(req)?;
    let mut out = Vec::new();
    let mut tmp = [0u8; 16 * 1024];
    loop {
        match c.s.read(&mut tmp) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&tmp[..n]),
            // A reset after the response (the server closed with unread data): keep what came.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && !out.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}

/// One request with `Connection: close` on a fresh connection; the whole response (chunked
/// bodies decoded). `headers` are extra `Name: value` lines.
pub fn http_request(
    t: &Target,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> Result<Response, String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: ebb-test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let raw = exchange(t, &bytes, IO_TIMEOUT).map_err(|e| format!("{method} {path}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("{method} {path}: {e}"))
}

/// A request in the uwsgi wire protocol (what nginx's `uwsgi_pass` sends): a 4-byte header,
/// the vars, then the body. Reads the (plain HTTP) response to EOF.
pub fn uwsgi_request(t: &Target, method: &str, uri: &str, body: &[u8]) -> Result<Response, String> {
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let mut vars: Vec<(String, String)> = vec![
        ("REQUEST_METHOD".into(), method.into()),
        ("REQUEST_URI".into(), uri.into()),
        ("PATH_INFO".into(), path.into()),
        ("QUERY_STRING".into(), query.into()),
        ("SERVER_PROTOCOL".into(), "HTTP/1.1".into()),
        ("SERVER_NAME".into(), "ebb-test".into()),
        ("SERVER_PORT".into(), "80".into()),
        ("REMOTE_ADDR".into(), "127.0.0.1".into()),
        ("HTTP_HOST".into(), "ebb-test".into()),
    ];
    if !body.is_empty() {
        vars.push(("CONTENT_LENGTH".into(), body.len().to_string()));
        vars.push(("CONTENT_TYPE".into(), "application/octet-stream".into()));
    }
    let mut data = Vec::new();
    for (k, v) in &vars {
        data.extend_from_slice(&(k.len() as u16).to_le_bytes());
        data.extend_from_slice(k.as_bytes());
        data.extend_from_slice(&(v.len() as u16).to_le_bytes());
        data.extend_from_slice(v.as_bytes());
    }
    let mut pkt = vec![0u8];
    pkt.extend_from_slice(&(data.len() as u16).to_le_bytes());
    pkt.push(0);
    pkt.extend_from_slice(&data);
    pkt.extend_from_slice(body);
    let raw = exchange(t, &pkt, IO_TIMEOUT).map_err(|e| format!("uwsgi {method} {uri}: {e}"))?;
    parse_response(&raw).map_err(|e| format!("uwsgi {method} {uri}: {e}"))
}
