//! The worker → master notify protocol: parsing datagrams (pure).
//!
//! A datagram is newline-separated `KEY=VALUE` lines (systemd's `sd_notify` format) of at most
//! [`MAX_DATAGRAM`] bytes. ebb understands systemd's standard keys and its own `X_EBB_*`
//! counters; unknown keys are ignored, as systemd does. Counters are absolute, so a lost or
//! reordered datagram does no lasting harm.

/// The largest datagram ebb accepts; a longer one is dropped whole.
pub const MAX_DATAGRAM: usize = 4096;

/// How many job names a worker may report; the rest are dropped.
pub const MAX_JOB_NAMES: usize = 20;

/// What one datagram said. Fields are `None` when the key was absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Update {
    pub ready: bool,
    pub stopping: bool,
    pub watchdog: bool,
    pub status: Option<String>,
    pub errno: Option<i32>,
    pub extend_timeout_usec: Option<u64>,
    pub requests: Option<u64>,
    pub inflight: Option<u64>,
    pub jobs: Option<u64>,
    /// `X_EBB_TX`: response bytes sent (head and body), all requests so far.
    pub tx: Option<u64>,
    /// `X_EBB_RT_US`: time spent in requests so far, microseconds.
    pub rt_us: Option<u64>,
    pub job_names: Option<Vec<String>>,
    /// `X_EBB_STUCK=1`: a request has run past the harakiri limit.
    pub stuck: Option<bool>,
}

/// Why a datagram was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyError {
    TooLong(usize),
    NotUtf8,
    /// A line without `=`; the line is quoted (shortened) for the log.
    NoEquals(String),
    /// A known key whose value does not parse.
    BadValue {
        key: String,
        value: String,
    },
    Empty,
}

impl std::fmt::Display for NotifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyError::TooLong(n) => write!(f, "datagram of {n} bytes exceeds {MAX_DATAGRAM}"),
            NotifyError::NotUtf8 => write!(f, "datagram is not UTF-8"),
            NotifyError::NoEquals(l) => write!(f, "line without '=': {l:?}"),
            NotifyError::BadValue { key, value } => write!(f, "bad value for {key}: {value:?}"),
            NotifyError::Empty => write!(f, "empty datagram"),
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Parse one datagram. A datagram with any malformed line is refused whole, so a
/// half-understood message never changes the master's view.
pub fn parse(data: &[u8]) -> Result<Update, NotifyError> {
    if data.len() > MAX_DATAGRAM {
        return Err(NotifyError::TooLong(data.len()));
    }
    let text = std::str::from_utf8(data).map_err(|_| NotifyError::NotUtf8)?;
    let mut u = Update::default();
    let mut any = false;
    for line in text.split('\n') {
        if line.is_empty() {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| NotifyError::NoEquals(shorten(line)))?;
        any = true;
        let bad = || NotifyError::BadValue {
            key: key.to_string(),
            value: shorten(value),
        };
        let num = || value.trim().parse::<u64>().map_err(|_| bad());
        match key {
            "READY" => u.ready = value.trim() == "1",
            "STOPPING" => u.stopping = value.trim() == "1",
            "WATCHDOG" => u.watchdog = value.trim() == "1",
            "STATUS" => u.status = Some(shorten_status(value)),
            "ERRNO" => u.errno = Some(value.trim().parse().map_err(|_| bad())?),
            "EXTEND_TIMEOUT_USEC" => u.extend_timeout_usec = Some(num()?),
            "X_EBB_REQUESTS" => u.requests = Some(num()?),
            "X_EBB_INFLIGHT" => u.inflight = Some(num()?),
            "X_EBB_JOBS" => u.jobs = Some(num()?),
            "X_EBB_TX" => u.tx = Some(num()?),
            "X_EBB_RT_US" => u.rt_us = Some(num()?),
            "X_EBB_STUCK" => u.stuck = Some(value.trim() == "1"),
            "X_EBB_JOB_NAMES" => {
                u.job_names = Some(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .take(MAX_JOB_NAMES)
                        .map(shorten)
                        .collect(),
                )
            }
            _ => {} // unknown keys are ignored, as systemd does
        }
    }
    if any { Ok(u) } else { Err(NotifyError::Empty) }
}

