//! Everything the dashboard and Spend controls show of an account's spend,
//! in one round trip: this month's charged usage by member, the running
//! Pods (with their starters' names), the budget, the limits, the quotas
//! and this month's alerts, gathered by PostgreSQL into one JSON document.
//! The dashboard is every member's landing page, and issue 7 holds signed-in
//! pages to three statements a request; ten small queries would each be
//! a round trip. The statement is a constant text with bound values, so it
//! is prepared once per connection like the query builder's.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::authz::Role;
use crate::ids::{AccountId, PodId, UserId};
use crate::spend::alerts::Alert;
use crate::spend::limits::Limits;
use crate::spend::month::Month;
use crate::spend::quotas::Quotas;
use crate::spend::usage::{AccountUsage, RunningPod, Totals};

/// What the spend pages and the dashboard show of an account, as of `now`.
pub struct Overview {
    pub month: Month,
    pub usage: AccountUsage,
    pub limits: Limits,
    pub quotas: Quotas,
    pub alerts: Vec<Alert>,
    /// The names of the running Pods' starters.
    pub starters: HashMap<UserId, String>,
}

/// The statement, in parts between the bound values: the account id
/// (`A`) and the month's first day (`M`).
const PARTS: &[(&str, Bind)] = &[
    (
        "SELECT json_build_object(\
         'charged', (SELECT coalesce(json_agg(json_build_object(\
             'user_id', c.user_id, 'cents', c.cents, 'gpu_seconds', c.gpu_seconds)), '[]') \
           FROM (SELECT user_id, sum(cost_cents)::int8 AS cents, sum(gpu_seconds)::int8 AS gpu_seconds \
                   FROM monthly_usage WHERE month = ",
        Bind::Month,
    ),
    (" AND account_id = ", Bind::Account),
    (
        " GROUP BY user_id) c), \
         'running', (SELECT coalesce(json_agg(json_build_object(\
             'id', p.id, 'name', p.name, 'gpu_type', p.gpu_type, 'gpu_count', p.gpu_count, \
             'hourly_price_cents', p.hourly_price_cents, \
             'started_at', (extract(epoch FROM p.started_at) * 1000000)::int8, \
             'started_by', p.started_by, 'started_by_name', u.display_name) \
             ORDER BY p.started_at, p.id), '[]') \
           FROM pods p LEFT JOIN users u ON u.id = p.started_by \
          WHERE p.status = 'running' AND p.account_id = ",
        Bind::Account,
    ),
    (
        "), 'budget', (SELECT monthly_cents FROM team_budgets WHERE account_id = ",
        Bind::Account,
    ),
    (
        "), 'role_limits', (SELECT coalesce(json_agg(json_build_object(\
             'role', role, 'cents', monthly_cents)), '[]') \
           FROM role_spend_limits WHERE account_id = ",
        Bind::Account,
    ),
    (
        "), 'member_limits', (SELECT coalesce(json_agg(json_build_object(\
             'user_id', user_id, 'cents', monthly_cents)), '[]') \
           FROM member_spend_limits WHERE account_id = ",
        Bind::Account,
    ),
    (
        "), 'role_quotas', (SELECT coalesce(json_agg(json_build_object(\
             'role', role, 'gpu_type', gpu_type, 'max_gpus', max_gpus)), '[]') \
           FROM role_gpu_quotas WHERE account_id = ",
        Bind::Account,
    ),
    (
        "), 'member_quotas', (SELECT coalesce(json_agg(json_build_object(\
             'user_id', user_id, 'gpu_type', gpu_type, 'max_gpus', max_gpus)), '[]') \
           FROM member_gpu_quotas WHERE account_id = ",
        Bind::Account,
    ),
    (
        "), 'alerts', (SELECT coalesce(json_agg(json_build_object(\
             'user_id', a.user_id, 'name', u.display_name, 'threshold', a.threshold, \
             'used_cents', a.used_cents, 'limit_cents', a.limit_cents) \
             ORDER BY a.user_id NULLS FIRST, a.threshold DESC), '[]') \
           FROM spend_alerts a LEFT JOIN users u ON u.id = a.user_id \
          WHERE a.month = ",
        Bind::Month,
    ),
    (" AND a.account_id = ", Bind::Account),
    ("))::text", Bind::None),
];

#[derive(Clone, Copy)]
enum Bind {
    Account,
    Month,
    None,
}

struct OverviewQuery {
    account_id: AccountId,
    month: time::Date,
}

