//! Restoring a backup into an empty database.
//!
//! In order: the archive's schema must be one this console knows (a backup
//! from a newer console is refused before anything is touched); the target
//! must hold no rows, unless forced; the console's objects in its `public`
//! schema are dropped (a database the console only migrated has its empty
//! tables); pg_restore recreates everything in one transaction as the
//! target's owner role; pending migrations run (a backup older than the
//! console is migrated forward); and the serving role gets its grants, as
//! after any migration run. Ownership and grants are the target's, never
//! the archive's: the roles of the machine that took it may not exist here.

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use super::{BackupError, PgTools};
use crate::db::{self, roles, roles::DatabaseUrls};

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    /// The schema version the backup held.
    pub from_version: String,
    /// The schema version the database has now (this console's).
    pub to_version: String,
    /// Other sessions were connected to the target while it was replaced.
    pub other_connections: i64,
}

/// Restores `archive` into the database of `urls` (see the module's doc).
/// `force` replaces a database that holds rows.
pub fn restore(
    tools: &PgTools,
    archive: &std::path::Path,
    urls: &DatabaseUrls,
    force: bool,
) -> Result<Restored, BackupError> {
    let versions = tools.schema_versions(archive)?;
    let known = db::known_migrations();
    let console = known.last().cloned().unwrap_or_default();
    let from_version = versions.last().cloned().unwrap_or_default();
    if let Some(unknown) = versions.iter().rfind(|v| !known.contains(v)) {
        return Err(BackupError::NewerThanConsole {
            backup: unknown.clone(),
            console,
        });
    }

    let mut conn = PgConnection::establish(&urls.migration)?;
    let filled = tables_with_rows(&mut conn)?;
    if !filled.is_empty() && !force {
        return Err(BackupError::NotEmpty {
            tables: filled.join(", "),
        });
    }
    let other_connections = other_connections(&mut conn)?;
    if other_connections > 0 {
        tracing::warn!(
            other_connections,
            "other sessions are connected to the database being restored: stop the consoles using it"
        );
    }
    if !filled.is_empty() {
        tracing::warn!(tables = %filled.join(", "), "--force: replacing a database that holds rows");
    }
    drop_console_objects(&mut conn)?;
    drop(conn);

    tools.restore(archive, &urls.migration)?;

    let mut conn = PgConnection::establish(&urls.migration)?;
    db::migrate(&mut conn)?;
    roles::grant_to_serving_role(&mut conn, &urls.serving)?;
    Ok(Restored {
        from_version,
        to_version: console,
        other_connections,
    })
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

/// Tables of any schema but PostgreSQL's own that hold a row (diesel's
/// record of migrations aside: a migrated, unused database is empty). A
/// table the connection may not read counts as holding rows.
fn tables_with_rows(conn: &mut PgConnection) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Filled {
        #[diesel(sql_type = Bool)]
        filled: bool,
    }
    let tables = diesel::sql_query(
        "SELECT format('%I.%I', n.nspname, c.relname) AS name \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition \
            AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
            AND NOT (n.nspname = 'public' AND c.relname = '__diesel_schema_migrations') \
          ORDER BY 1",
    )
    .load::<Name>(conn)?;
    let mut filled = Vec::new();
    for table in tables {
        let has_rows = diesel::sql_query(format!(
            "SELECT EXISTS (SELECT 1 FROM {}) AS filled",
            table.name
        ))
        .get_result::<Filled>(conn)
        .map_or(true, |f| f.filled);
        if has_rows {
            filled.push(table.name);
        }
    }
    Ok(filled)
}

fn other_connections(conn: &mut PgConnection) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query(
        "SELECT count(*) AS n FROM pg_stat_activity \
          WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .get_result::<Count>(conn)?
    .n)
}

/// Drops, in one transaction, every table, view, sequence, routine and
/// type of the `public` schema (what a restore recreates), extensions'
/// members aside (a column's own sequence goes with its table). Other schemas are left alone. Fails if the connected
/// role does not own them.
fn drop_console_objects(conn: &mut PgConnection) -> QueryResult<()> {
    const NOT_AN_EXTENSION_MEMBER: &str = "NOT EXISTS (SELECT 1 FROM pg_depend d \
         WHERE d.objid = o.oid AND d.deptype = 'e')";
    let statements = format!(
        "SELECT format('DROP %s IF EXISTS %s CASCADE', \
                       CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
                            WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, \
                       o.oid::regclass) AS name \
           FROM pg_class o \
          WHERE o.relnamespace = 'public'::regnamespace \
            AND o.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') AND NOT o.relispartition \
            AND {NOT_AN_EXTENSION_MEMBER} \
            AND NOT EXISTS (SELECT 1 FROM pg_depend d \
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = o.oid \
                               AND d.deptype IN ('a', 'i')) \
         UNION ALL \
         SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', o.oid::regprocedure) \
           FROM pg_proc o \
          WHERE o.pronamespace = 'public'::regnamespace AND {NOT_AN_EXTENSION_MEMBER} \
         UNION ALL \
         SELECT format('DROP TYPE IF EXISTS %s CASCADE', o.oid::regtype) \
           FROM pg_type o \
          WHERE o.typnamespace = 'public'::regnamespace AND o.typtype IN ('e', 'd', 'r') \
            AND {NOT_AN_EXTENSION_MEMBER}"
    );
    conn.transaction(|conn| {
        for statement in diesel::sql_query(statements).load::<Name>(conn)? {
            diesel::sql_query(&statement.name).execute(conn)?;
        }
        Ok(())
    })
}
