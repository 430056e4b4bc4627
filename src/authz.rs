//! Who may do what: the four roles, the capabilities they govern, and the
//! one function holding SPEC §2's matrix. Handlers never compare roles;
//! they ask for a capability through the `Member<C>` extractor.

use std::fmt;

use diesel::deserialize::{self, FromSql};
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// Stored as text (`memberships.role`, `invites.role`, checked by the
/// table); an unknown stored value fails the query instead of becoming a
/// default.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[serde(rename_all = "lowercase")]
#[diesel(sql_type = Text)]
pub enum Role {
    Basic,
    Billing,
    Dev,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Basic, Role::Billing, Role::Dev, Role::Admin];

    /// The value stored in the database and sent by forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Basic => "basic",
            Role::Billing => "billing",
            Role::Dev => "dev",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Basic => "Basic",
            Role::Billing => "Billing",
            Role::Dev => "Dev",
            Role::Admin => "Admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Stored as text (`accounts.kind`), like `Role`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = Text)]
pub enum AccountKind {
    Personal,
    Team,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Personal => "personal",
            AccountKind::Team => "team",
        }
    }

    pub fn parse(s: &str) -> Option<AccountKind> {
        [AccountKind::Personal, AccountKind::Team]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The one place `Role` and `AccountKind` meet the database.
macro_rules! text_enum {
    ($($t:ty: $what:literal),*) => {$(
        impl ToSql<Text, Pg> for $t {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                std::io::Write::write_all(out, self.as_str().as_bytes())?;
                Ok(IsNull::No)
            }
        }

        impl FromSql<Text, Pg> for $t {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                <$t>::parse(text).ok_or_else(|| format!("unknown {} {text:?}", $what).into())
            }
        }
    )*};
}

text_enum!(Role: "role", AccountKind: "account kind");

/// SPEC §2, the contract. A personal account has one member (its owner, an
/// Admin) and no team features: no Members page, no invites, no leaving.
pub fn allows(kind: AccountKind, role: Role, capability: Capability) -> bool {
    use Capability::*;
    use Role::*;
    if kind == AccountKind::Personal
        && matches!(
            capability,
            ViewMembers | ManageInvites | ManageMembers | Leave | RequireTwoFactor | DeleteTeam
        )
    {
        return false;
    }
    match capability {
        UseAccount | ViewMembers | Leave | ViewOwnUsage => true,
        UsePods => matches!(role, Basic | Dev | Admin),
        ManagePods => matches!(role, Dev | Admin),
        ViewBilling | ManageBilling | ManageSpend => matches!(role, Billing | Admin),
        ViewMemberEmails | ManageInvites | ManageMembers | ManageSettings | ViewAuditLog
        | RequireTwoFactor | ManageQuotas | DeleteTeam | ManageApiKeys | ManageAuditStreaming => {
            role == Admin
        }
    }
}

/// The roles that have `capability` in an account of `kind`, as the matrix
/// says (a refusal names them).
pub fn roles_allowed(kind: AccountKind, capability: Capability) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| allows(kind, *role, capability))
        .collect()
}

impl Capability {
    /// What the capability lets a member do, as a refusal says it
    /// ("Only Billing and Admin members may see billing information").
    pub fn describe(self) -> &'static str {
        use Capability::*;
        match self {
            UseAccount => "use this account",
            ViewMembers => "see the team's members",
            ViewMemberEmails => "see members' email addresses",
            UsePods => "list and connect to Pods",
            ManagePods => "create, start, stop and terminate Pods",
            ViewBilling => "see billing information",
            ManageBilling => "manage billing",
            ManageInvites => "invite members and see pending invites",
            ManageMembers => "change members' roles and remove members",
            ManageSettings => "change account settings",
            ViewAuditLog => "read the audit logs",
            Leave => "leave the team",
            RequireTwoFactor => "require two-factor sign-in for the team",
            ViewOwnUsage => "see their own usage",
            ManageSpend => "see usage per member and set budgets and spend limits",
            ManageQuotas => "set GPU quotas",
            DeleteTeam => "delete the team or turn it back into a personal account",
            ManageApiKeys => "create and revoke API keys",
            ManageAuditStreaming => "stream the audit log to collectors",
        }
    }
}

/// Type-level capabilities for `Member<C>`: the handler's signature says what
/// it needs, so the check cannot be forgotten.
pub trait Needs {
    const CAPABILITY: Capability;
}

macro_rules! capabilities {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// The rows of SPEC §2.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Capability {
            $($(#[$doc])* $name),*
        }

        /// Marker types naming each capability, for `Member<C>`.
        pub mod can {
            $(
                pub struct $name;
                impl super::Needs for $name {
                    const CAPABILITY: super::Capability = super::Capability::$name;
                }
            )*
        }
    };
}

capabilities!(
    UseAccount,
    ViewMembers,
    /// Members' emails on the Team page (SPEC §2: Admin only).
    ViewMemberEmails,
    UsePods,
    ManagePods,
    ViewBilling,
    ManageBilling,
    ManageInvites,
    ManageMembers,
    ManageSettings,
    ViewAuditLog,
    Leave,
    /// Require two-factor sign-in of the team's members (SPEC §9).
    RequireTwoFactor,
    /// Their own usage this month (GPU-hours) and the share of their limit
    /// (SPEC §10: everyone; money only with `ViewBilling`).
    ViewOwnUsage,
    /// Usage per member and Pod, the team budget and the monthly spend
    /// limits per role and per member (SPEC §10: Billing, Admin).
    ManageSpend,
    /// GPU quotas per role and per member (SPEC §10: Admin only).
    ManageQuotas,
    /// Delete the team, or turn it back into a personal account (SPEC §13:
    /// Admin only; a personal account is deleted from its owner's profile).
    DeleteTeam,
    /// Create, list and revoke the account's API keys (SPEC §12: Admin
    /// only; a personal account's owner too).
    ManageApiKeys,
    /// Add and remove the collectors the account's audit entries are
    /// streamed to (SPEC §11: Admin only; a personal account's owner too).
    ManageAuditStreaming,
);
