//! Typed Convex calls for Rust front ends (feature `serde`): `query`, `mutation` and `action`
//! over the deployment's public HTTP API with the session's token, arguments any `Serialize`,
//! results any `DeserializeOwned`. They go through the same fetch as the session's own requests
//! (`io.js`'s `post`: `format: "json"`, a timeout), and a 401 refreshes the session once and
//! retries once, as `auth.fetch` does.

use js_sys::Reflect;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::client::{ConvexAuthClient, SignInOutcome};
use super::io;
use crate::core::error::{Error, ErrorCode};
use crate::core::json::Json;
use crate::core::machine::{FunctionKind, REQUEST_TIMEOUT_MS};
use crate::core::{protocol, serialize};

/// The answer to one call: its HTTP status and JSON body (`None`: not JSON).
async fn post(
    url: &str,
    kind: FunctionKind,
    path: &str,
    args: &Json,
    bearer: Option<&str>,
) -> Result<(u16, Option<Json>), Error> {
    let field = |v: &JsValue, key: &str| Reflect::get(v, &JsValue::from_str(key)).ok();
    let sent = io::post_call(
        url,
        kind.as_str(),
        path,
        args.as_js(),
        bearer,
        REQUEST_TIMEOUT_MS,
    );
    match JsFuture::from(sent).await {
        Ok(answer) => {
            let status = field(&answer, "status")
                .and_then(|s| s.as_f64())
                .unwrap_or(0.0) as u16;
            Ok((status, field(&answer, "body").and_then(Json::from_js)))
        }
        Err(e) => {
            let timed_out = field(&e, "timedOut").is_some_and(|t| t.is_truthy());
            let code = if timed_out {
                ErrorCode::Timeout
            } else {
                ErrorCode::Network
            };
            Err(Error::new(code, io::message(&e)))
        }
    }
}

impl ConvexAuthClient {
    /// Signs in with `provider` and params of any `Serialize` type that is an object of strings
    /// (`None` fields are left out), e.g. a `struct SignUp { email, password, flow }`.
    pub async fn sign_in_with(
        &self,
        provider: Option<&str>,
        params: &impl Serialize,
    ) -> Result<SignInOutcome, Error> {
        let params = serialize::params_of(params)?;
        self.sign_in(provider, params).await
    }

    /// Runs the query `path` (e.g. `"users:viewer"`) with `args`, as the signed-in user.
    pub async fn query<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, Error> {
        self.call_function(FunctionKind::Query, path, args).await
    }

    /// Runs the mutation `path` with `args`, as the signed-in user.
    pub async fn mutation<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, Error> {
        self.call_function(FunctionKind::Mutation, path, args).await
    }

    /// Runs the action `path` with `args`, as the signed-in user.
    pub async fn action<R: DeserializeOwned>(
        &self,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, Error> {
        self.call_function(FunctionKind::Action, path, args).await
    }

    async fn call_function<R: DeserializeOwned>(
        &self,
        kind: FunctionKind,
        path: &str,
        args: &impl Serialize,
    ) -> Result<R, Error> {
        let args = serialize::to_json(args, ErrorCode::InvalidParams)?;
        if !args.to_json_string().starts_with('{') {
            return Err(Error::new(
                ErrorCode::InvalidParams,
                "A Convex function's arguments must serialize to an object",
            ));
        }
        let mut token = self.fetch_access_token(false).await;
        let mut answer = post(self.url(), kind, path, &args, token.as_deref()).await?;
        // A token the backend refused (expired meanwhile, or rotated elsewhere): once more with
        // a new one.
        if answer.0 == 401 && token.is_some() {
            token = self.fetch_access_token(true).await;
            answer = post(self.url(), kind, path, &args, token.as_deref()).await?;
        }
        let value = protocol::interpret_response(answer.0, answer.1)?;
        serialize::from_json(&value)
    }
}
