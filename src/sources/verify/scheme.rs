//! How a source proves its requests are genuine: the verification presets and their options,
//! as an API client writes them (`{"type": "stripe", "tolerance_secs": 300}`), and their
//! validation at the edge.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Providers' own default freshness window: Stripe, Slack and the Standard Webhooks libraries
/// all refuse a timestamp more than five minutes away.
pub const DEFAULT_TOLERANCE_SECS: u32 = 300;
const MAX_TOLERANCE_SECS: u32 = 86_400;
const MAX_HEADER_NAME_LEN: usize = 100;
const MAX_TEMPLATE_LEN: usize = 200;
const MAX_PREFIX_LEN: usize = 50;
const MAX_USERNAME_LEN: usize = 200;

/// A source's verification preset. There is no default: `none` must be chosen by name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Scheme {
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64>` (or the same
    /// headers named `svix-…`), HMAC-SHA256 of `{id}.{timestamp}.{body}`, keyed with the
    /// decoded `whsec_…` secret.
    StandardWebhooks {
        #[serde(default = "default_tolerance")]
        tolerance_secs: u32,
    },
    /// `Stripe-Signature: t=…,v1=<hex>[,v1=…]`, HMAC-SHA256 of `{t}.{body}` keyed with the
    /// `whsec_…` signing secret as it is written (Stripe does not decode it).
    Stripe {
        #[serde(default = "default_tolerance")]
        tolerance_secs: u32,
    },
    /// `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the body.
    Github {},
    /// `X-Shopify-Hmac-Sha256: <base64>`, HMAC-SHA256 of the body.
    Shopify {},
    /// `X-Slack-Signature: v0=<hex>` over `v0:{X-Slack-Request-Timestamp}:{body}`. Slack's
    /// `url_verification` request is answered by [`super::challenge()`].
    Slack {
        #[serde(default = "default_tolerance")]
        tolerance_secs: u32,
    },
    /// `X-Hub-Signature-256: sha256=<hex>` keyed with the app secret. Meta's GET handshake,
    /// checked against the verify token kept beside the secret, is answered by
    /// [`super::challenge()`].
    Meta {},
    /// Any provider that signs with an HMAC in one header.
    Hmac(HmacOptions),
    /// `Authorization: Basic …` with this username; the password is the source's secret.
    Basic { username: String },
    /// The source's secret sent as is in a header or a query parameter.
    #[serde(rename = "api_key")]
    ApiKey(ApiKeyOptions),
    /// No verification at all: anyone who knows the URL can post.
    None {},
}

fn default_tolerance() -> u32 {
    DEFAULT_TOLERANCE_SECS
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha1,
    #[default]
    Sha256,
    Sha512,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase or uppercase hex digits.
    #[default]
    Hex,
    /// Standard base64 with padding.
    Base64,
}

/// The generic HMAC preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacOptions {
    /// The header that carries the signature, e.g. `X-Signature`.
    pub header: String,
    #[serde(default)]
    pub algorithm: Algorithm,
    #[serde(default)]
    pub encoding: Encoding,
    /// Text before the encoded signature in the header, e.g. `sha256=`.
    #[serde(default)]
    pub prefix: Option<String>,
    /// A header with the Unix time in seconds of signing; the request is refused outside
    /// `tolerance_secs`, so the template must sign `{timestamp}`.
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// What is signed, with the placeholders `{body}` (the raw body, required) and
    /// `{timestamp}` (the timestamp header's value as sent). Default: `{body}`, or
    /// `{timestamp}.{body}` with a timestamp header. Braces are only allowed in placeholders.
    #[serde(default)]
    pub signed_content: Option<String>,
    #[serde(default = "default_tolerance")]
    pub tolerance_secs: u32,
}

/// Where the `api_key` preset finds the key: exactly one of the two.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyOptions {
    /// A header with the key as its whole value (`Authorization` also takes `Bearer <key>`).
    #[serde(default)]
    pub header: Option<String>,
    /// A query parameter with the key.
    #[serde(default)]
    pub query: Option<String>,
}

/// Why a scheme (or a secret for it) cannot be used: the field and what is wrong, never the
/// value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidScheme {
    pub field: &'static str,
    pub message: &'static str,
}

pub(super) fn invalid(field: &'static str, message: &'static str) -> InvalidScheme {
    InvalidScheme { field, message }
}

impl Scheme {
    /// Checks the options an API client may set, naming the first bad field.
    pub fn validate(&self) -> Result<(), InvalidScheme> {
        match self {
            Scheme::StandardWebhooks { tolerance_secs }
            | Scheme::Stripe { tolerance_secs }
            | Scheme::Slack { tolerance_secs } => check_tolerance(*tolerance_secs),
            Scheme::Hmac(o) => o.validate(),
            Scheme::Basic { username } => check_username(username),
            Scheme::ApiKey(o) => o.validate(),
            Scheme::Github {} | Scheme::Shopify {} | Scheme::Meta {} | Scheme::None {} => Ok(()),
        }
    }

