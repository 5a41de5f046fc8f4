//! Every integration test, as modules of one test binary: each former `tests/<name>.rs` is a
//! module here with the same test names (`e2e_<area>.rs` became `<area>`), so
//! `cargo test --test e2e accept::` runs one area. One binary links the AWS SDK once instead
//! of once per file, which was most of a clean build's time; and the binary's tests share one
//! emulator process (see `support::Emulator::start`).

mod support;

mod accept;
mod aws_behaviour;
mod calls_per_account;
mod check;
mod cli;
mod coverage;
mod deployment;
mod docs_links;
mod emf_output;
mod events_table;
mod fault_sequences;
mod faults;
mod fuzz;
mod invoke;
mod lambda_runtime;
mod limits;
mod members;
mod messages;
mod observed;
mod plans;
mod policy;
mod readable_errors;
mod reconcile;
mod regions;
mod report;
mod security_hub;
mod template;
mod terminal;
mod test_support;
mod throttling;
mod tls_trust;
