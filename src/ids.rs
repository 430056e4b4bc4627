//! Typed ids: an `AccountId` cannot be passed where an `InviteId` is
//! expected, so swapping two ids in a call does not compile. Each is a
//! UUID in the database, in URLs (path segments deserialize through serde)
//! and in audit details.

use std::fmt;
use std::str::FromStr;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            Serialize, Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[serde(transparent)]
        #[diesel(sql_type = sql_types::Uuid)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random id, for a row about to be inserted. (No
            /// `Default`: a default id would be the nil UUID, the silent
            /// stand-in typed ids are here to prevent.)
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                $name(Uuid::new_v4())
            }

            pub fn from_uuid(id: Uuid) -> Self {
                $name(id)
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl ToSql<sql_types::Uuid, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <Uuid as ToSql<sql_types::Uuid, Pg>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<sql_types::Uuid, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                <Uuid as FromSql<sql_types::Uuid, Pg>>::from_sql(value).map($name)
            }
        }
    )*};
}

ids!(
    /// A personal or team account.
    AccountId,
    /// A person (also the id of their membership within an account).
    UserId,
    /// An invite to join a team.
    InviteId,
    /// A Pod of an account.
    PodId,
    /// An API key of an account (SPEC §12).
    ApiKeyId,
    /// A destination the account's audit entries are streamed to (SPEC §11).
    StreamDestinationId,
    /// A sign-in session, as its owner sees it on the profile page (the
    /// key's hash, which finds it, is never shown).
    SessionId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_reads_and_writes_as_its_uuid() {
        let id = PodId::new();
        assert_eq!(id.to_string().parse::<PodId>().unwrap(), id);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{}\"", id.as_uuid())
        );
        assert!("not-a-uuid".parse::<AccountId>().is_err());
    }
}
