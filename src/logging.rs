//! Logging on stderr (stdout carries responses), with every email address masked, whatever
//! text carries it: AWS's answers and error messages can echo one. On a terminal, log lines
//! are written above a reconcile's spinner, never through it.

use std::io::{self, IsTerminal, Write};
use std::sync::{Mutex, OnceLock};

use lambda_runtime::tracing::subscriber::{
    self,
    filter::{EnvFilter, LevelFilter},
    fmt,
    prelude::*,
};

use crate::account::mask_emails_in;

/// The variable that asks for the CloudWatch Embedded Metric Format lines outside Lambda.
pub const EMF_VARIABLE: &str = "GUARDDUTY_INVITE_EMF";

/// Starts the Lambda-format subscriber (JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`; the level
/// from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO, as the runtime's default
/// subscriber has it) on a writer that masks emails and keeps clear of a progress bar.
///
/// A failure on its way out of the handler is not logged on the way: the error the
/// invocation ends with says it, once (the subcommand on stderr; inside Lambda, the runtime
/// logs the handler's error as one line, see `main.rs`).
pub fn init() {
    let level_asked = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let level = level_asked
        .as_deref()
        .unwrap_or("INFO")
        .parse::<LevelFilter>()
        .unwrap_or(LevelFilter::INFO);
    let env_filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    let layer = fmt::layer()
        .with_target(false)
        .with_writer(|| MaskingWriter(StderrBesideProgress));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = subscriber::registry().with(env_filter);
    // Another subscriber already set (a test that set one) keeps its place. In JSON each line
    // carries "level" and an RFC 3339 "timestamp": Lambda's log-level filtering reads both,
    // and treats a line without a valid timestamp as INFO. A terminal's lines need no time.
    let _ = if json {
        registry.with(layer.json()).try_init()
    } else {
        registry.with(layer.without_time()).try_init()
    };
}

/// The level a metric line is written at: the function's application log level
/// (`AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from its logging configuration), so that
/// Lambda's log-level filtering always lets the metrics through; INFO when none is set.
fn metrics_level() -> &'static str {
    static LEVEL: OnceLock<String> = OnceLock::new();
    LEVEL.get_or_init(|| level_for_metrics(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref()))
}

fn level_for_metrics(asked: Option<&str>) -> String {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    asked
        .map(|l| l.trim().to_ascii_uppercase())
        .filter(|l| LEVELS.contains(&l.as_str()))
        .unwrap_or_else(|| "INFO".into())
}

/// An EMF line with the `level` and RFC 3339 `timestamp` keys Lambda's log-level filtering
/// reads ("If the level value field is invalid or missing, Lambda will assign the log output
/// the level INFO"): EMF lets a document carry fields beyond its metrics.
fn leveled(line: &str, level: &str, timestamp: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut map)) => {
            map.insert("level".into(), level.into());
            map.insert("timestamp".into(), timestamp.into());
            serde_json::Value::Object(map).to_string()
        }
        _ => line.to_owned(),
    }
}

