//! Why a row failed, in plain words: "Email already exists in contacts"
//! rather than `duplicate key value violates unique constraint …`. The
//! input is the ERROR cell of a run's errors.csv (which keeps the target's
//! own text: PostgreSQL's message, column and detail, Sluice's own checks,
//! or Salesforce's status codes); the words name the field and never quote
//! a cell's value, so they can be shown beside the row number alone.

/// A failed row's field (as the target names it, when the error says) and
/// the reason in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    pub field: Option<String>,
    pub reason: String,
}

/// `error` (errors.csv's ERROR cell) in plain words; `object` is the table
/// or Salesforce object the job writes to.
pub fn plain(error: &str, object: &str) -> Plain {
    // A cell that would run as a formula is kept with a leading quote.
    let error = error
        .strip_prefix('\'')
        .filter(|rest| rest.starts_with(['=', '+', '-', '@']))
        .unwrap_or(error)
        .trim();
    // Several Salesforce errors of one record are joined by "; ".
    let first = error.split("; ").next().unwrap_or(error);
    match salesforce_code(first) {
        Some((code, rest)) => salesforce(code, rest, object),
        None => postgres(error, object),
    }
}

/// `DUPLICATE_VALUE: …` (REST) or `DUPLICATE_VALUE:…` (Bulk API): the code
/// and what follows it.
fn salesforce_code(text: &str) -> Option<(&str, &str)> {
    let (code, rest) = text.split_once(':')?;
    let is_code = code.len() >= 3
        && code.contains('_')
        && code.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    is_code.then(|| (code, rest.trim()))
}

/// A field name as a person reads it: `first_name`, `FirstName` and
/// `First_Name__c` are all "First name".
pub fn field_words(name: &str) -> String {
    let name = name.trim().trim_end_matches("__c");
    let mut words = String::new();
    let mut previous: Option<char> = None;
    for c in name.chars() {
        if c == '_' || c == ' ' || c == '-' {
            if !words.ends_with(' ') && !words.is_empty() {
                words.push(' ');
            }
        } else {
            if c.is_uppercase() && previous.is_some_and(char::is_lowercase) {
                words.push(' ');
            }
            words.extend(c.to_lowercase());
        }
        previous = Some(c);
    }
    let words = words.trim();
    let mut chars = words.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => "A value".into(),
    }
}

fn said(field: Option<&str>, reason: impl FnOnce(&str) -> String) -> Plain {
    let words = field.map_or_else(|| "A value".to_owned(), field_words);
    Plain {
        field: field.map(str::to_owned),
        reason: reason(&words),
    }
}

/// The fields a Salesforce error names: `(Email, LastName)` at the end of
/// a REST error, `:Email --` at the end of a Bulk API one, or `[Email]` in
/// a "required fields are missing" message.
fn salesforce_fields(rest: &str) -> Vec<String> {
    let listed = if let Some(open) = rest.rfind('[') {
        rest[open + 1..].split(']').next()
    } else if rest.ends_with(')') {
        rest.rfind('(').map(|open| &rest[open + 1..rest.len() - 1])
    } else if rest.ends_with("--") {
        rest.trim_end_matches("--").rsplit(':').next()
    } else {
        None
    };
    listed
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty() && !f.contains(' '))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn salesforce(code: &str, rest: &str, object: &str) -> Plain {
    let fields = salesforce_fields(rest);
    let field = fields.first().map(String::as_str);
    match code {
        "DUPLICATE_VALUE" | "DUPLICATES_DETECTED" => {
            said(field, |f| format!("{f} already exists in {object}"))
        }
        "REQUIRED_FIELD_MISSING" => said(field, |f| format!("{f} is required")),
        "INVALID_EMAIL_ADDRESS" => said(field.or(Some("Email")), |f| {
            format!("{f} is not a valid email address")
        }),
        "STRING_TOO_LONG" => said(field, |f| format!("{f} is too long")),
        "INVALID_FIELD_FOR_INSERT_UPDATE" | "INVALID_FIELD" => {
            said(field, |f| format!("{f} cannot be set in {object}"))
        }
        "MALFORMED_ID" | "INVALID_CROSS_REFERENCE_KEY" | "INVALID_ID_FIELD" => said(field, |f| {
            format!("{f} is not the id of a record it can refer to")
        }),
        "INVALID_TYPE_ON_FIELD_IN_RECORD" => {
            said(field, |f| format!("{f} is not of the type the field takes"))
        }
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" => said(field, |f| {
            format!("{f} is not one of the picklist's values")
        }),
        "FIELD_CUSTOM_VALIDATION_EXCEPTION" => said(field, |_| {
            "A validation rule in Salesforce refused the row".to_owned()
        }),
        "ENTITY_IS_DELETED" => said(None, |_| format!("The {object} record was deleted")),
        "UNABLE_TO_LOCK_ROW" => said(None, |_| {
            format!("The {object} record was locked by another change: retry")
        }),
        "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY" | "INSUFFICIENT_ACCESS_OR_READONLY" => {
            said(None, |_| {
                "The connected Salesforce user may not change this record".to_owned()
            })
        }
        _ => said(field, |_| format!("Salesforce refused the row ({code})")),
    }
}

