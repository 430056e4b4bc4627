use diesel::prelude::*;
use reqwest::StatusCode;
use team_console::authz::Role;

use crate::support::{TestApp, assert_redirect_to, assert_refused_to, audit_actions};

#[actix_web::test]
async fn a_new_user_converts_to_acme_gpu_and_is_its_admin() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Alice").await;
    let id = user.personal_account_id;

    // Step one: the name; step two: a confirmation saying what changes.
    let res = user
        .browser
        .post_form(
            &format!("/accounts/{id}/convert"),
            &[("name", "  Acme GPU ")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("you become its first <strong>Admin</strong>"));
    assert_eq!(app.role_of(id, user.user_id).as_deref(), Some("admin"));
    let kind: String = {
        use team_console::db::schema::accounts;
        accounts::table
            .find(id)
            .select(accounts::kind)
            .first(&mut app.conn())
            .unwrap()
    };
    assert_eq!(kind, "personal", "nothing changes before confirming");

    app.convert_to_team(&user, "  Acme GPU ").await;

    let (status, body) = user
        .browser
        .get_page(&format!("/accounts/{id}/members"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Acme GPU is now a team account"));
    assert!(body.contains("Alice"));
    assert!(
        body.contains("<span class=\"badge role-admin\">Admin</span>"),
        "{body}"
    );
    assert!(body.contains("The only Admin"), "{body}");
    let actions = audit_actions(&mut app.conn());
    assert_eq!(
        actions,
        ["user.signed_up", "account.converted"],
        "history kept, conversion added"
    );
}

#[actix_web::test]
async fn converting_twice_or_by_a_non_owner_is_refused() {
    let app = TestApp::spawn().await;
    let team = app.team().await;

    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/convert", team.id),
            &[("name", "Again"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("already a team account"));

    // A second Admin of someone's personal account does not exist by
    // design; an Admin who is not the owner cannot convert it either.
    let other = app.signed_up_user("Other").await;
    app.add_member(other.personal_account_id, team.dev.user_id, Role::Admin);
    let res = team
        .dev
        .browser
        .post_form(
            &format!("/accounts/{}/convert", other.personal_account_id),
            &[("name", "Hijack"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("Only the owner"));
}

#[actix_web::test]
async fn bad_team_names_are_refused_with_a_message() {
    let app = TestApp::spawn().await;
    let user = app.signed_up_user("Namer").await;
    let id = user.personal_account_id;
    let long = "x".repeat(65);
    for (name, message) in [
        ("   ", "Enter a team name"),
        (long.as_str(), "at most 64"),
        ("Bad\u{7}Name", "control characters"),
    ] {
        let res = user
            .browser
            .post_form(
                &format!("/accounts/{id}/convert"),
                &[("name", name), ("confirm", "yes")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{name:?}");
        assert!(res.text().await.unwrap().contains(message));
    }
}

#[actix_web::test]
async fn admin_changes_a_role_and_it_applies_on_the_next_request() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let billing_page = format!("/accounts/{}/settings", team.id);
    assert_eq!(
        team.basic.browser.get(&billing_page).await.status(),
        StatusCode::FORBIDDEN
    );

    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/role", team.id, team.basic.user_id),
            &[("role", "admin"), ("confirm", "yes")],
        )
        .await;
    assert_redirect_to(&res, &format!("/accounts/{}/members", team.id));

    let (_, body) = team
        .admin
        .browser
        .get_page(&format!("/accounts/{}/members", team.id))
        .await;
    assert!(body.contains("Bob Basic is now Admin (was Basic)."));
    assert_eq!(
        team.basic.browser.get(&billing_page).await.status(),
        StatusCode::OK
    );
    use team_console::db::schema::audit_entries as a;
    let details: serde_json::Value = a::table
        .filter(a::action.eq("member.role_changed"))
        .select(a::details)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(details["old_role"], "basic");
    assert_eq!(details["new_role"], "admin");
}

#[actix_web::test]
async fn an_unknown_role_is_a_400_with_a_message() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let res = team
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/role", team.id, team.dev.user_id),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Choose one of the roles")
    );
    assert_eq!(
        app.role_of(team.id, team.dev.user_id).as_deref(),
        Some("dev")
    );
}

#[actix_web::test]
async fn a_removed_member_loses_access_on_the_next_request() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let dashboard = format!("/accounts/{}", team.id);
    assert_eq!(
        team.dev.browser.get(&dashboard).await.status(),
        StatusCode::OK
    );

    let remove = format!("/accounts/{}/members/{}/remove", team.id, team.dev.user_id);
    let (status, body) = team.admin.browser.get_page(&remove).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Remove Dan Dev?"));
    let res = team.admin.browser.post_form(&remove, &[]).await;
    assert_redirect_to(&res, &format!("/accounts/{}/members", team.id));

    assert_eq!(
        team.dev.browser.get(&dashboard).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.role_of(team.id, team.dev.user_id), None);
    assert!(audit_actions(&mut app.conn()).contains(&"member.removed".to_string()));
}

#[actix_web::test]
async fn a_member_leaves_the_team() {
    let app = TestApp::spawn().await;
    let team = app.team().await;

    let res = team
        .billing
        .browser
        .post_form(&format!("/accounts/{}/leave", team.id), &[])
        .await;
    assert_redirect_to(&res, "/");

    assert_eq!(app.role_of(team.id, team.billing.user_id), None);
    assert_eq!(
        team.billing
            .browser
            .get(&format!("/accounts/{}", team.id))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(audit_actions(&mut app.conn()).contains(&"member.left".to_string()));
}

#[actix_web::test]
async fn the_last_admin_cannot_be_demoted_removed_or_leave() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let admin = &team.admin;

    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/role", team.id, admin.user_id),
            &[("role", "dev")],
        )
        .await;
    let members = format!("/accounts/{}/members", team.id);
    let body = assert_refused_to(&admin.browser, res, &members).await;
    assert!(body.contains("at least one Admin"), "{body}");

    let res = admin
        .browser
        .post_form(&format!("/accounts/{}/leave", team.id), &[])
        .await;
    let body = assert_refused_to(&admin.browser, res, &members).await;
    assert!(body.contains("last Admin"), "{body}");

    // With a second Admin, the first may leave; the second then cannot.
    app.add_member(
        team.id,
        app.signed_up_user("Second").await.user_id,
        Role::Basic,
    );
    let second = {
        use team_console::db::schema::users;
        users::table
            .filter(users::display_name.eq("Second"))
            .select(users::id)
            .first::<uuid::Uuid>(&mut app.conn())
            .unwrap()
    };
    let res = admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{second}/role", team.id),
            &[("role", "admin"), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = admin
        .browser
        .post_form(&format!("/accounts/{}/leave", team.id), &[])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.role_of(team.id, admin.user_id), None);
    assert_eq!(
        app.role_of(team.id, team.basic.user_id).as_deref(),
        Some("basic")
    );
}

