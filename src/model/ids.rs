//! Ids as types: one newtype over [`Uuid`] per kind of row, so a bot id cannot be passed where
//! an endpoint id is meant.
//!
//! Each is transparent to serde (the bare uuid string) and to sqlx (bound and read as the
//! `Uuid` it wraps, on both backends: the stored bytes do not change). They deliberately do not
//! implement `utoipa::ToSchema`: a field of an API type names its schema with
//! `#[schema(value_type = Uuid)]`, so the OpenAPI document shows a plain uuid string, and a
//! forgotten attribute is a compile error rather than a new `$ref` in the document.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(Uuid);

        // No `Default`: an id made up where a struct is defaulted would name no row.
        #[allow(clippy::new_without_default)]
        impl $name {
            /// A fresh, time-ordered id (UUIDv7), as the store makes every id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn into_uuid(self) -> Uuid {
                self.0
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }
    )*};
}

ids! {
    /// An account (tenant): `accounts.id`.
    AccountId;
    /// A bot: `bots.id`.
    BotId;
    /// An outbound webhook endpoint: `webhook_endpoints.id`.
    EndpointId;
    /// An outbound event's row: `webhook_events.id` (not the publisher's `event_id` string).
    EventId;
    /// One delivery of an event to an endpoint: `webhook_deliveries.id`.
    DeliveryId;
    /// One attempt at a delivery: `webhook_attempts.id`.
    AttemptId;
    /// A dialog: `dialogs.id`.
    DialogId;
    /// An inbound source: `sources.id`.
    SourceId;
    /// One request a source received: `source_requests.id`.
    SourceRequestId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_display_show_the_bare_uuid() {
        let uuid = Uuid::now_v7();
        let id = EndpointId::from(uuid);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, serde_json::to_string(&uuid).unwrap());
        assert_eq!(json, format!("\"{uuid}\""));
        assert_eq!(serde_json::from_str::<EndpointId>(&json).unwrap(), id);
        assert_eq!(id.to_string(), uuid.to_string());
        assert_eq!(format!("{id:?}"), format!("{uuid:?}"));
        assert_eq!(id.to_string().parse::<EndpointId>().unwrap(), id);
        assert!("not-a-uuid".parse::<AccountId>().is_err());
        assert_eq!(Uuid::from(id), uuid);
        assert_eq!(id.into_uuid(), *id.as_uuid());
    }

    #[test]
    fn new_ids_are_time_ordered_v7() {
        let (a, b) = (EventId::new(), EventId::new());
        assert_eq!(a.into_uuid().get_version_num(), 7);
        assert!(a < b, "ids order like the uuids they wrap");
    }
}
