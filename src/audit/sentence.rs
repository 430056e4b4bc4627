//! One sentence per entry, past tense, people and things by the names they
//! had when the entry was written ("Alice Admin changed Bob Dev's role from
//! Dev to Admin"). The names come from the entry itself (its actor name
//! and typed details), so a later rename, removal or termination never
//! breaks history; the page adds the current name beside one that changed.
//!
//! `sentence` matches every `ActionKind`: an action without a sentence
//! does not compile.

use serde::Deserialize;

use crate::audit::ActionKind;
use crate::authz::Role;
use crate::format::{duration, money};
use crate::pods::catalogue;

/// The details of any entry, read from its jsonb: every key any action
/// writes, each optional (older entries hold fewer).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Details {
    pub name: Option<String>,
    pub old_name: Option<String>,
    pub new_name: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub old_email: Option<String>,
    pub new_email: Option<String>,
    pub role: Option<String>,
    pub old_role: Option<String>,
    pub new_role: Option<String>,
    pub invited_by_name: Option<String>,
    pub amount_cents: Option<i64>,
    pub charged_cents: Option<i64>,
    pub running_seconds: Option<i64>,
    pub gpus: Option<String>,
    pub gpu_type: Option<String>,
    pub gpu_count: Option<i64>,
    pub pod_name: Option<String>,
    pub reason: Option<String>,
    pub entries: Option<i64>,
    pub last_hash: Option<String>,
    pub removed: Option<i64>,
    pub days: Option<i64>,
    pub before: Option<String>,
    pub link: Option<String>,
    pub signed_at: Option<String>,
    pub signature: Option<String>,
    pub required: Option<bool>,
    pub members_without: Option<i64>,
    pub second_factor: Option<String>,
    pub stage: Option<String>,
    pub left: Option<i64>,
    pub count: Option<i64>,
    pub sessions_ended: Option<i64>,
    pub device: Option<String>,
    pub started_by_name: Option<String>,
    pub limit: Option<String>,
    pub threshold: Option<i64>,
    pub used_cents: Option<i64>,
    pub limit_cents: Option<i64>,
    pub old_cents: Option<i64>,
    pub new_cents: Option<i64>,
    pub old_gpus: Option<i64>,
    pub new_gpus: Option<i64>,
    pub by_operator: Option<bool>,
    pub pods_terminated: Option<i64>,
    pub invites_revoked: Option<i64>,
    pub members_removed: Option<i64>,
    pub teams_left: Option<i64>,
    pub scopes: Option<String>,
    pub scope: Option<String>,
    pub expires_at: Option<String>,
    pub request: Option<String>,
    pub url: Option<String>,
}

impl Details {
    /// Details as the page reads them: unknown keys are ignored, and
    /// anything that is not an object of the expected shape reads as none.
    pub fn parse(json: &[u8]) -> Details {
        serde_json::from_slice(json).unwrap_or_default()
    }
}

/// A piece of a sentence: plain words, or a name (shown emphasised).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Words(String),
    Name(String),
}

/// A sentence as parts, so names can be marked up while everything stays
/// escaped text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sentence {
    pub parts: Vec<Part>,
}

impl Sentence {
    fn words(mut self, words: &str) -> Sentence {
        match self.parts.last_mut() {
            Some(Part::Words(last)) => last.push_str(words),
            _ => self.parts.push(Part::Words(words.to_string())),
        }
        self
    }

    fn name(mut self, name: &str) -> Sentence {
        self.parts.push(Part::Name(name.to_string()));
        self
    }

    /// The sentence as plain text (the CSV's summary).
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Words(w) | Part::Name(w) => w.as_str(),
            })
            .collect()
    }
}

fn role_label(raw: Option<&str>) -> &str {
    match raw.and_then(Role::parse) {
        Some(role) => role.label(),
        None => raw.unwrap_or("a role"),
    }
}

fn gpus(d: &Details) -> Option<String> {
    d.gpus.clone().or_else(|| {
        let count = d.gpu_count?;
        let kind = d.gpu_type.as_deref()?;
        Some(format!("{count} × {}", catalogue::label(kind)))
    })
}

/// " after 1 h 30 min ($4.49 charged)", or nothing for a run never started.
fn run_and_charge(d: &Details) -> String {
    match (d.running_seconds, d.charged_cents) {
        (Some(seconds), Some(cents)) if seconds > 0 => {
            format!(" after {} ({} charged)", duration(seconds), money(cents))
        }
        _ => String::new(),
    }
}

/// "1 member without it", "3 codes left", "0 other sessions".
fn plural(n: i64, noun: &str, after: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} {noun}{s} {after}")
}