fn rfc3339_now() -> String {
    use aws_sdk_guardduty::primitives::{DateTime, DateTimeFormat};
    DateTime::from(std::time::SystemTime::now())
        .fmt(DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// Writes each formatted log record with the emails in it masked. The subscriber writes a
/// record in one piece, so an address is never split across two writes.
pub struct MaskingWriter<W: Write>(pub W);

impl<W: Write> Write for MaskingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        if text.contains('@') {
            self.0.write_all(mask_emails_in(&text).as_bytes())?;
        } else {
            self.0.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Stderr, with the active progress bar (if any) taken off the screen while a record is
/// written and drawn again below it.
pub struct StderrBesideProgress;

impl Write for StderrBesideProgress {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match active_bar() {
            Some(bar) => bar.suspend(|| io::stderr().write_all(buf))?,
            None => io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Whether the metric lines are written: inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set),
/// where CloudWatch Logs turns them into metrics, or when `GUARDDUTY_INVITE_EMF=stderr`
/// asks for them (`off` turns them off everywhere). Anything else is an error naming the
/// variable.
pub fn metrics_wanted() -> Result<bool, String> {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    metrics_choice(std::env::var(EMF_VARIABLE).ok().as_deref(), in_lambda)
}

fn metrics_choice(value: Option<&str>, in_lambda: bool) -> Result<bool, String> {
    match value.map(str::trim) {
        None | Some("") => Ok(in_lambda),
        Some(v) if v.eq_ignore_ascii_case("stderr") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(false),
        Some(other) => Err(format!(
            "{EMF_VARIABLE} must be stderr (write the metric lines on stderr) or off, not {other:?}"
        )),
    }
}

/// Prints CloudWatch Embedded Metric Format lines where CloudWatch reads them (see
/// [`metrics_wanted`]); elsewhere they would only be noise among the logs.
pub fn emit_metrics(lines: &[String]) {
    static WANTED: OnceLock<bool> = OnceLock::new();
    if !*WANTED.get_or_init(|| metrics_wanted().unwrap_or(false)) {
        return;
    }
    let (level, now) = (metrics_level(), rfc3339_now());
    let mut text = String::new();
    for line in lines {
        text.push_str(&leveled(line, level, &now));
        text.push('\n');
    }
    // A closed stderr loses the metrics, not the invocation.
    let _ = StderrBesideProgress.write_all(text.as_bytes());
}

/// The progress bar on screen, if any, for the log writer to keep clear of.
static ACTIVE: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

fn active_bar() -> Option<indicatif::ProgressBar> {
    ACTIVE.lock().ok().and_then(|bar| bar.clone())
}

fn set_active(bar: Option<indicatif::ProgressBar>) {
    if let Ok(mut active) = ACTIVE.lock() {
        *active = bar;
    }
}

/// Progress of a long run for a person at a terminal, on stderr; nothing at all when stderr
/// is not a terminal (Lambda, CI, a pipe), where the logs already tell the story. While it
/// is on screen, log lines are written above it.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    what: String,
}

impl Progress {
    pub fn start(what: &str) -> Self {
        if !io::stderr().is_terminal() {
            return Self {
                bar: None,
                what: what.to_owned(),
            };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar.set_message(format!("{what}: starting"));
        set_active(Some(bar.clone()));
        Self {
            bar: Some(bar),
            what: what.to_owned(),
        }
    }

    /// A step done: kept on screen above the spinner, whose message moves on to it.
    pub fn say(&self, line: String) {
        if let Some(bar) = &self.bar {
            bar.println(format!("  {line}"));
            bar.set_message(format!("{}: {line}", self.what));
        }
    }

    /// The stage under way, on the spinner only.
    pub fn stage(&self, doing: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {doing}", self.what));
        }
    }

    pub fn finish(&self, line: String) {
        if let Some(bar) = &self.bar {
            set_active(None);
            bar.finish_with_message(format!("{}: {line}", self.what));
        }
    }
}

impl Drop for Progress {
    /// A run that stopped early (an error) takes its spinner off the screen.
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            set_active(None);
            if !bar.is_finished() {
                bar.finish_and_clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_in_a_log_record_are_masked_whatever_field_carries_them() {
        let mut w = MaskingWriter(Vec::new());
        w.write_all(br#"{"result":"Invalid email jane.doe@example.com","account":"111122223333"}"#)
            .unwrap();
        let written = String::from_utf8(w.0).unwrap();
        assert!(written.contains("j***@example.com"), "{written}");
        assert!(!written.contains("jane.doe@"), "{written}");
        assert!(written.contains("111122223333"));
    }

    #[test]
    fn metric_lines_pass_whatever_application_log_level_lambda_filters_at() {
        assert_eq!(level_for_metrics(None), "INFO");
        assert_eq!(level_for_metrics(Some("warn")), "WARN");
        assert_eq!(level_for_metrics(Some("FATAL")), "FATAL");
        assert_eq!(level_for_metrics(Some("loud")), "INFO");
        let line = leveled(
            r#"{"_aws":{"Timestamp":7},"Problems":2}"#,
            "ERROR",
            "2026-12-05T06:00:00Z",
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["timestamp"], "2026-12-05T06:00:00Z");
        assert_eq!(v["Problems"], 2, "the metrics stay as they were");
        assert_eq!(v["_aws"]["Timestamp"], 7);
        assert!(!rfc3339_now().is_empty());
    }

    #[test]
    fn metric_lines_are_written_inside_lambda_or_when_asked() {
        assert_eq!(metrics_choice(None, false), Ok(false));
        assert_eq!(metrics_choice(Some(""), false), Ok(false));
        assert_eq!(metrics_choice(None, true), Ok(true));
        assert_eq!(metrics_choice(Some("stderr"), false), Ok(true));
        assert_eq!(metrics_choice(Some("off"), true), Ok(false));
        let bad = metrics_choice(Some("stdout"), false).unwrap_err();
        assert!(
            bad.contains(EMF_VARIABLE) && bad.contains("stdout"),
            "{bad}"
        );
    }
}
