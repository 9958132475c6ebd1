//! Access lines: ebb's default line, gunicorn's `--access-logformat` atoms and uWSGI's
//! `log-format` variables, parsed once when the configuration is loaded and rendered by
//! the master from a worker's access record.

use std::fmt::Write as _;

use super::line::printable_str;
use super::record::Access;
use super::time;

/// A request-line format.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessFormat {
    /// ebb's line: address, request, status, bytes, duration, `req: n/limit`.
    #[default]
    Default,
    /// gunicorn's `--access-logformat`, as given.
    Gunicorn(String, Vec<Part>),
    /// uWSGI's `log-format`/`logformat`, as given.
    Uwsgi(String, Vec<Part>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Lit(String),
    Var(Var),
}

/// One substitution. Names say what is rendered; the parsers map atoms onto them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    Addr,
    User,
    /// The user, or `-` (gunicorn `%(u)s`).
    UserOrDash,
    Dash,
    /// `[01/Dec/2026:09:39:46 +0000]`
    TimeBracketed,
    /// `01/Dec/2026:09:39:46 +0000`
    TimeApache,
    /// Unix seconds the request started.
    StartUnix,
    StartCtime,
    NowUnix,
    /// `GET /a?b HTTP/1.1`
    RequestLine,
    Method,
    Uri,
    Path,
    Query,
    Proto,
    Status,
    /// Body bytes.
    Size,
    /// Body bytes, `-` when 0 (the common log format).
    SizeOrDash,
    /// Body and head bytes (uWSGI `%(size)`).
    SizeWithHead,
    HeadSize,
    Host,
    Referer,
    RefererOrDash,
    UserAgent,
    UserAgentOrDash,
    /// Whole seconds.
    Secs,
    /// Seconds with decimals (`0.001234`).
    SecsDecimal,
    Msecs,
    Micros,
    Pid,
    WorkerId,
    /// Requests handled by this worker.
    Requests,
    ReqHeader(String),
    RespHeader(String),
    Env(String),
    Rss,
    Vsz,
    RssMb,
    VszMb,
    /// The request body's declared size, 0 without one (uWSGI `%(cl)`).
    ContentLength,
    /// Host and URI escaped for a JSON string (the escape_json plugin's `%(json_host)`
    /// and `%(json_uri)`, for log-format lines written as JSON).
    JsonHost,
    JsonUri,
}

/// What a format needs the worker to send beyond the always-present fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub req_headers: Vec<String>,
    pub resp_headers: Vec<String>,
    pub env: Vec<String>,
    pub memory: bool,
}

const CL: &str = "content-length";

/// The gunicorn default, `%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"`.
pub const GUNICORN_DEFAULT: &str = r#"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#;

