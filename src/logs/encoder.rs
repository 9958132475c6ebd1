//! uWSGI's log encoders (`log-encoder`, `log-req-encoder`): a chain that rewrites each log
//! message before it is written, parsed once when the configuration is read.
//!
//! `NAME[:LOGGER] [ARGS]`: `prefix TEXT`, `suffix TEXT`, `nl`, `format TEMPLATE`, `json
//! TEMPLATE`. A template's `${msg}` is the message (without its newline), `${msgnl}` with it,
//! `${unix}` `${millis}` `${micros}` the time now, `${strftime:FMT}` the time now formatted
//! (UTC). `json` escapes what it substitutes so the line stays valid JSON. `:LOGGER` applies
//! the encoder only to lines for the logger named so; encoders run in the order given.
//!
//! How they meet ebb's style: a line some encoder rewrote is written as the chain made it
//! (ebb adds neither its stamp nor its JSON object: the user's format is the line); a line
//! no encoder touched is written in ebb's style as always. `nl` alone does not count (every
//! line ebb writes ends with one newline: one trailing newline of the chain's output is the
//! line's own).

use std::fmt::Write as _;
use std::time::SystemTime;

use super::strftime::Strftime;
use super::time::unix_micros;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(String),
    Msg,
    MsgNl,
    Unix,
    Millis,
    Micros,
    Strftime(Strftime),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Prefix(String),
    Suffix(String),
    Nl,
    Format(Vec<Tok>),
    Json(Vec<Tok>),
}

/// One encoder of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    kind: Kind,
    /// Only for lines going to the logger with this name.
    only_for: Option<String>,
}

/// The encoders in the order given; empty: none (no cost).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chain(Vec<Encoder>);

impl Encoder {
    /// Parse `NAME[:LOGGER] [ARGS]`.
    pub fn parse(spec: &str) -> Result<Encoder, String> {
        let spec = spec.trim_start();
        let (head, args) = match spec.split_once(' ') {
            Some((h, a)) => (h, a),
            None => (spec, ""),
        };
        let (name, only_for) = match head.split_once(':') {
            Some((n, l)) if !l.is_empty() => (n, Some(l.to_string())),
            Some((n, _)) => (n, None),
            None => (head, None),
        };
        let kind = match name {
            "prefix" => Kind::Prefix(args.to_string()),
            "suffix" => Kind::Suffix(args.to_string()),
            "nl" => Kind::Nl,
            "format" => Kind::Format(template(args)?),
            "json" => Kind::Json(template(args)?),
            "gzip" | "compress" => {
                return Err(format!(
                    "the {name} encoder is not supported: ebb writes text lines (compress \
                     rotated files with logrotate)"
                ));
            }
            "" => return Err("expected an encoder: prefix, suffix, nl, format or json".into()),
            other => {
                return Err(format!(
                    "unknown log encoder {other:?}: ebb has prefix, suffix, nl, format and json"
                ));
            }
        };
        Ok(Encoder { kind, only_for })
    }

    fn applies_to(&self, logger: Option<&str>) -> bool {
        match &self.only_for {
            None => true,
            Some(want) => logger == Some(want.as_str()),
        }
    }
}

