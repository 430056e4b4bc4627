//! Every route of the console, in one list the router is built from. The
//! role-matrix test walks the same list, so a new route cannot be left out
//! of it.

use actix_web::{Route, web};

use crate::{
    accounts, api, api_keys, audit, billing, health, invites, members, pods, spend, streaming,
};

pub struct RouteDef {
    pub method: &'static str,
    pub path: &'static str,
    route: fn() -> Route,
}

macro_rules! routes {
    ($( $method:ident $path:literal => $handler:path ),* $(,)?) => {
        /// The route table: method, path pattern, handler.
        pub fn all() -> Vec<RouteDef> {
            vec![$(RouteDef {
                method: routes!(@name $method),
                path: $path,
                route: || web::$method().to($handler),
            }),*]
        }
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
    (@name delete) => { "DELETE" };
}

routes! {
    get "/" => accounts::pages::dashboard::home,
    get "/sign-up" => accounts::pages::sign_up::form,
    post "/sign-up" => accounts::pages::sign_up::submit,
    get "/sign-in" => accounts::pages::sign_in::form,
    post "/sign-in" => accounts::pages::sign_in::submit,
    get "/sign-in/two-factor" => accounts::pages::sign_in_code::form,
    post "/sign-in/two-factor" => accounts::pages::sign_in_code::submit,
    post "/sign-out" => accounts::pages::sign_out::submit,
    get "/forgot-password" => accounts::pages::password_reset::forgot_form,
    post "/forgot-password" => accounts::pages::password_reset::forgot_submit,
    get "/reset-password/{token}" => accounts::pages::password_reset::show,
    post "/reset-password/{token}" => accounts::pages::password_reset::submit,
    get "/profile" => accounts::pages::profile::show,
    post "/profile/name" => accounts::pages::profile::rename,
    post "/profile/email" => accounts::pages::profile::change_email,
    post "/profile/password" => accounts::pages::profile::change_password,
    get "/profile/two-factor" => accounts::pages::two_factor::setup,
    post "/profile/two-factor" => accounts::pages::two_factor::confirm,
    post "/profile/two-factor/disable" => accounts::pages::two_factor::disable,
    post "/profile/recovery-codes" => accounts::pages::two_factor::regenerate_codes,
    post "/profile/sessions/{session_id}/end" => accounts::pages::profile::end_session,
    post "/profile/sessions/end-others" => accounts::pages::profile::end_other_sessions,
    get "/profile/export" => accounts::pages::export::download,
    get "/profile/delete" => accounts::pages::leaving::delete_user_form,
    post "/profile/delete" => accounts::pages::leaving::delete_user,
    get "/accounts/{account_id}" => accounts::pages::dashboard::show,
    get "/accounts/{account_id}/convert" => accounts::pages::convert::form,
    post "/accounts/{account_id}/convert" => accounts::pages::convert::submit,
    get "/accounts/{account_id}/settings" => accounts::pages::settings::show,
    post "/accounts/{account_id}/settings" => accounts::pages::settings::rename,
    post "/accounts/{account_id}/settings/two-factor" => accounts::pages::two_factor_rule::submit,
    get "/accounts/{account_id}/settings/api-keys" => api_keys::pages::keys::show,
    post "/accounts/{account_id}/settings/api-keys" => api_keys::pages::keys::create,
    post "/accounts/{account_id}/settings/api-keys/{key_id}/revoke" => api_keys::pages::keys::revoke,
    get "/accounts/{account_id}/settings/audit-streaming" => streaming::pages::destinations::show,
    post "/accounts/{account_id}/settings/audit-streaming" => streaming::pages::destinations::add,
    post "/accounts/{account_id}/settings/audit-streaming/{destination_id}/remove" => streaming::pages::destinations::remove,
    post "/accounts/{account_id}/settings/audit-streaming/{destination_id}/retry" => streaming::pages::destinations::retry,
    get "/accounts/{account_id}/delete" => accounts::pages::leaving::delete_team_form,
    post "/accounts/{account_id}/delete" => accounts::pages::leaving::delete_team,
    post "/accounts/{account_id}/revert" => accounts::pages::leaving::revert,
    get "/accounts/{account_id}/members" => members::pages::team::show,
    post "/accounts/{account_id}/members/{user_id}/role" => members::pages::change_role::submit,
    get "/accounts/{account_id}/members/{user_id}/remove" => members::pages::remove::confirm,
    post "/accounts/{account_id}/members/{user_id}/remove" => members::pages::remove::submit,
    get "/accounts/{account_id}/leave" => members::pages::leave::confirm,
    post "/accounts/{account_id}/leave" => members::pages::leave::submit,
    get "/accounts/{account_id}/invites/new" => members::pages::new_invite::form,
    post "/accounts/{account_id}/invites" => members::pages::new_invite::create,
    post "/accounts/{account_id}/invites/{invite_id}/regenerate" => members::pages::invites::regenerate,
    post "/accounts/{account_id}/invites/{invite_id}/resend" => members::pages::invites::resend,
    get "/accounts/{account_id}/invites/{invite_id}/revoke" => members::pages::invites::confirm_revoke,
    post "/accounts/{account_id}/invites/{invite_id}/revoke" => members::pages::invites::revoke,
    get "/accounts/{account_id}/audit" => audit::pages::page::show,
    get "/accounts/{account_id}/audit.csv" => audit::pages::export::download,
    get "/invites/{token}" => invites::pages::join::open_link,
    get "/invite" => invites::pages::join::show,
    post "/invite/accept" => invites::pages::join::join,
    get "/accounts/{account_id}/pods" => pods::pages::list::show,
    post "/accounts/{account_id}/pods" => pods::pages::list::create,
    get "/accounts/{account_id}/pods/{pod_id}/connect" => pods::pages::connect::show,
    post "/accounts/{account_id}/pods/{pod_id}/start" => pods::pages::actions::start,
    post "/accounts/{account_id}/pods/{pod_id}/stop" => pods::pages::actions::stop,
    get "/accounts/{account_id}/pods/{pod_id}/terminate" => pods::pages::actions::confirm_terminate,
    post "/accounts/{account_id}/pods/{pod_id}/terminate" => pods::pages::actions::terminate,
    get "/accounts/{account_id}/billing" => billing::pages::page::show,
    post "/accounts/{account_id}/billing/funds" => billing::pages::actions::add_funds,
    post "/accounts/{account_id}/billing/email" => billing::pages::actions::change_email,
    get "/accounts/{account_id}/billing/usage" => spend::pages::usage::show,
    get "/accounts/{account_id}/billing/spend" => spend::pages::controls::show,
    post "/accounts/{account_id}/billing/spend/budget" => spend::pages::forms::set_budget,
    post "/accounts/{account_id}/billing/spend/roles" => spend::pages::forms::set_role_limits,
    post "/accounts/{account_id}/billing/spend/members" => spend::pages::forms::set_member_limit,
    post "/accounts/{account_id}/billing/spend/quotas" => spend::pages::forms::set_role_quotas,
    post "/accounts/{account_id}/billing/spend/member-quotas" => spend::pages::forms::set_member_quotas,
    get "/api/v1/openapi.json" => api::openapi::document,
    get "/api/v1/accounts/{account_id}/audit" => api::audit::list,
    get "/api/v1/accounts/{account_id}/members" => api::members::list,
    post "/api/v1/accounts/{account_id}/invites" => api::invites::create,
    delete "/api/v1/accounts/{account_id}/invites/{invite_id}" => api::invites::revoke,
    get "/api/v1/accounts/{account_id}/pods" => api::pods::list,
    post "/api/v1/accounts/{account_id}/pods/{pod_id}/start" => api::pods::start,
    post "/api/v1/accounts/{account_id}/pods/{pod_id}/stop" => api::pods::stop,
    get "/api/v1/accounts/{account_id}/billing" => api::billing::show,
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/static/{file}" => crate::web::static_files::serve,
}

/// One resource per path, so a wrong method gets 405 rather than 404.
/// The prefixes most routes share, each routed as one scope: actix
/// matches a path with a parameter by regex, one route after another in
/// registration order, and with every account page a route of its own that
/// was a regex per route until the right one (the Pods page's was about
/// thirty, an eighth of the console's time serving it). A scope matches
/// its prefix once; inside, routes without parameters come first and are
/// plain string comparisons.
const SCOPES: &[&str] = &["/api/v1/accounts/{account_id}", "/accounts/{account_id}"];

pub fn configure(cfg: &mut web::ServiceConfig) {
    let defs = all();
    let mut paths: Vec<&str> = defs.iter().map(|d| d.path).collect();
    // Fixed paths before those with parameters, then by name.
    paths.sort_unstable_by_key(|path| (path.contains('{'), *path));
    paths.dedup();
    let resource = |path: &str, within: &str| {
        defs.iter()
            .filter(|d| d.path == path)
            .fold(web::resource(&path[within.len()..]), |r, d| {
                r.route((d.route)())
            })
    };
    let scoped = |path: &str| SCOPES.iter().find(|scope| path.starts_with(**scope));
    for path in paths.iter().filter(|path| scoped(path).is_none()) {
        cfg.service(resource(path, ""));
    }
    for scope in SCOPES {
        let mut inner: Vec<(&str, &str)> = paths
            .iter()
            .filter(|path| scoped(path) == Some(scope))
            .map(|path| (&path[scope.len()..], *path))
            .collect();
        // Fixed paths (within the scope) first.
        inner.sort_by_key(|(rest, _)| (rest.contains('{'), *rest));
        let service = inner.into_iter().fold(web::scope(scope), |s, (_, path)| {
            s.service(resource(path, scope))
        });
        cfg.service(service);
    }
}
