//! The console serves through a role that can neither tamper with the audit
//! log nor change the schema (src/db/roles.rs). Every statement here runs on
//! a connection made with the URL the apps under test serve with; that the
//! console works through that role is what the rest of the suite shows.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use team_console::db::roles;

use crate::resilience::Console;
use crate::support::database::{self, OWNER_ROLE, SERVING_ROLE};
use crate::support::{Server, TestApp, audit_actions};

/// What a refusal for want of privilege says (SQLSTATE 42501 either way).
fn is_refusal(message: &str) -> bool {
    message.contains("permission denied") || message.contains("must be owner")
}

#[actix_web::test]
async fn the_serving_role_cannot_change_remove_or_unprotect_audit_entries() {
    let app = TestApp::spawn().await;
    app.signed_up_user("Mallory").await;
    let mut conn = PgConnection::establish(&app.serving_url).unwrap();

    for statement in [
        "DELETE FROM audit_entries",
        "UPDATE audit_entries SET action = 'forged'",
        "TRUNCATE audit_entries",
        "SET session_replication_role = replica",
        "SELECT set_config('session_replication_role', 'replica', false)",
        "ALTER TABLE audit_entries DISABLE TRIGGER ALL",
        "ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_update_delete",
        "DROP TABLE audit_entries",
        "CREATE TABLE x (id integer)",
        "CREATE TABLE public.x (id integer)",
        "CREATE SCHEMA x",
        "DELETE FROM audit_actors",
        "INSERT INTO audit_actors VALUES (gen_random_uuid(), gen_random_uuid())",
        "DELETE FROM __diesel_schema_migrations",
        "SET ROLE tc_test_owner",
    ] {
        let err = diesel::sql_query(statement)
            .execute(&mut conn)
            .expect_err(statement)
            .to_string();
        assert!(is_refusal(&err), "{statement}: {err}");
    }
    assert_eq!(audit_actions(&mut conn), ["user.signed_up"]);
}

#[derive(QueryableByName, Debug)]
struct RoleFacts {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Bool)]
    superuser: bool,
    #[diesel(sql_type = Bool)]
    creates_roles_or_databases: bool,
    #[diesel(sql_type = Bool)]
    replicates_or_bypasses_rls: bool,
    #[diesel(sql_type = Bool)]
    member_of_owner: bool,
    /// Tables, sequences, indexes, functions, types, schemas and databases.
    #[diesel(sql_type = BigInt)]
    owned: i64,
}

const ROLE_FACTS: &str = "\
    SELECT r.rolname::text AS name, r.rolsuper AS superuser, \
           r.rolcreaterole OR r.rolcreatedb AS creates_roles_or_databases, \
           r.rolreplication OR r.rolbypassrls AS replicates_or_bypasses_rls, \
           pg_has_role(r.oid, $1, 'MEMBER') AS member_of_owner, \
           (SELECT count(*) FROM pg_class WHERE relowner = r.oid) \
           + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid) \
           + (SELECT count(*) FROM pg_type WHERE typowner = r.oid) \
           + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid) \
           + (SELECT count(*) FROM pg_database WHERE datdba = r.oid) AS owned \
      FROM pg_roles r WHERE r.rolname = current_user";

#[track_caller]
fn assert_restricted(facts: &RoleFacts) {
    assert!(!facts.superuser, "{facts:?}");
    assert!(!facts.creates_roles_or_databases, "{facts:?}");
    assert!(!facts.replicates_or_bypasses_rls, "{facts:?}");
    assert!(
        !facts.member_of_owner,
        "cannot SET ROLE to the owner: {facts:?}"
    );
    assert_eq!(facts.owned, 0, "owns nothing: {facts:?}");
}

