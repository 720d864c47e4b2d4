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

diesel::allow_tables_to_appear_in_same_query!(
    events,
    event_log_head,
    relay_cursors,
    processed_events,
    probes,
    dead_letters,
);
