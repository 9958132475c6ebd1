//! The master's `tracing` events, written by the same [`super::Logger`] as the workers'
//! lines: one stamp, one style.

use tracing::field::{Field as TField, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{Field, Level};

/// Sends every event to the installed logger (or, before there is one, to stderr in the
/// text style).
pub struct EbbLayer;

#[derive(Default)]
struct Collect {
    message: String,
    fields: Vec<(&'static str, Field)>,
}

impl Visit for Collect {
    fn record_debug(&mut self, f: &TField, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.message = format!("{v:?}");
        } else {
            self.fields.push((f.name(), Field::Str(format!("{v:?}"))));
        }
    }
    fn record_str(&mut self, f: &TField, v: &str) {
        if f.name() == "message" {
            self.message = v.to_string();
        } else {
            self.fields.push((f.name(), Field::Str(v.to_string())));
        }
    }
    fn record_i64(&mut self, f: &TField, v: i64) {
        self.fields.push((f.name(), Field::I64(v)));
    }
    fn record_u64(&mut self, f: &TField, v: u64) {
        self.fields.push((f.name(), Field::U64(v)));
    }
    fn record_f64(&mut self, f: &TField, v: f64) {
        self.fields.push((f.name(), Field::F64(v)));
    }
    fn record_bool(&mut self, f: &TField, v: bool) {
        self.fields.push((f.name(), Field::Bool(v)));
    }
}

impl<S: Subscriber> Layer<S> for EbbLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut c = Collect::default();
        event.record(&mut c);
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::TRACE => Level::Trace,
        };
        let written = super::with(|l| {
            l.master(level, &c.message, &c.fields);
            // Errors and warnings are written at once (the master may be about to exit);
            // the rest at the end of the loop turn.
            if level >= Level::Warn {
                l.flush();
            }
        });
        if written.is_none() {
            let mut l = super::Logger::stderr(crate::config::LogFormat::Text);
            l.master(level, &c.message, &c.fields);
            l.flush();
        }
    }
}

/// Install the subscriber: `filter` (`info`, `debug`, or `RUST_LOG`) and [`EbbLayer`].
pub fn init(default_filter: &str) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(EbbLayer)
        .try_init();
}
