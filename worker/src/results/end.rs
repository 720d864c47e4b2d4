//! The end of a run's files, each step safe to repeat: the pieces joined
//! into the three files, the run's end recorded, then the pieces deleted.

use super::{file_id, Ended, Results, ENDED, ERRORS, FILES, KIND, SKIPPED, SUCCESS};
use crate::crash::{self, Phase};

impl Results {
    /// Joins the pieces of batches `1..=batches` into the three files, each
    /// forced to disk and only then renamed over any earlier one. The
    /// pieces stay: they go once the run's end is in the event log
    /// ([`Results::remove_pieces`]), so a worker killed here joins them again
    /// from all of them.
    pub fn assemble(&self, batches: i64) -> std::io::Result<()> {
        // Batches whose success or errors piece is lost, and those whose
        // skipped piece is.
        let mut lost: Vec<i64> = Vec::new();
        let mut lost_skipped: Vec<i64> = Vec::new();
        for name in FILES {
            self.write_file(name, None, true, |out| {
                self.write_rows(out, name, true, &[])?;
                for batch in 1..=batches {
                    // A piece goes in whole or not at all.
                    match self.read_file(name, Some(batch))? {
                        Some(plain) => out.write_all(&plain)?,
                        None if name == SKIPPED => lost_skipped.push(batch),
                        None if !lost.contains(&batch) => lost.push(batch),
                        None => {}
                    }
                    if name == SUCCESS && batch == 1 {
                        crash::at(Phase::Joining);
                    }
                }
                if name == ERRORS {
                    let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
                    for batch in &lost {
                        csv.write_record([
                            "",
                            &format!(
                                "the result rows of batch {batch} were lost in a crash; its rows were imported"
                            ),
                        ])?;
                    }
                    for batch in &lost_skipped {
                        csv.write_record([
                            "",
                            &format!(
                                "the skipped rows of batch {batch} were lost in a crash; they were not imported"
                            ),
                        ])?;
                    }
                    csv.flush()?;
                }
                Ok(())
            })?;
            if name == SUCCESS {
                crash::at(Phase::SuccessJoined);
            }
        }
        Ok(())
    }

    /// Records, forced to disk, that the three files are whole for `ended.batches`
    /// batches and how the run ends: written once the files are in place,
    /// so a worker that finds it finishes the run as recorded and does not
    /// join the files again.
    pub fn record_end(&self, ended: &Ended) -> std::io::Result<()> {
        let json = serde_json::to_vec(ended).map_err(std::io::Error::other)?;
        self.write_file(ENDED, None, true, |out| out.write_all(&json))
    }

    /// The record of the run's end, if the files are whole; `None` if there
    /// is none (or one that does not decrypt whole, as if there were none).
    pub fn ended(&self) -> std::io::Result<Option<Ended>> {
        Ok(self
            .read_file(ENDED, None)?
            .and_then(|json| serde_json::from_slice(&json).ok()))
    }

    /// Deletes the pieces of the three files, once the record of the run's end
    /// is written ([`Results::record_end`]): a worker that resumes the run
    /// after this does not join them again. The journal stays (a rollback
    /// reads it), and so does the record, until the files expire.
    pub fn remove_pieces(&self, batches: i64) -> std::io::Result<()> {
        for batch in 1..=batches {
            for name in FILES {
                self.store
                    .remove(KIND, &file_id(self.run, name, Some(batch)))?;
            }
            if batch == 1 {
                crash::at(Phase::DeletingPieces);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::results::*;

    fn read(results: &Results, name: &'static str) -> String {
        let file = results
            .store
            .open_file(KIND, &file_id(results.run, name, None))
            .unwrap();
        let owner = owner::result_file(results.account, results.run, name, None);
        let mut plain = Vec::new();
        results.key.decrypt(&owner, file, &mut plain).unwrap();
        String::from_utf8(plain).unwrap()
    }

    #[test]
    fn pieces_join_and_a_lost_piece_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let results = Results {
            store: FileStore::open(dir.path()).unwrap(),
            key: Arc::new(FileKey::generate()),
            account: AccountId(uuid::Uuid::now_v7()),
            run: RunId(uuid::Uuid::now_v7()),
            header: vec!["Email".into()],
        };
        let mut source = SourceRows::with_capacity(4);
        for (number, email) in [(1, "a@example.com"), (2, "=cmd"), (3, "c@example.com")] {
            source.push(number, Some(&Fields::from(vec![email])));
        }
        source.push(4, None);
        source.push(5, Some(&Fields::from(vec!["-e@example.com"])));
        let keys = [vec!["10".to_owned(), "a".to_owned()], vec!["11".to_owned()]];
        let created = |number: u64, key| Outcome {
            number,
            note: Note::Key(key),
            status: "created",
            fields: source.get(number),
        };
        let refused = |number: u64, reason| Outcome {
            number,
            note: Note::Text(reason),
            status: "",
            fields: source.get(number),
        };
        results
            .write_part(
                1,
                &[created(1, &keys[0])],
                &[refused(5, "the job's filter is false for this row")],
                &[refused(2, "bad"), refused(4, "unreadable")],
            )
            .unwrap();
        results
            .write_part(2, &[created(3, &keys[1])], &[], &[])
            .unwrap();
        // A power cut left batch 2's success piece cut short.
        let piece = results
            .store
            .path(KIND, &file_id(results.run, SUCCESS, Some(2)));
        let bytes = std::fs::read(&piece).unwrap();
        std::fs::write(&piece, &bytes[..bytes.len() - 5]).unwrap();
        results.assemble(2).unwrap();
        assert_eq!(
            read(&results, SUCCESS),
            "ROW,ID,STATUS,Email\n1,\"10,a\",created,a@example.com\n"
        );
        let errors = read(&results, ERRORS);
        assert!(
            errors.starts_with("ROW,ERROR,Email\n2,bad,'=cmd\n4,unreadable\n"),
            "{errors}"
        );
        assert!(errors.contains("batch 2 were lost"), "{errors}");
        assert_eq!(
            read(&results, SKIPPED),
            "ROW,REASON,Email\n5,the job's filter is false for this row,'-e@example.com\n"
        );
        assert_eq!(
            results.store.list(KIND).unwrap().len(),
            9,
            "the pieces stay until the run's end is recorded"
        );
        let ended = Ended {
            batches: 2,
            finished: RunFinished {
                status: sluice_schema::kinds::RunStatus::Succeeded,
                rows_total: 4,
                rows_ok: 2,
                rows_failed: 2,
                rows_skipped: 1,
                message: None,
                results_expire_at: None,
                api_calls: None,
            },
        };
        assert_eq!(results.ended().unwrap(), None);
        results.record_end(&ended).unwrap();
        assert_eq!(results.ended().unwrap(), Some(ended));
        results.remove_pieces(2).unwrap();
        let mut left: Vec<String> = results
            .store
            .list(KIND)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        left.sort();
        let run = results.run;
        assert_eq!(
            left,
            [
                format!("{run}.ended"),
                format!("{run}.errors"),
                format!("{run}.skipped"),
                format!("{run}.success")
            ],
            "the three files and the record are left"
        );
    }
}