impl QueryFragment<Pg> for OverviewQuery {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        for (sql, bind) in PARTS {
            out.push_sql(sql);
            match bind {
                Bind::Account => out.push_bind_param::<sql_types::Uuid, _>(&self.account_id)?,
                Bind::Month => out.push_bind_param::<sql_types::Date, _>(&self.month)?,
                Bind::None => {}
            }
        }
        Ok(())
    }
}

/// A constant text: prepared once per connection and cached.
impl QueryId for OverviewQuery {
    type QueryId = OverviewQuery;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl Query for OverviewQuery {
    type SqlType = sql_types::Text;
}

impl RunQueryDsl<PgConnection> for OverviewQuery {}

#[derive(Deserialize)]
struct Document {
    charged: Vec<Charged>,
    running: Vec<Running>,
    budget: Option<i64>,
    role_limits: Vec<RoleLimit>,
    member_limits: Vec<MemberLimit>,
    role_quotas: Vec<RoleQuota>,
    member_quotas: Vec<MemberQuota>,
    alerts: Vec<AlertRow>,
}

#[derive(Deserialize)]
struct Charged {
    user_id: Option<UserId>,
    cents: i64,
    gpu_seconds: i64,
}

#[derive(Deserialize)]
struct Running {
    id: PodId,
    name: String,
    gpu_type: String,
    gpu_count: i32,
    hourly_price_cents: i64,
    /// Unix microseconds.
    started_at: Option<i64>,
    started_by: Option<UserId>,
    started_by_name: Option<String>,
}

#[derive(Deserialize)]
struct RoleLimit {
    role: Role,
    cents: i64,
}

#[derive(Deserialize)]
struct MemberLimit {
    user_id: UserId,
    cents: i64,
}

#[derive(Deserialize)]
struct RoleQuota {
    role: Role,
    gpu_type: String,
    max_gpus: i32,
}

#[derive(Deserialize)]
struct MemberQuota {
    user_id: UserId,
    gpu_type: String,
    max_gpus: i32,
}

#[derive(Deserialize)]
struct AlertRow {
    user_id: Option<UserId>,
    name: Option<String>,
    threshold: i32,
    used_cents: i64,
    limit_cents: i64,
}

fn from_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

/// The account's spend as of `now`, in one statement.
pub fn overview(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: OffsetDateTime,
) -> QueryResult<Overview> {
    let month = Month::of(now);
    let json: String = OverviewQuery {
        account_id,
        month: month.first_day(),
    }
    .get_result(conn)?;
    let doc: Document = serde_json::from_str(&json)
        .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;

    let mut starters = HashMap::new();
    let running = doc
        .running
        .into_iter()
        .map(|p| {
            if let (Some(user), Some(name)) = (p.started_by, p.started_by_name) {
                starters.insert(user, name);
            }
            RunningPod {
                id: p.id,
                account_id,
                name: p.name,
                gpu_type: p.gpu_type,
                gpu_count: p.gpu_count,
                hourly_price_cents: p.hourly_price_cents,
                started_at: p.started_at.and_then(from_micros),
                started_by: p.started_by,
            }
        })
        .collect();
    let charged = doc
        .charged
        .into_iter()
        .map(|c| {
            let totals = Totals {
                cents: c.cents,
                gpu_seconds: c.gpu_seconds,
            };
            (c.user_id, totals)
        })
        .collect();
    let limits = Limits {
        budget_cents: doc.budget,
        roles: doc
            .role_limits
            .into_iter()
            .map(|l| (l.role, l.cents))
            .collect(),
        members: doc
            .member_limits
            .into_iter()
            .map(|l| (l.user_id, l.cents))
            .collect(),
    };
    let quotas = Quotas {
        roles: doc
            .role_quotas
            .into_iter()
            .map(|q| ((q.role, q.gpu_type), q.max_gpus))
            .collect(),
        members: doc
            .member_quotas
            .into_iter()
            .map(|q| ((q.user_id, q.gpu_type), q.max_gpus))
            .collect(),
    };
    // The highest alert of each limit.
    let mut alerts: Vec<Alert> = Vec::new();
    for a in doc.alerts {
        if alerts.last().is_some_and(|last| last.member == a.user_id) {
            continue;
        }
        alerts.push(Alert {
            member: a.user_id,
            name: a.name,
            threshold: a.threshold,
            used_cents: a.used_cents,
            limit_cents: a.limit_cents,
        });
    }
    Ok(Overview {
        month,
        usage: AccountUsage {
            month,
            now,
            charged,
            running,
        },
        limits,
        quotas,
        alerts,
        starters,
    })
}
