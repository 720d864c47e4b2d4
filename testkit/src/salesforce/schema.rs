//! Object and field definitions: what a test declares of an org's
//! objects, and what every write is checked against.

/// A field's `type` in a describe result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Id,
    String,
    Email,
    Textarea,
    Boolean,
    Int,
    Double,
    Currency,
    Percent,
    Date,
    Datetime,
    Reference,
    Picklist,
}

impl FieldType {
    pub fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::String => "string",
            Self::Email => "email",
            Self::Textarea => "textarea",
            Self::Boolean => "boolean",
            Self::Int => "int",
            Self::Double => "double",
            Self::Currency => "currency",
            Self::Percent => "percent",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::Reference => "reference",
            Self::Picklist => "picklist",
        }
    }

    fn default_length(self) -> u32 {
        match self {
            Self::Id | Self::Reference => 18,
            Self::String | Self::Textarea | Self::Picklist => 255,
            Self::Email => 80,
            _ => 0,
        }
    }

    /// A number, currency or percent: a decimal kept exactly (see
    /// `decimal.rs`).
    pub(super) fn is_decimal(self) -> bool {
        matches!(self, Self::Double | Self::Currency | Self::Percent)
    }

    /// The `precision` and `scale` a new field of the type gets.
    fn default_digits(self) -> (u32, u32) {
        match self {
            Self::Double => (18, 0),
            Self::Currency | Self::Percent => (18, 2),
            _ => (0, 0),
        }
    }

    pub(super) fn is_text(self) -> bool {
        matches!(
            self,
            Self::Id
                | Self::String
                | Self::Email
                | Self::Textarea
                | Self::Reference
                | Self::Picklist
        )
    }
}

/// One field of an object; the builder methods set what its describe says.
#[derive(Clone, Debug)]
pub struct FieldDef {
    pub name: String,
    pub label: String,
    pub field_type: FieldType,
    pub length: u32,
    /// A number's most digits in all, and how many of them after the point.
    pub precision: u32,
    pub scale: u32,
    pub nillable: bool,
    pub createable: bool,
    pub updateable: bool,
    pub defaulted_on_create: bool,
    pub external_id: bool,
    pub id_lookup: bool,
    pub unique: bool,
    /// A unique text field that treats `ABC` and `abc` as different values
    /// (describe's `caseSensitive`).
    pub case_sensitive: bool,
    pub reference_to: Vec<String>,
    pub relationship_name: Option<String>,
    pub picklist_values: Vec<String>,
}

impl FieldDef {
    /// A nillable, createable, updateable field labelled after its name.
    pub fn new(name: &str, field_type: FieldType) -> Self {
        let label = name.trim_end_matches("__c").replace('_', " ");
        let boolean = field_type == FieldType::Boolean;
        let (precision, scale) = field_type.default_digits();
        Self {
            name: name.into(),
            label,
            field_type,
            length: field_type.default_length(),
            precision,
            scale,
            // A checkbox is never null: it defaults to false.
            nillable: !boolean,
            createable: true,
            updateable: true,
            defaulted_on_create: boolean,
            external_id: false,
            id_lookup: false,
            unique: false,
            case_sensitive: false,
            reference_to: Vec::new(),
            relationship_name: None,
            picklist_values: Vec::new(),
        }
    }

    pub fn label(mut self, label: &str) -> Self {
        self.label = label.into();
        self
    }

    pub fn length(mut self, length: u32) -> Self {
        self.length = length;
        self
    }

    /// A number's `precision` (digits in all) and `scale` (digits after
    /// the point): "Number(16, 2)" in Setup is `digits(18, 2)`.
    pub fn digits(mut self, precision: u32, scale: u32) -> Self {
        self.precision = precision;
        self.scale = scale;
        self
    }

    /// `nillable: false` (and not defaulted): a create must set it.
    pub fn required(mut self) -> Self {
        self.nillable = false;
        self.defaulted_on_create = false;
        self
    }

    pub fn nillable(mut self, nillable: bool) -> Self {
        self.nillable = nillable;
        self
    }

    /// Whether Salesforce fills the field in when a create leaves it out.
    pub fn defaulted_on_create(mut self, defaulted: bool) -> Self {
        self.defaulted_on_create = defaulted;
        self
    }

    /// An external id, which is also an id lookup.
    pub fn external_id(mut self) -> Self {
        self.external_id = true;
        self.id_lookup = true;
        self
    }

    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// Unique, treating `ABC` and `abc` as different values (the field
    /// setting "case sensitive"): `caseSensitive: true` in its describe.
    pub fn case_sensitive(mut self) -> Self {
        self.unique = true;
        self.case_sensitive = true;
        self
    }

