//! Storage key naming, identical to `@convex-dev/auth/react` (PROTOCOL.md §2.1), so sessions
//! carry over in both directions.

/// The three keys of one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    /// `__convexAuthJWT_<ns>`: the access JWT.
    pub jwt: String,
    /// `__convexAuthRefreshToken_<ns>`: the refresh token.
    pub refresh_token: String,
    /// `__convexAuthOAuthVerifier_<ns>`: the OAuth verifier between redirect and code exchange.
    pub verifier: String,
}

impl Keys {
    /// The keys for `namespace` (the deployment url unless `storageNamespace` is given): every
    /// character outside `[a-zA-Z0-9]` is removed, as the official client does.
    pub fn new(namespace: &str) -> Self {
        let ns: String = namespace
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let key = |base: &str| {
            let mut k = String::with_capacity(base.len() + 1 + ns.len());
            k.push_str(base);
            k.push('_');
            k.push_str(&ns);
            k
        };
        Keys {
            jwt: key("__convexAuthJWT"),
            refresh_token: key("__convexAuthRefreshToken"),
            verifier: key("__convexAuthOAuthVerifier"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_key_layout() {
        let k = Keys::new("https://happy-animal-123.convex.cloud");
        assert_eq!(k.jwt, "__convexAuthJWT_httpshappyanimal123convexcloud");
        assert_eq!(
            k.refresh_token,
            "__convexAuthRefreshToken_httpshappyanimal123convexcloud"
        );
        assert_eq!(
            k.verifier,
            "__convexAuthOAuthVerifier_httpshappyanimal123convexcloud"
        );
        assert_eq!(
            Keys::new("http://127.0.0.1:3210").jwt,
            "__convexAuthJWT_http1270013210"
        );
        // JS's /[^a-zA-Z0-9]/g removes non-ASCII letters too.
        assert_eq!(Keys::new("héllo wörld_1").jwt, "__convexAuthJWT_hllowrld1");
    }
}
