//! The I/O-free core: JSON, JWT claims, storage keys, errors, the wire protocol, session state
//! and refresh timing. Plain Rust, tested natively with `cargo test`.

pub mod error;
pub mod json;
pub mod jwt;
pub mod keys;
pub mod protocol;
pub mod session;
