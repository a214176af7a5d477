//! Panics reported through the log like everything else: one structured line (JSON in
//! production) with where it happened and the ids of the span it happened in, and a count
//! on `/metrics`, instead of raw text on stderr that log shippers split and nobody alerts on.
//!
//! The message is logged as the panic wrote it. What keeps key material out of it is that
//! every type holding some writes its `Debug` by hand to leave it out; the panic test of the
//! `cdp` crate checks that this holds on the panic path too.

use std::panic::PanicHookInfo;

use crate::metrics::PANICS;

/// Routes every panic of the process to [`report`]. The default hook is not kept: it would
/// print the same panic a second time, unstructured.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(report));
}

/// Logs one panic as an error event and counts it.
pub fn report(info: &PanicHookInfo<'_>) {
    PANICS.add(1);
    let message = info
        .payload()
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(a panic without a message)");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let thread = std::thread::current();
    // Only when RUST_BACKTRACE asks for one, as the default hook does.
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| backtrace.to_string());
    tracing::error!(
        target: "panic",
        panic_message = message,
        panic_location = location,
        panic_thread = thread.name().unwrap_or("unnamed"),
        panic_backtrace = backtrace,
        "a thread panicked"
    );
}
