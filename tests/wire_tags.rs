//! Every name that crosses between Rust and JS is defined once, in Rust, and this test checks
//! the JS side against it: error codes and event types against the TypeScript the package
//! ships, storage names against io.js's option check, timer names (which the JS must treat as
//! opaque), and the method names of executor.js's executor and of the `SessionPort` it calls.
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use convex_auth_wasm::core::machine::{Slot, Timer};
use convex_auth_wasm::{AuthEventKind, ErrorCode};

const FACADE: &str = include_str!("../src/web/facade.rs");
const CLIENT: &str = include_str!("../src/web/client.rs");
const IO_RS: &str = include_str!("../src/web/io.rs");
const IO_JS: &str = include_str!("../src/web/io.js");
const EXECUTOR_JS: &str = include_str!("../src/web/executor.js");

/// The text of the TypeScript declaration that starts with `start`, up to its `;`.
fn declaration(start: &str) -> &'static str {
    let from = FACADE
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in facade.rs"));
    let rest = &FACADE[from..];
    &rest[..rest.find(';').expect("declaration ends")]
}

/// The double-quoted string literals in `text`.
fn quoted(text: &str) -> Vec<&str> {
    text.split('"').skip(1).step_by(2).collect()
}

#[test]
fn error_codes_match_the_typescript_union() {
    let union = quoted(declaration("export type ConvexAuthErrorCode"));
    // A `UserError`'s JS code is the server's own (ConvexAuthV2ErrorCode), never "UserError".
    let rust: Vec<&str> = ErrorCode::ALL
        .iter()
        .filter(|c| **c != ErrorCode::UserError)
        .map(|c| c.as_str())
        .collect();
    assert_eq!(union, rust);
    assert!(!FACADE.contains("\"UserError\""));
}

#[test]
fn slot_names_are_defined_in_rust_only() {
    // The executor keeps a storage key per slot name (given by Rust) and names one slot itself:
    // the JWT, whose hand-over copy it writes.
    for slot in Slot::ALL {
        let literal = format!("\"{}\"", slot.as_str());
        assert!(
            !EXECUTOR_JS.contains(&literal),
            "executor.js names {literal}"
        );
    }
    assert!(EXECUTOR_JS.contains(&format!("values.{}", Slot::Jwt.as_str())));
}

#[test]
fn event_types_match_the_typescript_union() {
    let start = FACADE
        .find("export type AuthEvent =")
        .expect("AuthEvent type");
    let text = &FACADE[start..];
    let text = &text[..text.find("/**").expect("next declaration")];
    let mut ts = quoted(text);
    ts.sort_unstable();
    let mut rust: Vec<&str> = AuthEventKind::ALL.iter().map(|k| k.as_str()).collect();
    rust.sort_unstable();
    assert_eq!(ts, rust);
}

#[test]
fn storage_names_match_io_js_and_the_facade() {
    let line = IO_JS
        .lines()
        .find(|l| l.starts_with("const STORAGES"))
        .expect("io.js STORAGES");
    let js = quoted(line);
    let start = FACADE.find("storage?:").expect("storage option type");
    let ts_line = FACADE[start..].lines().next().unwrap_or_default();
    assert_eq!(quoted(ts_line), js, "the TypeScript storage option");
    for name in &js {
        assert!(
            FACADE.contains(&format!("Some(\"{name}\")")) || *name == "encrypted",
            "facade.rs maps {name}"
        );
    }
}

#[test]
fn timer_names_are_defined_in_rust_only() {
    for timer in Timer::ALL {
        assert_eq!(Timer::parse(timer.as_str()), Some(timer));
        let literal = format!("\"{}\"", timer.as_str());
        for js in [IO_JS, EXECUTOR_JS] {
            assert!(!js.contains(&literal), "the JS names the timer {literal}");
        }
    }
}

/// The JS names of the methods bound on `type` in io.rs (`js_name` or the Rust name).
fn bound_methods(rust: &str, receiver: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut js_name = None;
    for line in rust.lines().map(str::trim) {
        if line.starts_with("#[wasm_bindgen(") {
            js_name = line
                .split("js_name = ")
                .nth(1)
                .map(|n| n.trim_end_matches(")]").trim_end_matches(')').to_owned());
        }
        if let Some(rest) = line.strip_prefix("pub(crate) fn ") {
            let name = rest.split('(').next().unwrap_or_default();
            if rest.contains(&format!("this: &{receiver}")) || {
                // Multi-line signatures: the receiver is on the next lines.
                let at = rust.find(line).unwrap_or(0);
                rust[at..]
                    .split(';')
                    .next()
                    .unwrap_or_default()
                    .contains(&format!("this: &{receiver}"))
            } {
                names.push(js_name.clone().unwrap_or_else(|| name.to_owned()));
            }
            js_name = None;
        }
    }
    names
}

#[test]
fn every_executor_method_bound_in_rust_exists_in_executor_js() {
    let methods = bound_methods(IO_RS, "Executor");
    assert!(methods.len() > 10, "{methods:?}");
    let start = EXECUTOR_JS
        .find("export const executor")
        .expect("executor in executor.js");
    let executor = &EXECUTOR_JS[start..];
    for m in methods {
        assert!(
            executor.contains(&format!("    {m}: ")),
            "executor.js's executor has no {m}"
        );
    }
}

#[test]
fn every_port_method_io_js_calls_is_exported() {
    let exported: Vec<String> = {
        let start = CLIENT.find("impl SessionPort {").expect("SessionPort impl");
        let body = &CLIENT[start..];
        let mut names = Vec::new();
        let mut js_name = None;
        for raw in body.lines().skip(1) {
            if raw == "}" {
                break;
            }
            let line = raw.trim();
            if let Some(n) = line.split("js_name = ").nth(1) {
                js_name = Some(n.trim_end_matches(")]").to_owned());
            }
            if let Some(rest) = line.strip_prefix("pub fn ") {
                let name = rest.split('(').next().unwrap_or_default();
                names.push(js_name.take().unwrap_or_else(|| name.to_owned()));
            }
        }
        names
    };
    let js = [IO_JS, EXECUTOR_JS].concat();
    let called: Vec<&str> = js
        .split("port.")
        .skip(1)
        .map(|s| s.split('(').next().unwrap_or_default())
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(called.len() > 10, "{called:?}");
    for name in called {
        assert!(
            exported.iter().any(|e| e == name),
            "SessionPort exports no {name}: {exported:?}"
        );
    }
}