impl AccessFormat {
    /// Parse gunicorn's `--access-logformat`. An unknown atom is an error naming it.
    pub fn gunicorn(fmt: &str) -> Result<AccessFormat, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = fmt;
        while let Some(i) = rest.find('%') {
            lit.push_str(&rest[..i]);
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix('%') {
                lit.push('%');
                rest = r;
                continue;
            }
            let Some(r) = rest.strip_prefix('(') else {
                return Err(format!(
                    "a % must start an atom like %(h)s or be doubled (%%) in {fmt:?}"
                ));
            };
            let close = if r.starts_with('{') {
                r.find('}').and_then(|j| r[j..].find(')').map(|k| j + k))
            } else {
                r.find(')')
            };
            let Some(close) = close else {
                return Err(format!("unclosed %( in {fmt:?}"));
            };
            let name = &r[..close];
            let after = &r[close + 1..];
            // Python %-formatting: optional flags and width, then the conversion.
            let conv_len = after
                .find(|c: char| !(c == '-' || c.is_ascii_digit()))
                .unwrap_or(after.len());
            let Some(conv) = after[conv_len..].chars().next() else {
                return Err(format!("%({name}) needs a conversion like s in {fmt:?}"));
            };
            if !matches!(conv, 's' | 'd') {
                return Err(format!(
                    "%({name}){conv}: only the s (and d) conversions are supported"
                ));
            }
            rest = &after[conv_len + 1..];
            let var = gunicorn_atom(name).ok_or_else(|| {
                format!(
                    "unknown access log atom %({name})s; known: h l u t r m U q H s B b f a T \
                     M D L p {{header}}i {{header}}o {{variable}}e"
                )
            })?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(var));
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(AccessFormat::Gunicorn(fmt.to_string(), parts))
    }

    /// Parse uWSGI's `log-format`. An unknown variable is an error naming it.
    pub fn uwsgi(fmt: &str) -> Result<AccessFormat, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = fmt;
        while let Some(i) = rest.find("%(") {
            lit.push_str(&rest[..i]);
            let r = &rest[i + 2..];
            let Some(close) = r.find(')') else {
                return Err(format!("unclosed %( in {fmt:?}"));
            };
            let name = &r[..close];
            rest = &r[close + 1..];
            let var = uwsgi_var(name).ok_or_else(|| unknown_uwsgi_var(name))?;
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(&mut lit)));
            }
            parts.push(Part::Var(var));
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(AccessFormat::Uwsgi(fmt.to_string(), parts))
    }

    /// The format as the user wrote it (`None` for ebb's own line).
    pub fn source(&self) -> Option<&str> {
        match self {
            AccessFormat::Default => None,
            AccessFormat::Gunicorn(s, _) | AccessFormat::Uwsgi(s, _) => Some(s),
        }
    }

    fn parts(&self) -> &[Part] {
        match self {
            AccessFormat::Default => &[],
            AccessFormat::Gunicorn(_, p) | AccessFormat::Uwsgi(_, p) => p,
        }
    }

    /// The extra fields workers must send for this format.
    pub fn needs(&self) -> Needs {
        let mut n = Needs::default();
        for p in self.parts() {
            match p {
                Part::Var(Var::ReqHeader(h)) if !n.req_headers.contains(h) => {
                    n.req_headers.push(h.clone())
                }
                Part::Var(Var::RespHeader(h)) if !n.resp_headers.contains(h) => {
                    n.resp_headers.push(h.clone())
                }
                Part::Var(Var::Env(e)) if !n.env.contains(e) => n.env.push(e.clone()),
                Part::Var(Var::Rss | Var::Vsz | Var::RssMb | Var::VszMb) => n.memory = true,
                Part::Var(Var::ContentLength) if !n.req_headers.iter().any(|h| h == CL) => {
                    n.req_headers.push(CL.to_string())
                }
                _ => {}
            }
        }
        n
    }

    /// Render the line for `a` (no stamp, no newline) into `out`.
    pub fn render(&self, a: &Access<'_>, who: &Who, out: &mut String) {
        match self {
            AccessFormat::Default => render_default(a, who, out),
            _ => {
                for p in self.parts() {
                    match p {
                        Part::Lit(s) => out.push_str(s),
                        Part::Var(v) => render_var(v, a, who, out),
                    }
                }
            }
        }
    }
}

/// The worker an access record came from, and its request limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who {
    pub slot: usize,
    pub pid: i32,
    pub limit: Option<u64>,
}

fn gunicorn_atom(name: &str) -> Option<Var> {
    if let Some(inner) = name.strip_prefix('{') {
        let (key, kind) = inner.rsplit_once('}')?;
        if key.is_empty() {
            return None;
        }
        return match kind {
            "i" => Some(Var::ReqHeader(key.to_ascii_lowercase())),
            "o" => Some(Var::RespHeader(key.to_ascii_lowercase())),
            "e" => Some(Var::Env(key.to_string())),
            _ => None,
        };
    }
    Some(match name {
        "h" => Var::Addr,
        "l" => Var::Dash,
        "u" => Var::UserOrDash,
        "t" => Var::TimeBracketed,
        "r" => Var::RequestLine,
        "m" => Var::Method,
        "U" => Var::Path,
        "q" => Var::Query,
        "H" => Var::Proto,
        "s" => Var::Status,
        "B" => Var::Size,
        "b" => Var::SizeOrDash,
        "f" => Var::RefererOrDash,
        "a" => Var::UserAgentOrDash,
        "T" => Var::Secs,
        "M" => Var::Msecs,
        "D" => Var::Micros,
        "L" => Var::SecsDecimal,
        "p" => Var::Pid,
        _ => return None,
    })
}

