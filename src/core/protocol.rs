//! The wire protocol of `@convex-dev/auth` 0.0.95 over Convex's public HTTP API
//! (PROTOCOL.md §0, §5, §7.5): the meaning of every answer. (The requests are the session
//! backend's, [`super::machine::ConvexAuthV1`]; `io.js`'s `post` writes their
//! `{path, args, format:"json"}` envelope.)

use super::error::{self, Error, ErrorCode};
use super::json::Json;
use super::jwt;
use super::machine::Slot;

/// A fresh session: the access JWT and the rotating refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct Tokens {
    /// The access JWT.
    pub token: String,
    /// The refresh token (v1: `<refreshTokenId>|<sessionId>`; v2: 43 base64url characters).
    pub refresh_token: String,
    /// The user, when the server sends it beside the tokens (v2's bundle; v1's is in `sub`).
    pub user_id: Option<String>,
}

impl core::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Tokens(<redacted>)")
    }
}

/// What an `auth:signIn` call answered.
#[derive(Clone, Debug, PartialEq)]
pub enum SignInResult {
    /// `{tokens: {token, refreshToken}}`: signed in.
    Tokens(Tokens),
    /// `{tokens: null}`: no session (failed exchange, verification pending, reset requested,
    /// or, for a refresh, the definitive end of the session).
    NoTokens,
    /// `{started: true}`: a code or link was sent.
    Started,
    /// `{redirect, verifier}`: go to `redirect` (OAuth), keeping `verifier` for the code exchange.
    Redirect {
        /// Where to send the browser.
        url: String,
        /// What the code exchange needs back, kept in [`Slot::Verifier`] (v1: the verifier;
        /// v2: the pending flow, as the official v2 client writes it).
        verifier: String,
    },
    /// A value to keep for a later step (v2: the `browserSecret` of an emailed link); no
    /// session yet.
    Keep {
        /// Where.
        slot: Slot,
        /// What.
        value: String,
    },
    /// A WebAuthn ceremony to run in the page, then a request with its result (v2 passkeys).
    Ceremony(Ceremony),
}

/// A WebAuthn ceremony a sign-in asks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceremony {
    /// `navigator.credentials.create` (a new passkey) rather than `.get`.
    pub register: bool,
    /// The server's options (the JSON forms of `PublicKeyCredentialCreationOptions` or
    /// `PublicKeyCredentialRequestOptions`, binary fields in base64url).
    pub options: Json,
    /// Passkey autofill: `.get` with `mediation: "conditional"` where the browser offers it (it
    /// stays pending until the user picks a passkey in an `autocomplete="… webauthn"` field).
    pub conditional: bool,
}

/// The string field `key` of `value`, if there is one.
fn text(value: &Json, key: &str) -> Option<String> {
    value.get(key)?.string()
}

/// Interprets the HTTP answer to `POST /api/action` (or query/mutation): the function's return
/// value, or the error it stands for.
pub fn parse_response(status: u16, body: &str) -> Result<Json, Error> {
    interpret_response(status, super::json::parse(body))
}

/// [`parse_response`] for an answer already parsed (`None`: the body is not JSON).
pub fn interpret_response(status: u16, json: Option<Json>) -> Result<Json, Error> {
    if status == 401 || status == 403 {
        let message = json.and_then(|j| text(&j, "message"));
        return Err(Error::new(
            ErrorCode::Unauthenticated,
            message
                .as_deref()
                .unwrap_or("The server rejected the access token"),
        ));
    }
    if status != 200 && status != 560 {
        // 429 and 5xx are transient; other statuses will not change by retrying.
        let transient = status == 429 || status >= 500;
        return Err(
            Error::new(ErrorCode::Server, "Unexpected HTTP status from the server")
                .with_retryable(transient),
        );
    }
    let json = json.ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidResponse,
            "The server's answer is not JSON",
        )
    })?;
    match text(&json, "status").as_deref() {
        Some("success") => Ok(json.get("value").unwrap_or_default()),
        Some("error") => {
            let message = text(&json, "errorMessage").unwrap_or_default();
            let data = json.get("errorData").filter(|d| !d.is_null());
            Err(error::from_function_error(&message, data))
        }
        _ => Err(Error::new(
            ErrorCode::InvalidResponse,
            "The server's answer has no status",
        )),
    }
}