/// PostgreSQL's text as errors.csv keeps it: `column: message (detail)`,
/// or `message (detail)`; Sluice's own checks write `column: what`.
fn postgres(error: &str, object: &str) -> Plain {
    let (column, text) = match error.split_once(": ") {
        Some((column, text))
            if !column.is_empty()
                && column
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$') =>
        {
            (Some(column), text)
        }
        _ => (None, error),
    };
    let (message, detail) = match text.split_once(" (") {
        Some((message, detail)) => (message, Some(detail)),
        None => (text, None),
    };
    if message.starts_with("duplicate key value violates unique constraint") {
        let keys: Vec<&str> = detail
            .and_then(|d| d.strip_prefix("Key ("))
            .and_then(|d| d.split(")=").next())
            .map(|keys| keys.split(", ").collect())
            .unwrap_or_default();
        return match keys.as_slice() {
            [] => said(column, |_| {
                format!("A row with the same key already exists in {object}")
            }),
            [one] => said(Some(one), |f| format!("{f} already exists in {object}")),
            several => {
                let names: Vec<String> = several
                    .iter()
                    .enumerate()
                    .map(|(i, k)| match i {
                        0 => field_words(k),
                        _ => field_words(k).to_lowercase(),
                    })
                    .collect();
                Plain {
                    field: Some(several.join(", ")),
                    reason: format!("{} already exist in {object}", names.join(" and ")),
                }
            }
        };
    }
    if message.starts_with("null value in column") || message == "a value is required" {
        let column = column.or_else(|| quoted(message));
        return said(column, |f| format!("{f} is required"));
    }
    if message.starts_with("value too long") || message.contains("characters, more than the") {
        return said(column, |f| format!("{f} is too long"));
    }
    if let Some(kind) = not_a(message) {
        return said(column, |f| format!("{f} is not {kind}"));
    }
    if message.contains("violates foreign key constraint") {
        let key = detail
            .and_then(|d| d.strip_prefix("Key ("))
            .and_then(|d| d.split(")=").next());
        return said(key.or(column), |f| {
            format!("{f} does not match a row it refers to")
        });
    }
    if message.contains("violates check constraint") {
        return said(column, |_| format!("The row breaks a rule of {object}"));
    }
    if message.contains("out of range") || message.contains("overflow") {
        return said(column, |f| format!("{f} is out of range"));
    }
    said(column, |_| {
        format!("{object} refused the row (errors.csv has the database's reason)")
    })
}

/// The first double-quoted name in a message (PostgreSQL quotes names).
fn quoted(message: &str) -> Option<&str> {
    message.split('"').nth(1)
}