/// uWSGI's template: `${name}` is a variable, any other `$` is text.
fn template(args: &str) -> Result<Vec<Tok>, String> {
    let mut toks = Vec::new();
    let mut lit = String::new();
    let mut rest = args;
    while let Some(i) = rest.find("${") {
        let Some(close) = rest[i + 2..].find('}') else {
            break; // uWSGI keeps an unclosed ${ as text
        };
        lit.push_str(&rest[..i]);
        let name = &rest[i + 2..i + 2 + close];
        rest = &rest[i + 2 + close + 1..];
        let tok = match name {
            "msg" => Tok::Msg,
            "msgnl" => Tok::MsgNl,
            "unix" => Tok::Unix,
            "millis" => Tok::Millis,
            "micros" => Tok::Micros,
            _ if name.starts_with("strftime:") => Tok::Strftime(Strftime::parse(&name[9..])?),
            _ => {
                let hint = if name == "msgln" {
                    " (did you mean ${msgnl}?)"
                } else {
                    ""
                };
                return Err(format!(
                    "unknown encoder variable ${{{name}}}{hint}; known: ${{msg}} ${{msgnl}} \
                     ${{unix}} ${{millis}} ${{micros}} ${{strftime:FMT}}"
                ));
            }
        };
        if !lit.is_empty() {
            toks.push(Tok::Lit(std::mem::take(&mut lit)));
        }
        toks.push(tok);
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    Ok(toks)
}

impl Chain {
    pub fn push(&mut self, e: Encoder) {
        self.0.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The line for `msg` (one message, no trailing newline) going to `logger` (`None`:
    /// an unnamed one), or `None` when no encoder but `nl` applies: then ebb's own rendering
    /// is the line.
    pub fn apply(&self, logger: Option<&str>, msg: &str) -> Option<String> {
        let mut cur = String::with_capacity(msg.len() + 1);
        cur.push_str(msg);
        cur.push('\n'); // as uWSGI's encoders see a line
        let mut applied = false;
        let mut now: Option<(i64, u32)> = None;
        let mut now = || *now.get_or_insert_with(|| unix_micros(SystemTime::now()));
        for e in self.0.iter().filter(|e| e.applies_to(logger)) {
            cur = match &e.kind {
                Kind::Nl => {
                    cur.push('\n');
                    continue;
                }
                Kind::Prefix(p) => format!("{p}{cur}"),
                Kind::Suffix(s) => cur + s,
                Kind::Format(t) => render(t, &cur, false, &mut now),
                Kind::Json(t) => render(t, &cur, true, &mut now),
            };
            applied = true;
        }
        applied.then(|| {
            if cur.ends_with('\n') {
                cur.pop();
            }
            cur
        })
    }
}

fn render(toks: &[Tok], msg: &str, json: bool, now: &mut impl FnMut() -> (i64, u32)) -> String {
    let mut out = String::with_capacity(msg.len() + 64);
    let put = |out: &mut String, s: &str| {
        if json {
            json_escape(s, out)
        } else {
            out.push_str(s)
        }
    };
    for t in toks {
        match t {
            Tok::Lit(l) => out.push_str(l),
            Tok::Msg => put(&mut out, msg.strip_suffix('\n').unwrap_or(msg)),
            Tok::MsgNl => put(&mut out, msg),
            Tok::Unix => {
                let _ = write!(out, "{}", now().0);
            }
            Tok::Millis => {
                let (s, us) = now();
                let _ = write!(out, "{}", s * 1000 + i64::from(us / 1000));
            }
            Tok::Micros => {
                let (s, us) = now();
                let _ = write!(out, "{}", s * 1_000_000 + i64::from(us));
            }
            Tok::Strftime(f) => {
                let mut s = String::new();
                f.render(now().0, &mut s);
                put(&mut out, &s);
            }
        }
    }
    out
}

/// The inside of a JSON string for `s`: quotes, backslashes and control characters escaped.
fn json_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(specs: &[&str]) -> Chain {
        let mut c = Chain::default();
        for s in specs {
            c.push(Encoder::parse(s).unwrap());
        }
        c
    }

    #[test]
    fn chains_render_as_uwsgi_does() {
        // (encoders, logger, message, line)
        type Case<'a> = (&'a [&'a str], Option<&'a str>, &'a str, Option<&'a str>);
        let cases: &[Case] = &[
            (&[], None, "hello", None),
            (&["nl"], None, "hello", None),
            (&["prefix [app] "], None, "hello", Some("[app] hello")),
            (&["suffix  <-", "nl"], None, "hi", Some("hi\n <-")),
            (&["format <${msg}>", "nl"], None, "hi", Some("<hi>")),
            (&["format <${msgnl}>"], None, "hi", Some("<hi\n>")),
            (
                &["format:applogger ${msg}", "nl"],
                Some("applogger"),
                "{\"a\":1}",
                Some("{\"a\":1}"),
            ),
            // An encoder for another logger does not apply.
            (&["format:applogger ${msg}"], Some("default"), "x", None),
            (&["format:applogger ${msg}"], None, "x", None),
            (
                &[r#"json:default {"message":"${msg}"}"#, "nl"],
                Some("default"),
                "say \"hi\"\\\tnow\u{1}",
                Some(r#"{"message":"say \"hi\"\\\tnow\u0001"}"#),
            ),
            (
                &["prefix a", "prefix b", "suffix c"],
                None,
                "m",
                Some("bam\nc"),
            ),
            (&["format $x ${ $", "nl"], None, "m", Some("$x ${ $")),
        ];
        for (specs, logger, msg, want) in cases {
            let got = chain(specs).apply(*logger, msg);
            assert_eq!(got.as_deref(), *want, "{specs:?} {logger:?} {msg:?}");
        }
    }

    #[test]
    fn json_lines_parse_whatever_the_message() {
        let c = chain(&[
            r#"json {"time":${unix}, "ms":${millis}, "us":${micros}, "ts":"${strftime:%d/%b/%Y:%H:%M:%S %z}", "message":"${msg}"}"#,
            "nl",
        ]);
        for msg in [
            "plain",
            "quote \" back \\ tab \t",
            "ctl \u{7} \u{1b}[31m",
            "é ü 😀",
            "",
        ] {
            let line = c.apply(None, msg).unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(v["message"], msg);
            assert!(v["time"].as_i64().unwrap() > 1_700_000_000);
            assert_eq!(
                v["ms"].as_i64().unwrap() / 1000,
                v["us"].as_i64().unwrap() / 1_000_000
            );
            assert!(v["ts"].as_str().unwrap().ends_with(" +0000"));
        }
    }

    #[test]
    fn bad_encoders_are_named() {
        for (spec, says) in [
            ("gzip", "not supported"),
            ("compress:x", "not supported"),
            ("base64 x", "\"base64\""),
            ("format ${nope}", "${nope}"),
            ("json {\"m\":\"${msgln}\"}", "did you mean ${msgnl}"),
            ("format ${strftime:%Q}", "%Q"),
            ("", "expected an encoder"),
        ] {
            let e = Encoder::parse(spec).unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
        let e = Encoder::parse("nl:applogger").unwrap();
        assert_eq!(e.only_for.as_deref(), Some("applogger"));
    }
}
