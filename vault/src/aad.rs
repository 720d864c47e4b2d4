//! Associated data: who a ciphertext belongs to.

/// The owner of a ciphertext: decrypting it under any other owner fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aad {
    pub account: String,
    pub table: &'static str,
    pub row: String,
    pub field: &'static str,
}

impl Aad {
    pub fn new(
        account: impl ToString,
        table: &'static str,
        row: impl ToString,
        field: &'static str,
    ) -> Self {
        Self {
            account: account.to_string(),
            table,
            row: row.to_string(),
            field,
        }
    }

    /// Length-prefixed parts, so no two owners encode alike.
    pub(crate) fn bytes(&self, purpose: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        for part in [
            "sluice.v1",
            purpose,
            self.account.as_str(),
            self.table,
            self.row.as_str(),
            self.field,
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

/// The owners of Sluice's sealed data, named once for every process that
/// seals or opens it.
pub mod owner {
    use super::Aad;

    /// A connection's secret (a password, or a provider's tokens).
    pub fn connection_secret(account: impl ToString, connection: impl ToString) -> Aad {
        Aad::new(account, "connection_secrets", connection, "password")
    }

    /// A run's result-file key.
    pub fn result_key(account: impl ToString, run: impl ToString) -> Aad {
        Aad::new(account, "result_keys", run, "key")
    }

    /// One of a run's result files (`success` or `errors`); `part` names a
    /// batch's piece of it while the run works.
    pub fn result_file(
        account: impl ToString,
        run: impl ToString,
        name: &'static str,
        part: Option<i64>,
    ) -> Aad {
        let row = match part {
            Some(batch) => format!("{}:{batch}", run.to_string()),
            None => run.to_string(),
        };
        Aad::new(account, "run_results", row, name)
    }

    /// The id in the file store of a run's result file, or of a piece of it.
    pub fn result_file_id(run: impl ToString, name: &str, part: Option<i64>) -> String {
        match part {
            Some(batch) => format!("{}.{name}.{batch}", run.to_string()),
            None => format!("{}.{name}", run.to_string()),
        }
    }

    /// An upload's file and its data key.
    pub fn upload_file(account: impl ToString, upload: impl ToString) -> Aad {
        Aad::new(account, "uploads", upload, "file")
    }

    /// An upload's name and shape (its header, sheets and CSV dialect),
    /// sealed under the subject key.
    pub fn upload_details(account: impl ToString, upload: impl ToString) -> Aad {
        Aad::new(account, "uploads", upload, "details")
    }

    /// What the customer typed of a job (its name, query or sheet, target
    /// object, key fields and mapping), sealed under the subject key.
    pub fn job_details(account: impl ToString, job: impl ToString) -> Aad {
        Aad::new(account, "jobs", job, "details")
    }

    /// A mapping template's name and entries, sealed under the subject key.
    pub fn mapping_template(account: impl ToString, template: impl ToString) -> Aad {
        Aad::new(account, "mapping_templates", template, "details")
    }

    /// What the customer typed of a connection (its name and parameters),
    /// sealed under the subject key.
    pub fn connection_details(account: impl ToString, connection: impl ToString) -> Aad {
        Aad::new(account, "connections", connection, "details")
    }

    /// Why a run failed as a whole (it may quote a column, a table, a host
    /// or a database's own error), sealed under the subject key.
    pub fn run_message(account: impl ToString, run: impl ToString) -> Aad {
        Aad::new(account, "runs", run, "message")
    }

    /// The name a customer gave an API token, sealed under the subject key.
    pub fn token_name(account: impl ToString, token: impl ToString) -> Aad {
        Aad::new(account, "tokens", token, "name")
    }
}
