//! Messages for the operator, attributed to the component by berth.
//!
//! Use the functions, or the macros of the same names with `format!`
//! arguments:
//!
//! ```no_run
//! berth_sdk::log::info("starting");
//! berth_sdk::log::warn!("{} files left over", 3);
//! ```

use crate::__private::bindings::berth::component::log::write;
use crate::__private::bindings::berth::component::types::LogLevel;

/// Log at trace level: very detailed output.
pub fn trace(message: impl AsRef<str>) {
    write(LogLevel::Trace, message.as_ref());
}

/// Log at debug level: output useful when debugging the component.
pub fn debug(message: impl AsRef<str>) {
    write(LogLevel::Debug, message.as_ref());
}

/// Log at info level: normal progress.
pub fn info(message: impl AsRef<str>) {
    write(LogLevel::Info, message.as_ref());
}

/// Log at warn level: something the operator should look at.
pub fn warn(message: impl AsRef<str>) {
    write(LogLevel::Warn, message.as_ref());
}

/// Log at error level: something went wrong.
pub fn error(message: impl AsRef<str>) {
    write(LogLevel::Error, message.as_ref());
}

pub use crate::{__log_debug as debug, __log_error as error, __log_info as info};
pub use crate::{__log_trace as trace, __log_warn as warn};

/// Log at trace level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_trace {
    ($($arg:tt)+) => { $crate::log::trace(::std::format!($($arg)+)) };
}

/// Log at debug level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_debug {
    ($($arg:tt)+) => { $crate::log::debug(::std::format!($($arg)+)) };
}

/// Log at info level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_info {
    ($($arg:tt)+) => { $crate::log::info(::std::format!($($arg)+)) };
}

/// Log at warn level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_warn {
    ($($arg:tt)+) => { $crate::log::warn(::std::format!($($arg)+)) };
}

/// Log at error level, with `format!` arguments.
#[doc(hidden)]
#[macro_export]
macro_rules! __log_error {
    ($($arg:tt)+) => { $crate::log::error(::std::format!($($arg)+)) };
}
