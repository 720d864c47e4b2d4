//! Automation in the org: flows, Apex triggers, @future and queueable jobs,
//! roll-up summary recalculations and managed packages change records after
//! a user or an API client saved them.
//!
//! The Object Reference for Salesforce and Lightning Platform ("System
//! Fields") documents the stamps this changes: `SystemModstamp` is "the
//! date and time when a user or automated process (such as a trigger) last
//! modified this record", while `LastModifiedDate` is the last change "by
//! a user". So an automated process's change moves `SystemModstamp` and
//! leaves `LastModifiedDate`; the stand-in's does the same. Asynchronous
//! Apex (@future, queueable) runs after the saving transaction commits, at
//! a time the platform chooses: here the test chooses it
//! ([`SalesforceStandIn::run_automation`]), so that answers stay
//! deterministic.

use super::org::Record;
use super::SalesforceStandIn;
use serde_json::{json, Map, Value};

/// What automation does, once switched on, and the saves it follows.
#[derive(Clone, Default)]
pub(crate) struct Automation {
    /// The object (in lower case) and the fields set on its records.
    rule: Option<(String, Record)>,
    /// Ids of records saved since automation last ran.
    queued: Vec<String>,
}

impl Automation {
    /// Queues the automation of a record just saved.
    pub(super) fn saved(&mut self, object: &str, id: &str) {
        if self
            .rule
            .as_ref()
            .is_some_and(|(o, _)| o.eq_ignore_ascii_case(object))
            && !self.queued.iter().any(|q| q == id)
        {
            self.queued.push(id.to_owned());
        }
    }
}

impl SalesforceStandIn {
    /// From now on, every record of `object` saved (by any call, or
    /// [`SalesforceStandIn::update_record`]) is queued for automation that
    /// sets `fields` (a JSON object of field names to values, set as they
    /// are) and moves its `SystemModstamp`, when
    /// [`SalesforceStandIn::run_automation`] runs it.
    pub fn automate(&self, object: &str, fields: Value) {
        let fields: Map<String, Value> = match fields {
            Value::Object(fields) => fields,
            other => panic!("automation sets fields given as an object, not {other}"),
        };
        let mut org = self.org.lock().expect("stand-in state");
        org.store.automation.rule = Some((object.to_lowercase(), fields));
    }

    /// Runs the automation queued since it last ran: each record still
    /// live gets its fields set and its `SystemModstamp` moved on (its
    /// `LastModifiedDate` is left, as for any automated process). How many
    /// records it touched.
    pub fn run_automation(&self) -> usize {
        let mut org = self.org.lock().expect("stand-in state");
        let store = &mut org.store;
        let Some((object, fields)) = store.automation.rule.clone() else {
            return 0;
        };
        let queued = std::mem::take(&mut store.automation.queued);
        let mut touched = 0;
        for id in queued {
            let now = store.now();
            let Some(table) = store.table_mut(&object) else {
                continue;
            };
            let Some(mut record) = table.live.get(&id).cloned() else {
                continue;
            };
            record.extend(fields.clone());
            record.insert("SystemModstamp".into(), json!(now));
            table.put(&id, record);
            touched += 1;
        }
        touched
    }
}
