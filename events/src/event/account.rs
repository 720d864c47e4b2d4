//! An account's life: sign-up, plan, retention settings, export and erasure.

use serde::{Deserialize, Serialize};
use sluice_schema::kinds::Plan;
use uuid::Uuid;

/// Fields marked *sealed* hold personal data encrypted under the account's
/// subject key (base64), bound to the account, table, row and field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountCreated {
    pub region: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub plan: Plan,
    /// Sealed.
    pub company: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPlanChanged {
    /// `free`, `pro` or `enterprise`.
    pub plan: Plan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountSettingsChanged {
    /// Days result files are kept (0 to 30); none: the deployment's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_retention_days: Option<u32>,
    /// False: no result files (nor journals) are kept at all.
    pub store_results: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountExported {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountErased {
    /// Uploads whose file and key were destroyed.
    pub uploads: Vec<Uuid>,
    /// Runs whose result files and key were destroyed.
    pub runs: Vec<Uuid>,
}