/// The error of a WebAuthn ceremony whose browser call threw the DOMException `name`:
/// `NotAllowedError` (the user cancelled, or it timed out) and `AbortError` are
/// `PasskeyCancelled`; `NotSupportedError` (no WebAuthn) and `SecurityError` (the page may not use
/// this relying party) are `PasskeyUnsupported`; anything else (options the browser refused) is
/// `InvalidResponse`.
pub fn ceremony_error(name: &str, message: &str) -> Error {
    let (code, what) = match name {
        "NotAllowedError" | "AbortError" => (
            ErrorCode::PasskeyCancelled,
            "The passkey ceremony was cancelled or timed out: ",
        ),
        "NotSupportedError" | "SecurityError" => (
            ErrorCode::PasskeyUnsupported,
            "Passkeys cannot be used on this page: ",
        ),
        _ => (ErrorCode::InvalidResponse, "The passkey ceremony failed: "),
    };
    let mut text = String::from(what);
    text.push_str(message);
    Error::new(code, text).with_retryable(false)
}

/// Whether `refresh_token` is a Convex Auth v1 one (`<refreshTokenId>|<sessionId>`; v2's are
/// base64url, PROTOCOL-V2.md §5).
pub fn is_v1_refresh_token(refresh_token: &str) -> bool {
    super::split_byte(refresh_token, b'|').is_some()
}

/// `e`, or for a call of a function the deployment does not have (a 560 "Could not find public
/// function for 'auth:X'": a client of the other Convex Auth generation, a renamed export) an
/// `InvalidOptions` error that names the function and the options that choose it.
pub fn name_missing_function(e: Error) -> Error {
    let message = e.message();
    let missing = "Could not find public function for '";
    let rest = error::find(message, missing).and_then(|at| message.get(at + missing.len()..));
    match rest {
        Some(rest) if e.code() == ErrorCode::FunctionError => {
            let name = super::split_byte(rest, b'\'').map_or(rest, |(name, _)| name);
            let mut text = String::from("The deployment has no function ");
            text.push_str(name);
            text.push_str(
                ": check the `version` option (\"v1\" for @convex-dev/auth 0.0.x, \"v2\" for 2.x) \
                 and, for v2, the `functions` option (the names the app exports its auth \
                 functions under)",
            );
            Error::options(text)
        }
        _ => e,
    }
}

/// Interprets the value returned by `auth:signIn`.
pub fn interpret_sign_in(value: &Json) -> Result<SignInResult, Error> {
    let bad = || Error::new(ErrorCode::InvalidResponse, "Unexpected auth:signIn result");
    if let Some(redirect) = value.get("redirect") {
        return match (redirect.string(), text(value, "verifier")) {
            // Only a web address is followed: a `javascript:` or `data:` URL never reaches
            // `location.href`.
            (Some(url), Some(verifier)) if is_http_url(&url) => {
                Ok(SignInResult::Redirect { url, verifier })
            }
            _ => Err(bad()),
        };
    }
    if let Some(tokens) = value.get("tokens") {
        if tokens.is_null() {
            return Ok(SignInResult::NoTokens);
        }
        let non_empty = |key| text(&tokens, key).filter(|t| !t.is_empty());
        return match (non_empty("token"), non_empty("refreshToken")) {
            (Some(token), Some(refresh_token)) => Ok(SignInResult::Tokens(Tokens {
                token,
                refresh_token,
                user_id: None,
            })),
            _ => Err(bad()),
        };
    }
    if value.get("started").is_some() {
        return Ok(SignInResult::Started);
    }
    Err(bad())
}

/// Whether `url` starts with `http://` or `https://` (in any case), as an OAuth redirect must.
pub fn is_http_url(url: &str) -> bool {
    let scheme = |s: &str| {
        url.get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
    };
    scheme("https://") || scheme("http://")
}

/// What the answer to a refresh means for the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refresh {
    /// New tokens: store them and go on.
    Rotated(Tokens),
    /// `{tokens: null}`: the server ended the session.
    Ended,
    /// The server rejected the refresh token: the session is over.
    Rejected,
}

/// `tokens`, once its JWT is known to be a Convex Auth JWT (else `InvalidResponse`).
pub fn checked(tokens: Tokens) -> Result<Tokens, Error> {
    match jwt::decode(&tokens.token) {
        Some(_) => Ok(tokens),
        None => Err(Error::new(
            ErrorCode::InvalidResponse,
            "The server sent a token that is not a Convex Auth JWT",
        )),
    }
}

/// Interprets the HTTP answer (`status`, parsed body) to a sign-in or code exchange, with the
/// tokens [`checked`].
pub fn sign_in_answer(status: u16, json: Option<Json>) -> Result<SignInResult, Error> {
    let value = interpret_response(status, json).map_err(name_missing_function)?;
    match interpret_sign_in(&value)? {
        SignInResult::Tokens(t) => Ok(SignInResult::Tokens(checked(t)?)),
        other => Ok(other),
    }
}

