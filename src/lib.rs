//! guardduty-invite: makes each new AWS account a GuardDuty member of the administrator.
//!
//! `event` parses the EventBridge event, `handler` runs the stages of `flow` for it, `decision`
//! holds their pure decisions, `aws` is the one place that talks to AWS, `publish` shapes
//! and sends what leaves the process (the SNS message, the metrics), `error` maps failures to
//! Lambda errors, `cli` is the command line.

pub mod account;
pub mod aws;
pub mod check;
pub mod cli;
pub mod config;
pub mod decision;
pub mod error;
pub mod event;
pub mod flow;
pub mod handler;
pub mod logging;
pub mod plan;
pub mod policy;
pub mod policy_store;
pub mod publish;
pub mod reconcile;
pub mod regions;
pub mod report;
pub mod retry;
pub mod template;
