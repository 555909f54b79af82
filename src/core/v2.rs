//! The session backend of Convex Auth v2 (`@convex-dev/auth` 2.0.0, PROTOCOL-V2.md): the
//! `signIn(provider, params)` calls of v1's shape mapped onto v2's public mutations, v2's
//! value-style answers, `refreshSession` and `signOut` with the refresh token.
//!
//! | call | v2 |
//! | --- | --- |
//! | `password`, `flow: "signIn"` (default) | `signInWithEmailPassword {email, password}` |
//! | `password`, `flow: "signUp"` | `signUpWithEmailPassword {email, password}`, keeps `browserSecret` |
//! | `password`, `flow: "email-verification"` | `completeSignUpWithEmailPassword {emailCode, browserSecret}` |
//! | `password`, `flow: "reset"` | `startPasswordRecovery {email}`, keeps `browserSecret` |
//! | `password`, `flow: "reset-verification"` | `completePasswordRecovery {emailCode, browserSecret, newPassword}` |
//! | `username-password`, `flow: "signUp"` / `"signIn"` | `signUpWithUsernamePassword` / `signInWithUsernamePassword` |
//! | `passkey` | `startSignInWithUsernamePasskey`, the ceremony, `finishSignUp…` / `finishSignIn…` |
//! | `passkey`, `flow: "autofill"` | `startAutofillSignInWithUsernamePasskey`, a conditional `.get`, `finishSignIn…` |
//! | `github` / `google` / `apple` | `startSignInWith…`, keeps the pending flow; `completeSignInWith…` on return |
//! | `anonymous` | `signInAnonymously` |

use super::error::{Error, ErrorCode};
use super::json::Json;
use super::jwt::Claims;
use super::machine::{arg, Backend, Exchange, FunctionKind, Kept, Request, Slot};
use super::protocol::{self, Ceremony, Refresh, SignInResult, Tokens};

/// Convex Auth v2, with the app's names for its functions.
#[derive(Clone, Debug, Default)]
pub struct ConvexAuthV2 {
    /// `(official name, "module:function")` for each function the app exports under another
    /// name; every other one is `auth:<official name>`.
    pub functions: Vec<(String, String)>,
}

/// Where an argument of a v2 function comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// The `signIn` param of that name (required).
    Param(&'static str),
    /// The `browserSecret` that the start of the flow kept (`MISSING_SECRET` without one).
    Secret,
    /// The `redirectTo` param, else the page's URL.
    RedirectTo,
}

use Source::{Param, RedirectTo, Secret};

/// One row of the mapping table (module documentation): `signIn(provider, {flow})` calls
/// `function` with `args`.
#[derive(Debug)]
struct Method {
    provider: &'static str,
    /// The `flow` param it answers (`signIn` when absent); `None`: any.
    flow: Option<&'static str>,
    function: &'static str,
    args: &'static [(&'static str, Source)],
    /// Where the flow's `browserSecret` is kept: written from this call's answer (a start),
    /// or read for its `Secret` argument (a completion).
    secret: Option<Slot>,
    /// OAuth: the function that completes the sign-in when the page comes back.
    completes: Option<&'static str>,
}

const EMAIL_PASSWORD: &[(&str, Source)] =
    &[("email", Param("email")), ("password", Param("password"))];
const USERNAME_PASSWORD: &[(&str, Source)] = &[
    ("username", Param("username")),
    ("password", Param("password")),
];

const fn method(
    provider: &'static str,
    flow: Option<&'static str>,
    function: &'static str,
    args: &'static [(&'static str, Source)],
) -> Method {
    Method {
        provider,
        flow,
        function,
        args,
        secret: None,
        completes: None,
    }
}

const fn oauth(provider: &'static str, function: &'static str, completes: &'static str) -> Method {
    Method {
        completes: Some(completes),
        ..method(provider, None, function, &[("redirectTo", RedirectTo)])
    }
}

const fn with_secret(slot: Slot, method: Method) -> Method {
    Method {
        secret: Some(slot),
        ..method
    }
}

/// The start of passkey autofill (`signIn("passkey", {flow: "autofill"})`).
const AUTOFILL: &str = "startAutofillSignInWithUsernamePasskey";

