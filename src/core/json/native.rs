//! The native backend: a small, panic-free JSON reader and writer, so that the core's protocol
//! and JWT logic is tested natively (`cargo test`, the fuzz target). Numbers keep their source
//! text; callers ask for the integer they need. Nesting is bounded so hostile input cannot
//! exhaust the stack.

use crate::core::split_byte;

/// A parsed JSON value.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Json {
    /// `null`
    #[default]
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, as written in the source.
    Num(String),
    /// A string, unescaped.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, fields in source order.
    Obj(Vec<(String, Json)>),
}

/// Deepest nesting accepted by [`parse`].
pub const MAX_DEPTH: usize = 64;

impl Json {
    /// The field `key` of an object (a copy), or `None` for other values and missing keys.
    pub fn get(&self, key: &str) -> Option<Json> {
        match self {
            Json::Obj(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone()),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn string(&self) -> Option<String> {
        match self {
            Json::Str(s) => Some(s.clone()),
            _ => None,
        }
    }

    /// The integer part of a number (`1700000000`, `1.7e9` and `-3.9` give 1700000000, 1700000000
    /// and -3), if it has at most 18 digits.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Json::Num(text) => int_of(text),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Whether this is `true`.
    pub fn is_true(&self) -> bool {
        matches!(self, Json::Bool(true))
    }

    /// A string value.
    pub fn from_string(s: String) -> Json {
        Json::Str(s)
    }

    /// An object of `fields`, in order (a field whose value is `None` is left out).
    pub fn object(fields: Vec<(&str, Option<Json>)>) -> Json {
        Json::Obj(
            fields
                .into_iter()
                .filter_map(|(k, v)| Some((k.to_owned(), v?)))
                .collect(),
        )
    }

    /// Serialises the value (compact form).
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(true) => out.push_str("true"),
            Json::Bool(false) => out.push_str("false"),
            Json::Num(n) => out.push_str(n),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The compact serialisation.
    pub fn to_json_string(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// Writes `s` as a JSON string literal.
fn write_str(out: &mut String, s: &str) {
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

/// Parses a complete JSON document. `None` for anything malformed or nested deeper than
/// [`MAX_DEPTH`].
pub fn parse(text: &str) -> Option<Json> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

/// Parses the JSON (UTF-8) in a base64url segment, padded or not, as in a JWT. `None` when the
/// segment is not base64url, not UTF-8 or not JSON.
pub fn parse_base64url(segment: &str) -> Option<Json> {
    let bytes = crate::core::jwt::base64url_decode(segment)?;
    parse(core::str::from_utf8(&bytes).ok()?)
}

fn int_of(text: &str) -> Option<i64> {
    // Byte scans (no pattern searchers: see `core::split_byte`).
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exp) = match digits.bytes().position(|b| b == b'e' || b == b'E') {
        Some(i) => (digits.get(..i)?, Some(digits.get(i + 1..)?)),
        None => (digits, None),
    };
    let mut scale = 0usize;
    if let Some(e) = exp {
        let e = e.strip_prefix('+').unwrap_or(e);
        if e.starts_with('-') {
            return Some(0);
        }
        if e.is_empty() {
            return None;
        }
        for b in e.bytes() {
            if !b.is_ascii_digit() {
                return None;
            }
            scale = scale * 10 + usize::from(b - b'0');
            if scale > 30 {
                return None;
            }
        }
    }
    let (int_part, frac) = split_byte(mantissa, b'.').unwrap_or((mantissa, ""));
    // The integer has `count` digits: the integer part, then the fraction's digits that the
    // exponent moves over, then zeros. Up to 18 digits fit an i64 without overflow checks (JWT
    // times have 10); longer integers are not read.
    let count = int_part.len() + scale;
    if count > 18 {
        return None;
    }
    let mut digits = int_part.bytes().chain(frac.bytes());
    let mut v: i64 = 0;
    for _ in 0..count {
        let b = digits.next().unwrap_or(b'0');
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    Some(if neg { -v } else { v })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn lit(&mut self, word: &[u8], v: Json) -> Option<Json> {
        let end = self.i.checked_add(word.len())?;
        (self.s.get(self.i..end)? == word).then(|| {
            self.i = end;
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.ws();
        match self.peek()? {
            b'n' => self.lit(b"null", Json::Null),
            b't' => self.lit(b"true", Json::Bool(true)),
            b'f' => self.lit(b"false", Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                    return Some(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b']' => {
                            self.i += 1;
                            return Some(Json::Arr(items));
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                    return Some(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let k = self.string()?;
                    self.ws();
                    if self.peek()? != b':' {
                        return None;
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    fields.push((k, v));
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        b'}' => {
                            self.i += 1;
                            return Some(Json::Obj(fields));
                        }
                        _ => return None,
                    }
                }
            }
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let text = core::str::from_utf8(self.s.get(start..self.i)?).ok()?;
        Some(Json::Num(text.to_owned()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = (self.peek()? as char).to_digit(16)?;
            v = v * 16 + d;
            self.i += 1;
        }
        Some(v)
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the run of plain bytes at once (it is valid UTF-8: the input is a &str and
            // the run ends at an ASCII byte).
            let start = self.i;
            while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                self.i += 1;
            }
            out.push_str(core::str::from_utf8(self.s.get(start..self.i)?).ok()?);
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.i += 1;
                    let esc = self.peek()?;
                    self.i += 1;
                    match esc {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2)? != b"\\u" {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            out.push(char::from_u32(code)?);
                        }
                        _ => return None,
                    }
                }
                _ => return None, // control character
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_documents() {
        let v = parse(r#" {"a": [1, -2.5e3, true, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}} "#);
        let v = v.expect("valid");
        assert_eq!(
            v.get("a"),
            Some(Json::Arr(vec![
                Json::Num("1".into()),
                Json::Num("-2.5e3".into()),
                Json::Bool(true),
                Json::Null,
            ]))
        );
        assert_eq!(
            v.get("b").and_then(|b| b.get("c")).and_then(|c| c.string()),
            Some("d\né😀".to_owned())
        );
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in [
            "",
            "{",
            "[1,]",
            "{\"a\"}",
            "{\"a\":}",
            "tru",
            "\"abc",
            "01x",
            "1.",
            "-",
            "\"\\x\"",
            "\"\\ud800\"",
            "{} {}",
            "\"a\u{1}\"",
            "[1 2]",
            "{\"a\":1,}",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn bounds_nesting() {
        let deep = "[".repeat(MAX_DEPTH + 2) + &"]".repeat(MAX_DEPTH + 2);
        assert_eq!(parse(&deep), None);
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_some());
    }

    #[test]
    fn integers_from_number_text() {
        let n = |s: &str| Json::Num(s.into()).as_i64();
        assert_eq!(n("1700000000"), Some(1_700_000_000));
        assert_eq!(n("1.7e9"), Some(1_700_000_000));
        assert_eq!(n("17E+8"), Some(1_700_000_000));
        assert_eq!(n("-3.9"), Some(-3));
        assert_eq!(n("5e-3"), Some(0));
        assert_eq!(n("99999999999999999999"), None);
        assert_eq!(n("999999999999999999"), Some(999_999_999_999_999_999));
        assert_eq!(n("1e18"), None);
        assert_eq!(n("1e999"), None);
    }

    #[test]
    fn writes_round_trip() {
        let src = r#"{"s":"q\"\\\n\u0001é","n":-1.5,"a":[null,false,{}]}"#;
        let v = parse(src).expect("valid");
        let out = v.to_json_string();
        assert_eq!(
            out,
            r#"{"s":"q\"\\\n\u0001é","n":-1.5,"a":[null,false,{}]}"#
        );
        assert_eq!(parse(&out), Some(v));
    }
}
