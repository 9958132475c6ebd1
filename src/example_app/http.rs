//! HTTP details: framing, heads, targets and query strings.

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Body {
    None,
    Length(u64),
    Chunked,
}

/// What the headers say about framing and connection reuse.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct RequestInfo {
    pub(super) http10: bool,
    pub(super) keep_alive: bool,
    /// Close after answering, whatever the client wants (e.g. both Transfer-Encoding and
    /// Content-Length were sent).
    pub(super) must_close: bool,
    pub(super) body: Body,
    pub(super) expect_continue: bool,
}

impl RequestInfo {
    pub(super) fn from(req: &httparse::Request<'_, '_>) -> Result<RequestInfo, &'static str> {
        let http10 = req.version == Some(0);
        let mut close = false;
        let mut ka = false;
        let mut length: Option<u64> = None;
        let mut chunked = false;
        let mut te = false;
        let mut expect_continue = false;
        for h in req.headers.iter() {
            let name = h.name;
            let value = std::str::from_utf8(h.value).map_err(|_| "header value is not UTF-8");
            if name.eq_ignore_ascii_case("content-length") {
                let v = value?.trim();
                if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err("bad Content-Length");
                }
                let n: u64 = v.parse().map_err(|_| "bad Content-Length")?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length headers");
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                te = true;
                // Only the final coding matters for framing; it must be chunked.
                chunked = value?
                    .rsplit(',')
                    .next()
                    .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for tok in value?.split(',') {
                    let tok = tok.trim();
                    close |= tok.eq_ignore_ascii_case("close");
                    ka |= tok.eq_ignore_ascii_case("keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                expect_continue = value?.trim().eq_ignore_ascii_case("100-continue");
            }
        }
        if te && (http10 || !chunked) {
            return Err("unsupported Transfer-Encoding");
        }
        let body = match (chunked, length) {
            (true, _) => Body::Chunked,
            (false, Some(0)) | (false, None) => Body::None,
            (false, Some(n)) => Body::Length(n),
        };
        Ok(RequestInfo {
            http10,
            keep_alive: if http10 { ka && !close } else { !close },
            must_close: te && length.is_some(),
            body,
            expect_continue: expect_continue && !http10,
        })
    }

    /// Whether the whole body is already buffered (`buffered` bytes after the head).
    pub(super) fn body_in(&self, buffered: usize) -> bool {
        match self.body {
            Body::None => true,
            Body::Length(n) => buffered as u64 >= n,
            Body::Chunked => false,
        }
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

pub(super) fn write_head(out: &mut Vec<u8>, status: u16, len: usize, conn_hdr: &str) {
    let _ = write!(
        VecWriter(out),
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len}\r\n{conn_hdr}\r\n",
        reason(status)
    );
}

pub(super) fn write_text(
    out: &mut Vec<u8>,
    status: u16,
    body: &str,
    head_only: bool,
    conn_hdr: &str,
) {
    write_head(out, status, body.len(), conn_hdr);
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
}

/// `fmt::Write` into a byte vector, for `write!` without a temporary `String`.
pub(super) struct VecWriter<'a>(pub(super) &'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Splits a request target into path and query; absolute-form targets lose scheme and host.
pub(super) fn split_target(target: &str) -> (&str, &str) {
    let target = match target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))
    {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    }
}

/// The value of `key` in a query string, percent-decoded (`+` is a space).
pub(super) fn query_param<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

pub(super) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains(['%', '+']) {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Parses `ms=` (absent: 0) for `/job` and `/sleep`.
pub(super) fn parse_ms(query: &str) -> Result<u64, String> {
    match query_param(query, "ms") {
        None => Ok(0),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n <= MAX_MS => Ok(n),
            Ok(_) => Err(format!("ms must be at most {MAX_MS}\n")),
            Err(_) => Err(format!("ms={v:?} is not a number of milliseconds\n")),
        },
    }
}
