//! GET /accounts/{id}/pods/{pod_id}/connect: how to reach a Pod (Basic,
//! Dev, Admin). Addresses derive from the Pod's id under a fixed domain,
//! since no machine exists (see docs/decisions.md).

use actix_web::{HttpResponse, web};
use askama::Template;

use crate::authz::can;
use crate::ids::AccountId;
use crate::pods::pages::PodPath;
use crate::pods::{self, Pod};
use crate::web::auth::Visit;
use crate::web::error::AppResult;
use crate::web::layout::Layout;
use crate::web::{self as w};

/// Domain under which Pods would be reachable.
pub const POD_DOMAIN: &str = "pods.example";

#[derive(Template)]
#[template(path = "pods/connect.html")]
struct ConnectPage {
    layout: Layout,
    account_id: AccountId,
    pod: Pod,
    gpus: String,
    ssh_command: String,
    http_address: String,
}

pub fn ssh_command(pod: &Pod) -> String {
    format!("ssh root@{}.ssh.{POD_DOMAIN}", pod.short_id())
}

pub fn http_address(pod: &Pod) -> String {
    format!("https://{}.http.{POD_DOMAIN}", pod.short_id())
}

pub async fn show(visit: Visit<can::UsePods>, path: web::Path<PodPath>) -> AppResult<HttpResponse> {
    let pod_id = path.pod_id;
    let (member, pod) = visit
        .db(move |conn, access| pods::find_pod(conn, access.account_id(), pod_id))
        .await?;
    let account_id = member.account_id();
    w::page(&ConnectPage {
        layout: member.layout()?.section("pods"),
        account_id,
        gpus: pod.gpus(),
        ssh_command: ssh_command(&pod),
        http_address: http_address(&pod),
        pod,
    })
}
