//! The targets a write takes for a mapping, a lookup's field turned into a
//! reference set by the related record's external id.

use crate::salesforce::Describe;

/// The targets a [`Writer`] takes for a mapping's (`plan`): a field set by
/// a lookup of another object's external id (`{"lookup": {"object":
/// "Opportunity", "key": "External_Id__c"}}` on `WhatId`) is a reference
/// set by that id, which Salesforce resolves itself, in the object the
/// lookup names (`WhatId:Opportunity.External_Id__c`): a polymorphic
/// reference, which can refer to several objects, is resolved in that one.
/// The lookups Sluice makes itself (`resolved`: their positions, see
/// [`super::super::Lookups`]) set their reference to a record id.
pub fn writer_targets(
    describe: &Describe,
    plan: &crate::mapping::Plan,
    resolved: &[usize],
) -> Result<Vec<String>, String> {
    let mut targets: Vec<String> = plan.targets().iter().map(|t| (*t).to_owned()).collect();
    for (at, lookup) in plan.lookups() {
        if lookup
            .field
            .as_deref()
            .is_some_and(|f| !f.eq_ignore_ascii_case("Id"))
        {
            return Err(format!(
                "{}: a Salesforce lookup sets the record Id; leave its field out",
                targets[at]
            ));
        }
        if targets[at].contains(':') {
            return Err(format!(
                "{}: name the external id field once, in the target or the lookup",
                targets[at]
            ));
        }
        let (field, _) = describe.target(&targets[at])?;
        let Some(object) = field
            .reference_to
            .iter()
            .find(|o| o.eq_ignore_ascii_case(lookup.object.trim()))
        else {
            return Err(format!(
                "{}.{} refers to {}, not to {}",
                describe.name,
                field.name,
                field.reference_to.join(" or "),
                lookup.object.trim()
            ));
        };
        if !resolved.contains(&at) {
            targets[at] = format!("{}:{object}.{}", targets[at], lookup.key.trim());
        }
    }
    Ok(targets)
}