/// What a value failed to be: "a date" for `invalid input syntax for type
/// date`, Sluice's `is not a valid date (YYYY-MM-DD)`, or a transform's
/// `is not a date in the format …`.
fn not_a(message: &str) -> Option<&'static str> {
    let kind = if let Some(rest) = message.strip_prefix("invalid input syntax for type ") {
        rest.split(':').next().unwrap_or(rest)
    } else if let Some((_, rest)) = message.split_once(" is not a valid ") {
        rest
    } else if let Some((_, rest)) = message.split_once(" is not a ") {
        rest
    } else {
        return None;
    };
    let kind = kind.trim();
    Some(if kind.starts_with("date") {
        "a date"
    } else if kind.starts_with("timestamp") || kind.starts_with("time") {
        "a date and time"
    } else if kind.starts_with("whole number") || ["integer", "bigint", "smallint"].contains(&kind)
    {
        "a whole number"
    } else if kind.starts_with("number")
        || kind.starts_with("numeric")
        || kind.starts_with("double")
        || kind == "real"
    {
        "a number"
    } else if kind.starts_with("true/false") || kind == "boolean" {
        "true or false"
    } else if kind == "uuid" {
        "a UUID"
    } else if kind.starts_with("json") {
        "JSON"
    } else {
        "of the column's type"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(error: &str) -> (Option<String>, String) {
        let p = plain(error, "contacts");
        (p.field, p.reason)
    }

    #[test]
    fn postgres_failures_are_said_in_plain_words_without_the_values() {
        let unique = "duplicate key value violates unique constraint \"contacts_email_key\" \
                      (Key (email)=(ada@example.com) already exists.)";
        assert_eq!(
            words(unique),
            (
                Some("email".into()),
                "Email already exists in contacts".into()
            )
        );
        assert_eq!(
            words("email: a value is required"),
            (Some("email".into()), "Email is required".into())
        );
        assert_eq!(
            words(
                "first_name: null value in column \"first_name\" of relation \"contacts\" \
                 violates not-null constraint (Failing row contains (1, null, x@y.z).)"
            ),
            (Some("first_name".into()), "First name is required".into())
        );
        assert_eq!(
            words("joined: \"yesterday\" is not a valid date (YYYY-MM-DD)"),
            (Some("joined".into()), "Joined is not a date".into())
        );
        assert_eq!(
            words("age: invalid input syntax for type integer: \"…\""),
            (Some("age".into()), "Age is not a whole number".into())
        );
        assert_eq!(
            words("name: 45 characters, more than the 20 allowed"),
            (Some("name".into()), "Name is too long".into())
        );
        let several = words(
            "duplicate key value violates unique constraint \"k\" \
             (Key (email, company_id)=(a@b.c, 4) already exists.)",
        );
        assert_eq!(several.1, "Email and company id already exist in contacts");
        for (error, value) in [
            (unique, "ada@example.com"),
            (
                "joined: \"yesterday\" is not a valid date (YYYY-MM-DD)",
                "yesterday",
            ),
            ("something unheard of: \"secret-cell\"", "secret-cell"),
        ] {
            assert!(!words(error).1.contains(value), "{error}");
        }
    }

    #[test]
    fn salesforce_codes_are_said_in_plain_words() {
        let sf = |error: &str| {
            let p = plain(error, "Contact");
            (p.field, p.reason)
        };
        assert_eq!(
            sf(
                "DUPLICATE_VALUE: duplicate value found: Email__c duplicates value on record \
                with id: 003000000000001 (Email__c)"
            ),
            (
                Some("Email__c".into()),
                "Email already exists in Contact".into()
            )
        );
        assert_eq!(
            sf("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"),
            (Some("LastName".into()), "Last name is required".into())
        );
        assert_eq!(
            sf("INVALID_EMAIL_ADDRESS: Email: invalid email address: ada@ (Email)"),
            (
                Some("Email".into()),
                "Email is not a valid email address".into()
            )
        );
        let rule = sf("FIELD_CUSTOM_VALIDATION_EXCEPTION: Amount must be positive: 12 ()");
        assert_eq!(rule.1, "A validation rule in Salesforce refused the row");
        assert_eq!(
            sf("SOME_NEW_CODE: what ada@example.com did").1,
            "Salesforce refused the row (SOME_NEW_CODE)"
        );
    }

    #[test]
    fn field_names_read_as_words() {
        assert_eq!(field_words("first_name"), "First name");
        assert_eq!(field_words("FirstName"), "First name");
        assert_eq!(field_words("Email__c"), "Email");
        assert_eq!(field_words(""), "A value");
    }
}
