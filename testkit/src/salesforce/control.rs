//! What a test controls and inspects of the org: its objects and records,
//! the API request count and limit, and how Bulk jobs behave.

use super::input::read_record;
use super::org::{ApiCallCounts, Org};
use super::schema::ObjectDef;
use super::standard::{account, contact};
use super::{oauth, SalesforceStandIn};
use serde_json::{Map, Value};
use std::sync::MutexGuard;

impl SalesforceStandIn {
    fn org(&self) -> MutexGuard<'_, Org> {
        self.org.lock().expect("stand-in state")
    }

    /// Declares an object and its fields (or redefines it, keeping its records).
    pub fn define_object(&self, def: ObjectDef) {
        self.org().store.define(def);
    }

    /// Declares a realistic `Account` and `Contact` (see [`account`], [`contact`]).
    pub fn define_account_and_contact(&self) {
        let mut org = self.org();
        org.store.define(account());
        org.store.define(contact());
    }

    /// Empties the org: `Account` and `Contact` as [`Self::define_account_and_contact`]
    /// declares them, without records (a benchmark's next round starts
    /// as the first did).
    pub fn reset_records(&self) {
        let mut org = self.org();
        org.store = Default::default();
        org.store.define(account());
        org.store.define(contact());
    }

    /// How many Bulk ingest jobs have been created.
    pub fn bulk_jobs(&self) -> usize {
        self.org().jobs.len()
    }

    /// How many live records `object` has.
    pub fn record_count(&self, object: &str) -> usize {
        self.org().store.table(object).map_or(0, |t| t.live.len())
    }

    /// The live records of `object`, in the order they were created.
    pub fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        let org = self.org();
        org.store
            .table(object)
            .map(|t| t.live.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The records of `object` in the recycle bin (`IsDeleted: true`).
    pub fn recycle_bin(&self, object: &str) -> Vec<Map<String, Value>> {
        let org = self.org();
        org.store
            .table(object)
            .map(|t| t.bin.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Seeds `object` with records given as a REST body gives them (field
    /// names to values, lookups by external id as nested objects), checked
    /// as any create is: their new ids, in order. Panics on a record
    /// Salesforce would refuse.
    pub fn insert_records(
        &self,
        object: &str,
        records: impl IntoIterator<Item = Value>,
    ) -> Vec<String> {
        let mut org = self.org();
        records
            .into_iter()
            .map(|record| {
                let read = match read_record(&org.store, Some(object), &record, "") {
                    Ok(read) => read,
                    Err(e) => panic!("cannot seed {object} with {record}: {e}"),
                };
                match org.store.create(&read.object, read.changes) {
                    Ok(id) => id,
                    Err(errors) => panic!("cannot seed {object} with {record}: {errors:?}"),
                }
            })
            .collect()
    }

    /// Changes a record as a user in Salesforce would (its
    /// `SystemModstamp` moves on). Panics on a change Salesforce would
    /// refuse.
    pub fn update_record(&self, object: &str, id: &str, fields: Value) {
        let mut org = self.org();
        let read = match read_record(&org.store, Some(object), &fields, "") {
            Ok(read) => read,
            Err(e) => panic!("cannot change {id} with {fields}: {e}"),
        };
        if let Err(errors) = org.store.update(id, read.changes) {
            panic!("cannot change {id} with {fields}: {errors:?}");
        }
    }

    /// Data-API requests answered so far (OAuth is not counted).
    pub fn api_calls(&self) -> u64 {
        self.org().calls.total
    }

    /// Data-API requests answered so far, by kind.
    pub fn api_call_counts(&self) -> ApiCallCounts {
        self.org().calls
    }

    /// After `remaining` more data-API requests, answer
    /// `403 REQUEST_LIMIT_EXCEEDED` (a SOAP fault for SOAP calls).
    pub fn limit_requests(&self, remaining: u64) {
        self.org().remaining = Some(remaining);
    }

    /// The next `calls` data-API calls (REST and Bulk) fail with `fault`
    /// (see `faults.rs`); the calls after them are answered as usual.
    pub fn fail_next_calls(&self, calls: usize, fault: super::Fault) {
        let queued = std::iter::repeat_n((super::faults::Calls::Any, fault), calls);
        self.org().faults.extend(queued);
    }

    /// The next `calls` data-API calls that can change data (any method
    /// but `GET`) fail with `fault`; reads pass by.
    pub fn fail_next_writes(&self, calls: usize, fault: super::Fault) {
        let queued = std::iter::repeat_n((super::faults::Calls::Writes, fault), calls);
        self.org().faults.extend(queued);
    }

    /// The next `records` records saved through sObject Collections (or
    /// the SOAP API) are refused with `UNABLE_TO_LOCK_ROW`, each on its
    /// own; the other records of their calls are saved.
    pub fn lock_next_records(&self, records: usize) {
        self.org().store.locked = records;
    }

    /// No request limit from now on.
    pub fn lift_request_limit(&self) {
        self.org().remaining = None;
    }

    /// Bulk jobs closed from now on process `records` records, then fail
    /// (`state: Failed` with an `errorMessage`); the rest stay unprocessed.
    pub fn fail_bulk_jobs_after(&self, records: usize) {
        self.org().fail_bulk_after = Some(records);
    }

    /// Bulk jobs closed from now on echo each value in their results as
    /// its field's type read it (`1.50` as `1.5`, `retail` as `Retail`),
    /// not as uploaded; see `bulk_echo.rs`.
    pub fn normalise_bulk_echoes(&self) {
        self.org().bulk_echo = super::Echo::Normalised;
    }

    /// Bulk jobs closed from now on process every record.
    pub fn stop_failing_bulk_jobs(&self) {
        self.org().fail_bulk_after = None;
    }

    /// How many polls of a closed job's info it takes to reach `JobComplete`
    /// (or `Failed`); the polls before answer `InProgress`. Two by default.
    pub fn complete_bulk_jobs_after_polls(&self, polls: u32) {
        self.org().polls_to_complete = polls.max(1);
    }

    /// An access token and its refresh token for the signed-in user, as a
    /// completed authorization gives them (for tests of the API calls themselves).
    pub fn issue_tokens(&self) -> (String, String) {
        oauth::issue(&self.inner)
    }
}