fn uwsgi_var(name: &str) -> Option<Var> {
    if let Some(v) = name.strip_prefix("var.") {
        return (!v.is_empty()).then(|| Var::Env(v.to_string()));
    }
    Some(match name {
        "uri" => Var::Uri,
        "method" => Var::Method,
        "user" => Var::User,
        "addr" => Var::Addr,
        "host" => Var::Host,
        "proto" => Var::Proto,
        "uagent" => Var::UserAgent,
        "referer" => Var::Referer,
        "status" => Var::Status,
        "micros" => Var::Micros,
        "msecs" => Var::Msecs,
        "secs" => Var::SecsDecimal,
        "time" => Var::StartUnix,
        "ctime" => Var::StartCtime,
        "epoch" => Var::NowUnix,
        "size" => Var::SizeWithHead,
        // uWSGI's ftime is ltime unless logformat-strftime applies log-date's format.
        "ltime" | "ftime" => Var::TimeApache,
        "cl" => Var::ContentLength,
        "json_host" => Var::JsonHost,
        "json_uri" => Var::JsonUri,
        "hsize" => Var::HeadSize,
        "rsize" => Var::Size,
        "pid" => Var::Pid,
        "wid" => Var::WorkerId,
        "req" => Var::Requests,
        "rss" => Var::Rss,
        "vsz" => Var::Vsz,
        "rssM" => Var::RssMb,
        "vszM" => Var::VszMb,
        _ => return None,
    })
}

