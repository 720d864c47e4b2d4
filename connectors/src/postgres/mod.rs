//! PostgreSQL as a target and as a source.
//!
//! As a target: connecting with a stored connection's settings
//! ([`connect`], [`tls`]), describing a table ([`describe`]), checking
//! values against its columns ([`check_value`]), and writing batches
//! ([`Writer`]: COPY for inserts, keyed statements for updates, upserts and
//! deletes), each batch committed together with its checkpoint marker in
//! the target database ([`Checkpoint`]), so that a run resumed after a crash
//! never writes a batch twice. A run's journal is undone batch by batch
//! ([`revert_batch`]). Lookups resolve mapped values to keys of other
//! tables ([`Lookups`]).
//!
//! As a source: a read-only query streamed as CSV ([`stream_query`]).

mod batch;
mod catalog;
mod check;
mod checkpoint;
mod connect;
pub(crate) mod copy_text;
mod error;
mod insert;
pub(crate) mod lookup;
mod query;
mod revert;
mod row_by_row;
mod table;
pub mod tls;
mod undo;
mod write;
mod writer;

pub use tokio_postgres::Client;

pub use catalog::list_tables;
pub use check::check_value;
pub use checkpoint::{after, flush, last_checkpoint, After, Checkpoint};
pub use connect::{
    connect, connect_checked, test_connection, ConnectFailure, FailureKind, PgParams,
    CONNECT_TIMEOUT,
};
pub use copy_text::CopyText;
pub use error::{describe_error, TargetError};
pub use lookup::Lookups;
pub use query::{
    describe_query, normalize_query, query_dialect, stream_query, QueryReader, MAX_QUERY,
};
pub use revert::{deletes_reach_beyond, own_versions, revert_batch, Reverted};
pub use table::{describe, quote, Column, Table};
pub use tls::{SslMode, MAX_CA_CERT};
pub use undo::Undo;
pub use writer::{Insert, Operation, Writer, Written};
