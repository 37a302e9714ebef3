//! The presets that send the secret itself: `basic` (HTTP Basic) and `api_key`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::request::{header, query_param};
use super::scheme::ApiKeyOptions;
use super::{Refusal, RefusalReason, Request, SourceSecret, Verified, refuse};
use crate::secrets::constant_time_eq;

/// `Authorization: Basic base64(username:password)`, the password being the source's secret.
pub(super) fn basic(username: &str, secrets: &[SourceSecret], req: &Request<'_>) -> Result<Verified, Refusal> {
    let value = header(req, "authorization")?.ok_or(refuse(
        RefusalReason::MissingCredentials,
        "the Authorization header is missing",
    ))?;
    let malformed = refuse(
        RefusalReason::Malformed,
        "the Authorization header is not Basic credentials",
    );
    let (kind, encoded) = value.split_once(' ').ok_or(malformed)?;
    if !kind.eq_ignore_ascii_case("basic") {
        return Err(malformed);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed)?;
    let colon = decoded.iter().position(|b| *b == b':').ok_or(malformed)?;
    let (user, password) = decoded.split_at(colon);
    let password = password.get(1..).unwrap_or_default();
    let user_ok = constant_time_eq(user, username.as_bytes());
    let password_ok = secrets
        .iter()
        .fold(false, |ok, secret| ok | constant_time_eq(password, secret.key()));
    if user_ok & password_ok {
        Ok(Verified::default())
    } else {
        Err(refuse(
            RefusalReason::WrongCredentials,
            "the username or password is wrong",
        ))
    }
}

/// The key as the whole value of a header (`Authorization: Bearer <key>` also), or of a query
/// parameter.
pub(super) fn api_key(
    options: &ApiKeyOptions,
    secrets: &[SourceSecret],
    req: &Request<'_>,
) -> Result<Verified, Refusal> {
    let given = match (&options.header, &options.query) {
        (Some(name), _) => header(req, name)?.map(|v| std::borrow::Cow::Borrowed(without_bearer(name, v))),
        (None, Some(param)) => query_param(req.query, param)?,
        (None, None) => None,
    };
    let given = given.ok_or(refuse(RefusalReason::MissingCredentials, "the API key is missing"))?;
    let ok = secrets.iter().fold(false, |ok, secret| {
        ok | constant_time_eq(given.as_bytes(), secret.key())
    });
    if ok {
        Ok(Verified::default())
    } else {
        Err(refuse(RefusalReason::WrongCredentials, "the API key is wrong"))
    }
}

/// The token of `Authorization: Bearer <token>`; any other header's value as it is.
fn without_bearer<'v>(name: &str, value: &'v str) -> &'v str {
    if !name.eq_ignore_ascii_case("authorization") {
        return value;
    }
    match value.split_once(' ') {
        Some((kind, token)) if kind.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => value,
    }
}
