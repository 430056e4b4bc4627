//! Every route of the console, in one list the router is built from. The
//! role-matrix test walks the same list, so a new route cannot be left out
//! of it.

use actix_web::{Route, web};

use crate::{accounts, audit, billing, health, invites, members, pods};

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
}

routes! {
    get "/" => accounts::dashboard::home,
    get "/sign-up" => accounts::sign_up::form,
    post "/sign-up" => accounts::sign_up::submit,
    get "/sign-in" => accounts::sign_in::form,
    post "/sign-in" => accounts::sign_in::submit,
    post "/sign-out" => accounts::sign_out::submit,
    get "/accounts/{account_id}" => accounts::dashboard::show,
    get "/accounts/{account_id}/convert" => accounts::convert::form,
    post "/accounts/{account_id}/convert" => accounts::convert::submit,
    get "/accounts/{account_id}/settings" => accounts::settings::show,
    post "/accounts/{account_id}/settings" => accounts::settings::rename,
    get "/accounts/{account_id}/members" => members::list::show,
    post "/accounts/{account_id}/members/{user_id}/role" => members::change_role::submit,
    get "/accounts/{account_id}/members/{user_id}/remove" => members::remove::confirm,
    post "/accounts/{account_id}/members/{user_id}/remove" => members::remove::submit,
    get "/accounts/{account_id}/leave" => members::leave::confirm,
    post "/accounts/{account_id}/leave" => members::leave::submit,
    get "/accounts/{account_id}/invites/new" => invites::new::form,
    post "/accounts/{account_id}/invites" => invites::new::create,
    post "/accounts/{account_id}/invites/{invite_id}/regenerate" => invites::manage::regenerate,
    get "/accounts/{account_id}/invites/{invite_id}/revoke" => invites::manage::confirm_revoke,
    post "/accounts/{account_id}/invites/{invite_id}/revoke" => invites::manage::revoke,
    get "/accounts/{account_id}/audit" => audit::page::show,
    get "/accounts/{account_id}/audit.csv" => audit::export::download,
    get "/invites/{token}" => invites::landing::open_link,
    get "/invite" => invites::landing::show,
    post "/invite/accept" => invites::landing::join,
    get "/accounts/{account_id}/pods" => pods::list::show,
    post "/accounts/{account_id}/pods" => pods::list::create,
    get "/accounts/{account_id}/pods/{pod_id}/connect" => pods::connect::show,
    post "/accounts/{account_id}/pods/{pod_id}/start" => pods::actions::start,
    post "/accounts/{account_id}/pods/{pod_id}/stop" => pods::actions::stop,
    get "/accounts/{account_id}/pods/{pod_id}/terminate" => pods::actions::confirm_terminate,
    post "/accounts/{account_id}/pods/{pod_id}/terminate" => pods::actions::terminate,
    get "/accounts/{account_id}/billing" => billing::page::show,
    post "/accounts/{account_id}/billing/funds" => billing::actions::add_funds,
    post "/accounts/{account_id}/billing/email" => billing::actions::change_email,
    get "/healthz" => health::healthz,
    get "/readyz" => health::readyz,
    get "/static/{file}" => crate::web::static_files::serve,
}

/// One resource per path, so a wrong method gets 405 rather than 404.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let defs = all();
    let mut paths: Vec<&str> = defs.iter().map(|d| d.path).collect();
    paths.sort_unstable();
    paths.dedup();
    for path in paths {
        let resource = defs
            .iter()
            .filter(|d| d.path == path)
            .fold(web::resource(path), |r, d| r.route((d.route)()));
        cfg.service(resource);
    }
}
