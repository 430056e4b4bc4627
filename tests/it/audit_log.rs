use diesel::prelude::*;

use crate::support::{PASSWORD, TestApp, audit_actions};

#[actix_web::test]
async fn sign_up_sign_in_failure_and_sign_out_are_audited() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Audited").await;
    user.browser.post_form("/sign-out", &[]).await;
    user.browser
        .sign_in(&user.email, "wrong password for sure")
        .await;
    user.browser.sign_in(&user.email, PASSWORD).await;

    let actions = audit_actions(&mut app.conn());
    assert_eq!(
        actions,
        [
            "user.signed_up",
            "user.signed_out",
            "user.sign_in_failed",
            "user.signed_in"
        ]
    );

    use team_console::db::schema::audit_entries as a;
    let (actor_id, email, ip, agent): (
        Option<uuid::Uuid>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = a::table
        .filter(a::action.eq("user.signed_up"))
        .select((a::actor_id, a::actor_email, a::ip, a::user_agent))
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(actor_id, Some(user.user_id));
    assert_eq!(email.as_deref(), Some(user.email.as_str()));
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert!(agent.is_none() || !agent.unwrap().is_empty());
}

#[actix_web::test]
async fn the_database_refuses_to_change_or_remove_audit_entries() {
    let app = TestApp::spawn().await;
    app.signed_up_user("Immutable").await;
    let mut conn = app.conn();

    for statement in [
        "UPDATE audit_entries SET action = 'forged'",
        "DELETE FROM audit_entries",
        "TRUNCATE audit_entries",
    ] {
        let err = diesel::sql_query(statement).execute(&mut conn).unwrap_err();
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    assert_eq!(audit_actions(&mut conn), ["user.signed_up"]);
}