/// The mapping table of API.md, "Convex Auth v2" (and passkey autofill).
const METHODS: [Method; 13] = [
    method(
        "password",
        Some("signIn"),
        "signInWithEmailPassword",
        EMAIL_PASSWORD,
    ),
    with_secret(
        Slot::SignUpSecret,
        method(
            "password",
            Some("signUp"),
            "signUpWithEmailPassword",
            EMAIL_PASSWORD,
        ),
    ),
    with_secret(
        Slot::SignUpSecret,
        method(
            "password",
            Some("email-verification"),
            "completeSignUpWithEmailPassword",
            &[("emailCode", Param("code")), ("browserSecret", Secret)],
        ),
    ),
    with_secret(
        Slot::RecoverySecret,
        method(
            "password",
            Some("reset"),
            "startPasswordRecovery",
            &[("email", Param("email"))],
        ),
    ),
    with_secret(
        Slot::RecoverySecret,
        method(
            "password",
            Some("reset-verification"),
            "completePasswordRecovery",
            &[
                ("emailCode", Param("code")),
                ("browserSecret", Secret),
                ("newPassword", Param("newPassword")),
            ],
        ),
    ),
    method(
        "username-password",
        Some("signUp"),
        "signUpWithUsernamePassword",
        USERNAME_PASSWORD,
    ),
    method(
        "username-password",
        Some("signIn"),
        "signInWithUsernamePassword",
        USERNAME_PASSWORD,
    ),
    method("passkey", Some("autofill"), AUTOFILL, &[]),
    method(
        "passkey",
        None,
        "startSignInWithUsernamePasskey",
        &[("username", Param("username"))],
    ),
    method("anonymous", None, "signInAnonymously", &[]),
    oauth(
        "github",
        "startSignInWithGithub",
        "completeSignInWithGithub",
    ),
    oauth(
        "google",
        "startSignInWithGoogle",
        "completeSignInWithGoogle",
    ),
    oauth("apple", "startSignInWithApple", "completeSignInWithApple"),
];

/// The row of `signIn(provider, params)`.
fn method_of(provider: Option<&str>, params: &[(String, String)]) -> Option<&'static Method> {
    let provider = provider?;
    let flow = param(params, "flow").unwrap_or("signIn");
    METHODS
        .iter()
        .find(|m| m.provider == provider && m.flow.map_or(true, |f| f == flow))
}

impl ConvexAuthV2 {
    /// The path of the function the official v2 client calls `name`.
    pub fn path(&self, name: &str) -> String {
        match self.functions.iter().find(|(official, _)| official == name) {
            Some((_, path)) => path.clone(),
            None => {
                let mut path = String::from("auth:");
                path.push_str(name);
                path
            }
        }
    }

    fn mutation(&self, name: &str, args: Vec<(&str, Option<Json>)>) -> Request {
        Request {
            kind: FunctionKind::Mutation,
            path: self.path(name),
            args: Json::object(args),
            bearer: None,
        }
    }
}

/// The string param `key`.
fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The string param `key`, which the call needs.
fn required<'a>(params: &'a [(String, String)], key: &str) -> Result<&'a str, Error> {
    param(params, key).ok_or_else(|| {
        let mut message = String::from("This sign-in needs the param ");
        message.push_str(key);
        Error::params(message)
    })
}

/// A `userError` with the code `code` (the errors the client itself finds, as the official
/// client reports them).
fn user_error(code: &str) -> Error {
    Error::user_error(Json::object(vec![("error", arg(code))]))
}

