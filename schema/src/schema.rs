//! Diesel table definitions, kept in step with `migrations/`.

diesel::table! {
    events (global_seq) {
        global_seq -> Int8,
        event_id -> Uuid,
        stream_type -> Text,
        stream_id -> Uuid,
        stream_version -> Int8,
        account_id -> Nullable<Uuid>,
        event_type -> Text,
        payload -> Jsonb,
        metadata -> Jsonb,
        recorded_at -> Timestamptz,
        prev_hash -> Bytea,
        hash -> Bytea,
    }
}

diesel::table! {
    event_log_head (id) {
        id -> Bool,
        last_seq -> Int8,
        last_hash -> Bytea,
    }
}

diesel::table! {
    relay_cursors (name) {
        name -> Text,
        last_seq -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    processed_events (consumer, event_id) {
        consumer -> Text,
        event_id -> Uuid,
        processed_at -> Timestamptz,
    }
}

diesel::table! {
    probes (probe_id) {
        probe_id -> Uuid,
        status -> Text,
        requested_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        completed_by -> Nullable<Text>,
    }
}

diesel::table! {
    dead_letters (event_id) {
        event_id -> Uuid,
        event_type -> Text,
        queue -> Text,
        reason -> Text,
        delivery_count -> Int8,
        dead_lettered_at -> Timestamptz,
    }
}

diesel::table! {
    relay_quarantine (global_seq) {
        global_seq -> Int8,
        cursor_name -> Text,
        event_id -> Uuid,
        event_type -> Text,
        reason -> Text,
        quarantined_at -> Timestamptz,
        released_at -> Nullable<Timestamptz>,
        outcome -> Nullable<Text>,
    }
}

diesel::table! {
    accounts (account_id) {
        account_id -> Uuid,
        region -> Text,
        company -> Text,
        country -> Text,
        plan -> Text,
        created_at -> Timestamptz,
        result_retention_days -> Nullable<Int4>,
        store_results -> Bool,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (user_id) {
        user_id -> Uuid,
        account_id -> Uuid,
        email_index -> Bytea,
        email -> Text,
        first_name -> Text,
        last_name -> Text,
        role -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tokens (token_id) {
        token_id -> Uuid,
        account_id -> Uuid,
        user_id -> Uuid,
        kind -> Text,
        name -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        sealed_name -> Nullable<Text>,
    }
}

diesel::table! {
    subject_keys (account_id) {
        account_id -> Uuid,
        kek_version -> Int4,
        wrapped_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    password_hashes (user_id) {
        user_id -> Uuid,
        account_id -> Uuid,
        hash -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    token_hashes (token_id) {
        token_id -> Uuid,
        account_id -> Uuid,
        token_sha256 -> Bytea,
    }
}

diesel::table! {
    login_throttle (key) {
        key -> Text,
        failures -> Int4,
        window_started_at -> Timestamptz,
        blocked_until -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    oauth_states (state_sha256) {
        state_sha256 -> Bytea,
        provider -> Text,
        verifier -> Bytea,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        purpose -> Text,
        account_id -> Nullable<Uuid>,
        user_id -> Nullable<Uuid>,
        label -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_tokens (user_id, provider) {
        user_id -> Uuid,
        provider -> Text,
        account_id -> Uuid,
        access_token -> Bytea,
        refresh_token -> Nullable<Bytea>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    connections (connection_id) {
        connection_id -> Uuid,
        account_id -> Uuid,
        name -> Nullable<Text>,
        kind -> Text,
        params -> Jsonb,
        created_at -> Timestamptz,
        last_tested_at -> Nullable<Timestamptz>,
        last_test_ok -> Nullable<Bool>,
        last_test_reason -> Nullable<Text>,
        details -> Nullable<Text>,
    }
}

diesel::table! {
    connection_secrets (connection_id) {
        connection_id -> Uuid,
        account_id -> Uuid,
        secret -> Bytea,
    }
}

diesel::table! {
    uploads (upload_id) {
        upload_id -> Uuid,
        account_id -> Uuid,
        user_id -> Uuid,
        format -> Text,
        size_bytes -> Int8,
        details -> Text,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        removed_at -> Nullable<Timestamptz>,
        removed_reason -> Nullable<Text>,
    }
}

diesel::table! {
    upload_keys (upload_id) {
        upload_id -> Uuid,
        account_id -> Uuid,
        kek_version -> Int4,
        wrapped_key -> Bytea,
    }
}

diesel::table! {
    key_rotations (rotation_id) {
        rotation_id -> Uuid,
        primary_key -> Int4,
        requested_at -> Timestamptz,
        progress -> Jsonb,
        finished_at -> Nullable<Timestamptz>,
        finished_by -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (job_id) {
        job_id -> Uuid,
        account_id -> Uuid,
        name -> Nullable<Text>,
        source -> Jsonb,
        target -> Jsonb,
        operation -> Text,
        key_fields -> Nullable<Jsonb>,
        mapping -> Nullable<Jsonb>,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        schedule -> Nullable<Text>,
        schedule_since -> Nullable<Timestamptz>,
        details -> Nullable<Text>,
        retry_failed -> Bool,
        schedule_paused -> Bool,
    }
}

diesel::table! {
    schedules (schedule_id) {
        schedule_id -> Uuid,
        name -> Text,
        last_slot -> Timestamptz,
        fired_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    runs (run_id) {
        run_id -> Uuid,
        account_id -> Uuid,
        job_id -> Uuid,
        kind -> Text,
        status -> Text,
        rows_read -> Int8,
        rows_ok -> Int8,
        rows_failed -> Int8,
        rows_total -> Nullable<Int8>,
        message -> Nullable<Text>,
        requested_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        finished_at -> Nullable<Timestamptz>,
        worker -> Nullable<Text>,
        results_expire_at -> Nullable<Timestamptz>,
        results_removed_at -> Nullable<Timestamptz>,
        rollback_of -> Nullable<Uuid>,
        rolled_back_by -> Nullable<Uuid>,
        api_calls -> Nullable<Int8>,
        sealed_message -> Nullable<Text>,
        rows_skipped -> Int8,
        sample_rows -> Nullable<Int4>,
        sample_order -> Nullable<Text>,
        remaining_of -> Nullable<Uuid>,
        retry_of -> Nullable<Uuid>,
    }
}

diesel::table! {
    result_keys (run_id) {
        run_id -> Uuid,
        account_id -> Uuid,
        kek_version -> Int4,
        wrapped_key -> Bytea,
    }
}

diesel::table! {
    billing (account_id) {
        account_id -> Uuid,
        customer_id -> Text,
        subscription_id -> Nullable<Text>,
        subscription_status -> Nullable<Text>,
        subscription_at -> Nullable<Timestamptz>,
        card -> Nullable<Text>,
        card_at -> Nullable<Timestamptz>,
        payment_failed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mapping_templates (template_id) {
        template_id -> Uuid,
        account_id -> Uuid,
        details -> Text,
        created_at -> Timestamptz,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    billing,
    connections,
    connection_secrets,
    uploads,
    upload_keys,
    key_rotations,
    jobs,
    runs,
    result_keys,
    oauth_states,
    oauth_tokens,
    accounts,
    users,
    tokens,
    subject_keys,
    password_hashes,
    token_hashes,
    login_throttle,
    events,
    event_log_head,
    relay_cursors,
    processed_events,
    probes,
    dead_letters,
    relay_quarantine,
    schedules,
    mapping_templates,
);