#[actix_web::test]
async fn the_serving_role_is_no_superuser_owns_nothing_and_cannot_act_as_the_owner() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::establish(&app.serving_url).unwrap();

    let facts = diesel::sql_query(ROLE_FACTS)
        .bind::<Text, _>(OWNER_ROLE)
        .get_result::<RoleFacts>(&mut conn)
        .unwrap();

    assert_eq!(facts.name, SERVING_ROLE);
    assert_restricted(&facts);
}

#[derive(QueryableByName, Debug, PartialEq)]
struct TablePrivileges {
    #[diesel(sql_type = Text)]
    table: String,
    /// SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER as
    /// "siudtrg", "-" where not held.
    #[diesel(sql_type = Text)]
    privileges: String,
}

/// The current user's privileges on every table of the public schema.
fn table_privileges(conn: &mut PgConnection) -> Vec<TablePrivileges> {
    diesel::sql_query(
        "SELECT relname::text AS table, \
                concat_ws('', \
                  CASE WHEN has_table_privilege(oid, 'SELECT') THEN 's' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'INSERT') THEN 'i' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'UPDATE') THEN 'u' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'DELETE') THEN 'd' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'TRUNCATE') THEN 't' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'REFERENCES') THEN 'r' ELSE '-' END, \
                  CASE WHEN has_table_privilege(oid, 'TRIGGER') THEN 'g' ELSE '-' END) \
                AS privileges \
           FROM pg_class \
          WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f') \
          ORDER BY relname",
    )
    .load(conn)
    .unwrap()
}

/// What the serving role should hold on `table`.
fn expected_privileges(table: &str) -> &'static str {
    match table {
        "audit_entries" => "si-----",
        "audit_actors" => "s------",
        "audit_chains" => "siu----",
        "__diesel_schema_migrations" => "-------",
        "backups" => "-------",
        _ => "siud---",
    }
}

#[actix_web::test]
async fn every_table_grants_the_serving_role_only_what_the_console_needs() {
    let app = TestApp::spawn().await;
    let mut conn = PgConnection::establish(&app.serving_url).unwrap();

    let tables = table_privileges(&mut conn);

    assert!(tables.len() >= 10, "{tables:?}");
    for table in tables {
        assert_eq!(
            table.privileges,
            expected_privileges(&table.table),
            "{}",
            table.table
        );
    }
}

/// A later migration's table gets the serving role's privileges, and a
/// privilege granted by hand in between is taken back.
#[actix_web::test]
async fn the_grants_are_rewritten_after_every_migration_run() {
    let server = Server::get();
    let db = server.create_database();
    let urls = server.urls(&db);
    let mut owner = PgConnection::establish(&urls.migration).unwrap();
    diesel::sql_query("CREATE TABLE later_table (id integer PRIMARY KEY)")
        .execute(&mut owner)
        .unwrap();
    diesel::sql_query(format!(
        "GRANT UPDATE, DELETE, TRUNCATE ON audit_entries TO {SERVING_ROLE}"
    ))
    .execute(&mut owner)
    .unwrap();

    team_console::db::migrate(&mut owner).unwrap();
    roles::grant_to_serving_role(&mut owner, &urls.serving).unwrap();

    let mut conn = PgConnection::establish(&urls.serving).unwrap();
    let tables = table_privileges(&mut conn);
    let privileges_of = |name: &str| {
        tables
            .iter()
            .find(|t| t.table == name)
            .map(|t| t.privileges.as_str())
    };
    assert_eq!(privileges_of("later_table"), Some("siud---"));
    assert_eq!(privileges_of("audit_entries"), Some("si-----"));
    drop((owner, conn));
    server.drop_database(&db);
}

