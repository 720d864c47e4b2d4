//! Auto-match: a source's header matched to a target's fields, for a job
//! created with `"mapping": "auto"` and for `POST /v1/mappings/suggest`.
//!
//! A column matches a field by one of four rules, each with a confidence:
//!
//! | rule | when | confidence |
//! | --- | --- | --- |
//! | `exact` | the column is the field's name, character for character | 1.0 |
//! | `name` | the same once [normalised](normalised) | 0.9 |
//! | `label` | the column, normalised, is the field's label, normalised | 0.8 |
//! | `synonym` | the column and the field's name or label are [`SYNONYMS`] of one another | 0.7 |
//!
//! Every possible match is weighed at once, the most confident first (the
//! header's order, then the fields', breaks a tie): a field takes at most
//! one column and a column goes to at most one field.

use std::collections::HashSet;

/// Words that name the same thing, normalised (see [`normalised`]); the
/// first of each group is its name. The one place the known synonyms are
/// kept: a column and a field match by synonym when each is in one group.
pub const SYNONYMS: &[&[&str]] = &[
    &["email", "emailaddress", "mail", "email1", "emailid"],
    &["firstname", "givenname", "forename", "fname", "first"],
    &["lastname", "surname", "familyname", "lname", "last"],
    &[
        "phone",
        "telephone",
        "tel",
        "phonenumber",
        "telephonenumber",
        "mobile",
        "mobilephone",
        "cell",
        "cellphone",
    ],
    &[
        "postalcode",
        "zip",
        "zipcode",
        "postcode",
        "mailingpostalcode",
        "billingpostalcode",
    ],
    &[
        "company",
        "organisation",
        "organization",
        "companyname",
        "accountname",
        "employer",
        "org",
    ],
    &["city", "town", "mailingcity", "billingcity"],
    &[
        "street",
        "address",
        "streetaddress",
        "address1",
        "mailingstreet",
        "billingstreet",
    ],
    &[
        "state",
        "province",
        "region",
        "county",
        "mailingstate",
        "billingstate",
    ],
    &["country", "nation", "mailingcountry", "billingcountry"],
    &["title", "jobtitle", "position", "role"],
    &["website", "url", "web", "homepage", "site"],
    &["birthdate", "dateofbirth", "dob", "birthday"],
    &["name", "fullname"],
];

/// A target field as auto-match sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetField {
    pub name: String,
    /// What the target calls it for people (Salesforce's label); a
    /// PostgreSQL column's is its name.
    pub label: String,
    /// Whether a new record needs a value for it.
    pub required: bool,
}

/// How a column matched its field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Exact,
    Name,
    Label,
    Synonym,
}

impl Rule {
    pub fn confidence(self) -> f32 {
        match self {
            Self::Exact => 1.0,
            Self::Name => 0.9,
            Self::Label => 0.8,
            Self::Synonym => 0.7,
        }
    }
}

/// A column matched to a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub source: String,
    pub target: String,
    pub rule: Rule,
}

/// What auto-match found: the matches in the header's order, the columns
/// it matched to nothing, and the required fields no column went to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matched {
    pub matches: Vec<Match>,
    pub unmatched_columns: Vec<String>,
    pub unmapped_required: Vec<String>,
}

