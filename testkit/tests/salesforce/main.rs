//! The Salesforce stand-in, driven over HTTP as Sluice's client drives
//! Salesforce: OAuth for a session, then REST, Bulk API 2.0 and SOAP.
#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed step must stop the test"
)]

mod bulk;
mod collections;
mod decimals;
mod faults;
mod limits;
mod oauth;
mod polymorphic;
mod query;
mod soap;
mod support;
