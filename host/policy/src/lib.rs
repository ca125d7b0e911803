//! placeholder
mod bindings;
pub use bindings::*;