fn shorten_status(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_table() {
        struct Case {
            input: &'static [u8],
            want: Result<Update, NotifyError>,
        }
        let cases = [
            Case {
                input: b"READY=1",
                want: Ok(Update {
                    ready: true,
                    ..Default::default()
                }),
            },
            Case {
                input: b"READY=1\nSTATUS=serving on 2 sockets\n",
                want: Ok(Update {
                    ready: true,
                    status: Some("serving on 2 sockets".into()),
                    ..Default::default()
                }),
            },
            Case {
                input:
                    b"X_EBB_REQUESTS=42\nX_EBB_INFLIGHT=3\nX_EBB_JOBS=2\nX_EBB_JOB_NAMES=a, b,,c",
                want: Ok(Update {
                    requests: Some(42),
                    inflight: Some(3),
                    jobs: Some(2),
                    job_names: Some(vec!["a".into(), "b".into(), "c".into()]),
                    ..Default::default()
                }),
            },
            Case {
                input: b"STOPPING=1\nWATCHDOG=1\nX_EBB_FUTURE=whatever\nFDSTORE=1",
                want: Ok(Update {
                    stopping: true,
                    watchdog: true,
                    ..Default::default()
                }),
            },
            Case {
                input: b"READY=1\r\nSTOPPING=1 ",
                want: Ok(Update {
                    ready: true,
                    stopping: true,
                    ..Default::default()
                }),
            },
            Case {
                input: b"READY=0",
                want: Ok(Update::default()),
            },
            Case {
                input: b"ERRNO=2\nEXTEND_TIMEOUT_USEC=5000000\nX_EBB_STUCK=1",
                want: Ok(Update {
                    errno: Some(2),
                    extend_timeout_usec: Some(5_000_000),
                    stuck: Some(true),
                    ..Default::default()
                }),
            },
            Case {
                input: b"",
                want: Err(NotifyError::Empty),
            },
            Case {
                input: b"\n\n",
                want: Err(NotifyError::Empty),
            },
            Case {
                input: b"hello world",
                want: Err(NotifyError::NoEquals("hello world".into())),
            },
            Case {
                input: b"READY=1\ngarbage",
                want: Err(NotifyError::NoEquals("garbage".into())),
            },
            Case {
                input: b"X_EBB_REQUESTS=-1",
                want: Err(NotifyError::BadValue {
                    key: "X_EBB_REQUESTS".into(),
                    value: "-1".into(),
                }),
            },
            Case {
                input: b"X_EBB_JOBS=lots",
                want: Err(NotifyError::BadValue {
                    key: "X_EBB_JOBS".into(),
                    value: "lots".into(),
                }),
            },
            Case {
                input: b"READY=\xff\xfe",
                want: Err(NotifyError::NotUtf8),
            },
        ];
        for c in cases {
            assert_eq!(
                parse(c.input),
                c.want,
                "input {:?}",
                String::from_utf8_lossy(c.input)
            );
        }
    }

    #[test]
    fn refuses_oversized_and_caps_names() {
        let big = vec![b'A'; MAX_DATAGRAM + 1];
        assert_eq!(parse(&big), Err(NotifyError::TooLong(MAX_DATAGRAM + 1)));
        let names: Vec<String> = (0..50).map(|i| format!("j{i}")).collect();
        let msg = format!("X_EBB_JOB_NAMES={}", names.join(","));
        let u = parse(msg.as_bytes()).unwrap();
        assert_eq!(u.job_names.unwrap().len(), MAX_JOB_NAMES);
    }

    #[test]
    fn never_panics_on_arbitrary_bytes() {
        // A cheap deterministic fuzz: every byte pattern from a small generator.
        let mut x: u32 = 12345;
        for _ in 0..5000 {
            let len = (x % 64) as usize;
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let alphabet = b"=\nX_EBBREQUSTI01\xff ";
                buf.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            let _ = parse(&buf);
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A datagram as ebb's workers write them: known keys with valid values.
        fn message() -> impl Strategy<Value = (Vec<(String, String)>, Update)> {
            (
                any::<bool>(),
                proptest::option::of(0u64..1 << 40),
                proptest::option::of(0u64..1000),
                proptest::option::of(0u64..1000),
                proptest::option::of(proptest::collection::vec("[a-z0-9_.-]{1,20}", 0..30)),
                proptest::option::of("[ -~]{0,300}"),
            )
                .prop_map(|(ready, requests, inflight, jobs, names, status)| {
                    let mut lines = Vec::new();
                    let mut want = Update::default();
                    if ready {
                        lines.push(("READY".to_string(), "1".to_string()));
                        want.ready = true;
                    }
                    if let Some(n) = requests {
                        lines.push(("X_EBB_REQUESTS".into(), n.to_string()));
                        want.requests = Some(n);
                    }
                    if let Some(n) = inflight {
                        lines.push(("X_EBB_INFLIGHT".into(), n.to_string()));
                        want.inflight = Some(n);
                    }
                    if let Some(n) = jobs {
                        lines.push(("X_EBB_JOBS".into(), n.to_string()));
                        want.jobs = Some(n);
                    }
                    if let Some(names) = names {
                        lines.push(("X_EBB_JOB_NAMES".into(), names.join(",")));
                        want.job_names = Some(names.into_iter().take(MAX_JOB_NAMES).collect());
                    }
                    if let Some(st) = status {
                        want.status = Some(st.chars().take(200).collect());
                        lines.push(("STATUS".into(), st));
                    }
                    if lines.is_empty() {
                        lines.push(("WATCHDOG".into(), "1".into()));
                        want.watchdog = true;
                    }
                    (lines, want)
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            /// Any bytes at all: an update or a refusal, never a panic; and a refusal of an
            /// over-long datagram says its length.
            #[test]
            fn any_bytes_parse_or_are_refused(data in proptest::collection::vec(any::<u8>(), 0..5000)) {
                match parse(&data) {
                    Ok(_) => prop_assert!(data.len() <= MAX_DATAGRAM),
                    Err(NotifyError::TooLong(n)) => prop_assert_eq!(n, data.len()),
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }

            /// What a worker writes is read back as written, whatever the line order and
            /// line ends (LF, or CRLF as some clients send), and unknown keys change nothing.
            #[test]
            fn workers_messages_read_back((lines, want) in message(), crlf in any::<bool>(),
                                          unknown in proptest::option::of("[A-Z_]{1,12}")) {
                let mut lines = lines;
                if let Some(k) = unknown.filter(|k| !k.starts_with("X_EBB") && parse(format!("{k}=1").as_bytes()).is_ok_and(|u| u == Update::default())) {
                    lines.push((k, "whatever".into()));
                }
                let end = if crlf { "\r\n" } else { "\n" };
                let text: String = lines.iter().map(|(k, v)| format!("{k}={v}{end}")).collect();
                prop_assume!(text.len() <= MAX_DATAGRAM);
                let got = parse(text.as_bytes());
                let mut want = want;
                if crlf {
                    // The CR stays in free text; numbers and flags are trimmed.
                    want.status = want.status.map(|s| format!("{s}\r").chars().take(200).collect());
                    want.job_names = want.job_names.map(|n| {
                        let mut n = n;
                        if let Some(last) = n.last_mut() { last.push('\r'); }
                        n.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
                    });
                }
                prop_assert_eq!(got, Ok(want));
            }
        }
    }
}