impl ConvexAuthV2 {
    /// What the value answered to the sign-in `provider`, `params` means.
    fn interpret(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        value: &Json,
    ) -> Result<SignInResult, Error> {
        let text = |key| value.get(key).and_then(|v| v.string());
        // The sign-in envelope: `{status: "complete", tokens}` or `{status: "error",
        // userError}`.
        match text("status").as_deref() {
            Some("complete") => return Ok(SignInResult::Tokens(bundle(value.get("tokens"))?)),
            Some("error") => return Err(rejected(value)),
            _ => {}
        }
        let method = method_of(provider, params).ok_or_else(unexpected)?;
        // The starts: `{success: false, userError}`, or a success with what the next step needs.
        if let Some(success) = value.get("success") {
            if !success.is_true() {
                return Err(rejected(value));
            }
            if let (Some(secret), Some(slot)) = (text("browserSecret"), method.secret) {
                return Ok(SignInResult::Keep {
                    slot,
                    value: secret,
                });
            }
            let options = value.get("options").filter(|o| !o.is_null());
            if let (Some(step), Some(options), "passkey") = (text("step"), options, method.provider)
            {
                let register = match step.as_str() {
                    "register" => true,
                    "authenticate" => false,
                    _ => return Err(unexpected()),
                };
                return Ok(SignInResult::Ceremony(Ceremony {
                    register,
                    options,
                    conditional: false,
                }));
            }
            return Err(unexpected());
        }
        // The autofill start: `{options}` for a conditional `.get`.
        if let (Some(options), AUTOFILL) = (value.get("options"), method.function) {
            return Ok(SignInResult::Ceremony(Ceremony {
                register: false,
                options,
                conditional: true,
            }));
        }
        // The OAuth start: `{redirect, state}`, kept as the official client keeps its flow.
        if let (Some(url), Some(state), Some(complete)) =
            (text("redirect"), text("state"), method.completes)
        {
            if !protocol::is_http_url(&url) {
                return Err(unexpected());
            }
            let flow = Json::object(vec![
                ("providerName", arg(method.provider)),
                ("state", arg(&state)),
                ("completeSignIn", arg(&self.path(complete))),
            ]);
            return Ok(SignInResult::Redirect {
                url,
                verifier: flow.to_json_string(),
            });
        }
        Err(unexpected())
    }
}

impl Backend for ConvexAuthV2 {
    fn accepts(&self, claims: &Claims) -> bool {
        // A v2 `sub` is the session id alone; v1's names the user too.
        claims.user_id.is_none()
    }
    fn keeps_user_id(&self) -> bool {
        true
    }
    fn url_params(&self) -> Option<(&'static str, Option<&'static str>)> {
        Some(("convexAuthCode", Some("convexAuthError")))
    }
    fn url_error(&self, value: &str) -> Error {
        // The codes of the official client (`ACCESS_DENIED`, `EXPIRED`, `OTHER_ERROR` with the
        // parameter as its cause).
        let (code, cause) = match value {
            "access_denied" => ("ACCESS_DENIED", None),
            "expired" => ("EXPIRED", None),
            other => ("OTHER_ERROR", Some(other)),
        };
        Error::user_error(Json::object(vec![
            ("error", arg(code)),
            ("cause", cause.and_then(arg)),
        ]))
    }
    fn kept(&self, provider: Option<&str>, params: &[(String, String)]) -> Option<Kept> {
        // The OAuth return: the pending flow is taken out, as the official client does (its
        // code is one-time whatever the answer).
        if provider.is_none() {
            return Some(Kept {
                slot: Slot::Verifier,
                take: true,
            });
        }
        let method = method_of(provider, params)?;
        let completes = method.args.iter().any(|(_, from)| matches!(from, Secret));
        Some(Kept {
            slot: method.secret.filter(|_| completes)?,
            take: false,
        })
    }
    fn sign_in(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        kept: Option<&str>,
        page_url: Option<&str>,
    ) -> Result<Request, Error> {
        let Some(method) = method_of(provider, params) else {
            let Some(provider) = provider else {
                // The OAuth return: complete the flow kept before the redirect.
                let code = required(params, "code").map(arg)?;
                let flow = kept.and_then(super::json::parse);
                let field = |key| flow.as_ref()?.get(key)?.string();
                let (Some(state), Some(path)) = (field("state"), field("completeSignIn")) else {
                    return Err(user_error("INVALID_FLOW"));
                };
                return Ok(Request {
                    kind: FunctionKind::Mutation,
                    path,
                    args: Json::object(vec![("code", code), ("state", arg(&state))]),
                    bearer: None,
                });
            };
            return Err(Error::params(unsupported(provider, params)));
        };
        let mut args = Vec::with_capacity(method.args.len());
        for (name, from) in method.args {
            let value = match from {
                Param(key) => required(params, key)?,
                Secret => kept.ok_or_else(|| user_error("MISSING_SECRET"))?,
                RedirectTo => param(params, "redirectTo")
                    .or(page_url)
                    .ok_or_else(|| Error::params("This sign-in needs the param redirectTo"))?,
            };
            args.push((*name, arg(value)));
        }
        Ok(self.mutation(method.function, args))
    }
    fn sign_in_answer(
        &self,
        provider: Option<&str>,
        params: &[(String, String)],
        status: u16,
        body: Option<Json>,
    ) -> Result<SignInResult, Error> {
        let value = answer(status, body)?;
        self.interpret(provider, params, &value)
    }
    fn ceremony_done(
        &self,
        ceremony: &Ceremony,
        params: &[(String, String)],
        credential: Json,
    ) -> Result<Request, Error> {
        let response = ("response", Some(credential));
        Ok(if ceremony.register {
            let username = required(params, "username")?;
            self.mutation(
                "finishSignUpWithUsernamePasskey",
                vec![("username", arg(username)), response],
            )
        } else {
            self.mutation("finishSignInWithUsernamePasskey", vec![response])
        })
    }
    fn refresh(&self, refresh_token: Option<&str>, _renew: bool) -> Option<Exchange> {
        // A v1 refresh token (`<id>|<sessionId>`) is not this generation's and is never sent.
        let refresh_token = refresh_token.filter(|t| !protocol::is_v1_refresh_token(t))?;
        let args = vec![("refreshToken", arg(refresh_token))];
        Some(Exchange::Request(self.mutation("refreshSession", args)))
    }
    fn refresh_answer(
        &self,
        status: u16,
        body: Option<Json>,
        refresh_token: &str,
    ) -> Result<Refresh, Error> {
        let value = answer(status, body).map_err(|e| e.redact(refresh_token))?;
        match value.get("kind").and_then(|k| k.string()).as_deref() {
            Some("rotated") => Ok(Refresh::Rotated(bundle(value.get("tokens"))?)),
            Some("noSession") => Ok(Refresh::Ended),
            _ => Err(unexpected()),
        }
    }
    fn sign_out(&self, _token: &str, refresh_token: Option<&str>) -> Option<Exchange> {
        let refresh_token = refresh_token?;
        let args = vec![("refreshToken", arg(refresh_token))];
        Some(Exchange::Request(self.mutation("signOut", args)))
    }
}

