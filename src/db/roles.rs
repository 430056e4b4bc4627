//! Who migrates and who serves.
//!
//! The console applies its migrations as the role that owns its tables and
//! serves through another role that owns nothing and holds only the
//! privileges the pages use. Whatever is made to run on a serving
//! connection then cannot change the schema, disable the audit log's
//! triggers (only the owner can), set `session_replication_role` (only a
//! superuser can), or update, delete or truncate audit entries (not
//! granted). The grants are applied again after every migration run, so
//! tables added by later migrations are covered and any drift is undone
//! (docs/decisions.md).

use anyhow::Context;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::local_cluster::LocalCluster;
use super::quote_ident;

/// In the local cluster: owns the console's database and tables, runs the migrations.
pub const LOCAL_OWNER: &str = "team_console_owner";
/// In the local cluster: the role the console serves through.
pub const LOCAL_SERVING: &str = "team_console_app";

/// The schema the migrations create everything in (also pinned in the
/// search_path of the SECURITY DEFINER trigger function of migration 6).
const SCHEMA: &str = "public";

/// What the serving role may do to tables that need less than
/// [`DEFAULT_TABLE_PRIVILEGES`]; an empty list grants nothing.
const TABLE_PRIVILEGES: &[(&str, &str)] = &[
    // The audit log is append-only: the console reads and adds entries, nothing else.
    ("audit_entries", "SELECT, INSERT"),
    // Derived from the log by a trigger that runs as the owner (migration 6):
    // the console only reads it, so it cannot hide someone from the user filter.
    ("audit_actors", "SELECT"),
    // The head of each audit chain moves on with every entry; never removed.
    ("audit_chains", "SELECT, INSERT, UPDATE"),
    // Diesel's record of applied migrations is the migrating role's business.
    ("__diesel_schema_migrations", ""),
    // Scheduled backups are taken and recorded as the owner (src/backup):
    // the serving role cannot make a missed backup look taken.
    ("backups", ""),
];

/// Every other table: the console reads and writes rows; never TRUNCATE,
/// REFERENCES or TRIGGER.
const DEFAULT_TABLE_PRIVILEGES: &str = "SELECT, INSERT, UPDATE, DELETE";

/// Taken for the transaction that rewrites the grants, so console processes
/// starting together queue instead of updating the same catalog rows at once
/// ("tuple concurrently updated"). Any constant unique to this use will do.
const GRANTS_LOCK: i64 = 0x7463_6772_616e_7473; // "tcgrants"

/// The two URLs of one database: what the console migrates with and what it
/// serves with.
#[derive(Debug, Clone)]
pub struct DatabaseUrls {
    /// A role that owns the tables (MIGRATION_DATABASE_URL).
    pub migration: String,
    /// A role that only uses them (DATABASE_URL).
    pub serving: String,
}

/// Prepares database `name` in the local cluster and returns its URLs.
///
/// As the cluster's superuser: creates both roles (the socket trusts local
/// connections, so they have no password) and the database if missing, and
/// hands an existing database and its objects to the owner role, since
/// consoles before the role split created everything as `postgres`.
pub fn local_database(cluster: &LocalCluster, name: &str) -> anyhow::Result<DatabaseUrls> {
    let admin_url = cluster.database_url("postgres");
    let mut admin = PgConnection::establish(&admin_url)?;
    ensure_login_role(&mut admin, LOCAL_OWNER, None)?;
    ensure_login_role(&mut admin, LOCAL_SERVING, None)?;
    drop(admin);
    super::ensure_database(&admin_url, name)?;
    let mut conn = PgConnection::establish(&cluster.database_url(name))?;
    hand_over_database(&mut conn, LOCAL_OWNER)?;
    Ok(DatabaseUrls {
        migration: cluster.database_url_as(LOCAL_OWNER, name),
        serving: cluster.database_url_as(LOCAL_SERVING, name),
    })
}

/// Creates login role `name` unless it exists and (re)sets its attributes:
/// neither superuser nor able to create roles or databases, replicate or
/// bypass row security. Needs a superuser connection.
pub fn ensure_login_role(
    admin: &mut PgConnection,
    name: &str,
    password: Option<&str>,
) -> anyhow::Result<()> {
    let role = quote_ident(name);
    // Two starts racing to create the role: the loser finds it made.
    diesel::sql_query(format!(
        "DO $do$ BEGIN CREATE ROLE {role}; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $do$"
    ))
    .execute(admin)
    .with_context(|| format!("creating role {name}"))?;
    let password = match password {
        Some(p) => format!(" PASSWORD {}", quote_literal(p)),
        None => String::new(),
    };
    diesel::sql_query(format!(
        "ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
         NOREPLICATION NOBYPASSRLS{password}"
    ))
    .execute(admin)
    .with_context(|| format!("setting the attributes of role {name}"))?;
    Ok(())
}

