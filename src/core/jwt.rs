//! Reading the claims of a Convex Auth JWT (without verifying it: that is the server's job).
//!
//! Convex Auth v1's `sub` is `<userId>|<sessionId>` (PROTOCOL.md §6.1); v2's is the session id
//! alone, the user id coming with the token bundle (PROTOCOL-V2.md §3). `iat` and `exp` are
//! seconds since the epoch.

use super::json;
use super::{split_byte, trim_end_byte};

/// The claims the client needs from an access token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claims {
    /// The user document id: the first half of a v1 `sub`; `None` for v2, whose `sub` holds
    /// none.
    pub user_id: Option<String>,
    /// The session document id: the second half of a v1 `sub`, a v2 `sub` whole. For an
    /// identity platform's token (`sessionless`), the `sub` whole: it tells users apart.
    pub session_id: String,
    /// The token names a user but no session (an identity platform's, [`decode_platform`]).
    pub sessionless: bool,
    /// `iss`, when it is a string.
    pub issuer: Option<String>,
    /// `exp`, seconds since the epoch (server clock).
    pub exp: i64,
    /// `iat`, seconds since the epoch (server clock), when present.
    pub iat: Option<i64>,
}

impl Claims {
    /// The token's lifetime in milliseconds (`exp − iat`), when `iat` is known and sane.
    pub fn lifetime_ms(&self) -> Option<i64> {
        let iat = self.iat?;
        let life = self.exp.checked_sub(iat)?.checked_mul(1000)?;
        (life > 0).then_some(life)
    }

    /// `exp` in milliseconds.
    pub fn expires_at_ms(&self) -> i64 {
        self.exp.saturating_mul(1000)
    }
}

/// Decodes the payload of a compact JWS. `None` when the token is not a three-part JWT whose
/// payload is base64url JSON with a `userId|sessionId` (v1) or `sessionId` (v2) subject and an
/// integer `exp`.
pub fn decode(token: &str) -> Option<Claims> {
    decode_with(token, false)
}

/// Decodes an identity platform's JWT (Clerk, Auth0, any OIDC issuer): its `sub` names the user
/// whole (Auth0's `auth0|123` included), and there is no session id.
pub fn decode_platform(token: &str) -> Option<Claims> {
    decode_with(token, true)
}

fn decode_with(token: &str, platform: bool) -> Option<Claims> {
    let (_header, rest) = split_byte(token, b'.')?;
    let (payload, sig) = split_byte(rest, b'.')?;
    if split_byte(sig, b'.').is_some() {
        return None;
    }
    let claims = json::parse_base64url(payload)?;
    let sub = claims.get("sub")?.string()?;
    let (user_id, session_id) = match split_byte(&sub, b'|') {
        _ if platform => (Some(sub.as_str()), sub.as_str()),
        Some((user_id, session_id)) => (Some(user_id), session_id),
        None => (None, sub.as_str()),
    };
    if user_id.is_some_and(str::is_empty) || session_id.is_empty() {
        return None;
    }
    Some(Claims {
        user_id: user_id.map(str::to_owned),
        session_id: session_id.to_owned(),
        sessionless: platform,
        issuer: claims.get("iss").and_then(|v| v.string()),
        exp: claims.get("exp")?.as_i64()?,
        iat: claims.get("iat").and_then(|v| v.as_i64()),
    })
}

/// Decodes unpadded (or padded) base64url. `None` on any other character or a dangling bit group.
pub fn base64url_decode(input: &str) -> Option<Vec<u8>> {
    let input = trim_end_byte(input, b'=');
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in input.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A single leftover character (6 bits) cannot encode a byte.
    (bits < 6).then_some(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Base64url-encodes (test helper).
    pub(crate) fn b64(data: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    /// A structurally valid (unsigned) JWT with the given payload (test helper).
    pub(crate) fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256"}"#),
            b64(payload.as_bytes())
        )
    }

    #[test]
    fn decodes_convex_claims() {
        let t =
            jwt(r#"{"sub":"u1|s1","iat":1700000000,"exp":1700003600,"iss":"x","aud":"convex"}"#);
        let c = decode(&t).expect("claims");
        assert_eq!(c.user_id.as_deref(), Some("u1"));
        assert_eq!(c.session_id, "s1");
        assert_eq!(c.exp, 1_700_003_600);
        assert_eq!(c.lifetime_ms(), Some(3_600_000));
        assert_eq!(c.expires_at_ms(), 1_700_003_600_000);
    }

    #[test]
    fn rejects_bad_tokens() {
        for t in [
            String::new(),
            "a.b".into(),
            "a.b.c.d".into(),
            "x.!!!.y".into(),
            jwt("not json"),
            jwt(r#"{"sub":"","exp":1}"#),
            jwt(r#"{"sub":"u|","exp":1}"#),
            jwt(r#"{"sub":"|s","exp":1}"#),
            jwt(r#"{"sub":"u|s"}"#),
            jwt(r#"{"sub":"u|s","exp":"1"}"#),
            jwt(r#"["sub"]"#),
        ] {
            assert_eq!(decode(&t), None, "{t}");
        }
    }

    #[test]
    fn decodes_v2_claims() {
        let c =
            decode(&jwt(r#"{"sub":"s2","iat":1,"exp":61,"aud":"convex-auth"}"#)).expect("claims");
        assert_eq!((c.user_id, c.session_id.as_str()), (None, "s2"));
    }

    #[test]
    fn decodes_platform_claims() {
        let t = jwt(r#"{"sub":"auth0|123","iat":1,"exp":61,"iss":"https://x","aud":"convex"}"#);
        let c = decode_platform(&t).expect("claims");
        assert_eq!(c.user_id.as_deref(), Some("auth0|123"));
        assert_eq!((c.session_id.as_str(), c.sessionless), ("auth0|123", true));
        assert!(!decode(&t).expect("claims").sessionless);
        assert_eq!(decode_platform(&jwt(r#"{"sub":"","exp":1}"#)), None);
    }

    #[test]
    fn lifetime_needs_sane_iat() {
        let c = decode(&jwt(r#"{"sub":"u|s","exp":10,"iat":20}"#)).expect("claims");
        assert_eq!(c.lifetime_ms(), None);
        let c = decode(&jwt(r#"{"sub":"u|s","exp":10}"#)).expect("claims");
        assert_eq!(c.lifetime_ms(), None);
    }

    #[test]
    fn base64url_round_trips() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len)
                .map(|i| i.wrapping_mul(37).wrapping_add(200))
                .collect();
            assert_eq!(base64url_decode(&b64(&data)).as_deref(), Some(&data[..]));
        }
        assert_eq!(base64url_decode("A"), None);
        assert_eq!(base64url_decode("QQ=="), Some(b"A".to_vec()));
    }
}
