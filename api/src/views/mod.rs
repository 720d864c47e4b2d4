//! What the API answers: one type per answer, which the handler builds and
//! serializes as sent, and from whose derive the OpenAPI document describes
//! it, so that the document cannot say one thing while the handler sends
//! another. The test suite holds every answer it sees against the document
//! (see `response_check`).

pub mod account;
pub mod imports;
pub mod targets;
pub mod templates;