    /// The preset's name as written in `type`.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::StandardWebhooks { .. } => "standard-webhooks",
            Scheme::Stripe { .. } => "stripe",
            Scheme::Github {} => "github",
            Scheme::Shopify {} => "shopify",
            Scheme::Slack { .. } => "slack",
            Scheme::Meta {} => "meta",
            Scheme::Hmac(_) => "hmac",
            Scheme::Basic { .. } => "basic",
            Scheme::ApiKey(_) => "api_key",
            Scheme::None {} => "none",
        }
    }
}

impl HmacOptions {
    fn validate(&self) -> Result<(), InvalidScheme> {
        check_header_name("header", &self.header)?;
        if let Some(ts) = &self.timestamp_header {
            check_header_name("timestamp_header", ts)?;
        }
        if let Some(prefix) = &self.prefix
            && (prefix.len() > MAX_PREFIX_LEN || !prefix.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        {
            return Err(invalid("prefix", "must be at most 50 printable ASCII characters"));
        }
        if let Some(template) = &self.signed_content
            && template.len() > MAX_TEMPLATE_LEN
        {
            return Err(invalid("signed_content", "must be at most 200 characters"));
        }
        let segments = Template::parse(self.template()).map_err(|m| invalid("signed_content", m))?;
        let signs_timestamp = segments.signs_timestamp();
        match (self.timestamp_header.is_some(), signs_timestamp) {
            (true, false) => Err(invalid(
                "signed_content",
                "must contain {timestamp} when timestamp_header is set, or the timestamp could be changed",
            )),
            (false, true) => Err(invalid("signed_content", "{timestamp} needs a timestamp_header")),
            _ => check_tolerance(self.tolerance_secs),
        }
    }

    /// The signed content's template, with the documented default.
    pub(super) fn template(&self) -> &str {
        match (&self.signed_content, &self.timestamp_header) {
            (Some(t), _) => t,
            (None, Some(_)) => "{timestamp}.{body}",
            (None, None) => "{body}",
        }
    }
}

impl ApiKeyOptions {
    fn validate(&self) -> Result<(), InvalidScheme> {
        match (&self.header, &self.query) {
            (Some(h), None) => check_header_name("header", h),
            (None, Some(q)) if !q.is_empty() && q.len() <= MAX_HEADER_NAME_LEN => Ok(()),
            (None, Some(_)) => Err(invalid("query", "must be 1 to 100 characters")),
            _ => Err(invalid("header", "exactly one of header and query must be set")),
        }
    }
}

/// One piece of an HMAC preset's signed content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Segment<'a> {
    Literal(&'a str),
    Timestamp,
    Body,
}

/// A parsed `signed_content` template.
#[derive(Debug)]
pub(super) struct Template<'a>(Vec<Segment<'a>>);

impl<'a> Template<'a> {
    pub(super) fn parse(text: &'a str) -> Result<Template<'a>, &'static str> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let (literal, tail) = rest.split_at(open);
            if literal.contains('}') {
                return Err("a } outside a placeholder");
            }
            if !literal.is_empty() {
                segments.push(Segment::Literal(literal));
            }
            let (segment, after) = if let Some(after) = tail.strip_prefix("{body}") {
                (Segment::Body, after)
            } else if let Some(after) = tail.strip_prefix("{timestamp}") {
                (Segment::Timestamp, after)
            } else {
                return Err("only the placeholders {body} and {timestamp} are known");
            };
            segments.push(segment);
            rest = after;
        }
        if rest.contains('}') {
            return Err("a } outside a placeholder");
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest));
        }
        if segments.iter().filter(|s| **s == Segment::Body).count() != 1 {
            return Err("must contain {body} exactly once");
        }
        Ok(Template(segments))
    }

    pub(super) fn segments(&self) -> &[Segment<'a>] {
        &self.0
    }

    fn signs_timestamp(&self) -> bool {
        self.0.contains(&Segment::Timestamp)
    }
}

fn check_tolerance(secs: u32) -> Result<(), InvalidScheme> {
    if (1..=MAX_TOLERANCE_SECS).contains(&secs) {
        Ok(())
    } else {
        Err(invalid("tolerance_secs", "must be between 1 and 86400"))
    }
}

fn check_username(username: &str) -> Result<(), InvalidScheme> {
    if username.is_empty() || username.len() > MAX_USERNAME_LEN || username.contains(':') {
        return Err(invalid("username", "must be 1 to 200 characters without ':'"));
    }
    if username.chars().any(char::is_control) {
        return Err(invalid("username", "must not contain control characters"));
    }
    Ok(())
}

/// A header name a client may configure: an HTTP token (RFC 9110) of at most 100 characters.
fn check_header_name(field: &'static str, name: &str) -> Result<(), InvalidScheme> {
    let tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN || !name.bytes().all(tchar) {
        return Err(invalid(field, "must be an HTTP header name of at most 100 characters"));
    }
    Ok(())
}
