//! Write to kumo's log from a policy.
//!
//! In a wasm build the line goes to kumo's log, tagged with the module name
//! (kumo caps the number of lines per call). Natively (tests) it goes to
//! standard error.
//!
//! ```
//! kumo_sdk::log::info("loaded 12 prefixes from config");
//! ```

/// Severity of a log line.
///
/// ```
/// assert!(kumo_sdk::log::Level::Debug < kumo_sdk::log::Level::Error);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Detail for debugging a policy.
    Debug,
    /// Normal operation.
    Info,
    /// Something an operator should look at.
    Warn,
    /// Something failed.
    Error,
}

/// Log a line at `level`.
///
/// ```
/// kumo_sdk::log::log(kumo_sdk::log::Level::Warn, "client sent 10 bogons");
/// ```
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    {
        use crate::guest::bindings::kumo::policy::types::Level as L;
        let level = match level {
            Level::Debug => L::Debug,
            Level::Info => L::Info,
            Level::Warn => L::Warn,
            Level::Error => L::Error,
        };
        crate::guest::bindings::kumo::policy::host::log(level, message);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        eprintln!("[{level:?}] {message}");
    }
}

/// Log at debug level.
///
/// ```
/// kumo_sdk::log::debug("checking path");
/// ```
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log at info level.
///
/// ```
/// kumo_sdk::log::info("hello");
/// ```
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log at warning level.
///
/// ```
/// kumo_sdk::log::warn("odd route");
/// ```
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log at error level.
///
/// ```
/// kumo_sdk::log::error("bad config");
/// ```
pub fn error(message: &str) {
    log(Level::Error, message);
}
