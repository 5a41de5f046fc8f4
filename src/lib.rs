//! guardduty-invite: adds each newly created AWS account to the administrator's GuardDuty.
//!
//! `event` parses the EventBridge event, `handler` runs the flow, `invite` holds the
//! per-region member calls and `decision` their pure decisions, `aws` is the one place that
//! talks to AWS, `notify` shapes the SNS message, `error` maps failures to Lambda errors.

pub mod account;
pub mod aws;
pub mod config;
pub mod decision;
pub mod error;
pub mod event;
pub mod handler;
pub mod invite;
pub mod invoke;
pub mod metrics;
pub mod notify;
pub mod report;
pub mod template;
