//! What the compatibility tables share: how an option of another server is treated
//! ([`Status`]), what to do with one that was given ([`Verdict`]), and which server it comes
//! from ([`Dialect`]).
//!
//! Each server has its table: [`super::uwsgi`] (ini files, `UWSGI_*` variables and command-line
//! flags) and [`super::gunicorn`] (command-line flags, and gunicorn setting names met in a TOML
//! file). Options that are ebb options under another name are resolved by the option registry
//! ([`super::options`]); the tables record them too, so that the generated documentation lists
//! every option in one place, and tests check that the two agree.

/// What ebb does with an option of another server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Same name, same meaning.
    Same,
    /// Another name for an ebb option.
    Alias(&'static str),
    /// Mapped to an ebb option that behaves differently; the text says how.
    Different(&'static str, &'static str),
    /// Accepted quietly: ebb always behaves this way, or the option has no effect in ebb.
    AlwaysOn(&'static str),
    /// Ignored with a warning (an error in strict mode); the text says what to do instead.
    Unsupported(&'static str),
    /// An error: ebb cannot do what was asked, and running anyway would surprise; the text
    /// says what to do instead.
    Refused(&'static str),
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Same => "same",
            Status::Alias(_) => "alias",
            Status::Different(..) => "different",
            Status::AlwaysOn(_) => "always on",
            Status::Unsupported(_) => "unsupported",
            Status::Refused(_) => "error",
        }
    }

    /// The ebb option it maps to, if any.
    pub fn target(&self) -> Option<&'static str> {
        match self {
            Status::Alias(t) | Status::Different(t, _) => Some(t),
            _ => None,
        }
    }

    /// The explanation shown in the documentation.
    pub fn note(&self) -> &'static str {
        match self {
            Status::Same | Status::Alias(_) => "",
            Status::Different(_, how) => how,
            Status::AlwaysOn(why) => why,
            Status::Unsupported(hint) | Status::Refused(hint) => hint,
        }
    }
}

/// What to do with one option (from a file, a variable or the command line) that is not an
/// ebb option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted quietly.
    Quiet,
    /// A known option ebb does not support; the text says what to do instead.
    Unsupported(String),
    /// Not an option ebb knows; maybe a typo (with a suggestion).
    Unknown(Option<&'static str>),
    /// An error whatever `strict` says; the text says what is wrong and what to do.
    Error(String),
}

/// The server an option comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Uwsgi,
    Gunicorn,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Uwsgi => "uWSGI",
            Dialect::Gunicorn => "gunicorn",
        }
    }
}