/// `text` without case, accents, spaces, underscores or punctuation (and
/// a Salesforce custom field's `__c`): `"E-mail Address"` and
/// `"email_address__c"` are both `emailaddress`.
pub fn normalised(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let text = text.trim();
    let text = text
        .strip_suffix("__c")
        .or_else(|| text.strip_suffix("__C"))
        .unwrap_or(text);
    text.nfkd()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The synonym group a normalised word is in.
fn group(word: &str) -> Option<usize> {
    SYNONYMS.iter().position(|words| words.contains(&word))
}

/// The best rule by which `column` matches `field`.
fn rule(column: &str, field: &TargetField) -> Option<Rule> {
    if column == field.name {
        return Some(Rule::Exact);
    }
    let column = normalised(column);
    if column.is_empty() {
        return None;
    }
    let (name, label) = (normalised(&field.name), normalised(&field.label));
    if column == name {
        return Some(Rule::Name);
    }
    if column == label {
        return Some(Rule::Label);
    }
    let group = group(&column)?;
    let same = |word: &str| self::group(word) == Some(group);
    (same(&name) || same(&label)).then_some(Rule::Synonym)
}

/// Matches `header` to `fields` (see the module's rules).
pub fn auto_match(header: &[String], fields: &[TargetField]) -> Matched {
    let mut candidates: Vec<(Rule, usize, usize)> = header
        .iter()
        .enumerate()
        .flat_map(|(c, column)| {
            fields
                .iter()
                .enumerate()
                .filter_map(move |(f, field)| rule(column, field).map(|r| (r, c, f)))
        })
        .collect();
    candidates.sort();
    let (mut columns, mut taken) = (HashSet::new(), HashSet::new());
    let mut chosen: Vec<(usize, usize, Rule)> = Vec::new();
    for (rule, c, f) in candidates {
        if !columns.contains(&c) && !taken.contains(&f) {
            columns.insert(c);
            taken.insert(f);
            chosen.push((c, f, rule));
        }
    }
    chosen.sort();
    Matched {
        matches: chosen
            .into_iter()
            .map(|(c, f, rule)| Match {
                source: header[c].clone(),
                target: fields[f].name.clone(),
                rule,
            })
            .collect(),
        unmatched_columns: header
            .iter()
            .enumerate()
            .filter(|(c, _)| !columns.contains(c))
            .map(|(_, column)| column.clone())
            .collect(),
        unmapped_required: fields
            .iter()
            .enumerate()
            .filter(|(f, field)| field.required && !taken.contains(f))
            .map(|(_, field)| field.name.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, label: &str, required: bool) -> TargetField {
        TargetField {
            name: name.into(),
            label: label.into(),
            required,
        }
    }

    fn header(columns: &[&str]) -> Vec<String> {
        columns.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn names_are_compared_without_case_accents_spaces_or_punctuation() {
        assert_eq!(normalised(" E-mail Address "), "emailaddress");
        assert_eq!(normalised("email_address__c"), "emailaddress");
        assert_eq!(normalised("Prénom"), "prenom");
        assert_eq!(normalised("ZIP/Postal Code"), "zippostalcode");
    }

    #[test]
    fn each_rule_has_its_confidence_and_the_best_match_wins() {
        let fields = [
            field("Email", "Email", false),
            field("FirstName", "First Name", false),
            field("LastName", "Last Name", true),
            field("Phone", "Business Phone", false),
            field("Company__c", "Organisation", false),
            field("Birthdate", "Birthdate", true),
        ];
        let found = auto_match(
            &header(&[
                "Email",
                "first name",
                "Surname",
                "Telephone",
                "Organisation",
                "Shoe size",
                "E-mail",
            ]),
            &fields,
        );
        let got: Vec<(&str, &str, Rule)> = found
            .matches
            .iter()
            .map(|m| (m.source.as_str(), m.target.as_str(), m.rule))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Email", "Email", Rule::Exact),
                ("first name", "FirstName", Rule::Name),
                ("Surname", "LastName", Rule::Synonym),
                ("Telephone", "Phone", Rule::Synonym),
                ("Organisation", "Company__c", Rule::Label),
            ]
        );
        // "E-mail" would match Email too, but Email is taken by the exact match.
        assert_eq!(found.unmatched_columns, header(&["Shoe size", "E-mail"]));
        assert_eq!(found.unmapped_required, vec!["Birthdate".to_owned()]);
    }

    #[test]
    fn a_field_takes_one_column_and_a_column_one_field() {
        let fields = [
            field("email", "email", false),
            field("email2", "Email", false),
        ];
        let found = auto_match(&header(&["EMAIL", "Email Address"]), &fields);
        assert_eq!(found.matches.len(), 2);
        assert_eq!(found.matches[0].target, "email");
        assert_eq!(found.matches[0].rule, Rule::Name);
        assert_eq!(found.matches[1].target, "email2");
        assert_eq!(found.matches[1].rule, Rule::Synonym);
    }

    #[test]
    fn a_blank_or_punctuation_only_column_matches_nothing() {
        let found = auto_match(&header(&["", "--"]), &[field("x", "", false)]);
        assert!(found.matches.is_empty());
    }
}