    /// Whether two values of the field name the same record whatever
    /// their case: as an upsert's key, in a lookup by external id, and for
    /// uniqueness. A custom field only when it is unique and not case
    /// sensitive ("Custom field matching is case-insensitive only if the
    /// custom field has the Unique and Treat "ABC" and "abc" as duplicate
    /// values (case insensitive) attributes selected", Apex Developer
    /// Guide, Upserting Records); a standard field unless it is case
    /// sensitive.
    pub(super) fn ignores_case(&self) -> bool {
        !self.case_sensitive && (self.unique || !self.name.ends_with("__c"))
    }

    /// Whether SOQL's `=` and `IN` compare the field's text with its case:
    /// "Comparisons on strings are case-sensitive for unique
    /// case-sensitive fields. For all other fields, comparisons are
    /// case-insensitive" (SOQL and SOSL Reference, Comparison Operators).
    pub(super) fn compared_with_case(&self) -> bool {
        self.unique && self.case_sensitive
    }

    /// A lookup to `object`, reached in SOQL and in writes as `relationship`.
    pub fn references(mut self, object: &str, relationship: &str) -> Self {
        self.reference_to = vec![object.into()];
        self.relationship_name = Some(relationship.into());
        self
    }

    /// A polymorphic lookup: to any of `objects` (the `WhatId` of a Task
    /// refers to an Account, an Opportunity, …), reached as `relationship`.
    /// A write that sets it by another record's external id names the
    /// object that record is of (see `input.rs` and `bulk_job.rs`).
    pub fn references_any(mut self, objects: &[&str], relationship: &str) -> Self {
        self.reference_to = objects.iter().map(|o| (*o).to_owned()).collect();
        self.relationship_name = Some(relationship.into());
        self
    }

    /// Whether it refers to more than one object.
    pub(super) fn is_polymorphic(&self) -> bool {
        self.reference_to.len() > 1
    }

    /// The object of `reference_to` named `object` (in any case).
    pub(super) fn refers_to(&self, object: &str) -> Option<&str> {
        self.reference_to
            .iter()
            .find(|r| r.eq_ignore_ascii_case(object))
            .map(String::as_str)
    }

    pub fn createable(mut self, createable: bool) -> Self {
        self.createable = createable;
        self
    }

    pub fn updateable(mut self, updateable: bool) -> Self {
        self.updateable = updateable;
        self
    }

    pub fn picklist(mut self, values: &[&str]) -> Self {
        self.picklist_values = values.iter().map(|v| (*v).to_owned()).collect();
        self
    }

    /// Required on create: not nillable, not defaulted, createable.
    pub(super) fn is_required(&self) -> bool {
        !self.nillable && !self.defaulted_on_create && self.createable
    }

    fn system(name: &str, field_type: FieldType) -> Self {
        let mut field = Self::new(name, field_type);
        field.label = match name {
            "Id" => "Record ID".into(),
            "IsDeleted" => "Deleted".into(),
            "CreatedDate" => "Created Date".into(),
            "LastModifiedDate" => "Last Modified Date".into(),
            _ => "System Modstamp".into(),
        };
        field.nillable = false;
        field.createable = false;
        field.updateable = false;
        field.defaulted_on_create = true;
        field.id_lookup = name == "Id";
        field
    }
}

/// An sObject type: its name, label and fields. `Id`, `IsDeleted`,
/// `CreatedDate`, `LastModifiedDate` and `SystemModstamp` come with every one.
#[derive(Clone, Debug)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    pub fields: Vec<FieldDef>,
    /// Whether records of it may be created, and updated (describe's
    /// `createable` and `updateable`): both unless [`ObjectDef::read_only`].
    pub createable: bool,
    pub updateable: bool,
}

impl ObjectDef {
    pub fn new(name: &str) -> Self {
        let system = [
            ("Id", FieldType::Id),
            ("IsDeleted", FieldType::Boolean),
            ("CreatedDate", FieldType::Datetime),
            ("LastModifiedDate", FieldType::Datetime),
            ("SystemModstamp", FieldType::Datetime),
        ];
        Self {
            name: name.into(),
            label: name.trim_end_matches("__c").replace('_', " "),
            fields: system
                .into_iter()
                .map(|(n, t)| FieldDef::system(n, t))
                .collect(),
            createable: true,
            updateable: true,
        }
    }

    /// Neither createable nor updateable, as the org's read-only objects
    /// (a history, a feed, a view) are.
    pub fn read_only(mut self) -> Self {
        self.createable = false;
        self.updateable = false;
        self
    }

    pub fn label(mut self, label: &str) -> Self {
        self.label = label.into();
        self
    }

    pub fn field(mut self, field: FieldDef) -> Self {
        self.fields
            .retain(|f| !f.name.eq_ignore_ascii_case(&field.name));
        self.fields.push(field);
        self
    }

    /// A field by name, as SOQL and the APIs match them: case-insensitively.
    pub fn field_named(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The lookup field reached by a relationship name (`Account` → `AccountId`).
    pub fn relationship(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| {
            f.relationship_name
                .as_deref()
                .is_some_and(|r| r.eq_ignore_ascii_case(name))
        })
    }
}
