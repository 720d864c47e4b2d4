//! Uploads as a run's source: a CSV file (its dialect detected) or a
//! workbook's sheet, decrypted as it is read. A Dropbox file reaches a run
//! as an upload too (the API fetches it), so there is no Dropbox source
//! here.

use super::Source;
use crate::runs::{RunHandler, Stop};
use sluice_connectors::detect::{CsvDialect, Format};
use sluice_connectors::source::{read_sheet, CsvSource, RowSink, SourceError};
use sluice_schema::ids::{AccountId, UploadId};
use sluice_schema::repo::uploads;
use sluice_vault::owner;
use std::io::BufReader;

/// Where runs read their uploads from.
const UPLOADS: &str = "uploads";

/// An upload opened for reading, its format and the sheet to read.
pub(in crate::runs) struct Upload {
    reader: BufReader<sluice_vault::DecryptReader<std::fs::File>>,
    format: Format,
    sheet: Option<String>,
    /// A CSV's encoding and delimiter as detected when it was uploaded.
    dialect: Option<CsvDialect>,
}

/// What a run reads of an upload's sealed details: its CSV dialect.
#[derive(serde::Deserialize)]
struct Shape {
    csv: Option<CsvDialect>,
}

impl Source for Upload {
    fn read(self, sink: &mut impl RowSink) -> Result<(), SourceError> {
        match (self.format, self.dialect) {
            (Format::Csv, Some(dialect)) => {
                CsvSource::open(self.reader, &dialect).and_then(|source| source.feed(sink))
            }
            // An upload recorded without its dialect: detected again, as it
            // was when it was uploaded.
            (Format::Csv, None) => {
                CsvSource::detect(self.reader).and_then(|source| source.feed(sink))
            }
            (format, _) => read_sheet(self.reader, format, self.sheet.as_deref(), sink),
        }
    }
}

impl RunHandler {
    /// The upload's plaintext, as a reader that decrypts as it goes.
    pub(super) async fn open_upload(
        &self,
        account: AccountId,
        id: UploadId,
        sheet: Option<String>,
    ) -> Result<Upload, Stop> {
        let upload = self
            .db(move |c| uploads::find_any(c, id))
            .await?
            .filter(|u| u.account_id == account.0)
            .ok_or_else(|| Stop::Fail("the upload no longer exists".into()))?;
        if upload.removed_at.is_some() || upload.expires_at <= self.platform.clock.now() {
            return Err(Stop::Fail(
                "the upload has expired and its file is deleted; upload the file again".into(),
            ));
        }
        let (version, wrapped) = self
            .db(move |c| uploads::key(c, account, id))
            .await?
            .ok_or_else(|| Stop::Fail("the upload's key is gone".into()))?;
        let file_owner = owner::upload_file(account, id);
        let key = self
            .keyring
            .file_key(&file_owner, version.get(), &wrapped)
            .map_err(|e| Stop::Retry(format!("upload key: {e}")))?;
        let store = self.store.clone();
        // Opening may download the file from the object store: blocking I/O.
        let reader = tokio::task::spawn_blocking(move || {
            store.reader(UPLOADS, &id.to_string(), &key, &file_owner)
        })
        .await
        .map_err(|e| Stop::Retry(format!("the upload's file: {e}")))?
        .map_err(|e| match e {
            // The object store did not answer: another try may do.
            sluice_vault::FileError::Io(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Stop::Retry(format!("the upload's file: {e}"))
            }
            e => Stop::Fail(format!("the upload's file cannot be read: {e}")),
        })?;
        let format = Format::from_name(&format!("x.{}", upload.format))
            .ok_or_else(|| Stop::Fail("the upload's format is not one a run reads".into()))?;
        let dialect = match format {
            Format::Csv => self.dialect_of(account, id, &upload.details).await?,
            _ => None,
        };
        Ok(Upload {
            reader: BufReader::with_capacity(256 * 1024, reader),
            format,
            sheet,
            dialect,
        })
    }

    /// The CSV dialect the upload was read with when it was made (its
    /// sealed details keep it), so a run does not detect it again.
    async fn dialect_of(
        &self,
        account: AccountId,
        id: UploadId,
        sealed: &str,
    ) -> Result<Option<CsvDialect>, Stop> {
        let subject = self.subject(account).await?;
        let plain = subject
            .decrypt(sealed, &owner::upload_details(account, id))
            .map_err(|e| Stop::Fail(format!("the upload's details cannot be opened: {e}")))?;
        let shape: Shape = serde_json::from_str(&plain)
            .map_err(|e| Stop::Fail(format!("the upload's details cannot be read: {e}")))?;
        Ok(shape.csv)
    }
}
