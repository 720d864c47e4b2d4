//! The org's state: object definitions, live records, the recycle bin, the
//! API request count and limit, Bulk jobs and open query cursors.

use super::bulk_info::Job;
use super::ids;
use super::schema::ObjectDef;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

pub(super) type Record = Map<String, Value>;
pub(super) type Shared = Arc<Mutex<Org>>;

/// How many data-API requests the org has answered, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApiCallCounts {
    /// Every data-API request, as Salesforce counts them against the org's limit.
    pub total: u64,
    /// REST requests outside Bulk API 2.0 (describe, collections, query).
    pub rest: u64,
    /// Bulk API 2.0 requests other than job-info polls.
    pub bulk: u64,
    /// `GET …/jobs/ingest/{id}`: polls of a job's state.
    pub bulk_polls: u64,
    /// SOAP API calls.
    pub soap: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CallKind {
    Rest,
    Bulk,
    BulkPoll,
    Soap,
}

pub(super) struct Org {
    pub store: Store,
    pub calls: ApiCallCounts,
    /// Requests left before `REQUEST_LIMIT_EXCEEDED`, when limited.
    pub remaining: Option<u64>,
    pub jobs: BTreeMap<String, Job>,
    /// Polls of a closed job before it reaches its final state.
    pub polls_to_complete: u32,
    /// Records a Bulk job processes before it fails, when set.
    pub fail_bulk_after: Option<usize>,
    /// How a Bulk job's results echo the uploaded values.
    pub bulk_echo: super::bulk_echo::Echo,
    pub cursors: HashMap<String, Cursor>,
    pub sequence: u64,
    /// The faults the next data-API calls meet, in order.
    pub faults: VecDeque<(super::faults::Calls, super::faults::Fault)>,
}

impl Default for Org {
    fn default() -> Self {
        Self {
            store: Store::default(),
            calls: ApiCallCounts::default(),
            remaining: None,
            jobs: BTreeMap::new(),
            polls_to_complete: 2,
            fail_bulk_after: None,
            bulk_echo: super::bulk_echo::Echo::AsUploaded,
            cursors: HashMap::new(),
            sequence: 0,
            faults: VecDeque::new(),
        }
    }
}

impl Org {
    /// Counts a request of `kind`, or refuses it once the limit is reached.
    pub fn admit(&mut self, kind: CallKind) -> bool {
        if let Some(remaining) = self.remaining.as_mut() {
            if *remaining == 0 {
                return false;
            }
            *remaining -= 1;
        }
        self.calls.total += 1;
        match kind {
            CallKind::Rest => self.calls.rest += 1,
            CallKind::Bulk => self.calls.bulk += 1,
            CallKind::BulkPoll => self.calls.bulk_polls += 1,
            CallKind::Soap => self.calls.soap += 1,
        }
        true
    }

    /// A fresh id with a server-side prefix (`750` jobs, `01g` query locators).
    pub fn next_id(&mut self, prefix: &str) -> String {
        self.sequence += 1;
        ids::make(prefix, self.sequence)
    }
}

/// The remaining pages of a query, snapshotted when it ran.
pub(super) struct Cursor {
    pub records: Vec<Box<serde_json::value::RawValue>>,
    pub batch: usize,
}

/// Where a record id points.
pub(super) enum Found {
    Live(String),
    Deleted(String),
    Purged,
    Missing,
}

/// Everything a write touches, cloned whole so that an all-or-none request
/// can be rolled back.
#[derive(Clone, Default)]
pub(super) struct Store {
    objects: BTreeMap<String, Table>,
    prefixes: HashMap<String, String>,
    purged: HashSet<String>,
    next_record: u64,
    next_custom: u32,
    clock: i64,
    /// Automation that touches records after they are saved (see
    /// `automation.rs`), and the saves it has yet to follow.
    pub automation: super::automation::Automation,
    /// Records the next saves refuse with `UNABLE_TO_LOCK_ROW` (see
    /// `faults.rs`).
    pub locked: usize,
}

/// One object's records: live ones indexed by their unique and external id
/// fields, and those in the recycle bin.
#[derive(Clone)]
pub(super) struct Table {
    pub def: ObjectDef,
    pub prefix: String,
    pub live: BTreeMap<String, Record>,
    pub bin: BTreeMap<String, Record>,
    index: HashMap<(String, String), BTreeSet<String>>,
}

impl Table {
    fn indexed(&self, field: &str) -> bool {
        self.def
            .field_named(field)
            .is_some_and(|f| f.unique || f.external_id)
    }