/// " because Dan Dev reached their monthly spend limit", for a Pod the
/// console stopped; nothing for one a person stopped.
fn stop_reason(d: &Details) -> Sentence {
    let said = Sentence::default();
    match d.reason.as_deref() {
        Some("member_limit") => said
            .words(" because ")
            .name(d.started_by_name.as_deref().unwrap_or("its starter"))
            .words(" reached their monthly spend limit"),
        Some("team_budget") => said.words(" because the team reached its monthly budget"),
        Some("no_funds") => said.words(" because the account ran out of funds"),
        _ => said,
    }
}

impl Sentence {
    fn then(mut self, more: Sentence) -> Sentence {
        for part in more.parts {
            self = match part {
                Part::Words(w) => self.words(&w),
                Part::Name(n) => self.name(&n),
            };
        }
        self
    }
}

/// "set X to new", "changed X from old to new", "removed X (was old)".
fn set_or_changed(
    who: Sentence,
    what: Sentence,
    old: Option<String>,
    new: Option<String>,
) -> Sentence {
    match (old, new) {
        (None, Some(new)) => who.words(" set ").then(what).words(&format!(" to {new}")),
        (Some(old), Some(new)) => who
            .words(" changed ")
            .then(what)
            .words(&format!(" from {old} to {new}")),
        (Some(old), None) => who
            .words(" removed ")
            .then(what)
            .words(&format!(" (was {old})")),
        (None, None) => who.words(" changed ").then(what),
    }
}

fn gpu_count(n: i64) -> String {
    format!("{n} GPU{}", if n == 1 { "" } else { "s" })
}