/// Whether an error to a refresh is the server's definitive answer about the refresh token
/// (rejected, or the function failed on it), as opposed to a transport failure, an overloaded
/// server or an answer that makes no sense, which are retried.
pub fn ends_session(e: &Error) -> bool {
    matches!(
        e.code(),
        ErrorCode::FunctionError
            | ErrorCode::ConvexError
            | ErrorCode::InvalidCode
            | ErrorCode::InvalidSecret
            | ErrorCode::InvalidAccountId
            | ErrorCode::TooManyFailedAttempts
    )
}

/// What the answer to a refresh made with `refresh_token` means, from its [`sign_in_answer`].
/// `Err` is transient: the session is kept and the refresh retried. No message contains the
/// refresh token (a server may echo a malformed one back).
pub fn refresh_answer(
    answer: Result<SignInResult, Error>,
    refresh_token: &str,
) -> Result<Refresh, Error> {
    match answer.map_err(|e| e.redact(refresh_token)) {
        Ok(SignInResult::Tokens(t)) => Ok(Refresh::Rotated(t)),
        Ok(SignInResult::NoTokens) => Ok(Refresh::Ended),
        Ok(_) => Err(Error::new(
            ErrorCode::InvalidResponse,
            "Unexpected answer to a refresh",
        )),
        Err(e) if ends_session(&e) => Ok(Refresh::Rejected),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::jwt::tests::jwt;

    fn ok(body: &str) -> Result<SignInResult, Error> {
        interpret_sign_in(&parse_response(200, body)?)
    }

    #[test]
    fn every_sign_in_result_shape() {
        assert_eq!(
            ok(
                r#"{"status":"success","value":{"tokens":{"token":"t","refreshToken":"r"}},"logLines":[]}"#
            ),
            Ok(SignInResult::Tokens(Tokens {
                token: "t".into(),
                refresh_token: "r".into(),
                user_id: None,
            }))
        );
        assert_eq!(
            ok(r#"{"status":"success","value":{"tokens":null}}"#),
            Ok(SignInResult::NoTokens)
        );
        assert_eq!(
            ok(r#"{"status":"success","value":{"started":true}}"#),
            Ok(SignInResult::Started)
        );
        assert_eq!(
            ok(r#"{"status":"success","value":{"redirect":"http://x/y?code=v","verifier":"v"}}"#),
            Ok(SignInResult::Redirect {
                url: "http://x/y?code=v".into(),
                verifier: "v".into()
            })
        );
    }

    #[test]
    fn malformed_results_are_invalid_response() {
        for body in [
            r#"{"status":"success","value":null}"#,
            r#"{"status":"success","value":{"tokens":{"token":"t"}}}"#,
            r#"{"status":"success","value":{"tokens":{"token":"","refreshToken":"r"}}}"#,
            r#"{"status":"success","value":{"redirect":"u"}}"#,
            r#"{"status":"success","value":{"redirect":5,"verifier":"v"}}"#,
            r#"{"status":"success","value":{"redirect":"javascript:alert(1)","verifier":"v"}}"#,
            r#"{"status":"success","value":{"redirect":" https://x","verifier":"v"}}"#,
            r#"{"status":"success","value":{"redirect":"data:text/html,x","verifier":"v"}}"#,
            r#"{"status":"weird"}"#,
            "<html>",
            "",
        ] {
            let e = ok(body).expect_err(body);
            assert_eq!(e.code(), ErrorCode::InvalidResponse, "{body}");
            assert!(e.retryable());
        }
    }

    #[test]
    fn http_statuses() {
        let e = parse_response(
            401,
            r#"{"code":"Unauthenticated","message":"Could not verify OIDC token claim."}"#,
        )
        .expect_err("401");
        assert_eq!(
            (e.code(), e.retryable()),
            (ErrorCode::Unauthenticated, false)
        );
        assert_eq!(e.message(), "Could not verify OIDC token claim.");
        for (status, retry) in [
            (500, true),
            (502, true),
            (503, true),
            (429, true),
            (400, false),
            (404, false),
        ] {
            let e = parse_response(status, "oops").expect_err("status");
            assert_eq!(
                (e.code(), e.retryable()),
                (ErrorCode::Server, retry),
                "{status}"
            );
        }
    }

    #[test]
    fn function_errors_on_560_and_200() {
        let body = r#"{"status":"error","errorMessage":"[Request ID: 1] Server Error\nUncaught Error: InvalidSecret\n  at x","logLines":[]}"#;
        for status in [200, 560] {
            let e = parse_response(status, body).expect_err("error");
            assert_eq!(e.code(), ErrorCode::InvalidSecret);
        }
        let e = parse_response(
            560,
            r#"{"status":"error","errorMessage":"x","errorData":{"code":"NOT_AUTHENTICATED"}}"#,
        )
        .expect_err("convex error");
        assert_eq!(e.code(), ErrorCode::ConvexError);
        assert_eq!(
            e.data().and_then(|d| d.get("code")?.string()).as_deref(),
            Some("NOT_AUTHENTICATED")
        );
    }

    #[test]
    fn ceremony_errors_by_dom_exception() {
        for (name, code) in [
            ("NotAllowedError", ErrorCode::PasskeyCancelled),
            ("AbortError", ErrorCode::PasskeyCancelled),
            ("NotSupportedError", ErrorCode::PasskeyUnsupported),
            ("SecurityError", ErrorCode::PasskeyUnsupported),
            ("InvalidStateError", ErrorCode::InvalidResponse),
            ("undefined", ErrorCode::InvalidResponse),
        ] {
            let e = ceremony_error(name, "why");
            assert_eq!((e.code(), e.retryable()), (code, false), "{name}");
            assert!(e.message().ends_with("why"));
        }
    }

    #[test]
    fn tokens_debug_is_redacted() {
        let t = Tokens {
            token: "secret-jwt".into(),
            refresh_token: "secret-rt".into(),
            user_id: None,
        };
        let shown = format!("{:?}", SignInResult::Tokens(t));
        assert!(!shown.contains("secret"), "{shown}");
    }

    fn refresh(status: u16, body: &str) -> Result<Refresh, Error> {
        refresh_answer(
            sign_in_answer(status, crate::core::json::parse(body)),
            "rt-secret",
        )
    }

    #[test]
    fn refresh_answers_end_the_session_only_when_definitive() {
        let token = jwt(r#"{"sub":"u|s","iat":1,"exp":61}"#);
        let body = format!(
            r#"{{"status":"success","value":{{"tokens":{{"token":"{token}","refreshToken":"r2"}}}}}}"#
        );
        assert_eq!(
            refresh(200, &body),
            Ok(Refresh::Rotated(Tokens {
                token,
                refresh_token: "r2".into(),
                user_id: None,
            }))
        );
        assert_eq!(
            refresh(200, r#"{"status":"success","value":{"tokens":null}}"#),
            Ok(Refresh::Ended)
        );
        for message in ["InvalidSecret", "InvalidAccountId", "Boom"] {
            let body = format!(
                r#"{{"status":"error","errorMessage":"Server Error\nUncaught Error: {message}"}}"#
            );
            assert_eq!(refresh(560, &body), Ok(Refresh::Rejected), "{message}");
        }
        // Transient: the session is kept.
        for (status, body, code) in [
            (503, "", ErrorCode::Server),
            (401, "", ErrorCode::Unauthenticated),
            (200, "<html>", ErrorCode::InvalidResponse),
            (
                200,
                r#"{"status":"success","value":{"started":true}}"#,
                ErrorCode::InvalidResponse,
            ),
            // A JWT that is not one.
            (
                200,
                r#"{"status":"success","value":{"tokens":{"token":"t","refreshToken":"r"}}}"#,
                ErrorCode::InvalidResponse,
            ),
        ] {
            assert_eq!(
                refresh(status, body).map_err(|e| e.code()),
                Err(code),
                "{body}"
            );
        }
    }

    #[test]
    fn refresh_errors_never_show_the_refresh_token() {
        let e = refresh(200, r#"{"status":"success","value":{"started":true}}"#)
            .expect_err("unexpected");
        assert!(!e.message().contains("rt-secret"));
        let e = refresh(401, r#"{"message":"Can't parse refresh token: rt-secret"}"#)
            .expect_err("echo");
        assert_eq!(e.message(), "Can't parse refresh token: [redacted]");
    }

    #[test]
    fn sign_in_tokens_are_checked() {
        let e = sign_in_answer(
            200,
            crate::core::json::parse(
                r#"{"status":"success","value":{"tokens":{"token":"t","refreshToken":"r"}}}"#,
            ),
        )
        .expect_err("not a JWT");
        assert_eq!(e.code(), ErrorCode::InvalidResponse);
    }
}