    /// A value of `field` as it is matched: in lower case when the field
    /// ignores case (see `FieldDef::ignores_case`).
    fn folded(&self, field: &str, value: &str) -> String {
        match self.def.field_named(field) {
            Some(f) if !f.ignores_case() => value.to_owned(),
            _ => value.to_lowercase(),
        }
    }

    fn keys(&self, record: &Record) -> Vec<(String, String)> {
        self.def
            .fields
            .iter()
            .filter(|f| f.unique || f.external_id)
            .filter_map(|f| match record.get(&f.name) {
                Some(Value::String(v)) => Some((f.name.to_lowercase(), self.folded(&f.name, v))),
                _ => None,
            })
            .collect()
    }

    /// Live records whose `field` equals `value`, as Salesforce matches
    /// external ids and unique values: ignoring case, unless the field is
    /// case sensitive (or a custom field that is not unique).
    pub fn lookup(&self, field: &str, value: &str) -> Vec<String> {
        let folded = self.folded(field, value);
        if self.indexed(field) {
            let key = (field.to_lowercase(), folded);
            return self
                .index
                .get(&key)
                .into_iter()
                .flatten()
                .cloned()
                .collect();
        }
        self.live
            .iter()
            .filter(|(_, r)| {
                r.iter().any(|(k, v)| {
                    k.eq_ignore_ascii_case(field)
                        && v.as_str().is_some_and(|v| self.folded(field, v) == folded)
                })
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn put(&mut self, id: &str, record: Record) {
        self.unlink(id);
        for key in self.keys(&record) {
            self.index.entry(key).or_default().insert(id.to_owned());
        }
        self.live.insert(id.to_owned(), record);
    }

    pub fn take(&mut self, id: &str) -> Option<Record> {
        self.unlink(id);
        self.live.remove(id)
    }

    fn unlink(&mut self, id: &str) {
        let Some(old) = self.live.get(id) else {
            return;
        };
        for key in self.keys(old) {
            if let Some(ids) = self.index.get_mut(&key) {
                ids.remove(id);
            }
        }
    }
}

impl Store {
    /// Declares an object, or redefines it keeping its records.
    pub fn define(&mut self, def: ObjectDef) {
        let key = def.name.to_lowercase();
        if let Some(table) = self.objects.get_mut(&key) {
            table.def = def;
            let records: Vec<(String, Record)> =
                std::mem::take(&mut table.live).into_iter().collect();
            table.index.clear();
            for (id, record) in records {
                table.put(&id, record);
            }
            return;
        }
        let prefix = match def.name.as_str() {
            "Account" => "001".to_owned(),
            "Contact" => "003".to_owned(),
            "Opportunity" => "006".to_owned(),
            "Lead" => "00Q".to_owned(),
            "Case" => "500".to_owned(),
            "Task" => "00T".to_owned(),
            _ => {
                self.next_custom += 1;
                ids::custom_prefix(self.next_custom - 1)
            }
        };
        self.prefixes.insert(prefix.clone(), key.clone());
        let table = Table {
            def,
            prefix,
            live: BTreeMap::new(),
            bin: BTreeMap::new(),
            index: HashMap::new(),
        };
        self.objects.insert(key, table);
    }

    /// Every object, by name.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.objects.values()
    }

    pub fn table(&self, object: &str) -> Option<&Table> {
        self.objects.get(&object.to_lowercase())
    }

    pub fn table_mut(&mut self, object: &str) -> Option<&mut Table> {
        self.objects.get_mut(&object.to_lowercase())
    }

    /// The object an id's key prefix names.
    pub fn object_of(&self, id: &str) -> Option<&Table> {
        let key = self.prefixes.get(id.get(..3)?)?;
        self.objects.get(key)
    }

    pub fn find(&self, id: &str) -> Found {
        if self.purged.contains(id) {
            return Found::Purged;
        }
        match self.object_of(id) {
            Some(t) if t.live.contains_key(id) => Found::Live(t.def.name.clone()),
            Some(t) if t.bin.contains_key(id) => Found::Deleted(t.def.name.clone()),
            _ => Found::Missing,
        }
    }

    pub fn purge(&mut self, id: &str) {
        self.purged.insert(id.to_owned());
    }

    pub fn new_record_id(&mut self, prefix: &str) -> String {
        self.next_record += 1;
        ids::make(prefix, self.next_record)
    }

    /// The org's clock: one second further at every write, from a fixed start.
    pub fn now(&mut self) -> String {
        self.clock += 1;
        let start = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default();
        (start + chrono::Duration::seconds(self.clock))
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string()
    }
}