/// The message of a `signIn` this backend has no mapping for.
fn unsupported(provider: &str, params: &[(String, String)]) -> String {
    let mut message = String::from("Convex Auth v2 has no sign-in for provider ");
    message.push_str(provider);
    if let Some(flow) = param(params, "flow") {
        message.push_str(" with flow ");
        message.push_str(flow);
    }
    message
}

fn unexpected() -> Error {
    Error::new(
        ErrorCode::InvalidResponse,
        "Unexpected answer from Convex Auth v2",
    )
}

/// The value of a function's HTTP answer; a function the deployment does not have is named in
/// an `InvalidOptions` error.
fn answer(status: u16, body: Option<Json>) -> Result<Json, Error> {
    protocol::interpret_response(status, body).map_err(protocol::name_missing_function)
}

/// A v2 token bundle `{accessToken, refreshToken, refreshTokenExpiresAt, userId}`, its JWT
/// checked to be a v2 one.
fn bundle(tokens: Option<Json>) -> Result<Tokens, Error> {
    let tokens = tokens.ok_or_else(unexpected)?;
    let text = |key| tokens.get(key)?.string().filter(|t| !t.is_empty());
    let (Some(token), Some(refresh_token), Some(user_id)) =
        (text("accessToken"), text("refreshToken"), text("userId"))
    else {
        return Err(unexpected());
    };
    match super::jwt::decode(&token) {
        Some(claims) if claims.user_id.is_none() => Ok(Tokens {
            token,
            refresh_token,
            user_id: Some(user_id),
        }),
        _ => Err(Error::new(
            ErrorCode::InvalidResponse,
            "The server sent a token that is not a Convex Auth v2 JWT",
        )),
    }
}

