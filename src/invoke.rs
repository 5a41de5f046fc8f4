//! `guardduty-invite invoke FILE...`: the handler run once per event file, outside Lambda,
//! with the same configuration and clients.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use lambda_runtime::Diagnostic;

use crate::error::HandlerError;
use crate::event;
use crate::handler::App;

/// Matches the deployed function's timeout, so a local run has the same time budget.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

pub const USAGE: &str =
    "usage: guardduty-invite                  (inside Lambda: the runtime loop)\n       \
guardduty-invite invoke FILE...   (run the handler once per event file; - reads stdin)";

/// Exit status of `invoke`.
pub const EXIT_OK: i32 = 0;
pub const EXIT_HANDLER_ERROR: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Reads every file first, so a missing file is a usage error before any event is handled.
pub fn read_inputs(files: &[String]) -> Result<Vec<(String, Vec<u8>)>, String> {
    if files.is_empty() {
        return Err("invoke needs at least one event file (or - for stdin)".into());
    }
    let mut stdin_used = false;
    files
        .iter()
        .map(|f| {
            let mut buf = Vec::new();
            if f == "-" {
                if stdin_used {
                    return Err("- (stdin) can be given only once".to_owned());
                }
                stdin_used = true;
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|e| format!("stdin: {e}"))?;
            } else {
                buf = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
            }
            Ok((f.clone(), buf))
        })
        .collect()
}

/// Runs each event in order, one JSON line per event on stdout (the response, or the Lambda
/// error object); returns the exit status.
pub async fn run(app: &App, inputs: Vec<(String, Vec<u8>)>) -> i32 {
    let mut status = EXIT_OK;
    let stdout = std::io::stdout();
    for (name, bytes) in inputs {
        let result = match event::json_from_bytes(&bytes) {
            Ok(value) => app.handle(value, Instant::now() + INVOKE_TIMEOUT).await,
            Err(e) => Err(HandlerError::InvalidEvent(e)),
        };
        let line = match result {
            Ok(response) => serde_json::to_string(&response).unwrap_or_else(|e| {
                format!("{{\"errorType\":\"Serialization\",\"errorMessage\":\"{e}\"}}")
            }),
            Err(e) => {
                status = EXIT_HANDLER_ERROR;
                let d: Diagnostic = e.into();
                eprintln!("{name}: {}: {}", d.error_type, d.error_message);
                serde_json::json!({"errorType": d.error_type, "errorMessage": d.error_message})
                    .to_string()
            }
        };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            // stdout closed (e.g. piped into head): nothing more can be reported there.
            return EXIT_HANDLER_ERROR;
        }
    }
    status
}
