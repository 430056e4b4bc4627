//! Every action the audit log records, typed. `ActionKind` names an
//! action (the filter's list, the CSV, the page); `Action` is one
//! happening with its resource and details, serialised into the entry's
//! jsonb `details` (the resource id goes to its own column).

use serde::Serialize;

use crate::authz::Role;
use crate::ids::{AccountId, ApiKeyId, InviteId, PodId, StreamDestinationId, UserId};

macro_rules! action_kinds {
    ($($kind:ident = $name:literal on $resource:literal),* $(,)?) => {
        /// The name of an action, without its details.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ActionKind { $($kind),* }

        impl ActionKind {
            pub const ALL: &'static [ActionKind] = &[$(ActionKind::$kind),*];

            /// As stored in `audit_entries.action` and sent by the filter.
            pub fn name(self) -> &'static str {
                match self { $(ActionKind::$kind => $name),* }
            }

            /// The type of resource an entry of this action is about.
            pub fn resource_type(self) -> &'static str {
                match self { $(ActionKind::$kind => $resource),* }
            }
        }
    };
}

action_kinds! {
    AccountConverted = "account.converted" on "account",
    AccountRenamed = "account.renamed" on "account",
    AccountDeleted = "account.deleted" on "account",
    AccountReverted = "account.reverted" on "account",
    AuditCheckpoint = "audit.checkpoint" on "audit",
    AuditExpired = "audit.expired" on "audit",
    AuditStreamAdded = "audit_stream.added" on "audit_stream",
    AuditStreamRemoved = "audit_stream.removed" on "audit_stream",
    AuditStreamRetried = "audit_stream.retried" on "audit_stream",
    AccountTwoFactorRuleChanged = "account.two_factor_rule_changed" on "account",
    ApiKeyCreated = "api_key.created" on "api_key",
    ApiKeyRevoked = "api_key.revoked" on "api_key",
    ApiKeyScopeRefused = "api_key.scope_refused" on "api_key",
    BillingEmailChanged = "billing.email_changed" on "billing",
    BillingFundsAdded = "billing.funds_added" on "billing",
    BillingUsageCharged = "billing.usage_charged" on "billing",
    InviteAcceptFailed = "invite.accept_failed" on "invite",
    InviteAccepted = "invite.accepted" on "invite",
    InviteCreated = "invite.created" on "invite",
    InviteRegenerated = "invite.regenerated" on "invite",
    InviteResent = "invite.resent" on "invite",
    InviteRevoked = "invite.revoked" on "invite",
    MemberJoined = "member.joined" on "member",
    MemberLeft = "member.left" on "member",
    MemberRemoved = "member.removed" on "member",
    MemberRoleChanged = "member.role_changed" on "member",
    PodCreated = "pod.created" on "pod",
    PodStarted = "pod.started" on "pod",
    PodStopped = "pod.stopped" on "pod",
    PodTerminated = "pod.terminated" on "pod",
    SpendAlertRaised = "spend.alert_raised" on "spend",
    SpendBudgetChanged = "spend.budget_changed" on "spend",
    SpendMemberLimitChanged = "spend.member_limit_changed" on "spend",
    SpendMemberQuotaChanged = "spend.member_quota_changed" on "spend",
    SpendRoleLimitChanged = "spend.role_limit_changed" on "spend",
    SpendRoleQuotaChanged = "spend.role_quota_changed" on "spend",
    UserSignedUp = "user.signed_up" on "user",
    UserSignedIn = "user.signed_in" on "user",
    UserSignInFailed = "user.sign_in_failed" on "user",
    UserSignedOut = "user.signed_out" on "user",
    UserTwoFactorFailed = "user.two_factor_failed" on "user",
    UserTwoFactorEnabled = "user.two_factor_enabled" on "user",
    UserTwoFactorDisabled = "user.two_factor_disabled" on "user",
    UserRecoveryCodesRegenerated = "user.recovery_codes_regenerated" on "user",
    UserRecoveryCodeUsed = "user.recovery_code_used" on "user",
    UserNameChanged = "user.name_changed" on "user",
    UserEmailChanged = "user.email_changed" on "user",
    UserPasswordChanged = "user.password_changed" on "user",
    UserPasswordResetRequested = "user.password_reset_requested" on "user",
    UserPasswordReset = "user.password_reset" on "user",
    UserSessionsEnded = "user.sessions_ended" on "user",
    UserDeleted = "user.deleted" on "user",
}

