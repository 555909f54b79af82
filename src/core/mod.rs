//! The I/O-free core: JSON, JWT claims, storage keys, errors, the wire protocol, session state
//! and refresh timing. Plain Rust, tested natively with `cargo test`.

pub mod error;
pub mod json;
pub mod jwt;
pub mod keys;
pub mod machine;
pub mod origin;
pub mod protocol;
#[cfg(feature = "serde")]
pub mod serialize;
pub mod session;
pub mod source;
pub mod v2;

/// `s` split around the first `sep` (an ASCII byte), without the separator. A byte scan: the
/// standard library's pattern searchers cost about 2 KB of wasm, and every separator here is
/// ASCII.
pub(crate) fn split_byte(s: &str, sep: u8) -> Option<(&str, &str)> {
    let i = s.bytes().position(|b| b == sep)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// `s` without the trailing run of the ASCII byte `b`.
pub(crate) fn trim_end_byte(s: &str, b: u8) -> &str {
    let end = s.bytes().rposition(|c| c != b).map_or(0, |i| i + 1);
    s.get(..end).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_splits() {
        assert_eq!(split_byte("a.b.c", b'.'), Some(("a", "b.c")));
        assert_eq!(split_byte(".", b'.'), Some(("", "")));
        assert_eq!(split_byte("é|ü", b'|'), Some(("é", "ü")));
        assert_eq!(split_byte("abc", b'.'), None);
        assert_eq!(trim_end_byte("ab==", b'='), "ab");
        assert_eq!(trim_end_byte("===", b'='), "");
        assert_eq!(trim_end_byte("é/", b'/'), "é");
    }
}