/// The error of a `userError` answer.
fn rejected(value: &Json) -> Error {
    match value.get("userError").filter(|u| !u.is_null()) {
        Some(user_error) => Error::user_error(user_error),
        None => unexpected(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::jwt::tests::jwt;

    fn v2() -> ConvexAuthV2 {
        ConvexAuthV2::default()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// The answer `{status: "success", value}` to the sign-in `provider`, `params`.
    fn answer_to(provider: &str, p: &[(&str, &str)], value: &str) -> Result<SignInResult, Error> {
        let mut body = String::from(r#"{"status":"success","value":"#);
        body.push_str(value);
        body.push('}');
        let body = super::super::json::parse(&body);
        assert!(body.is_some(), "{value}");
        v2().sign_in_answer(Some(provider), &params(p), 200, body)
    }

    fn code(result: Result<SignInResult, Error>) -> ErrorCode {
        match result {
            Err(e) => e.code(),
            Ok(other) => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn passkey_autofill_is_a_conditional_sign_in_ceremony() {
        let autofill = params(&[("flow", "autofill")]);
        let request = v2()
            .sign_in(Some("passkey"), &autofill, None, None)
            .expect("a request");
        assert_eq!(request.path, "auth:startAutofillSignInWithUsernamePasskey");
        assert_eq!(request.args.to_json_string(), "{}");
        let options = r#"{"options":{"challenge":"Y2g","timeout":540000,"rpId":"localhost","allowCredentials":[],"userVerification":"required"}}"#;
        match answer_to("passkey", &[("flow", "autofill")], options) {
            Ok(SignInResult::Ceremony(c)) => assert!(!c.register && c.conditional),
            other => panic!("not a ceremony: {other:?}"),
        }
        let done = v2()
            .ceremony_done(
                &Ceremony {
                    register: false,
                    options: Json::default(),
                    conditional: true,
                },
                &autofill,
                Json::default(),
            )
            .expect("the finish request");
        assert_eq!(done.path, "auth:finishSignInWithUsernamePasskey");
        // A username sign-in is not autofill.
        let named = v2()
            .sign_in(Some("passkey"), &params(&[("username", "ada")]), None, None)
            .expect("a request");
        assert_eq!(named.path, "auth:startSignInWithUsernamePasskey");
    }

    #[test]
    fn refuses_answers_it_cannot_follow() {
        let v2_jwt = jwt(r#"{"sub":"s1","iat":1,"exp":61}"#);
        let v1_jwt = jwt(r#"{"sub":"u1|s1","iat":1,"exp":61}"#);
        let bundle = |token: &str, user: &str| {
            let mut b = String::from(r#"{"status":"complete","tokens":{"accessToken":""#);
            b.push_str(token);
            b.push_str(r#"","refreshToken":"r","refreshTokenExpiresAt":1.5,"userId":""#);
            b.push_str(user);
            b.push_str(r#""}}"#);
            b
        };
        let ok = answer_to("password", &[], &bundle(&v2_jwt, "u1"));
        assert!(
            matches!(ok, Ok(SignInResult::Tokens(Tokens { user_id: Some(ref u), .. })) if u == "u1")
        );
        for (provider, p, value) in [
            ("password", vec![], bundle(&v1_jwt, "u1")),
            ("password", vec![], bundle(&v2_jwt, "")),
            ("password", vec![], r#"{"status":"error"}"#.to_owned()),
            (
                "password",
                vec![("flow", "signIn")],
                r#"{"success":true,"browserSecret":"b"}"#.to_owned(),
            ),
            (
                "passkey",
                vec![],
                r#"{"success":true,"step":"other","options":{}}"#.to_owned(),
            ),
            (
                "passkey",
                vec![],
                r#"{"success":true,"step":"register","options":null}"#.to_owned(),
            ),
            (
                "github",
                vec![],
                r#"{"redirect":"javascript:alert(1)","state":"s"}"#.to_owned(),
            ),
            (
                "saml",
                vec![],
                r#"{"redirect":"https://idp.example/","state":"s"}"#.to_owned(),
            ),
            ("anonymous", vec![], "null".to_owned()),
        ] {
            assert_eq!(
                code(answer_to(provider, &p, &value)),
                ErrorCode::InvalidResponse,
                "{value}"
            );
        }
    }

    #[test]
    fn user_errors_keep_the_server_code_and_data() {
        let e = answer_to(
            "password",
            &[],
            r#"{"status":"error","userError":{"error":"RATE_LIMITED","retryAfterMs":1000}}"#,
        )
        .unwrap_err();
        assert_eq!(
            (e.code(), e.code_name().as_str()),
            (ErrorCode::UserError, "RATE_LIMITED")
        );
        assert_eq!(
            e.data().and_then(|d| d.get("retryAfterMs")?.as_i64()),
            Some(1000)
        );
        let start = r#"{"success":false,"userError":{"error":"PASSWORD_TOO_SHORT"}}"#;
        let e = answer_to("password", &[("flow", "signUp")], start).unwrap_err();
        assert_eq!(e.code_name(), "PASSWORD_TOO_SHORT");
    }

    #[test]
    fn the_oauth_error_parameter_names_the_official_codes() {
        assert_eq!(v2().url_error("access_denied").code_name(), "ACCESS_DENIED");
        assert_eq!(v2().url_error("expired").code_name(), "EXPIRED");
        let e = v2().url_error("oauth_error");
        assert_eq!(e.code_name(), "OTHER_ERROR");
        let cause = e.data().and_then(|d| d.get("cause")?.string());
        assert_eq!(cause.as_deref(), Some("oauth_error"));
    }

    #[test]
    fn kept_values_and_requests_need_what_they_need() {
        let kept = |provider, flow| v2().kept(provider, &params(&[("flow", flow)]));
        let slot = |slot, take| Some(Kept { slot, take });
        assert_eq!(kept(None, "signIn"), slot(Slot::Verifier, true));
        assert_eq!(
            kept(Some("password"), "email-verification"),
            slot(Slot::SignUpSecret, false)
        );
        assert_eq!(
            kept(Some("password"), "reset-verification"),
            slot(Slot::RecoverySecret, false)
        );
        assert_eq!(kept(Some("password"), "signIn"), None);
        assert_eq!(kept(Some("github"), "signIn"), None);
        let sign_in = |provider: &str, p: &[(&str, &str)], page: Option<&str>| {
            v2().sign_in(Some(provider), &params(p), None, page)
                .map_err(|e| e.code())
        };
        assert_eq!(
            sign_in("password", &[("email", "e")], None).unwrap_err(),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            sign_in("github", &[], None).unwrap_err(),
            ErrorCode::InvalidParams
        );
        assert_eq!(
            sign_in("saml", &[], Some("https://a.example/")).unwrap_err(),
            ErrorCode::InvalidParams
        );
        assert!(sign_in("github", &[], Some("https://a.example/")).is_ok());
        // A code with no flow kept, or a flow that is not one.
        let code = params(&[("code", "c")]);
        for flow in [None, Some("{}"), Some("not json"), Some(r#"{"state":"s"}"#)] {
            let e = v2().sign_in(None, &code, flow, None).unwrap_err();
            assert_eq!(e.code_name(), "INVALID_FLOW", "{flow:?}");
        }
    }

    #[test]
    fn refresh_and_sign_out_send_only_a_v2_refresh_token() {
        let request = |e: Option<Exchange>| match e {
            Some(Exchange::Request(r)) => r,
            other => panic!("not a request: {other:?}"),
        };
        assert!(v2().refresh(None, true).is_none());
        assert!(v2().refresh(Some("rt1|s1"), true).is_none());
        let r = request(v2().refresh(Some("abc"), true));
        assert_eq!(
            (r.kind, r.path.as_str()),
            (FunctionKind::Mutation, "auth:refreshSession")
        );
        assert_eq!(r.args.to_json_string(), r#"{"refreshToken":"abc"}"#);
        assert!(v2().sign_out("jwt", None).is_none());
        let r = request(v2().sign_out("jwt", Some("abc")));
        assert_eq!((r.path.as_str(), r.bearer), ("auth:signOut", None));
    }

    #[test]
    fn a_refresh_error_never_shows_the_refresh_token() {
        let body = super::super::json::parse(
            r#"{"status":"error","errorMessage":"Uncaught Error: bad token secret-rt"}"#,
        );
        let e = v2().refresh_answer(560, body, "secret-rt").unwrap_err();
        assert!(!e.message().contains("secret-rt"), "{e}");
        let e = v2().refresh_answer(
            200,
            super::super::json::parse(r#"{"status":"success","value":{"kind":"what"}}"#),
            "r",
        );
        assert_eq!(e.unwrap_err().code(), ErrorCode::InvalidResponse);
    }

    #[test]
    fn a_missing_function_names_the_path_the_app_configured() {
        let b = ConvexAuthV2 {
            functions: vec![("signInAnonymously".into(), "guests:signIn".into())],
        };
        assert_eq!(b.path("signInAnonymously"), "guests:signIn");
        assert_eq!(b.path("signOut"), "auth:signOut");
        let body = super::super::json::parse(
            r#"{"status":"error","errorMessage":"Could not find public function for 'guests:signIn'. Did you forget to run `npx convex dev`?"}"#,
        );
        let e = b
            .sign_in_answer(Some("anonymous"), &[], 560, body)
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidOptions);
        assert!(e.message().contains("guests:signIn"), "{e}");
    }
}
