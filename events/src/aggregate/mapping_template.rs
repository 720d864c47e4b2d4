//! The mapping template aggregate: whether a template is there to delete.
//! Two deletions decided at once are recorded once.

use super::{owned_by, Aggregate, Refusal};
use crate::envelope::RecordedEvent;
use crate::event::{DomainEvent, MappingTemplateDeleted};
use sluice_schema::ids::AccountId;

/// A template as its stream holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingTemplate {
    pub account: Option<AccountId>,
    pub saved: bool,
    pub deleted: bool,
}

impl Aggregate for MappingTemplate {
    const STREAM_TYPE: &'static str = "mapping_template";

    fn apply(&mut self, event: &RecordedEvent) {
        match &event.event {
            DomainEvent::MappingTemplateSaved(_) => {
                self.account = event.account_id;
                self.saved = true;
            }
            DomainEvent::MappingTemplateDeleted(_) => self.deleted = true,
            _ => {}
        }
    }
}

impl MappingTemplate {
    /// The events that delete the template for `account`: a template of
    /// another account, never saved or deleted already is not found.
    pub fn delete(&self, account: AccountId) -> Result<Vec<DomainEvent>, Refusal> {
        owned_by(self.account, account)?;
        if !self.saved || self.deleted {
            return Err(Refusal::NotFound);
        }
        Ok(vec![DomainEvent::MappingTemplateDeleted(
            MappingTemplateDeleted {},
        )])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::fold;
    use crate::aggregate::testing::{recorded, ACCOUNT};
    use crate::event::MappingTemplateSaved;
    use uuid::Uuid;

    fn template(events: Vec<DomainEvent>) -> MappingTemplate {
        let id = Uuid::from_u128(9);
        fold::<MappingTemplate>(id, &recorded(id, events)).state
    }

    #[test]
    fn a_template_is_deleted_once_and_only_by_its_account() {
        let saved = DomainEvent::MappingTemplateSaved(MappingTemplateSaved {
            details: "sealed".into(),
        });
        let live = template(vec![saved.clone()]);
        assert_eq!(live.delete(ACCOUNT).map(|e| e.len()), Ok(1));
        let other = AccountId(Uuid::from_u128(99));
        assert_eq!(live.delete(other), Err(Refusal::NotFound));
        let gone = template(vec![
            saved,
            DomainEvent::MappingTemplateDeleted(MappingTemplateDeleted {}),
        ]);
        assert_eq!(gone.delete(ACCOUNT), Err(Refusal::NotFound));
        assert_eq!(template(vec![]).delete(ACCOUNT), Err(Refusal::NotFound));
    }
}
