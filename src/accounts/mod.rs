//! People and their accounts: signing up, in and out, sessions, the
//! account kinds and their conversion, team names. This module and its
//! siblings are the core (rules and queries); `pages` holds the handlers.

pub mod export;
pub mod leaving;
pub mod models;
pub mod notices;
pub mod pages;
pub mod passwords;
pub mod profile;
pub mod reset;
pub mod sessions;
pub mod teams;
pub mod throttle;
pub mod two_factor;
pub mod users;

/// What the accounts core refuses.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("the email is taken")]
    EmailTaken,
    #[error("the account is already a team")]
    AlreadyTeam,
    #[error("only the owner of a personal account converts it")]
    NotOwner,
    #[error("a personal account has no team name")]
    NotATeam,
    #[error("two-factor sign-in is already on")]
    TwoFactorAlreadyOn,
    #[error("two-factor sign-in is off")]
    TwoFactorOff,
    #[error("the code is not right")]
    WrongCode,
    /// Requiring two factors of a team takes having them oneself.
    #[error("the Admin has no two-factor sign-in")]
    TwoFactorFirst,
    /// The reset link is used, expired, unknown, or the password changed
    /// since it was made.
    #[error("the reset link no longer works")]
    ResetLinkUnusable,
    /// Deleting a team takes typing its name exactly.
    #[error("the typed name is not the team's")]
    NameMismatch,
    /// Only a team whose one member is the Admin can become personal.
    #[error("the team has other members")]
    NotAlone,
    /// A user has one personal account (SPEC §1).
    #[error("the user already has a personal account")]
    HasPersonal,
    /// The person is the last Admin of these teams.
    #[error("the user is the last Admin of a team")]
    LastAdmin(Vec<leaving::LastAdminOf>),
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
}

crate::core_error!(AccountsError);

/// A local path to return to after signing in or up; anything else (an
/// absolute or protocol-relative URL) is dropped: no open redirects.
pub fn safe_next(next: &str) -> Option<String> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    ok.then(|| next.to_string())
}

/// Basic shape check: one @, something on each side, a dot in the domain,
/// no spaces. Deliverability is the mail server's business.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_hidden_format(c))
}

/// Trimmed display or team name of 1–64 characters without control
/// characters, or the reason it is refused.
pub fn clean_name(raw: &str, what: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(format!("Enter a {what}."));
    }
    if name.chars().count() > 64 {
        return Err(format!("The {what} can be at most 64 characters."));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("The {what} cannot contain control characters."));
    }
    if name.chars().any(is_hidden_format) {
        return Err(format!(
            "The {what} cannot contain invisible formatting characters (such as right-to-left overrides)."
        ));
    }
    Ok(name.to_string())
}

/// Invisible characters that change how the text around them shows: bidi
/// controls (a name that displays reversed), zero-width spaces, the BOM,
/// tag characters. The zero-width joiner and non-joiner stay allowed:
/// emoji sequences and some scripts need them.
pub fn is_hidden_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_bidi_controls_and_invisible_characters() {
        assert_eq!(
            clean_name("  Ada Labs ", "team name"),
            Ok("Ada Labs".into())
        );
        assert_eq!(
            clean_name("👩\u{200D}💻 team", "team name"),
            Ok("👩\u{200D}💻 team".into())
        );
        for hidden in [
            '\u{202E}',
            '\u{2066}',
            '\u{2069}',
            '\u{200B}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            let refused = clean_name(&format!("evil{hidden}txt.exe"), "team name");
            assert!(refused.unwrap_err().contains("invisible"), "{hidden:?}");
        }
    }

    #[test]
    fn emails_are_bounded_and_plain() {
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email(&format!("{}@example.com", "a".repeat(250))));
        assert!(!valid_email("ada@exa\u{202E}mple.com"));
        assert!(!valid_email("ada@example.com\r\n"));
    }
}