fn unknown_uwsgi_var(name: &str) -> String {
    const KNOWN: &str = "ebb knows: addr user method uri proto status size rsize hsize cl msecs \
        micros secs time ctime epoch ltime ftime host referer uagent pid wid req rss vsz rssM \
        vszM json_host json_uri var.NAME";
    let why = match name {
        "vars" | "pktsize" | "headers" | "switches" | "core" | "modifier1" | "modifier2"
        | "werr" | "rerr" | "ioerr" | "tmsecs" | "tmicros" => {
            "a uWSGI variable ebb's access records do not carry"
        }
        _ if name.starts_with("metric.") => "uWSGI's metrics are not in ebb",
        _ => {
            "not a uWSGI variable: uWSGI would take it for a logvar the app sets with \
             uwsgi.set_logvar(), which ebb's worker does not offer"
        }
    };
    format!("log-format variable %({name}) is {why}; {KNOWN}")
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn start_secs(a: &Access<'_>) -> i64 {
    if a.start.is_finite() && a.start > 0.0 {
        a.start as i64
    } else {
        time::unix_micros(std::time::SystemTime::now()).0
    }
}

fn render_var(v: &Var, a: &Access<'_>, who: &Who, out: &mut String) {
    let p = |out: &mut String, s: &str| out.push_str(&printable_str(s));
    match v {
        Var::Addr => p(out, &a.addr),
        Var::User => p(out, &a.user),
        Var::UserOrDash => p(out, or_dash(&a.user)),
        Var::Dash => out.push('-'),
        Var::TimeBracketed => {
            let _ = write!(out, "[{}]", time::apache(start_secs(a)));
        }
        Var::TimeApache => out.push_str(&time::apache(start_secs(a))),
        Var::StartUnix => {
            let _ = write!(out, "{}", start_secs(a));
        }
        Var::StartCtime => out.push_str(&time::ctime(start_secs(a))),
        Var::NowUnix => {
            let _ = write!(out, "{}", time::unix_micros(std::time::SystemTime::now()).0);
        }
        Var::RequestLine => {
            p(out, &a.method);
            out.push(' ');
            p(out, &a.uri);
            out.push(' ');
            p(out, &a.proto);
        }
        Var::Method => p(out, &a.method),
        Var::Uri => p(out, &a.uri),
        Var::Path => p(out, a.uri.split_once('?').map_or(&a.uri, |(p, _)| p)),
        Var::Query => p(out, a.uri.split_once('?').map_or("", |(_, q)| q)),
        Var::Proto => p(out, &a.proto),
        Var::Status => {
            let _ = write!(out, "{}", a.status);
        }
        Var::Size => {
            let _ = write!(out, "{}", a.size);
        }
        Var::SizeOrDash if a.size == 0 => out.push('-'),
        Var::SizeOrDash => {
            let _ = write!(out, "{}", a.size);
        }
        Var::SizeWithHead => {
            let _ = write!(out, "{}", a.size + a.hsize);
        }
        Var::HeadSize => {
            let _ = write!(out, "{}", a.hsize);
        }
        Var::Host => p(out, &a.host),
        Var::Referer => p(out, &a.referer),
        Var::RefererOrDash => p(out, or_dash(&a.referer)),
        Var::UserAgent => p(out, &a.ua),
        Var::UserAgentOrDash => p(out, or_dash(&a.ua)),
        Var::Secs => {
            let _ = write!(out, "{}", a.us / 1_000_000);
        }
        Var::SecsDecimal => {
            let _ = write!(out, "{}.{:06}", a.us / 1_000_000, a.us % 1_000_000);
        }
        Var::Msecs => {
            let _ = write!(out, "{}", a.us / 1000);
        }
        Var::Micros => {
            let _ = write!(out, "{}", a.us);
        }
        Var::Pid => {
            let _ = write!(out, "{}", who.pid);
        }
        Var::WorkerId => {
            let _ = write!(out, "{}", who.slot);
        }
        Var::Requests => {
            let _ = write!(out, "{}", a.req);
        }
        Var::ReqHeader(h) => p(out, or_dash(a.rh.get(h.as_str()).map_or("", |v| v))),
        Var::RespHeader(h) => p(out, or_dash(a.oh.get(h.as_str()).map_or("", |v| v))),
        Var::Env(k) => p(out, or_dash(a.env.get(k.as_str()).map_or("", |v| v))),
        Var::Rss => {
            let _ = write!(out, "{}", a.rss.unwrap_or(0));
        }
        Var::Vsz => {
            let _ = write!(out, "{}", a.vsz.unwrap_or(0));
        }
        Var::RssMb => {
            let _ = write!(out, "{}", a.rss.unwrap_or(0) / (1024 * 1024));
        }
        Var::VszMb => {
            let _ = write!(out, "{}", a.vsz.unwrap_or(0) / (1024 * 1024));
        }
        Var::ContentLength => {
            let n: u64 =
                a.rh.get(CL)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
            let _ = write!(out, "{n}");
        }
        Var::JsonHost | Var::JsonUri => {
            let v = if *v == Var::JsonHost { &a.host } else { &a.uri };
            let q = serde_json::to_string(&printable_str(v)).unwrap_or_default();
            out.push_str(&q[1..q.len() - 1]);
        }
    }
}

/// `127.0.0.1 GET /job?ms=5 HTTP/1.1 => 200, 36 bytes in 0.21 ms (req: 11/5000)`
fn render_default(a: &Access<'_>, who: &Who, out: &mut String) {
    for v in [Var::Addr, Var::RequestLine] {
        if v == Var::Addr && a.addr.is_empty() {
            out.push('-');
        } else {
            render_var(&v, a, who, out);
        }
        out.push(' ');
    }
    // Milliseconds with two decimals, rounded, in integers, and numbers pushed rather than
    // formatted with `write!` (a float's formatting was a tenth of the master's time per
    // access line, `write!` a fifth).
    let hundredths = a.us.saturating_add(5) / 10;
    out.push_str("=> ");
    push_num(out, u64::from(a.status));
    out.push_str(", ");
    push_num(out, a.size);
    out.push_str(" bytes in ");
    push_num(out, hundredths / 100);
    out.push('.');
    if hundredths % 100 < 10 {
        out.push('0');
    }
    push_num(out, hundredths % 100);
    out.push_str(" ms (req: ");
    push_num(out, a.req);
    out.push('/');
    match who.limit {
        Some(l) => push_num(out, l),
        None => out.push('-'),
    }
    out.push(')');
    if let (Some(rss), Some(vsz)) = (a.rss, a.vsz) {
        let _ = write!(
            out,
            " rss {} MB, vsz {} MB",
            rss / (1024 * 1024),
            vsz / (1024 * 1024)
        );
    }
}

/// `v` in decimal at the end of `out`.
fn push_num(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_pushed_in_decimal() {
        for v in [0, 7, 10, 99, 100, 12_345, u64::MAX] {
            let mut s = String::from("n=");
            push_num(&mut s, v);
            assert_eq!(s, format!("n={v}"));
        }
    }

    fn sample() -> Access<'static> {
        let mut a = Access {
            addr: "10.0.0.7".into(),
            method: "GET".into(),
            uri: "/job?ms=5".into(),
            proto: "HTTP/1.1".into(),
            status: 200,
            size: 36,
            hsize: 64,
            start: 1_796_117_986.25,
            us: 1234,
            req: 11,
            host: "example.com".into(),
            ua: "curl/8".into(),
            ..Access::default()
        };
        a.rh.insert("x-request-id".into(), "abc".into());
        a.oh.insert("content-type".into(), "text/plain".into());
        a.env.insert("SCRIPT_NAME".into(), "/app".into());
        a
    }

    const WHO: Who = Who {
        slot: 2,
        pid: 4242,
        limit: Some(5000),
    };

    #[test]
    fn default_line_rounds_milliseconds_to_hundredths() {
        for (us, ms) in [
            (0, "0.00"),
            (4, "0.00"),
            (5, "0.01"),
            (90, "0.09"),
            (2505, "2.51"),
            (999_995, "1000.00"),
            (12_345_678, "12345.68"),
        ] {
            let mut s = String::new();
            AccessFormat::Default.render(&Access { us, ..sample() }, &WHO, &mut s);
            assert!(s.contains(&format!(" bytes in {ms} ms ")), "{us} us: {s}");
        }
    }

    #[test]
    fn default_line() {
        let mut s = String::new();
        AccessFormat::Default.render(&sample(), &WHO, &mut s);
        assert_eq!(
            s,
            "10.0.0.7 GET /job?ms=5 HTTP/1.1 => 200, 36 bytes in 1.23 ms (req: 11/5000)"
        );
        let mut s = String::new();
        let who = Who { limit: None, ..WHO };
        let a = Access {
            rss: Some(50 << 20),
            vsz: Some(300 << 20),
            addr: "".into(),
            ..sample()
        };
        AccessFormat::Default.render(&a, &who, &mut s);
        assert!(s.starts_with("- GET"), "{s}");
        assert!(s.ends_with("(req: 11/-) rss 50 MB, vsz 300 MB"), "{s}");
    }

    #[test]
    fn gunicorn_atoms() {
        let cases: &[(&str, &str)] = &[
            (
                GUNICORN_DEFAULT,
                r#"10.0.0.7 - - [01/Dec/2026:09:39:46 +0000] "GET /job?ms=5 HTTP/1.1" 200 36 "-" "curl/8""#,
            ),
            ("%(m)s %(U)s ? %(q)s %(H)s", "GET /job ? ms=5 HTTP/1.1"),
            ("%(T)s %(M)s %(D)s %(L)s", "0 1 1234 0.001234"),
            ("%(p)s %(s)d %(B)s 100%%", "4242 200 36 100%"),
            (
                "%({X-Request-Id}i)s %({content-type}o)s %({SCRIPT_NAME}e)s %({missing}i)s",
                "abc text/plain /app -",
            ),
            ("%(h)-10s|", "10.0.0.7|"),
        ];
        for (fmt, want) in cases {
            let f = AccessFormat::gunicorn(fmt).unwrap();
            let mut s = String::new();
            f.render(&sample(), &WHO, &mut s);
            assert_eq!(&s, want, "{fmt}");
        }
        let f = AccessFormat::gunicorn("%({X-A}i)s %({x-a}i)s %({b}o)s %({E}e)s").unwrap();
        assert_eq!(
            f.needs(),
            Needs {
                req_headers: vec!["x-a".into()],
                resp_headers: vec!["b".into()],
                env: vec!["E".into()],
                memory: false
            }
        );
        for (bad, says) in [
            ("%(z)s", "%(z)s"),
            ("%(h)x", "conversion"),
            ("%(h", "unclosed"),
            ("50% off", "doubled"),
            ("%({}i)s", "%({}i)s"),
        ] {
            let e = AccessFormat::gunicorn(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn uwsgi_vars() {
        let cases: &[(&str, &str)] = &[
            ("%(method) %(uri) %(status)", "GET /job?ms=5 200"),
            (
                "%(addr) [%(ltime)] %(proto) %(size) %(rsize) %(hsize)",
                "10.0.0.7 [01/Dec/2026:09:39:46 +0000] HTTP/1.1 100 36 64",
            ),
            ("%(msecs)ms %(micros)us %(secs)", "1ms 1234us 0.001234"),
            ("%(time) %(ctime)", "1796117986 Tue Dec  1 09:39:46 2026"),
            ("%(host) %(uagent) [%(referer)]", "example.com curl/8 []"),
            ("%(pid) %(wid) %(req) %(var.SCRIPT_NAME)", "4242 2 11 /app"),
            ("100% %(status)", "100% 200"),
            ("[%(ftime)] %(cl)", "[01/Dec/2026:09:39:46 +0000] 0"),
            (
                r#"{"host":"%(json_host)","uri":"%(json_uri)"}"#,
                r#"{"host":"example.com","uri":"/job?ms=5"}"#,
            ),
        ];
        for (fmt, want) in cases {
            let f = AccessFormat::uwsgi(fmt).unwrap();
            let mut s = String::new();
            f.render(&sample(), &WHO, &mut s);
            assert_eq!(&s, want, "{fmt}");
        }
        assert!(AccessFormat::uwsgi("%(rssM)").unwrap().needs().memory);
        let f = AccessFormat::uwsgi("%(cl) %(cl)").unwrap();
        assert_eq!(f.needs().req_headers, vec!["content-length".to_string()]);
        let mut a = sample();
        a.rh.insert("content-length".into(), "42".into());
        a.uri = "/q?a=\"b\"\\".into();
        let mut s = String::new();
        AccessFormat::uwsgi("%(cl) %(json_uri)")
            .unwrap()
            .render(&a, &WHO, &mut s);
        assert_eq!(s, r#"42 /q?a=\"b\"\\"#);
        for (var, says) in [
            ("%(switches)", "records do not carry"),
            ("%(vars)", "records do not carry"),
            ("%(user_id)", "uwsgi.set_logvar()"),
            ("%(metric.x)", "metrics"),
        ] {
            let e = AccessFormat::uwsgi(&format!("%(method) {var}")).unwrap_err();
            assert!(e.contains(var) && e.contains(says), "{e}");
        }
        assert!(
            AccessFormat::uwsgi("%(uri")
                .unwrap_err()
                .contains("unclosed")
        );
    }

    #[test]
    fn odd_bytes_never_break_a_line() {
        let a = Access {
            uri: "/a\nb\u{1b}".into(),
            ..sample()
        };
        let mut s = String::new();
        AccessFormat::uwsgi("%(uri)")
            .unwrap()
            .render(&a, &WHO, &mut s);
        assert_eq!(s, "/a\\x0ab\\x1b");
    }
}
