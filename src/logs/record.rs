//! Records a worker writes on `EBB_LOG_FD` (docs/protocol.md, "Log records"): one JSON
//! object per line, `"t": "access"` or `"log"`.

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
}
