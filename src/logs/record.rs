//! Records a worker writes on `EBB_LOG_FD` (docs/protocol.md, "Log records"): one per
//! line, a JSON object (`"t": "access"` or `"log"`) or an access record in the compact form
//! (`a` or `x` and tab-separated fields), which is parsed here without building a JSON tree.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;

/// One request, as the worker saw it. Strings borrow from the line when they can.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Access<'a> {
    #[serde(borrow)]
    pub addr: Cow<'a, str>,
    #[serde(borrow)]
    pub user: Cow<'a, str>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    #[serde(borrow)]
    pub uri: Cow<'a, str>,
    #[serde(borrow)]
    pub proto: Cow<'a, str>,
    pub status: u16,
    pub size: u64,
    pub hsize: u64,
    /// Unix time the request started, seconds.
    pub start: f64,
    /// Duration in microseconds.
    pub us: u64,
    /// Requests this worker has handled, this one included.
    pub req: u64,
    #[serde(borrow)]
    pub host: Cow<'a, str>,
    #[serde(borrow)]
    pub referer: Cow<'a, str>,
    #[serde(borrow)]
    pub ua: Cow<'a, str>,
    #[serde(borrow)]
    pub rh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    pub oh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    pub env: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub rss: Option<u64>,
    pub vsz: Option<u64>,
}

/// A worker's own message.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(default)]
pub struct Message<'a> {
    #[serde(borrow)]
    pub level: Cow<'a, str>,
    #[serde(borrow)]
    pub msg: Cow<'a, str>,
    #[serde(borrow)]
    pub stream: Option<Cow<'a, str>>,
}

/// Every field of either kind, so a line is parsed once (the master reads one record per
/// request: at 100k requests/s a second parse is measurable).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Wire<'a> {
    #[serde(borrow)]
    t: Cow<'a, str>,
    #[serde(borrow)]
    level: Cow<'a, str>,
    #[serde(borrow)]
    msg: Cow<'a, str>,
    #[serde(borrow)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    addr: Cow<'a, str>,
    #[serde(borrow)]
    user: Cow<'a, str>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    uri: Cow<'a, str>,
    #[serde(borrow)]
    proto: Cow<'a, str>,
    status: u16,
    size: u64,
    hsize: u64,
    start: f64,
    us: u64,
    req: u64,
    #[serde(borrow)]
    host: Cow<'a, str>,
    #[serde(borrow)]
    referer: Cow<'a, str>,
    #[serde(borrow)]
    ua: Cow<'a, str>,
    #[serde(borrow)]
    rh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    oh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    env: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    rss: Option<u64>,
    vsz: Option<u64>,
}

/// What one line on the record pipe is.
#[derive(Debug, PartialEq)]
pub enum Record<'a> {
    Access(Box<Access<'a>>),
    Log(Message<'a>),
    /// Not a record (not JSON, or a JSON value that is not one of ours): shown as text.
    Raw,
}

/// Parse one line (without its newline).
pub fn parse(line: &[u8]) -> Record<'_> {
    let access = match line.get(..2) {
        Some(b"a\t") => Some(compact(&line[2..])),
        Some(b"x\t") => Some(compact_hex(&line[2..])),
        _ => None,
    };
    if let Some(a) = access {
        return match a {
            Some(a) => Record::Access(Box::new(a)),
            None => Record::Raw,
        };
    }
    let Ok(w) = serde_json::from_slice::<Wire<'_>>(line) else {
        return Record::Raw;
    };
    if w.t == "access" {
        Record::Access(Box::new(Access {
            addr: w.addr,
            user: w.user,
            method: w.method,
            uri: w.uri,
            proto: w.proto,
            status: w.status,
            size: w.size,
            hsize: w.hsize,
            start: w.start,
            us: w.us,
            req: w.req,
            host: w.host,
            referer: w.referer,
            ua: w.ua,
            rh: w.rh,
            oh: w.oh,
            env: w.env,
            rss: w.rss,
            vsz: w.vsz,
        }))
    } else {
        // "log", and kinds this master does not know, are shown as log records.
        Record::Log(Message {
            level: w.level,
            msg: w.msg,
            stream: w.stream,
        })
    }
}

