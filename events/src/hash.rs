//! The hash chain: `hash = SHA-256(prev_hash || canonical(event))`.
//!
//! The canonical form is JSON with object keys sorted at every level, no
//! insignificant whitespace, and the timestamp in RFC 3339 with microseconds
//! (PostgreSQL's precision), so that an event read back from the database hashes
//! exactly as it did when it was appended.

use chrono::SecondsFormat;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sluice_schema::models::EventRow;

/// The hash that precedes the first event.
pub const GENESIS: [u8; 32] = [0; 32];

pub fn event_hash(row: &EventRow) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(&row.prev_hash);
    hasher.update(canonical_bytes(row));
    hasher.finalize().to_vec()
}

fn canonical_bytes(row: &EventRow) -> Vec<u8> {
    let envelope = serde_json::json!({
        "global_seq": row.global_seq,
        "event_id": row.event_id.to_string(),
        "stream_type": row.stream_type,
        "stream_id": row.stream_id.to_string(),
        "stream_version": row.stream_version,
        "account_id": row.account_id.map(|a| a.to_string()),
        "event_type": row.event_type,
        "payload": row.payload,
        "metadata": row.metadata,
        "recorded_at": row.recorded_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    });
    let mut out = Vec::with_capacity(512);
    write_canonical(&envelope, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(Value::String(s.to_owned()).to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use uuid::Uuid;

    fn row(payload: Value) -> EventRow {
        EventRow {
            global_seq: 1,
            event_id: Uuid::nil(),
            stream_type: "probe".into(),
            stream_id: Uuid::nil(),
            stream_version: 1,
            account_id: None,
            event_type: "probe.requested".into(),
            payload,
            metadata: serde_json::json!({}),
            recorded_at: Utc.timestamp_opt(1_700_000_000, 123_456_000).unwrap(),
            prev_hash: GENESIS.to_vec(),
            hash: vec![],
        }
    }

    #[test]
    fn key_order_does_not_change_the_hash() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":2,"x":[1,"z"]}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":[1,"z"],"y":2},"b":1}"#).unwrap();
        assert_eq!(event_hash(&row(a)), event_hash(&row(b)));
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = row(serde_json::json!({"n": 1}));
        let mut changed = base.clone();
        changed.payload = serde_json::json!({"n": 2});
        assert_ne!(event_hash(&base), event_hash(&changed));
        let mut moved = base.clone();
        moved.global_seq = 2;
        assert_ne!(event_hash(&base), event_hash(&moved));
        let mut relinked = base.clone();
        relinked.prev_hash = vec![1; 32];
        assert_ne!(event_hash(&base), event_hash(&relinked));
    }
}