/// Every resource type entries refer to.
pub const RESOURCE_TYPES: &[&str] = &[
    "account",
    "api_key",
    "audit",
    "audit_stream",
    "billing",
    "invite",
    "member",
    "pod",
    "spend",
    "user",
];

impl ActionKind {
    pub fn parse(name: &str) -> Option<ActionKind> {
        ActionKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// Sign-ins and sign-outs (and their second step) belong to no
    /// account: an account's log (and its filter) never holds them.
    pub fn in_account_log(self) -> bool {
        !matches!(
            self,
            ActionKind::UserSignedIn
                | ActionKind::UserSignInFailed
                | ActionKind::UserSignedOut
                | ActionKind::UserTwoFactorFailed
        )
    }

    /// The actions an account's log can hold, for the filter's list.
    pub fn account_log() -> impl Iterator<Item = ActionKind> {
        ActionKind::ALL
            .iter()
            .copied()
            .filter(|k| k.in_account_log())
    }
}

/// Why a sign-in was refused, as recorded.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInFailure {
    BadCredentials,
    /// A wrong password when asked to confirm it before a dangerous action.
    Reauthentication,
}

/// Where a second factor (or a password) was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    SignIn,
    /// Confirming it is them before a dangerous action.
    Reauthentication,
    /// Setting a new password through a reset link.
    PasswordReset,
}

/// Why the console itself stopped a Pod (the spend sweep).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The member who started it reached their monthly spend limit.
    MemberLimit,
    /// The team reached its monthly budget.
    TeamBudget,
    /// The account's balance, less what running Pods have accrued, reached zero.
    NoFunds,
}

/// Which limit a spend alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpendLimitKind {
    MemberLimit,
    TeamBudget,
}