/// The extra fields of a compact access record (its last, optional, field).
#[derive(Deserialize, Default)]
#[serde(default)]
struct Extra<'a> {
    #[serde(borrow)]
    rh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    oh: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    #[serde(borrow)]
    env: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    rss: Option<u64>,
    vsz: Option<u64>,
}

/// The fields of a compact access record after its `a<TAB>`: status, size, hsize,
/// start (Unix microseconds), us, req, addr, user, method, proto, host, referer, ua, uri
/// and optionally a JSON object of extra fields. None when it is not one (a field missing or
/// of the wrong kind, one too many, a string that is not a JSON string's text).
pub fn compact(rest: &[u8]) -> Option<Access<'_>> {
    // UTF-8 checked once for the whole line; the fields are then split on tabs.
    let mut f = Fields::of(rest)?;
    let mut num = || f_num(f.next()?.0);
    let (status, size, hsize, start_us, us, req) = (num()?, num()?, num()?, num()?, num()?, num()?);
    let start = start_us as f64 / 1e6;
    strings(f, [status, size, hsize, us, req], start)
}

/// Hex digits of the numbers field of an `x` record: status (4), size (16), hsize (8),
/// start_ns (16), end_ns (16), req (16).
const HEX_WIDTHS: [usize; 6] = [4, 16, 8, 16, 16, 16];

/// The fields of a compact access record with its numbers in hex, after its `x<TAB>`: one
/// field of 76 hex digits (status, size, hsize, start and end in Unix nanoseconds, req: fixed
/// widths, as Python's `struct.pack(">HQIQQQ", ...).hex()` writes them: no number to format in
/// the worker, no division), then the same strings as the `a` form. The duration is end -
/// start (0 if the clock went back).
pub fn compact_hex(rest: &[u8]) -> Option<Access<'_>> {
    let mut f = Fields::of(rest)?;
    let hex = f.next()?.0.as_bytes();
    if hex.len() != HEX_WIDTHS.iter().sum::<usize>() {
        return None;
    }
    let mut n = [0u64; 6];
    let mut at = 0;
    for (v, w) in n.iter_mut().zip(HEX_WIDTHS) {
        *v = hex[at..at + w]
            .iter()
            .try_fold(0u64, |n, &d| Some((n << 4) | hex_digit(d)?))?;
        at += w;
    }
    let [status, size, hsize, start_ns, end_ns, req] = n;
    let us = end_ns.saturating_sub(start_ns) / 1000;
    // Microseconds, as in the `a` form (nanoseconds since 1970 are past f64's 53 bits).
    let start = (start_ns / 1000) as f64 / 1e6;
    strings(f, [status, size, hsize, us, req], start)
}

/// The rest of a compact record (both forms): the eight strings and the optional extra
/// fields, after the numbers `[status, size, hsize, us, req]` and the start (Unix seconds).
fn strings<'a>(
    mut f: Fields<'a>,
    [status, size, hsize, us, req]: [u64; 5],
    start: f64,
) -> Option<Access<'a>> {
    let mut s = || {
        let (text, plain) = f.next()?;
        if plain {
            Some(Cow::Borrowed(text))
        } else {
            f_str(text)
        }
    };
    let (addr, user, method, proto, host, referer, ua, uri) =
        (s()?, s()?, s()?, s()?, s()?, s()?, s()?, s()?);
    let extra = match f.next() {
        None => Extra::default(),
        Some((json, _)) if json.starts_with('{') => serde_json::from_str(json).ok()?,
        Some(_) => return None,
    };
    if f.next().is_some() {
        return None;
    }
    Some(Access {
        addr,
        user,
        method,
        uri,
        proto,
        status: u16::try_from(status).ok()?,
        size,
        hsize,
        start,
        us,
        req,
        host,
        referer,
        ua,
        rh: extra.rh,
        oh: extra.oh,
        env: extra.env,
        rss: extra.rss,
        vsz: extra.vsz,
    })
}

