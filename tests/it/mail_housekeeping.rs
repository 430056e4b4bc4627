//! What mail leaves behind is forgotten in time (the console's daily
//! job): sent or refused messages' rows after 90 days, expired reset
//! links, and devices unseen for a year.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use team_console::accounts::{notices, reset};
use team_console::mail::outbox;

use crate::support::TestApp;

#[actix_web::test]
async fn sent_mail_expired_links_and_old_devices_are_forgotten() {
    // Arrange: Ada's sign-up remembered her device; older rows beside it.
    let app = TestApp::spawn().await;
    let ada = app.signed_up_user("Ada").await;
    let mut conn = app.conn();
    let now = time::OffsetDateTime::now_utc();
    conn.batch_execute(&format!(
        "INSERT INTO mail_outbox (id, recipient, subject, body, created_at, next_attempt_at, sent_at, failed_at)
         VALUES (gen_random_uuid(), 'a@example.com', 'sent long ago', '', now() - interval '100 days',
                 now() - interval '100 days', now() - interval '100 days', NULL),
                (gen_random_uuid(), 'b@example.com', 'refused long ago', '', now() - interval '100 days',
                 now() - interval '100 days', NULL, now() - interval '100 days'),
                (gen_random_uuid(), 'c@example.com', 'sent lately', '', now() - interval '10 days',
                 now() - interval '10 days', now() - interval '10 days', NULL),
                (gen_random_uuid(), 'd@example.com', 'still to send', '\\x00', now() - interval '200 days',
                 now(), NULL, NULL);
         INSERT INTO password_resets (token_hash, user_id, password_fingerprint, created_at, expires_at)
         VALUES ('\\x01', '{ada}', '\\x00', now() - interval '2 hours', now() - interval '1 hour'),
                ('\\x02', '{ada}', '\\x00', now(), now() + interval '1 hour');
         INSERT INTO known_devices (user_id, device, ip, first_seen, last_seen)
         VALUES ('{ada}', 'Firefox on Linux', '192.0.2.1', now() - interval '2 years',
                 now() - interval '400 days');",
        ada = ada.user_id
    ))
    .unwrap();

    // Act: as the serving role, as the console's job runs.
    let forgotten = outbox::prune(&mut conn, now).unwrap()
        + reset::delete_expired(&mut conn, now).unwrap()
        + notices::forget_old_devices(&mut conn, now).unwrap();

    // Assert
    assert_eq!(forgotten, 4);
    use team_console::db::schema::{known_devices, mail_outbox, password_resets};
    let mut kept: Vec<String> = mail_outbox::table
        .select(mail_outbox::subject)
        .load(&mut conn)
        .unwrap();
    kept.sort();
    assert_eq!(kept, ["sent lately", "still to send"]);
    let links: i64 = password_resets::table
        .count()
        .get_result(&mut conn)
        .unwrap();
    assert_eq!(links, 1, "the link that still works stays");
    let devices: Vec<String> = known_devices::table
        .filter(known_devices::user_id.eq(ada.user_id))
        .select(known_devices::device)
        .load(&mut conn)
        .unwrap();
    assert_eq!(devices.len(), 1, "the sign-up's device stays: {devices:?}");
    assert_ne!(devices[0], "Firefox on Linux");
}
