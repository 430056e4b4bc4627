//! Log lines for people (text) or for log collectors (JSON, one object a
//! line), chosen by LOG_FORMAT.
//!
//! Both formats carry the same events, fields and spans: each request runs
//! in a `request` span holding its `request_id` (`web::request_id`), which
//! the text format prefixes to every line of the request
//! (`request{request_id=…}:`) and the JSON format puts under `"span"`. What
//! is never logged (passwords, session keys, invite tokens, query strings)
//! is a matter of the events, so it holds for both.

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for a terminal.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, the event's
    /// fields (`message` included) at the top level, and the request's
    /// span (`{"name": "request", "request_id": …}`) under `span`.
    Json,
}

/// The formatting layer for `format`, writing to `writer`; `ansi` colours
/// text for a terminal. `main` and the tests build their subscribers with
/// it, so the tests read the lines the console writes.
pub fn layer<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => fmt.with_ansi(ansi).boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
    }
}

/// Logs to standard output with RUST_LOG's filter, or [`crate::LOG_FILTER`];
/// text is coloured only on a terminal.
pub fn init(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| crate::LOG_FILTER.into());
    let ansi = std::io::stdout().is_terminal();
    tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, std::io::stdout, ansi))
        .init();
}