/// One happening: its resource (a field the details leave out) and its
/// details (every other field, as a JSON object).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Action {
    AccountConverted {
        #[serde(skip)]
        account: AccountId,
        name: String,
        old_name: String,
    },
    AccountRenamed {
        #[serde(skip)]
        account: AccountId,
        old_name: String,
        new_name: String,
    },
    /// The account was deleted (SPEC §13): its last entry. The counts say
    /// what went with it.
    AccountDeleted {
        #[serde(skip)]
        account: AccountId,
        name: String,
        /// "team" or "personal".
        kind: String,
        pods_terminated: i64,
        invites_revoked: i64,
        members_removed: i64,
        /// The balance left when it was deleted (not refunded by the console).
        balance_cents: i64,
    },
    /// A team with one member left became that member's personal account.
    AccountReverted {
        #[serde(skip)]
        account: AccountId,
        /// The team's name; the account now carries the owner's name.
        old_name: String,
        name: String,
    },
    /// A signed checkpoint sealing its chain so far (`audit::chain`).
    AuditCheckpoint {
        #[serde(skip)]
        chain: uuid::Uuid,
        entries: i64,
        last_hash: String,
        signed_at: String,
        public_key: String,
        signature: String,
    },
    /// The start of its chain expired (`audit::retention`): the entries
    /// written before `before`, which retention no longer keeps.
    AuditExpired {
        #[serde(skip)]
        chain: uuid::Uuid,
        /// How many entries this expiry removed.
        removed: i64,
        /// The retention setting, in days.
        days: u32,
        /// Entries written before this time expired.
        before: String,
        /// How many entries of the chain come before its first kept one
        /// (that entry's place in the chain, counting from 0).
        entries: i64,
        /// The hash the first kept entry links to (hex).
        link: String,
    },
    AccountTwoFactorRuleChanged {
        #[serde(skip)]
        account: AccountId,
        required: bool,
        /// Members without two-factor sign-in when the rule changed.
        members_without: i64,
    },
    BillingEmailChanged {
        #[serde(skip)]
        account: AccountId,
        old_email: Option<String>,
        new_email: Option<String>,
    },
    BillingFundsAdded {
        #[serde(skip)]
        account: AccountId,
        amount_cents: i64,
        balance_cents: i64,
    },
    BillingUsageCharged {
        #[serde(skip)]
        account: AccountId,
        pod_id: PodId,
        pod_name: String,
        running_seconds: i64,
        /// Negative: what left the balance.
        amount_cents: i64,
        balance_cents: i64,
    },
    InviteAcceptFailed {
        /// None when no invite has the link.
        #[serde(skip)]
        invite: Option<InviteId>,
        reason: &'static str,
    },
    InviteAccepted {
        #[serde(skip)]
        invite: InviteId,
        role: Role,
        invite_id: InviteId,
        invited_by: UserId,
        invited_by_name: String,
    },
    InviteCreated {
        #[serde(skip)]
        invite: InviteId,
        role: Role,
        email: Option<String>,
        expires_at: String,
    },
    InviteRegenerated {
        #[serde(skip)]
        invite: InviteId,
        role: Role,
        email: Option<String>,
    },
    /// The invite's email sent again (same link).
    InviteResent {
        #[serde(skip)]
        invite: InviteId,
        role: Role,
        email: Option<String>,
    },
    InviteRevoked {
        #[serde(skip)]
        invite: InviteId,
        role: Role,
        email: Option<String>,
    },
    MemberJoined {
        #[serde(skip)]
        member: UserId,
        role: Role,
        invite_id: InviteId,
        invited_by: UserId,
        invited_by_name: String,
    },
    MemberLeft {
        #[serde(skip)]
        member: UserId,
        role: Role,
    },
    MemberRemoved {
        #[serde(skip)]
        member: UserId,
        name: String,
        email: String,
        role: Role,
    },
    MemberRoleChanged {
        #[serde(skip)]
        member: UserId,
        name: String,
        email: String,
        old_role: Role,
        new_role: Role,
    },
    PodCreated {
        #[serde(skip)]
        pod: PodId,
        name: String,
        gpu_type: String,
        gpu_count: i32,
        image: String,
        hourly_price_cents: i64,
        status: &'static str,
    },
    PodStarted {
        #[serde(skip)]
        pod: PodId,
        name: String,
        gpus: String,
        from: &'static str,
        to: &'static str,
        balance_cents: i64,
    },
    PodStopped {
        #[serde(skip)]
        pod: PodId,
        name: String,
        gpus: String,
        from: &'static str,
        to: &'static str,
        running_seconds: i64,
        charged_cents: i64,
        /// Who started the run that ended, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        started_by: Option<UserId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        started_by_name: Option<String>,
        /// Set when the console stopped it (the actor is then the system).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<StopReason>,
    },
    PodTerminated {
        #[serde(skip)]
        pod: PodId,
        name: String,
        gpus: String,
        from: String,
        to: &'static str,
        running_seconds: i64,
        charged_cents: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        started_by: Option<UserId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        started_by_name: Option<String>,
    },
    /// A limit crossed a threshold (50, 80 or 100 %) this month.
    SpendAlertRaised {
        #[serde(skip)]
        account: AccountId,
        /// The member whose limit it is; None for the team's budget.
        #[serde(skip)]
        member: Option<UserId>,
        limit: SpendLimitKind,
        /// The member's name then.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        threshold: i32,
        used_cents: i64,
        limit_cents: i64,
        /// "2026-11".
        month: String,
    },
    SpendBudgetChanged {
        #[serde(skip)]
        account: AccountId,
        old_cents: Option<i64>,
        new_cents: Option<i64>,
    },
    SpendMemberLimitChanged {
        #[serde(skip)]
        member: UserId,
        name: String,
        role: Role,
        old_cents: Option<i64>,
        new_cents: Option<i64>,
    },
    SpendMemberQuotaChanged {
        #[serde(skip)]
        member: UserId,
        name: String,
        gpu_type: String,
        old_gpus: Option<i32>,
        new_gpus: Option<i32>,
    },
    SpendRoleLimitChanged {
        #[serde(skip)]
        account: AccountId,
        role: Role,
        old_cents: Option<i64>,
        new_cents: Option<i64>,
    },
    SpendRoleQuotaChanged {
        #[serde(skip)]
        account: AccountId,
        role: Role,
        gpu_type: String,
        old_gpus: Option<i32>,
        new_gpus: Option<i32>,
    },
    UserSignedUp {
        #[serde(skip)]
        user: UserId,
        display_name: String,
    },
    UserSignedIn {
        #[serde(skip)]
        user: UserId,
        /// "code" or "recovery_code" when a second factor was asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        second_factor: Option<&'static str>,
    },
    UserSignInFailed {
        reason: SignInFailure,
    },
    UserSignedOut {
        #[serde(skip)]
        user: UserId,
    },
    UserTwoFactorFailed {
        #[serde(skip)]
        user: UserId,
        stage: Stage,
    },
    UserTwoFactorEnabled {
        #[serde(skip)]
        user: UserId,
        recovery_codes: i64,
    },
    UserTwoFactorDisabled {
        #[serde(skip)]
        user: UserId,
    },
    UserRecoveryCodesRegenerated {
        #[serde(skip)]
        user: UserId,
        count: i64,
    },
    UserRecoveryCodeUsed {
        #[serde(skip)]
        user: UserId,
        stage: Stage,
        left: i64,
    },
    UserNameChanged {
        #[serde(skip)]
        user: UserId,
        old_name: String,
        new_name: String,
    },
    UserEmailChanged {
        #[serde(skip)]
        user: UserId,
        old_email: String,
        new_email: String,
    },
    UserPasswordChanged {
        #[serde(skip)]
        user: UserId,
        sessions_ended: i64,
    },
    /// A password reset link was made: asked for on the sign-in page
    /// (mailed), or printed for the operator (`users reset-link`).
    UserPasswordResetRequested {
        #[serde(skip)]
        user: UserId,
        /// The account's email then (where the link was mailed).
        email: String,
        by_operator: bool,
    },
    /// A new password set through a reset link; every session ended.
    UserPasswordReset {
        #[serde(skip)]
        user: UserId,
        sessions_ended: i64,
    },
    /// The person deleted their user (recorded in their personal account's
    /// log, and in each team they were a member of).
    UserDeleted {
        #[serde(skip)]
        user: UserId,
        /// Their name and email then: history keeps them.
        display_name: String,
        email: String,
        teams_left: i64,
        sessions_ended: i64,
    },
    /// An Admin created an API key (SPEC §12). Its secret is never recorded.
    ApiKeyCreated {
        #[serde(skip)]
        key: ApiKeyId,
        name: String,
        /// "audit:read, pods:write".
        scopes: String,
        expires_at: String,
    },
    ApiKeyRevoked {
        #[serde(skip)]
        key: ApiKeyId,
        name: String,
    },
    /// A key was used for something its scopes do not cover (the request
    /// was refused with 403).
    ApiKeyScopeRefused {
        #[serde(skip)]
        key: ApiKeyId,
        name: String,
        scope: &'static str,
        /// "POST /api/v1/accounts/…/pods/…/stop".
        request: String,
    },
    /// An Admin added a collector the account's entries are streamed to
    /// (SPEC §11). Its secret is never recorded; the URL is recorded
    /// without its query (which may carry a token), as `url`.
    AuditStreamAdded {
        #[serde(skip)]
        destination: StreamDestinationId,
        url: String,
    },
    AuditStreamRemoved {
        #[serde(skip)]
        destination: StreamDestinationId,
        url: String,
    },
    /// An Admin cut a failing destination's back-off short: it is tried
    /// on the next pass.
    AuditStreamRetried {
        #[serde(skip)]
        destination: StreamDestinationId,
        url: String,
    },
    UserSessionsEnded {
        #[serde(skip)]
        user: UserId,
        count: i64,
        /// The one session ended ("Chrome on Linux"), when only one was.
        device: Option<String>,
        ip: Option<String>,
    },
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        use ActionKind as K;
        match self {
            Action::AccountConverted { .. } => K::AccountConverted,
            Action::AccountRenamed { .. } => K::AccountRenamed,
            Action::AccountDeleted { .. } => K::AccountDeleted,
            Action::AccountReverted { .. } => K::AccountReverted,
            Action::AuditCheckpoint { .. } => K::AuditCheckpoint,
            Action::AuditExpired { .. } => K::AuditExpired,
            Action::AccountTwoFactorRuleChanged { .. } => K::AccountTwoFactorRuleChanged,
            Action::BillingEmailChanged { .. } => K::BillingEmailChanged,
            Action::BillingFundsAdded { .. } => K::BillingFundsAdded,
            Action::BillingUsageCharged { .. } => K::BillingUsageCharged,
            Action::InviteAcceptFailed { .. } => K::InviteAcceptFailed,
            Action::InviteAccepted { .. } => K::InviteAccepted,
            Action::InviteCreated { .. } => K::InviteCreated,
            Action::InviteRegenerated { .. } => K::InviteRegenerated,
            Action::InviteResent { .. } => K::InviteResent,
            Action::InviteRevoked { .. } => K::InviteRevoked,
            Action::MemberJoined { .. } => K::MemberJoined,
            Action::MemberLeft { .. } => K::MemberLeft,
            Action::MemberRemoved { .. } => K::MemberRemoved,
            Action::MemberRoleChanged { .. } => K::MemberRoleChanged,
            Action::PodCreated { .. } => K::PodCreated,
            Action::PodStarted { .. } => K::PodStarted,
            Action::PodStopped { .. } => K::PodStopped,
            Action::PodTerminated { .. } => K::PodTerminated,
            Action::SpendAlertRaised { .. } => K::SpendAlertRaised,
            Action::SpendBudgetChanged { .. } => K::SpendBudgetChanged,
            Action::SpendMemberLimitChanged { .. } => K::SpendMemberLimitChanged,
            Action::SpendMemberQuotaChanged { .. } => K::SpendMemberQuotaChanged,
            Action::SpendRoleLimitChanged { .. } => K::SpendRoleLimitChanged,
            Action::SpendRoleQuotaChanged { .. } => K::SpendRoleQuotaChanged,
            Action::UserSignedUp { .. } => K::UserSignedUp,
            Action::UserSignedIn { .. } => K::UserSignedIn,
            Action::UserSignInFailed { .. } => K::UserSignInFailed,
            Action::UserSignedOut { .. } => K::UserSignedOut,
            Action::UserTwoFactorFailed { .. } => K::UserTwoFactorFailed,
            Action::UserTwoFactorEnabled { .. } => K::UserTwoFactorEnabled,
            Action::UserTwoFactorDisabled { .. } => K::UserTwoFactorDisabled,
            Action::UserRecoveryCodesRegenerated { .. } => K::UserRecoveryCodesRegenerated,
            Action::UserRecoveryCodeUsed { .. } => K::UserRecoveryCodeUsed,
            Action::UserNameChanged { .. } => K::UserNameChanged,
            Action::UserEmailChanged { .. } => K::UserEmailChanged,
            Action::UserPasswordChanged { .. } => K::UserPasswordChanged,
            Action::UserPasswordResetRequested { .. } => K::UserPasswordResetRequested,
            Action::UserPasswordReset { .. } => K::UserPasswordReset,
            Action::UserSessionsEnded { .. } => K::UserSessionsEnded,
            Action::UserDeleted { .. } => K::UserDeleted,
            Action::ApiKeyCreated { .. } => K::ApiKeyCreated,
            Action::ApiKeyRevoked { .. } => K::ApiKeyRevoked,
            Action::ApiKeyScopeRefused { .. } => K::ApiKeyScopeRefused,
            Action::AuditStreamAdded { .. } => K::AuditStreamAdded,
            Action::AuditStreamRemoved { .. } => K::AuditStreamRemoved,
            Action::AuditStreamRetried { .. } => K::AuditStreamRetried,
        }
    }

    /// The id of the resource the entry is about, as stored.
    pub fn resource_id(&self) -> Option<String> {
        match self {
            Action::AccountConverted { account, .. }
            | Action::AccountRenamed { account, .. }
            | Action::AccountDeleted { account, .. }
            | Action::AccountReverted { account, .. }
            | Action::AccountTwoFactorRuleChanged { account, .. }
            | Action::BillingEmailChanged { account, .. }
            | Action::BillingFundsAdded { account, .. }
            | Action::BillingUsageCharged { account, .. }
            | Action::SpendBudgetChanged { account, .. }
            | Action::SpendRoleLimitChanged { account, .. }
            | Action::SpendRoleQuotaChanged { account, .. } => Some(account.to_string()),
            Action::AuditCheckpoint { chain, .. } | Action::AuditExpired { chain, .. } => {
                Some(chain.to_string())
            }
            Action::SpendAlertRaised {
                account, member, ..
            } => Some(member.map_or_else(|| account.to_string(), |m| m.to_string())),
            Action::SpendMemberLimitChanged { member, .. }
            | Action::SpendMemberQuotaChanged { member, .. } => Some(member.to_string()),
            Action::InviteAcceptFailed { invite, .. } => invite.map(|id| id.to_string()),
            Action::InviteAccepted { invite, .. }
            | Action::InviteCreated { invite, .. }
            | Action::InviteRegenerated { invite, .. }
            | Action::InviteResent { invite, .. }
            | Action::InviteRevoked { invite, .. } => Some(invite.to_string()),
            Action::MemberJoined { member, .. }
            | Action::MemberLeft { member, .. }
            | Action::MemberRemoved { member, .. }
            | Action::MemberRoleChanged { member, .. } => Some(member.to_string()),
            Action::PodCreated { pod, .. }
            | Action::PodStarted { pod, .. }
            | Action::PodStopped { pod, .. }
            | Action::PodTerminated { pod, .. } => Some(pod.to_string()),
            Action::UserSignedUp { user, .. }
            | Action::UserSignedIn { user, .. }
            | Action::UserSignedOut { user }
            | Action::UserTwoFactorFailed { user, .. }
            | Action::UserTwoFactorEnabled { user, .. }
            | Action::UserTwoFactorDisabled { user }
            | Action::UserRecoveryCodesRegenerated { user, .. }
            | Action::UserRecoveryCodeUsed { user, .. }
            | Action::UserNameChanged { user, .. }
            | Action::UserEmailChanged { user, .. }
            | Action::UserPasswordChanged { user, .. }
            | Action::UserPasswordResetRequested { user, .. }
            | Action::UserPasswordReset { user, .. }
            | Action::UserSessionsEnded { user, .. }
            | Action::UserDeleted { user, .. } => Some(user.to_string()),
            Action::ApiKeyCreated { key, .. }
            | Action::ApiKeyRevoked { key, .. }
            | Action::ApiKeyScopeRefused { key, .. } => Some(key.to_string()),
            Action::AuditStreamAdded { destination, .. }
            | Action::AuditStreamRemoved { destination, .. }
            | Action::AuditStreamRetried { destination, .. } => Some(destination.to_string()),
            Action::UserSignInFailed { .. } => None,
        }
    }

    /// The details column: every field but the resource.
    pub fn details(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_one_name_and_a_known_resource_type() {
        for (i, kind) in ActionKind::ALL.iter().enumerate() {
            assert_eq!(ActionKind::parse(kind.name()), Some(*kind));
            assert!(RESOURCE_TYPES.contains(&kind.resource_type()), "{kind:?}");
            assert!(kind.name().starts_with(kind.resource_type()), "{kind:?}");
            assert!(
                ActionKind::ALL[i + 1..]
                    .iter()
                    .all(|k| k.name() != kind.name())
            );
        }
        assert_eq!(ActionKind::parse("user.teleported"), None);
    }

    #[test]
    fn details_leave_the_resource_out() {
        let member = UserId::new();
        let action = Action::MemberRoleChanged {
            member,
            name: "Bob".into(),
            email: "bob@example.com".into(),
            old_role: Role::Dev,
            new_role: Role::Admin,
        };
        assert_eq!(action.kind().name(), "member.role_changed");
        assert_eq!(action.resource_id(), Some(member.to_string()));
        assert_eq!(
            action.details(),
            serde_json::json!({"name": "Bob", "email": "bob@example.com", "old_role": "dev", "new_role": "admin"})
        );
        let signed_in = Action::UserSignedIn {
            user: member,
            second_factor: None,
        };
        assert_eq!(signed_in.details(), serde_json::json!({}));
        let with_code = Action::UserSignedIn {
            user: member,
            second_factor: Some("code"),
        };
        assert_eq!(
            with_code.details(),
            serde_json::json!({"second_factor": "code"})
        );
    }
}
