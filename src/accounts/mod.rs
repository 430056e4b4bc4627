//! People and their accounts: signing up, in and out, sessions, the
//! account kinds and their conversion, team names. This module and its
//! siblings are the core (rules and queries); `pages` holds the handlers.

pub mod models;
pub mod pages;
pub mod passwords;
pub mod sessions;
pub mod teams;
pub mod throttle;
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
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
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
    Ok(name.to_string())
}