#[actix_web::test]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_admin() {
    let app = TestApp::spawn().await;
    for _ in 0..5 {
        let team = app.team().await;
        let a = &team.admin;
        let b = &team.dev;
        // Make the Dev an Admin too.
        let res = a
            .browser
            .post_form(
                &format!("/accounts/{}/members/{}/role", team.id, b.user_id),
                &[("role", "admin"), ("confirm", "yes")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let (ta, tb) = (a.browser.csrf().await, b.browser.csrf().await);
        let demote_b = a
            .browser
            .client
            .post(
                a.browser
                    .url(&format!("/accounts/{}/members/{}/role", team.id, b.user_id)),
            )
            .form(&[("role", "basic"), ("csrf_token", ta.as_str())])
            .send();
        let demote_a = b
            .browser
            .client
            .post(
                b.browser
                    .url(&format!("/accounts/{}/members/{}/role", team.id, a.user_id)),
            )
            .form(&[("role", "basic"), ("csrf_token", tb.as_str())])
            .send();
        let (ra, rb) = futures_util::future::join(demote_b, demote_a).await;
        let statuses = [ra.unwrap().status(), rb.unwrap().status()];
        let admins = [
            app.role_of(team.id, a.user_id),
            app.role_of(team.id, b.user_id),
        ]
        .iter()
        .filter(|r| r.as_deref() == Some("admin"))
        .count();
        assert_eq!(admins, 1, "statuses {statuses:?}");
        assert!(statuses.contains(&StatusCode::SEE_OTHER));
    }
}

#[actix_web::test]
async fn cross_account_member_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let team_a = app.team().await;
    let outsider = app.signed_up_user("Outsider").await;
    let team_b = app.convert_to_team(&outsider, "Team B").await;

    // team B's member id in team A's URL.
    for path in [format!(
        "/accounts/{}/members/{}/remove",
        team_a.id, outsider.user_id
    )] {
        let (status, _) = team_a.admin.browser.get_page(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let res = team_a.admin.browser.post_form(&path, &[]).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = team_a
        .admin
        .browser
        .post_form(
            &format!("/accounts/{}/members/{}/role", team_a.id, outsider.user_id),
            &[("role", "basic")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.role_of(team_b, outsider.user_id).as_deref(),
        Some("admin")
    );
    // And team B itself does not exist for team A's Admin.
    assert_eq!(
        team_a
            .admin
            .browser
            .get(&format!("/accounts/{team_b}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn team_and_user_names_are_escaped_on_every_page() {
    let app = TestApp::spawn().await;
    let evil = "<script>alert(1)</script>";
    let user = app.signed_up_user(evil).await;
    let id = app.convert_to_team(&user, evil).await;

    for path in [
        format!("/accounts/{id}"),
        format!("/accounts/{id}/members"),
        format!("/accounts/{id}/settings"),
        format!("/accounts/{id}/leave"),
    ] {
        let (status, body) = user.browser.get_page(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!body.contains(evil), "{path} shows raw markup");
        assert!(
            body.contains("&#60;script&#62;") || body.contains("&lt;script&gt;"),
            "{path}"
        );
    }
}

#[actix_web::test]
async fn an_admin_renames_the_team() {
    let app = TestApp::spawn().await;
    let team = app.team().await;
    let path = format!("/accounts/{}/settings", team.id);

    let res = team.admin.browser.post_form(&path, &[("name", "")]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("Enter a team name"));

    let res = team
        .admin
        .browser
        .post_form(&path, &[("name", "Acme Compute")])
        .await;
    assert_redirect_to(&res, &path);
    let (_, body) = team
        .dev
        .browser
        .get_page(&format!("/accounts/{}", team.id))
        .await;
    assert!(body.contains("Acme Compute"));
    use team_console::db::schema::audit_entries as a;
    let details: serde_json::Value = a::table
        .filter(a::action.eq("account.renamed"))
        .select(a::details)
        .first(&mut app.conn())
        .unwrap();
    assert_eq!(details["old_name"], "Acme GPU");
    assert_eq!(details["new_name"], "Acme Compute");
}