/// Makes `owner` the owner of the connected database and of every table,
/// free-standing sequence and function in its schema (identity sequences
/// and indexes follow their table; extensions keep theirs). Needs a
/// superuser connection.
pub fn hand_over_database(conn: &mut PgConnection, owner: &str) -> anyhow::Result<()> {
    #[derive(QueryableByName)]
    struct Statement {
        #[diesel(sql_type = Text)]
        sql: String,
    }
    conn.transaction(|conn| {
        let statements = diesel::sql_query(
            "SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), $1) AS sql \
             UNION ALL \
             SELECT format('ALTER TABLE %s OWNER TO %I', c.oid::regclass, $1) \
               FROM pg_class c \
              WHERE c.relnamespace = $2::regnamespace AND c.relkind IN ('r', 'p') \
                AND c.relowner <> $1::regrole \
                AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                                   AND d.deptype = 'e') \
             UNION ALL \
             SELECT format('ALTER SEQUENCE %s OWNER TO %I', c.oid::regclass, $1) \
               FROM pg_class c \
              WHERE c.relnamespace = $2::regnamespace AND c.relkind = 'S' \
                AND c.relowner <> $1::regrole \
                AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                                   AND d.deptype IN ('a', 'i', 'e')) \
             UNION ALL \
             SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, $1) \
               FROM pg_proc p \
              WHERE p.pronamespace = $2::regnamespace AND p.proowner <> $1::regrole \
                AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                                 WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid \
                                   AND d.deptype = 'e')",
        )
        .bind::<Text, _>(owner)
        .bind::<Text, _>(SCHEMA)
        .load::<Statement>(conn)?;
        for statement in statements {
            diesel::sql_query(&statement.sql).execute(conn)?;
        }
        Ok::<_, diesel::result::Error>(())
    })
    .with_context(|| format!("handing the database over to role {owner}"))
}

/// Who a connection logs in as.
#[derive(QueryableByName, Debug)]
struct Role {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
}

const CURRENT_ROLE: &str = "SELECT rolname::text AS name, rolsuper AS superuser \
                            FROM pg_roles WHERE rolname = current_user";

/// Grants the role that `serving_url` logs in as exactly what the console
/// needs, through `conn`, a connection of the role that owns the tables
/// (called right after [`super::migrate`]).
///
/// Warns instead when the serving role is the owner (a single
/// DATABASE_URL: nothing to grant, nothing restricted), and when it is a
/// superuser or may act as the owner: then the restriction is void.
pub fn grant_to_serving_role(conn: &mut PgConnection, serving_url: &str) -> anyhow::Result<()> {
    let owner = diesel::sql_query(CURRENT_ROLE)
        .get_result::<Role>(conn)
        .context("reading the migrating role")?;
    let serving = {
        let mut serving_conn = PgConnection::establish(serving_url)
            .context("connecting with DATABASE_URL to learn the serving role")?;
        diesel::sql_query(CURRENT_ROLE)
            .get_result::<Role>(&mut serving_conn)
            .context("reading the serving role")?
    };
    if serving.name == owner.name {
        tracing::warn!(
            role = %serving.name,
            "serving as the role that owns the tables: it could alter or empty the audit log; \
             set MIGRATION_DATABASE_URL to an owner role and DATABASE_URL to a role without \
             ownership (README, Your own PostgreSQL server)"
        );
        return Ok(());
    }
    grant(conn, &serving.name)
        .with_context(|| format!("granting the serving role {} its privileges", serving.name))?;
    #[derive(QueryableByName)]
    struct Member {
        #[diesel(sql_type = Bool)]
        member: bool,
    }
    let member = diesel::sql_query("SELECT pg_has_role($1, $2, 'MEMBER') AS member")
        .bind::<Text, _>(&serving.name)
        .bind::<Text, _>(&owner.name)
        .get_result::<Member>(conn)?
        .member;
    if serving.superuser || member {
        tracing::warn!(
            role = %serving.name,
            owner = %owner.name,
            "the serving role is a superuser or a member of the owner role, so its grants \
             restrict nothing: it could alter or empty the audit log"
        );
    }
    tracing::info!(role = %serving.name, owner = %owner.name, "serving role granted its privileges");
    Ok(())
}

/// Rewrites the serving role's privileges on the schema, each of its tables
/// and its sequences: first revoked, then granted, in one transaction.
fn grant(conn: &mut PgConnection, serving: &str) -> QueryResult<()> {
    #[derive(QueryableByName)]
    struct Table {
        #[diesel(sql_type = Text)]
        name: String,
    }
    conn.transaction(|conn| {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({GRANTS_LOCK})")).execute(conn)?;
        let role = quote_ident(serving);
        let schema = quote_ident(SCHEMA);
        let tables = diesel::sql_query(
            "SELECT relname::text AS name FROM pg_class \
              WHERE relnamespace = $1::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f') \
              ORDER BY relname",
        )
        .bind::<Text, _>(SCHEMA)
        .load::<Table>(conn)?;
        let mut sql = format!(
            "GRANT USAGE ON SCHEMA {schema} TO {role};\n\
             REVOKE CREATE ON SCHEMA {schema} FROM {role};\n"
        );
        for table in tables {
            let privileges = TABLE_PRIVILEGES
                .iter()
                .find(|(name, _)| *name == table.name)
                .map_or(DEFAULT_TABLE_PRIVILEGES, |(_, privileges)| privileges);
            let table = format!("{schema}.{}", quote_ident(&table.name));
            sql.push_str(&format!("REVOKE ALL ON TABLE {table} FROM {role};\n"));
            if !privileges.is_empty() {
                sql.push_str(&format!("GRANT {privileges} ON TABLE {table} TO {role};\n"));
            }
        }
        sql.push_str(&format!(
            "REVOKE ALL ON ALL SEQUENCES IN SCHEMA {schema} FROM {role};\n\
             GRANT USAGE ON ALL SEQUENCES IN SCHEMA {schema} TO {role};\n"
        ));
        use diesel::connection::SimpleConnection;
        conn.batch_execute(&sql)
    })
}

/// Quotes an SQL string literal (ALTER ROLE cannot take a bound password).
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
