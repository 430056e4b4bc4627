// @generated automatically by Diesel CLI.

diesel::table! {
    api_keys (id) {
        id -> Uuid,
        account_id -> Uuid,
        name -> Text,
        prefix -> Text,
        secret_hash -> Bytea,
        scopes -> Array<Text>,
        created_by -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        last_used_ip -> Nullable<Text>,
        window_start -> Nullable<Timestamptz>,
        window_count -> Int4,
    }
}

diesel::table! {
    accounts (id) {
        id -> Uuid,
        kind -> Text,
        name -> Text,
        owner_id -> Uuid,
        created_at -> Timestamptz,
        billing_email -> Nullable<Text>,
        balance_cents -> Int8,
        require_two_factor -> Bool,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_actors (account_id, user_id) {
        account_id -> Uuid,
        user_id -> Uuid,
    }
}

diesel::table! {
    audit_chains (chain) {
        chain -> Uuid,
        last_hash -> Bytea,
        entries -> Int8,
    }
}

diesel::table! {
    audit_entries (id, occurred_at) {
        id -> Int8,
        occurred_at -> Timestamptz,
        account_id -> Nullable<Uuid>,
        actor_id -> Nullable<Uuid>,
        actor_email -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Jsonb,
        actor_name -> Nullable<Text>,
        prev_hash -> Nullable<Bytea>,
        hash -> Nullable<Bytea>,
    }
}

diesel::table! {
    audit_stream_destinations (id) {
        id -> Uuid,
        account_id -> Uuid,
        url -> Text,
        secret_sealed -> Bytea,
        created_by -> Uuid,
        created_at -> Timestamptz,
        cursor -> Int8,
        last_delivered_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamptz>,
        failures -> Int4,
        next_attempt_at -> Timestamptz,
    }
}

diesel::table! {
    backups (id) {
        id -> Int8,
        taken_at -> Timestamptz,
        file -> Text,
        bytes -> Int8,
        schema_version -> Text,
        host -> Text,
    }
}

diesel::table! {
    billing_transactions (id) {
        id -> Uuid,
        account_id -> Uuid,
        kind -> Text,
        amount_cents -> Int8,
        description -> Text,
        pod_id -> Nullable<Uuid>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    invites (id) {
        id -> Uuid,
        account_id -> Uuid,
        role -> Text,
        email -> Nullable<Text>,
        nonce -> Bytea,
        token_hash -> Bytea,
        created_by -> Uuid,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        accepted_at -> Nullable<Timestamptz>,
        accepted_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    member_gpu_quotas (account_id, user_id, gpu_type) {
        account_id -> Uuid,
        user_id -> Uuid,
        gpu_type -> Text,
        max_gpus -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    member_spend_limits (account_id, user_id) {
        account_id -> Uuid,
        user_id -> Uuid,
        monthly_cents -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (account_id, user_id) {
        account_id -> Uuid,
        user_id -> Uuid,
        role -> Text,
        created_at -> Timestamptz,
        last_active_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    monthly_usage (id) {
        id -> Int8,
        month -> Date,
        account_id -> Uuid,
        user_id -> Nullable<Uuid>,
        pod_id -> Uuid,
        running_seconds -> Int8,
        gpu_seconds -> Int8,
        cost_cents -> Int8,
    }
}

diesel::table! {
    pods (id) {
        id -> Uuid,
        account_id -> Uuid,
        name -> Text,
        gpu_type -> Text,
        gpu_count -> Int4,
        image -> Text,
        status -> Text,
        hourly_price_cents -> Int8,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        total_running_seconds -> Int8,
        total_charged_cents -> Int8,
        terminated_at -> Nullable<Timestamptz>,
        started_by -> Nullable<Uuid>,
    }
}

diesel::table! {
    role_gpu_quotas (account_id, role, gpu_type) {
        account_id -> Uuid,
        role -> Text,
        gpu_type -> Text,
        max_gpus -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    role_spend_limits (account_id, role) {
        account_id -> Uuid,
        role -> Text,
        monthly_cents -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (key_hash) {
        key_hash -> Bytea,
        user_id -> Nullable<Uuid>,
        state -> Jsonb,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        absolute_expires_at -> Timestamptz,
        id -> Uuid,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    known_devices (user_id, device, ip) {
        user_id -> Uuid,
        device -> Text,
        ip -> Text,
        first_seen -> Timestamptz,
        last_seen -> Timestamptz,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Uuid,
        recipient -> Text,
        subject -> Text,
        body -> Bytea,
        created_at -> Timestamptz,
        next_attempt_at -> Timestamptz,
        attempts -> Int4,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        failed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    password_resets (token_hash) {
        token_hash -> Bytea,
        user_id -> Uuid,
        password_fingerprint -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sign_in_throttles (key) {
        key -> Text,
        failures -> Int4,
        window_start -> Timestamptz,
        locked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    spend_alerts (id) {
        id -> Int8,
        month -> Date,
        account_id -> Uuid,
        user_id -> Nullable<Uuid>,
        threshold -> Int4,
        used_cents -> Int8,
        limit_cents -> Int8,
        raised_at -> Timestamptz,
    }
}

diesel::table! {
    team_budgets (account_id) {
        account_id -> Uuid,
        monthly_cents -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        email -> Text,
        display_name -> Text,
        password_hash -> Text,
        created_at -> Timestamptz,
        totp_secret -> Nullable<Bytea>,
        totp_enabled_at -> Nullable<Timestamptz>,
        totp_last_step -> Nullable<Int8>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::joinable!(accounts -> users (owner_id));
diesel::joinable!(api_keys -> accounts (account_id));
diesel::joinable!(api_keys -> users (created_by));
diesel::joinable!(audit_stream_destinations -> accounts (account_id));
diesel::joinable!(audit_stream_destinations -> users (created_by));
diesel::joinable!(billing_transactions -> accounts (account_id));
diesel::joinable!(billing_transactions -> pods (pod_id));
diesel::joinable!(billing_transactions -> users (created_by));
diesel::joinable!(invites -> accounts (account_id));
diesel::joinable!(known_devices -> users (user_id));
diesel::joinable!(memberships -> accounts (account_id));
diesel::joinable!(memberships -> users (user_id));
diesel::joinable!(monthly_usage -> accounts (account_id));
diesel::joinable!(monthly_usage -> pods (pod_id));
diesel::joinable!(monthly_usage -> users (user_id));
diesel::joinable!(password_resets -> users (user_id));
diesel::joinable!(pods -> accounts (account_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(pods -> users (started_by));
diesel::joinable!(role_gpu_quotas -> accounts (account_id));
diesel::joinable!(role_spend_limits -> accounts (account_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(spend_alerts -> accounts (account_id));
diesel::joinable!(spend_alerts -> users (user_id));
diesel::joinable!(team_budgets -> accounts (account_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    api_keys,
    audit_actors,
    audit_chains,
    audit_entries,
    audit_stream_destinations,
    backups,
    billing_transactions,
    invites,
    known_devices,
    mail_outbox,
    member_gpu_quotas,
    member_spend_limits,
    memberships,
    monthly_usage,
    password_resets,
    pods,
    recovery_codes,
    role_gpu_quotas,
    role_spend_limits,
    sessions,
    sign_in_throttles,
    spend_alerts,
    team_budgets,
    users,
);
