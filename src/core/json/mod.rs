//! JSON: reading server answers and JWT payloads, writing request bodies.
//!
//! Two backends with one API ([`parse`], [`parse_base64url`], `Json::get`, `Json::string`,
//! `Json::as_i64`, `Json::is_null`, `Json::to_json_string`, `Json::default()` for `null`):
//! - in the browser (wasm32), `Json` is a JS value read with the browser's own `JSON.parse`,
//!   `atob` and `TextDecoder`, so the wasm carries no parser;
//! - natively, a small panic-free parser, so that the core's protocol and JWT logic is tested
//!   with `cargo test` and fuzzed.
//!
//! Request bodies are written by [`write_str`] on both.

#[cfg(target_arch = "wasm32")]
mod browser;
#[cfg(not(target_arch = "wasm32"))]
mod native;

#[cfg(target_arch = "wasm32")]
pub use browser::{parse, parse_base64url, Json};
#[cfg(not(target_arch = "wasm32"))]
pub use native::{parse, parse_base64url, Json, MAX_DEPTH};

/// Writes `s` as a JSON string literal.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let b = c as u32;
                out.push_str("\\u00");
                out.push(char::from_digit(b >> 4, 16).unwrap_or('0'));
                out.push(char::from_digit(b & 0xf, 16).unwrap_or('0'));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