/// The entry's sentence. `actor` is who acted, as the entry names them
/// (their name then, else their email); `None` reads "Someone".
pub fn sentence(kind: ActionKind, actor: Option<&str>, d: &Details) -> Sentence {
    use ActionKind as K;
    let who = Sentence::default().name(actor.unwrap_or("Someone"));
    let pod = |d: &Details| d.name.clone().unwrap_or_else(|| "a Pod".into());
    let member = |d: &Details| {
        d.name
            .clone()
            .or_else(|| d.email.clone())
            .unwrap_or_else(|| "a member".into())
    };
    match kind {
        K::AccountConverted => who
            .words(" converted the account into the team ")
            .name(d.name.as_deref().unwrap_or("(unnamed)")),
        K::AccountDeleted => {
            let what = match d.name.as_deref() {
                Some(name) => Sentence::default()
                    .words(" deleted the account ")
                    .name(name),
                None => Sentence::default().words(" deleted the account"),
            };
            who.then(what).words(&format!(
                " ({}, {}, {})",
                plural(d.pods_terminated.unwrap_or_default(), "Pod", "terminated"),
                plural(d.invites_revoked.unwrap_or_default(), "invite", "revoked"),
                plural(d.members_removed.unwrap_or_default(), "member", "removed"),
            ))
        }
        K::AccountReverted => who
            .words(" turned the team ")
            .name(d.old_name.as_deref().unwrap_or("?"))
            .words(" back into a personal account"),
        K::AccountRenamed => who
            .words(" renamed the team from ")
            .name(d.old_name.as_deref().unwrap_or("?"))
            .words(" to ")
            .name(d.new_name.as_deref().unwrap_or("?")),
        K::AuditCheckpoint => Sentence::default().words(&format!(
            "Team Console sealed the log with a signed checkpoint ({} entries)",
            d.entries.unwrap_or_default()
        )),
        K::AuditExpired => Sentence::default().words(&format!(
            "Team Console removed {} entries older than {} days, as the retention setting says",
            d.removed.unwrap_or_default(),
            d.days.unwrap_or_default()
        )),
        K::BillingEmailChanged => match (&d.old_email, &d.new_email) {
            (Some(old), Some(new)) => who
                .words(" changed the billing email from ")
                .name(old)
                .words(" to ")
                .name(new),
            (None, Some(new)) => who.words(" set the billing email to ").name(new),
            (Some(old), None) => who.words(" removed the billing email ").name(old),
            (None, None) => who.words(" changed the billing email"),
        },
        K::BillingFundsAdded => who.words(&format!(
            " added {} to the balance",
            money(d.amount_cents.unwrap_or_default())
        )),
        K::BillingUsageCharged => Sentence::default()
            .words("Usage of Pod ")
            .name(d.pod_name.as_deref().unwrap_or("(unnamed)"))
            .words(&format!(
                " was charged: {} for {}",
                money(d.amount_cents.unwrap_or_default().abs()),
                duration(d.running_seconds.unwrap_or_default())
            )),
        K::InviteAcceptFailed => {
            let what = match d.reason.as_deref() {
                Some("expired") => " tried an expired invite link",
                Some("used") => " tried an invite link that was already used",
                Some("revoked") => " tried a revoked invite link",
                Some("email_mismatch") => " tried an invite meant for another email",
                Some("already_member") => " tried an invite while already a member",
                Some("two_factor_required") => {
                    " tried an invite before setting up two-factor authentication"
                }
                _ => " tried an invite link that is not valid",
            };
            who.words(what)
        }
        K::InviteAccepted => who
            .words(" accepted an invite from ")
            .name(d.invited_by_name.as_deref().unwrap_or("an Admin"))
            .words(&format!(" ({})", role_label(d.role.as_deref()))),
        K::InviteCreated => {
            let role = role_label(d.role.as_deref());
            match &d.email {
                Some(email) => who
                    .words(" invited ")
                    .name(email)
                    .words(&format!(" as {role}")),
                None => who.words(&format!(" created an invite link for a new {role}")),
            }
        }
        K::InviteRegenerated | K::InviteRevoked | K::InviteResent => {
            let verb = match kind {
                K::InviteRevoked => " revoked the ",
                K::InviteResent => " sent again the email of the ",
                _ => " issued a new link for the ",
            };
            let said = who.words(&format!("{verb}{} invite", role_label(d.role.as_deref())));
            match &d.email {
                Some(email) => said.words(" for ").name(email),
                None => said,
            }
        }
        K::MemberJoined => who
            .words(" joined with an invite from ")
            .name(d.invited_by_name.as_deref().unwrap_or("an Admin"))
            .words(&format!(" ({})", role_label(d.role.as_deref()))),
        K::MemberLeft => who.words(&format!(
            " left the team (was {})",
            role_label(d.role.as_deref())
        )),
        K::MemberRemoved => who.words(" removed ").name(&member(d)).words(&format!(
            " ({}) from the team",
            role_label(d.role.as_deref())
        )),
        K::MemberRoleChanged => who.words(" changed ").name(&member(d)).words(&format!(
            "'s role from {} to {}",
            role_label(d.old_role.as_deref()),
            role_label(d.new_role.as_deref())
        )),
        K::PodCreated | K::PodStarted | K::PodStopped | K::PodTerminated => {
            let verb = match kind {
                K::PodCreated => " created Pod ",
                K::PodStarted => " started Pod ",
                K::PodStopped => " stopped Pod ",
                _ => " terminated Pod ",
            };
            let said = who.words(verb).name(&pod(d));
            let said = match gpus(d) {
                Some(gpus) => said.words(&format!(" ({gpus})")),
                None => said,
            };
            match kind {
                K::PodStopped => said.words(&run_and_charge(d)).then(stop_reason(d)),
                K::PodTerminated => said.words(&run_and_charge(d)),
                _ => said,
            }
        }
        K::AccountTwoFactorRuleChanged => match d.required {
            Some(false) => who.words(" stopped requiring two-factor authentication for the team"),
            _ => who.words(&format!(
                " required two-factor authentication for the team ({})",
                plural(
                    d.members_without.unwrap_or_default(),
                    "member",
                    "without it"
                )
            )),
        },
        K::SpendAlertRaised => {
            let share = format!("{} % of", d.threshold.unwrap_or_default());
            let figures = format!(
                " ({} of {})",
                money(d.used_cents.unwrap_or_default()),
                money(d.limit_cents.unwrap_or_default())
            );
            let said = who.words(" raised an alert: ");
            match d.limit.as_deref() {
                Some("team_budget") => said.words(&format!(
                    "the team has used {share} its monthly budget{figures}"
                )),
                _ => said.name(&member(d)).words(&format!(
                    " has used {share} their monthly spend limit{figures}"
                )),
            }
        }
        K::SpendBudgetChanged => set_or_changed(
            who,
            Sentence::default().words("the team's monthly budget"),
            d.old_cents.map(money),
            d.new_cents.map(money),
        ),
        K::SpendRoleLimitChanged => set_or_changed(
            who,
            Sentence::default().words(&format!(
                "the {} role's monthly spend limit",
                role_label(d.role.as_deref())
            )),
            d.old_cents.map(money),
            d.new_cents.map(money),
        ),
        K::SpendMemberLimitChanged => set_or_changed(
            who,
            Sentence::default()
                .name(&member(d))
                .words("'s own monthly spend limit"),
            d.old_cents.map(money),
            d.new_cents.map(money),
        ),
        K::SpendRoleQuotaChanged => set_or_changed(
            who,
            Sentence::default().words(&format!(
                "the {} role's {} quota",
                role_label(d.role.as_deref()),
                catalogue::label(d.gpu_type.as_deref().unwrap_or("GPU"))
            )),
            d.old_gpus.map(gpu_count),
            d.new_gpus.map(gpu_count),
        ),
        K::SpendMemberQuotaChanged => set_or_changed(
            who,
            Sentence::default().name(&member(d)).words(&format!(
                "'s own {} quota",
                catalogue::label(d.gpu_type.as_deref().unwrap_or("GPU"))
            )),
            d.old_gpus.map(gpu_count),
            d.new_gpus.map(gpu_count),
        ),
        K::UserSignedUp => who.words(" signed up"),
        K::UserSignedIn => match d.second_factor.as_deref() {
            Some("code") => who.words(" signed in with an authenticator code"),
            Some("recovery_code") => who.words(" signed in with a recovery code"),
            _ => who.words(" signed in"),
        },
        K::UserSignInFailed => match d.reason.as_deref() {
            Some("reauthentication") => who.words(" failed to confirm their password"),
            _ => who.words(" failed to sign in"),
        },
        K::UserSignedOut => who.words(" signed out"),
        K::UserTwoFactorFailed => match d.stage.as_deref() {
            Some("reauthentication") => who.words(" entered a wrong code to confirm it was them"),
            Some("password_reset") => {
                who.words(" entered a wrong two-factor code while resetting their password")
            }
            _ => who.words(" entered a wrong two-factor code at sign-in"),
        },
        K::UserTwoFactorEnabled => who.words(" turned on two-factor authentication"),
        K::UserTwoFactorDisabled => who.words(" turned off two-factor authentication"),
        K::UserRecoveryCodesRegenerated => {
            who.words(" made new recovery codes (the old ones no longer work)")
        }
        K::UserRecoveryCodeUsed => who.words(&format!(
            " used a recovery code ({})",
            plural(d.left.unwrap_or_default(), "code", "left")
        )),
        K::UserNameChanged => who
            .words(" changed their name from ")
            .name(d.old_name.as_deref().unwrap_or("?"))
            .words(" to ")
            .name(d.new_name.as_deref().unwrap_or("?")),
        K::UserEmailChanged => who
            .words(" changed their email from ")
            .name(d.old_email.as_deref().unwrap_or("?"))
            .words(" to ")
            .name(d.new_email.as_deref().unwrap_or("?")),
        K::UserPasswordChanged => who.words(&format!(
            " changed their password ({} signed out)",
            plural(d.sessions_ended.unwrap_or_default(), "other session", "").trim_end()
        )),
        K::UserPasswordResetRequested if d.by_operator == Some(true) => who
            .words(" printed a password reset link for ")
            .name(d.email.as_deref().unwrap_or("a user")),
        K::UserPasswordResetRequested => who.words(" asked for a password reset link by email"),
        K::UserPasswordReset => who.words(&format!(
            " set a new password through a reset link ({} signed out)",
            plural(d.sessions_ended.unwrap_or_default(), "session", "").trim_end()
        )),
        K::UserDeleted => who.words(" deleted their user"),
        K::ApiKeyCreated => {
            let said = who
                .words(" created the API key ")
                .name(d.name.as_deref().unwrap_or("(unnamed)"));
            let said = match &d.scopes {
                Some(scopes) => said.words(" with the scopes ").name(scopes),
                None => said,
            };
            match &d.expires_at {
                Some(at) => said.words(&format!(", expiring {at}")),
                None => said,
            }
        }
        K::AuditStreamAdded => who
            .words(" started streaming the audit log to ")
            .name(d.url.as_deref().unwrap_or("(unknown)")),
        K::AuditStreamRetried => who
            .words(" asked for the audit log to be sent again now to ")
            .name(d.url.as_deref().unwrap_or("(unknown)")),
        K::AuditStreamRemoved => who
            .words(" stopped streaming the audit log to ")
            .name(d.url.as_deref().unwrap_or("(unknown)")),
        K::ApiKeyRevoked => who
            .words(" revoked the API key ")
            .name(d.name.as_deref().unwrap_or("(unnamed)")),
        K::ApiKeyScopeRefused => {
            let said = who
                .words(" was refused a request that needs the scope ")
                .name(d.scope.as_deref().unwrap_or("(unknown)"))
                .words(", which the key lacks");
            match &d.request {
                Some(request) => said.words(" (").name(request).words(")"),
                None => said,
            }
        }
        K::UserSessionsEnded => match (&d.device, d.count) {
            (Some(device), Some(1)) => who.words(" signed out their session on ").name(device),
            (_, count) => who.words(&format!(
                " signed out {}",
                plural(count.unwrap_or_default(), "other session", "").trim_end()
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(kind: ActionKind, json: serde_json::Value) -> String {
        let d = Details::parse(json.to_string().as_bytes());
        sentence(kind, Some("Alice Admin"), &d).text()
    }

    #[test]
    fn entries_read_as_sentences_with_names() {
        use ActionKind as K;
        use serde_json::json;
        assert_eq!(
            said(
                K::MemberRoleChanged,
                json!({"name": "Bob Dev", "email": "b@x.io", "old_role": "dev", "new_role": "admin"})
            ),
            "Alice Admin changed Bob Dev's role from Dev to Admin"
        );
        assert_eq!(
            said(
                K::PodStarted,
                json!({"name": "train-7", "gpus": "2 × A100 80GB"})
            ),
            "Alice Admin started Pod train-7 (2 × A100 80GB)"
        );
        assert_eq!(
            said(K::BillingFundsAdded, json!({"amount_cents": 25000})),
            "Alice Admin added $250.00 to the balance"
        );
        assert_eq!(
            said(
                K::MemberJoined,
                json!({"role": "dev", "invited_by_name": "Carol", "invited_by": "4942b445-0000-0000-0000-000000000000"})
            ),
            "Alice Admin joined with an invite from Carol (Dev)"
        );
        assert_eq!(
            said(
                K::PodStopped,
                json!({"name": "train-7", "gpus": "1 × A100 80GB", "running_seconds": 7200,
                       "charged_cents": 378, "reason": "member_limit", "started_by_name": "Dan Dev"})
            ),
            "Alice Admin stopped Pod train-7 (1 × A100 80GB) after 2 h 0 min ($3.78 charged) \
             because Dan Dev reached their monthly spend limit"
        );
        assert_eq!(
            said(
                K::SpendAlertRaised,
                json!({"limit": "member_limit", "name": "Dan Dev", "threshold": 80,
                       "used_cents": 40000, "limit_cents": 50000, "month": "2026-11"})
            ),
            "Alice Admin raised an alert: Dan Dev has used 80 % of their monthly spend limit ($400.00 of $500.00)"
        );
        assert_eq!(
            said(
                K::SpendBudgetChanged,
                json!({"old_cents": null, "new_cents": 200000})
            ),
            "Alice Admin set the team's monthly budget to $2,000.00"
        );
        assert_eq!(
            said(
                K::SpendRoleLimitChanged,
                json!({"role": "dev", "old_cents": 50000, "new_cents": null})
            ),
            "Alice Admin removed the Dev role's monthly spend limit (was $500.00)"
        );
        assert_eq!(
            said(
                K::SpendRoleQuotaChanged,
                json!({"role": "dev", "gpu_type": "a100-80gb", "old_gpus": 4, "new_gpus": 8})
            ),
            "Alice Admin changed the Dev role's A100 80GB quota from 4 GPUs to 8 GPUs"
        );
        assert_eq!(
            said(
                K::AuditExpired,
                json!({"removed": 1234, "days": 400, "before": "2025-10-25T00:00:00.000000Z",
                       "entries": 5000, "link": "00ff"})
            ),
            "Team Console removed 1234 entries older than 400 days, as the retention setting says"
        );
        let d = Details::parse(br#"{"reason": "expired"}"#);
        assert_eq!(
            sentence(K::InviteAcceptFailed, None, &d).text(),
            "Someone tried an expired invite link"
        );
    }

    #[test]
    fn every_action_has_a_sentence_without_raw_ids() {
        let id = "4942b445-1111-2222-3333-444455556666";
        let details = format!(
            r#"{{"invited_by": "{id}", "invite_id": "{id}", "pod_id": "{id}", "role": "basic"}}"#
        );
        let d = Details::parse(details.as_bytes());
        for kind in ActionKind::ALL {
            let text = sentence(*kind, Some("Alice"), &d).text();
            assert!(
                text.starts_with("Alice") || text.starts_with("Usage") || text.starts_with("Team"),
                "{text}"
            );
            assert!(!text.contains(id), "{kind:?}: {text}");
        }
    }

    #[test]
    fn details_of_another_shape_read_as_none() {
        let d = Details::parse(b"[1, 2]");
        assert!(d.name.is_none());
        let d = Details::parse(br#"{"amount_cents": "not a number"}"#);
        assert!(d.amount_cents.is_none());
    }
}
