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

#[derive(Deserialize)]
struct Kind<'a> {
    #[serde(borrow, default)]
    t: Cow<'a, str>,
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
    let Ok(kind) = serde_json::from_slice::<Kind<'_>>(line) else {
        return Record::Raw;
    };
    if kind.t == "access" {
        match serde_json::from_slice::<Access<'_>>(line) {
            Ok(a) => Record::Access(Box::new(a)),
            Err(_) => Record::Raw,
        }
    } else {
        // "log", and kinds this master does not know, are shown as log records.
        match serde_json::from_slice::<Message<'_>>(line) {
            Ok(m) => Record::Log(m),
            Err(_) => Record::Raw,
        }
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