/// Consoles before the role split created the local database and every
/// object as the superuser; the next start hands them to the owner role.
/// (An extension's functions, pg_trgm's, stay its creator's: they are
/// not the console's objects, and everyone may call them.)
#[actix_web::test]
async fn a_database_migrated_by_the_superuser_is_handed_over_to_the_owner() {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let server = Server::get();
    let db = format!("tc_old_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::establish(&server.url("postgres")).unwrap();
    diesel::sql_query(format!("CREATE DATABASE {db}"))
        .execute(&mut admin)
        .unwrap();
    let mut superuser = PgConnection::establish(&server.url(&db)).unwrap();
    team_console::db::migrate(&mut superuser).unwrap();

    roles::hand_over_database(&mut superuser, OWNER_ROLE).unwrap();
    database::migrate(&server.urls(&db));

    let not_the_owners = diesel::sql_query(
        "SELECT (SELECT count(*) FROM pg_class \
                  WHERE relnamespace = 'public'::regnamespace AND relowner <> $1::regrole) \
              + (SELECT count(*) FROM pg_proc \
                  WHERE pronamespace = 'public'::regnamespace AND proowner <> $1::regrole \
                    AND NOT EXISTS (SELECT 1 FROM pg_depend \
                                     WHERE objid = pg_proc.oid AND deptype = 'e')) \
              + (SELECT count(*) FROM pg_database \
                  WHERE datname = current_database() AND datdba <> $1::regrole) AS n",
    )
    .bind::<Text, _>(OWNER_ROLE)
    .get_result::<Count>(&mut superuser)
    .unwrap();
    assert_eq!(not_the_owners.n, 0);
    // The serving role appends to the log; the trigger keeping audit_actors
    // runs as the owner.
    let mut serving = PgConnection::establish(&server.urls(&db).serving).unwrap();
    diesel::sql_query(
        "INSERT INTO audit_entries (account_id, actor_id, action, resource_type) \
         VALUES (gen_random_uuid(), gen_random_uuid(), 'test.done', 'test')",
    )
    .execute(&mut serving)
    .unwrap();
    let actors = diesel::sql_query("SELECT count(*) AS n FROM audit_actors")
        .get_result::<Count>(&mut serving)
        .unwrap();
    assert_eq!(actors.n, 1);
    drop((superuser, serving));
    server.drop_database(&db);
}

/// `cargo run` without DATABASE_URL: the real binary creates the roles in
/// its own cluster and serves through the restricted one.
#[actix_web::test]
async fn the_console_serves_its_local_cluster_through_the_restricted_role() {
    #[derive(QueryableByName)]
    struct User {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let data_dir = crate::support::ScratchDir::new("roles");
    let mut console = Console::start(&data_dir, &[]);
    let socket_dir = data_dir.join("postgres/run");
    let url = |user: &str| {
        format!(
            "postgres://{user}@/team_console?host={}&port=5432",
            socket_dir.display()
        )
    };

    let mut admin = PgConnection::establish(&url("postgres")).unwrap();
    let users = diesel::sql_query(
        "SELECT DISTINCT usename::text AS name FROM pg_stat_activity \
          WHERE datname = 'team_console' AND pid <> pg_backend_pid()",
    )
    .load::<User>(&mut admin)
    .unwrap();
    let users: Vec<String> = users.into_iter().map(|u| u.name).collect();
    assert_eq!(users, [roles::LOCAL_SERVING], "the console's connections");
    let mut serving = PgConnection::establish(&url(roles::LOCAL_SERVING)).unwrap();
    let facts = diesel::sql_query(ROLE_FACTS)
        .bind::<Text, _>(roles::LOCAL_OWNER)
        .get_result::<RoleFacts>(&mut serving)
        .unwrap();
    assert_restricted(&facts);
    let err = diesel::sql_query("DELETE FROM audit_entries")
        .execute(&mut serving)
        .unwrap_err()
        .to_string();
    assert!(is_refusal(&err), "{err}");
    for (table, privileges) in table_privileges(&mut serving)
        .into_iter()
        .map(|t| (t.table, t.privileges))
    {
        assert_eq!(privileges, expected_privileges(&table), "{table}");
    }

    drop((admin, serving));
    console.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(console.wait_exit().success());
}
