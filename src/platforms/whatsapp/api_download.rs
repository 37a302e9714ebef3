//! Downloading a media file: `GET <url>` with the bearer token, where `url` is what
//! [`GraphApi::media_info`] answered. The URL comes from an answer rather than from hookline's
//! configuration, so before the token goes anywhere the URL must be either
//!
//! - on the configured Graph API host (same scheme, host and port as the base URL): Meta's own
//!   host in production, a loopback fake in tests; or
//! - `https` to a host whose every address is an ordinary public one
//!   ([`forbidden_reason`](crate::ssrf::forbidden_reason) finds nothing). The
//!   connection is pinned to the addresses checked, so DNS cannot answer differently between
//!   the check and the connect.
//!
//! Redirects are not followed (neither client has a redirect policy): a `3xx` is an error
//! answer like any other. The body is read until it passes the caller's limit and no further.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use reqwest::Url;
use reqwest::header::AUTHORIZATION;

use super::{GraphApi, MAX_ANSWER_BYTES, bearer, classify, client_builder, network, read_limited, redact};
use crate::platforms::outbound::CallError;
use crate::secrets::Secret;
use crate::ssrf::forbidden_reason;

impl GraphApi {
    /// Download `url` with the bearer token, refusing more than `limit` bytes
    /// ([`CallError::TooLarge`], as soon as the declared length or the bytes read pass it). A URL
    /// outside the rule above is [`CallError::Permanent`] with code 0, "media URL refused: …".
    pub async fn download(&self, token: &Secret<String>, url: &str, limit: u64) -> Result<Bytes, CallError> {
        let target = Url::parse(url).map_err(|_| refused_url("not a URL"))?;
        // One deadline for the lookup and the transfer together, as for every other call.
        let attempt = async {
            let client = self.client_for(&target).await?;
            self.fetch(&client, target.clone(), token, limit).await
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result.map_err(|e| redact(e, token.expose())),
            Err(_) => Err(CallError::Transient("timed out: the download took too long".into())),
        }
    }

    async fn fetch(
        &self,
        client: &reqwest::Client,
        target: Url,
        token: &Secret<String>,
        limit: u64,
    ) -> Result<Bytes, CallError> {
        let mut response = client
            .get(target)
            .timeout(self.timeout)
            .header(AUTHORIZATION, bearer(token)?)
            .send()
            .await
            .map_err(network)?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            let retry_after = super::retry_after(&response);
            let (body, _) = read_limited(&mut response, MAX_ANSWER_BYTES).await?;
            return Err(classify(status, &body, retry_after.as_deref()));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(CallError::TooLarge { limit });
        }
        match read_limited(&mut response, limit).await? {
            (_, true) => Err(CallError::TooLarge { limit }),
            (data, false) => Ok(Bytes::from(data)),
        }
    }

    /// The client allowed to fetch `target`: the main one for the Graph API's own host, one
    /// pinned to checked public addresses for another `https` host; a refusal otherwise.
    async fn client_for(&self, target: &Url) -> Result<reqwest::Client, CallError> {
        if !matches!(target.scheme(), "http" | "https") {
            return Err(refused_url("only http and https URLs are fetched"));
        }
        if !target.username().is_empty() || target.password().is_some() {
            return Err(refused_url("the URL carries credentials"));
        }
        let base = Url::parse(&self.base).map_err(|_| refused_url("the base URL does not parse"))?;
        if same_origin(&base, target) {
            return Ok(self.http.clone());
        }
        if target.scheme() != "https" {
            return Err(refused_url("a URL off the Graph API host must be https"));
        }
        let port = target.port_or_known_default().unwrap_or(443);
        let host = target.host_str().ok_or_else(|| refused_url("the URL has no host"))?;
        // An address literal (IPv6 ones in brackets) is checked as it is; a name is resolved.
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>();
        let (domain, addrs) = match literal {
            Ok(ip) => (None, vec![SocketAddr::new(ip, port)]),
            Err(_) => (Some(host), self.resolve(host, port).await?),
        };
        check_public(&addrs)?;
        let mut builder = client_builder(self.timeout);
        if let Some(domain) = domain {
            builder = builder.resolve_to_addrs(domain, &addrs);
        }
        builder
            .build()
            .map_err(|e| CallError::Transient(format!("cannot build the HTTP client: {}", e.without_url())))
    }

    /// Every address of `domain`. A failed lookup may be a passing DNS problem, so it is
    /// transient.
    async fn resolve(&self, domain: &str, port: u16) -> Result<Vec<SocketAddr>, CallError> {
        match tokio::net::lookup_host((domain, port)).await {
            Ok(found) => Ok(found.collect()),
            Err(e) => Err(CallError::Transient(format!("cannot resolve the media host: {e}"))),
        }
    }
}

/// Whether `a` and `b` are the same scheme, host and port (a default port counts as given).
fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
}

/// All addresses must pass: connecting picks any of them.
fn check_public(addrs: &[SocketAddr]) -> Result<(), CallError> {
    if addrs.is_empty() {
        return Err(refused_url("the host has no address"));
    }
    for addr in addrs {
        if let Some(why) = forbidden_reason(addr.ip()) {
            return Err(refused_url(format!("address {} is {why}", addr.ip())));
        }
    }
    Ok(())
}

fn refused_url(why: impl std::fmt::Display) -> CallError {
    CallError::Permanent {
        code: 0,
        description: format!("media URL refused: {why}"),
    }
}
