//! Splitting a worker's output into lines, bounded, and making any bytes printable.
//!
//! Pure: the loop feeds what it read; complete lines come out. A line longer than the
//! bound is cut into pieces of at most `max` bytes (none is lost); the pieces after the
//! first are marked as continuations. A partial line is held until its newline, the bound,
//! or [`LineBuf::finish`] (the worker exited).

/// One line, or one piece of an over-long line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    pub bytes: &'a [u8],
    /// The line went on past the bound: more pieces follow.
    pub cut: bool,
    /// This piece continues a cut line.
    pub continued: bool,
}

/// A partial line and the bound on its length.
#[derive(Debug)]
pub struct LineBuf {
    held: Vec<u8>,
    max: usize,
    /// The held bytes continue a line that was cut.
    continued: bool,
}

impl LineBuf {
    pub fn new(max: usize) -> LineBuf {
        LineBuf {
            held: Vec::new(),
            max: max.max(1),
            continued: false,
        }
    }

    /// Bytes of a partial line waiting for its end.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Feed `data`; `emit` gets every complete line (without its `\n`, nor a `\r` before
    /// it) and every full piece of an over-long one.
    pub fn push(&mut self, mut data: &[u8], emit: &mut dyn FnMut(Piece<'_>)) {
        while !data.is_empty() {
            let room = self.max - self.held.len();
            let window = &data[..data.len().min(room + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(i) if i <= room => {
                    let line = &data[..i];
                    if self.held.is_empty() {
                        emit(Piece {
                            bytes: strip_cr(line),
                            cut: false,
                            continued: self.continued,
                        });
                    } else {
                        self.held.extend_from_slice(line);
                        let held = std::mem::take(&mut self.held);
                        emit(Piece {
                            bytes: strip_cr(&held),
                            cut: false,
                            continued: self.continued,
                        });
                        self.held = held;
                        self.held.clear();
                    }
                    self.continued = false;
                    data = &data[i + 1..];
                }
                _ if data.len() > room => {
                    // The bound is reached before a newline: emit a full piece.
                    self.held.extend_from_slice(&data[..room]);
                    let held = std::mem::take(&mut self.held);
                    emit(Piece {
                        bytes: &held,
                        cut: true,
                        continued: self.continued,
                    });
                    self.held = held;
                    self.held.clear();
                    self.continued = true;
                    data = &data[room..];
                }
                _ => {
                    self.held.extend_from_slice(data);
                    data = &[];
                }
            }
        }
    }

    /// The worker is gone: emit the partial line, if any.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Piece<'_>)) {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            emit(Piece {
                bytes: strip_cr(&held),
                cut: false,
                continued: self.continued,
            });
        }
        self.continued = false;
    }
}

fn strip_cr(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\r").unwrap_or(b)
}

/// Text for any bytes: valid UTF-8 is kept, except control characters (tab aside), which
/// become `\xNN` like the bytes that are not UTF-8. The result never holds a newline, so
/// it fits on one text line and in a JSON string (which escapes the backslash).
pub fn printable(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => printable_str(s),
        Err(_) => std::borrow::Cow::Owned(escape(bytes)),
    }
}

/// [`printable`] of text already known to be UTF-8 (a record's fields): the common case, no
/// control character, is one scan and no copy.
pub fn printable_str(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return std::borrow::Cow::Borrowed(s);
    }
    std::borrow::Cow::Owned(escape(s.as_bytes()))
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 16);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if (c < ' ' && c != '\t') || c == '\x7f' {
                push_hex(&mut out, c as u8);
            } else {
                out.push(c);
            }
        }
        for &b in chunk.invalid() {
            push_hex(&mut out, b);
        }
    }
    out
}

/// Like [`printable`] but keeps newlines (a multi-line record: a traceback).
pub fn printable_lines(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f)
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if (c < ' ' && c != '\t' && c != '\n') || c == '\x7f' {
            push_hex(&mut out, c as u8);
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\x");
    out.push(HEX[(b >> 4) as usize] as char);
    out.push(HEX[(b & 15) as usize] as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(max: usize, chunks: &[&[u8]], finish: bool) -> Vec<(String, bool, bool)> {
        let mut lb = LineBuf::new(max);
        let mut out = Vec::new();
        let mut emit = |p: Piece<'_>| {
            out.push((
                String::from_utf8_lossy(p.bytes).into_owned(),
                p.cut,
                p.continued,
            ))
        };
        for c in chunks {
            lb.push(c, &mut emit);
        }
        if finish {
            lb.finish(&mut emit);
        }
        out
    }

    /// (max, reads, worker exited, lines as (text, cut, continued)).
    type Case = (
        usize,
        &'static [&'static [u8]],
        bool,
        Vec<(String, bool, bool)>,
    );

    fn l(s: &str) -> (String, bool, bool) {
        (s.to_string(), false, false)
    }

    #[test]
    fn splitting() {
        let cases: &[Case] = &[
            (100, &[b"a\nb\n"], false, vec![l("a"), l("b")]),
            // A partial line waits for its newline across reads.
            (
                100,
                &[b"he", b"llo\nwor", b"ld\n"],
                false,
                vec![l("hello"), l("world")],
            ),
            // ... and is flushed when the worker exits.
            (100, &[b"a\npartial"], true, vec![l("a"), l("partial")]),
            (100, &[b"a\npartial"], false, vec![l("a")]),
            // CRLF and empty lines.
            (100, &[b"x\r\n\n"], false, vec![l("x"), l("")]),
            // Exactly the bound fits; one more byte cuts.
            (3, &[b"abc\n"], false, vec![l("abc")]),
            (
                3,
                &[b"abcdefg\n"],
                false,
                vec![
                    ("abc".into(), true, false),
                    ("def".into(), true, true),
                    ("g".into(), false, true),
                ],
            ),
            // Cut across reads, and a newline right after the bound.
            (
                3,
                &[b"ab", b"cd\ne"],
                true,
                vec![
                    ("abc".into(), true, false),
                    ("d".into(), false, true),
                    l("e"),
                ],
            ),
            (3, &[b"abc", b"\n"], false, vec![l("abc")]),
        ];
        for (max, chunks, finish, want) in cases {
            assert_eq!(&run(*max, chunks, *finish), want, "{chunks:?}");
        }
    }

    #[test]
    fn escaping() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain text", "plain text"),
            (b"tab\tok", "tab\tok"),
            ("ünïcode ✓".as_bytes(), "ünïcode ✓"),
            (b"bad \xff\xfe byte", "bad \\xff\\xfe byte"),
            (b"bell\x07 esc\x1b[0m", "bell\\x07 esc\\x1b[0m"),
            (b"nl\nin", "nl\\x0ain"),
            (b"\xe2\x9c", "\\xe2\\x9c"),
        ];
        for (raw, want) in cases {
            assert_eq!(printable(raw), *want);
        }
        assert_eq!(printable_lines("a\nb\x1b"), "a\nb\\x1b");
    }
}