/// The tab-separated fields of a compact record, each with whether it is plain: without a
/// byte a string field holds only escaped (`\\`, `"`, a control character). One scan of
/// each byte splits the line and checks its strings (the master reads one record per
/// request).
struct Fields<'a> {
    /// What is left after the fields taken; None after the last.
    rest: Option<&'a str>,
}

impl<'a> Fields<'a> {
    /// UTF-8 is checked once, for the whole line.
    fn of(line: &'a [u8]) -> Option<Fields<'a>> {
        Some(Fields {
            rest: Some(std::str::from_utf8(line).ok()?),
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, bool);

    fn next(&mut self) -> Option<(&'a str, bool)> {
        let rest = self.rest?;
        let b = rest.as_bytes();
        let mut plain = true;
        let mut i = 0;
        while i < b.len() {
            if SPECIAL[usize::from(b[i])] {
                if b[i] == b'\t' {
                    self.rest = Some(&rest[i + 1..]);
                    return Some((&rest[..i], plain));
                }
                plain = false;
            }
            i += 1;
        }
        self.rest = None;
        Some((rest, plain))
    }
}

/// The bytes [`Fields`] stops at: the tab, and what a plain string field does not hold.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'\\' as usize] = true;
    t[b'"' as usize] = true;
    t
};

fn hex_digit(d: u8) -> Option<u64> {
    match d {
        b'0'..=b'9' => Some(u64::from(d - b'0')),
        b'a'..=b'f' => Some(u64::from(d - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(d - b'A' + 10)),
        _ => None,
    }
}

/// A decimal number (at most 19 digits: no overflow).
fn f_num(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// A string field that [`Fields`] found not plain: the text of a JSON string without its
/// quotes, decoded. None for a control character or an unescaped `"` (plain fields are
/// borrowed as they are, without coming here).
fn f_str(s: &str) -> Option<Cow<'_, str>> {
    serde_json::from_str::<String>(&format!("\"{s}\""))
        .ok()
        .map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let a = parse(br#"{"t":"access","addr":"10.0.0.1","method":"GET","uri":"/a?b=1","proto":"HTTP/1.1","status":200,"size":5,"hsize":60,"start":1796117986.5,"us":1200,"req":3,"host":"h","referer":"","ua":"curl","oh":{"content-type":"text/plain"},"extra":1}"#);
        let Record::Access(a) = a else {
            panic!("{a:?}")
        };
        assert_eq!((a.status, a.size, a.us, a.req), (200, 5, 1200, 3));
        assert_eq!(a.uri, "/a?b=1");
        assert_eq!(
            a.oh.get("content-type").map(|v| v.as_ref()),
            Some("text/plain")
        );
        assert_eq!(a.rss, None);
        // Escapes in strings are decoded (owned), others borrowed.
        let Record::Access(a) = parse(br#"{"t":"access","uri":"/a\"b"}"#) else {
            panic!()
        };
        assert_eq!(a.uri, "/a\"b");

        let m = parse(br#"{"t":"log","level":"error","msg":"Traceback:\n  x","stream":"stderr"}"#);
        assert_eq!(
            m,
            Record::Log(Message {
                level: "error".into(),
                msg: "Traceback:\n  x".into(),
                stream: Some("stderr".into()),
            })
        );
        // Unknown kinds are log records; non-JSON, arrays and bad field types are raw.
        assert!(matches!(
            parse(br#"{"t":"metric","msg":"m"}"#),
            Record::Log(_)
        ));
        for raw in [
            &b"hello"[..],
            b"[1,2]",
            br#"{"t":"access","status":"x"}"#,
            b"{\"t\":",
        ] {
            assert_eq!(parse(raw), Record::Raw, "{}", String::from_utf8_lossy(raw));
        }
    }

    fn access(line: &[u8]) -> Access<'_> {
        match parse(line) {
            Record::Access(a) => *a,
            other => panic!("{}: {other:?}", String::from_utf8_lossy(line)),
        }
    }

    #[test]
    fn compact_access_records() {
        let a = access(
            b"a\t200\t14\t98\t1796117986250000\t1234\t11\t10.0.0.7\t\tGET\tHTTP/1.1\thost:8000\t\tcurl/8\t/a?b=1",
        );
        assert_eq!(
            (a.status, a.size, a.hsize, a.us, a.req),
            (200, 14, 98, 1234, 11)
        );
        assert_eq!(a.start, 1796117986.25);
        assert_eq!(
            (&*a.addr, &*a.user, &*a.method, &*a.proto),
            ("10.0.0.7", "", "GET", "HTTP/1.1")
        );
        assert_eq!(
            (&*a.host, &*a.referer, &*a.ua, &*a.uri),
            ("host:8000", "", "curl/8", "/a?b=1")
        );
        assert!(matches!(a.uri, Cow::Borrowed(_)), "no escape: borrowed");
        assert!(a.rh.is_empty() && a.rss.is_none());

        // Strings are a JSON string's text: escapes decoded (tab, quote, backslash, \u).
        let a = access(br#"a	404	0	50	1	2	3	::1	bob	GET	HTTP/1.0				/x\ty\"z\\\u00e9"#);
        assert_eq!(&*a.uri, "/x\ty\"z\\\u{e9}");
        assert_eq!(&*a.user, "bob");

        // The extra fields: a JSON object as the last field.
        let a = access(
            br#"a	200	5	60	1	2	3	h	u	GET	HTTP/1.1	x	r	ua	/	{"rh":{"x-id":"7"},"oh":{"content-type":"text/plain"},"env":{"PATH_INFO":"/"},"rss":1048576,"vsz":2097152,"later":true}"#,
        );
        assert_eq!(a.rh.get("x-id").map(|v| &**v), Some("7"));
        assert_eq!(a.oh.get("content-type").map(|v| &**v), Some("text/plain"));
        assert_eq!(a.env.get("PATH_INFO").map(|v| &**v), Some("/"));
        assert_eq!((a.rss, a.vsz), (Some(1 << 20), Some(2 << 20)));
    }

    /// An `x` record's numbers field, as the Python worker writes it.
    fn hex_nums(
        status: u16,
        size: u64,
        hsize: u32,
        start_ns: u64,
        end_ns: u64,
        req: u64,
    ) -> String {
        format!("{status:04x}{size:016x}{hsize:08x}{start_ns:016x}{end_ns:016x}{req:016x}")
    }

    #[test]
    fn hex_compact_access_records() {
        let start = 1_796_117_986_250_000_000;
        let line = format!(
            "x\t{}\t10.0.0.7\t\tGET\tHTTP/1.1\thost:8000\t\tcurl/8\t/a?b=1",
            hex_nums(200, 14, 98, start, start + 1_234_999, 11)
        );
        let a = access(line.as_bytes());
        assert_eq!(
            (a.status, a.size, a.hsize, a.us, a.req),
            (200, 14, 98, 1234, 11)
        );
        assert_eq!(a.start, 1796117986.25);
        assert_eq!(
            (&*a.addr, &*a.method, &*a.uri),
            ("10.0.0.7", "GET", "/a?b=1")
        );
        // The same record in the decimal form reads the same.
        let dec = access(
            b"a\t200\t14\t98\t1796117986250000\t1234\t11\t10.0.0.7\t\tGET\tHTTP/1.1\thost:8000\t\tcurl/8\t/a?b=1",
        );
        assert_eq!(a, dec);
        // Upper-case digits, the largest numbers, extra fields; a clock that went back: 0 us.
        let line = format!(
            "x\t{}\th\tu\tGET\tHTTP/1.1\tx\tr\tua\t/\t{{\"rss\":1}}",
            hex_nums(u16::MAX, u64::MAX, u32::MAX, 5_000, 1_000, u64::MAX).to_uppercase()
        );
        let a = access(line.as_bytes());
        assert_eq!(
            (a.status, a.size, a.hsize, a.us, a.req, a.rss),
            (
                u16::MAX,
                u64::MAX,
                u64::from(u32::MAX),
                0,
                u64::MAX,
                Some(1)
            )
        );
        // Malformed numbers fields are raw: short, long, not hex, a sign.
        let ok = hex_nums(200, 1, 2, 3, 4, 5);
        let rest = "\taddr\tuser\tGET\tHTTP/1.1\thost\tref\tua\t/uri";
        for nums in [
            ok[1..].to_string(),
            format!("{ok}0"),
            ok.replacen('0', "g", 1),
            ok.replacen('0', "-", 1),
            String::new(),
        ] {
            let line = format!("x\t{nums}{rest}");
            assert_eq!(parse(line.as_bytes()), Record::Raw, "{line:?}");
        }
        let line = format!("x\t{ok}{rest}");
        assert!(matches!(parse(line.as_bytes()), Record::Access(_)));
        // A missing string, or one too many, is raw as in the `a` form.
        let line = format!("x\t{ok}\taddr\tuser\tGET\tHTTP/1.1\thost\tref\tua");
        assert_eq!(parse(line.as_bytes()), Record::Raw);
        let line = format!("x\t{ok}{rest}\t{{}}\textra");
        assert_eq!(parse(line.as_bytes()), Record::Raw);
    }

    #[test]
    fn malformed_compact_records_are_raw() {
        let ok = "a\t200\t1\t2\t3\t4\t5\taddr\tuser\tGET\tHTTP/1.1\thost\tref\tua\t/uri";
        assert!(matches!(parse(ok.as_bytes()), Record::Access(_)));
        let mut bad: Vec<String> = vec![
            // too few fields, one too many, an empty number
            "a\t200\t1\t2\t3\t4\t5\taddr\tuser\tGET\tHTTP/1.1\thost\tref\tua".into(),
            format!("{ok}\t{{}}\textra"),
            ok.replacen("\t200\t", "\t\t", 1),
            // numbers: not digits, negative, a float, over u64, a status over u16
            ok.replacen("\t200\t", "\t2x0\t", 1),
            ok.replacen("\t1\t", "\t-1\t", 1),
            ok.replacen("\t3\t", "\t3.5\t", 1),
            ok.replacen("\t3\t", "\t99999999999999999999\t", 1),
            ok.replacen("\t200\t", "\t70000\t", 1),
            // strings: a raw quote, a lone backslash, a bad escape, a control character
            ok.replacen("/uri", "/u\"ri", 1),
            ok.replacen("/uri", "/uri\\", 1),
            ok.replacen("/uri", "/u\\qri", 1),
            ok.replacen("/uri", "/u\rri", 1),
            // extra fields that are not a JSON object, or not valid
            format!("{ok}\t[1]"),
            format!("{ok}\t{{\"rss\":\"x\"}}"),
            format!("{ok}\t{{"),
            // the kind alone
            "a\t".into(),
        ];
        bad.push(String::from_utf8_lossy(b"a\t\xff").into_owned());
        for line in &bad {
            assert_eq!(parse(line.as_bytes()), Record::Raw, "{line:?}");
        }
        // Bytes that are not UTF-8 in a string field.
        let mut b = ok.as_bytes().to_vec();
        b.extend_from_slice(b"\xff");
        assert_eq!(parse(&b), Record::Raw);
    }

    proptest::proptest! {
        #[test]
        fn any_line_parses_or_is_raw(line in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            for kind in [&b"a\t"[..], b"x\t"] {
                let mut l = kind.to_vec();
                l.extend_from_slice(&line);
                let _ = parse(&l);
            }
            let _ = parse(&line);
        }
    }
}
