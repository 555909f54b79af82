//! JSON: reading server answers and JWT payloads.
//!
//! Two backends with one API ([`parse`], [`parse_base64url`], `Json::get`, `Json::string`,
//! `Json::as_i64`, `Json::is_null`, `Json::is_true`, `Json::to_json_string`, `Json::default()`
//! for `null`, and the builders `Json::from_string` and `Json::object` for request arguments):
//! - in the browser (wasm32), `Json` is a JS value read with the browser's own `JSON.parse`,
//!   `atob` and `TextDecoder`, so the wasm carries no parser;
//! - natively, a small panic-free parser and writer, so that the core's protocol and JWT logic
//!   is tested with `cargo test` and fuzzed.
//!
//! The client writes no JSON text itself in the browser: its request arguments are built as
//! values and written by `io.js`'s `post` (`JSON.stringify`).

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(target_arch = "wasm32")]
pub use browser::{parse, parse_base64url, Json};
#[cfg(not(target_arch = "wasm32"))]
pub use native::{parse, parse_base64url, Json, MAX_DEPTH};
