//! Integration tests against the real PostgreSQL and RabbitMQ.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failed step must stop the test"
)]

mod account_export;
mod account_settings;
mod accounts;
mod api;
mod append;
mod audit;
mod auto_match;
mod billing;
mod blanks;
mod bounds;
mod browser;
mod browser_account;
mod browser_jobs;
mod browser_wizard;
mod cli;
mod connections;
mod connections_tls;
mod consumer;
mod customer_text;
mod dedupe;
mod dropbox_connect;
mod dropbox_source;
mod erasure;
mod event_log_fixture;
mod faults;
mod formulas;
mod hostile;
mod https;
mod imports;
mod keys;
mod logs;
mod mapping_templates;
mod object_store;
mod object_store_hosts;
mod openapi;
mod phases;
mod quarantine;
mod races;
mod relay;
mod replay;
mod rollback_conflicts;
mod rollbacks;
mod salesforce_conflicts;
mod salesforce_connect;
mod salesforce_echoes;
mod salesforce_jobs;
mod salesforce_keys;
mod salesforce_login;
mod salesforce_lookups;
mod salesforce_retries;
mod salesforce_runs;
mod salesforce_target;
mod salesforce_tokens;
mod salesforce_values;
mod schedules;
mod support;
mod targets;
mod trials;
mod uploads;
mod web;
