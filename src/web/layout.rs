//! What `base.html` needs on every page: the CSRF token for forms, flash
//! messages, the signed-in user, the account switcher and the navigation
//! the current role may use.

use crate::accounts::models::AccountMembership;
use crate::authz::{self, Capability};
use crate::ids::AccountId;
use crate::web::session::Flash;

#[derive(Default)]
pub struct Layout {
    pub csrf: String,
    pub flashes: Vec<Flash>,
    pub user: Option<UserBadge>,
    pub accounts: Vec<AccountLink>,
    pub nav: Option<Nav>,
}

pub struct UserBadge {
    pub display_name: String,
    pub email: String,
}

pub struct AccountLink {
    pub id: AccountId,
    pub name: String,
    pub is_team: bool,
    pub role: &'static str,
    pub current: bool,
}

impl Layout {
    /// A signed-in page's layout, with `current` as the account shown in
    /// the header.
    pub fn signed_in(
        csrf: String,
        flashes: Vec<Flash>,
        user: &crate::accounts::models::User,
        accounts: &[AccountMembership],
        current: Option<&AccountMembership>,
    ) -> Layout {
        let current_id = current.map(|m| m.account.id);
        Layout {
            csrf,
            flashes,
            user: Some(UserBadge {
                display_name: user.display_name.clone(),
                email: user.email.clone(),
            }),
            accounts: accounts
                .iter()
                .map(|m| AccountLink::new(m, Some(m.account.id) == current_id))
                .collect(),
            nav: current.map(Nav::for_membership),
        }
    }
}

impl AccountLink {
    pub fn new(m: &AccountMembership, current: bool) -> Self {
        AccountLink {
            id: m.account.id,
            name: m.account.name.clone(),
            is_team: m.account.is_team(),
            role: m.role.label(),
            current,
        }
    }
}

/// The current account's navigation: only what the role may use.
pub struct Nav {
    /// Which navigation entry is the current page ("pods", "members", ...).
    pub section: &'static str,
    pub account_id: AccountId,
    pub account_name: String,
    pub is_team: bool,
    pub role: &'static str,
    pub members: bool,
    pub pods: bool,
    pub billing: bool,
    pub settings: bool,
    pub audit: bool,
}

impl Nav {
    pub fn for_membership(m: &AccountMembership) -> Nav {
        let can = |c| authz::allows(m.account.kind, m.role, c);
        Nav {
            section: "",
            account_id: m.account.id,
            account_name: m.account.name.clone(),
            is_team: m.account.is_team(),
            role: m.role.label(),
            members: can(Capability::ViewMembers),
            pods: can(Capability::UsePods),
            billing: can(Capability::ViewBilling),
            settings: can(Capability::ManageSettings),
            audit: can(Capability::ViewAuditLog),
        }
    }
}

impl Layout {
    /// Marks the navigation entry of the page being shown.
    pub fn section(mut self, section: &'static str) -> Layout {
        if let Some(nav) = self.nav.as_mut() {
            nav.section = section;
        }
        self
    }

    /// Adds an error message shown above the page (a rule that refused
    /// the action the page is shown again for).
    pub fn with_error(mut self, text: Option<String>) -> Layout {
        if let Some(text) = text {
            self.flashes.push(crate::web::session::Flash {
                level: crate::web::session::FlashLevel::Error,
                text,
            });
        }
        self
    }

    /// Adds notices above the page (spend alerts): `(text, warning)`, a
    /// warning shown as an error.
    pub fn with_notices(mut self, notices: impl IntoIterator<Item = (String, bool)>) -> Layout {
        for (text, warning) in notices {
            self.flashes.push(crate::web::session::Flash {
                level: if warning {
                    crate::web::session::FlashLevel::Error
                } else {
                    crate::web::session::FlashLevel::Info
                },
                text,
            });
        }
        self
    }

    /// For pages seen signed out (sign-in, sign-up, invite landing).
    pub fn public(
        session: &crate::web::session_store::Session,
    ) -> crate::web::error::AppResult<Layout> {
        Ok(Layout {
            csrf: crate::web::session::csrf_token(session)?,
            flashes: crate::web::session::take_flashes(session),
            ..Layout::default()
        })
    }
}
