//! Thin entry point: logging, configuration, shared clients, then the Lambda loop or `invoke`.

use std::process::ExitCode;

use guardduty_invite::aws::{load_sdk_config, Aws};
use guardduty_invite::config::Config;
use guardduty_invite::handler::{deadline_from_epoch_ms, App};
use guardduty_invite::invoke::{self, EXIT_USAGE, USAGE};
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

enum Mode {
    Lambda,
    Invoke(Vec<String>),
}

fn mode(args: &[String]) -> Result<Mode, String> {
    match args.first().map(String::as_str) {
        None if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() => Ok(Mode::Lambda),
        None => Err(
            "not inside Lambda (AWS_LAMBDA_RUNTIME_API is not set); use the invoke subcommand"
                .into(),
        ),
        Some("invoke") => Ok(Mode::Invoke(args[1..].to_vec())),
        Some("-h" | "--help" | "help") => Err(String::new()),
        Some(other) => Err(format!("unknown command {other:?}")),
    }
}

fn usage_error(message: &str) -> ExitCode {
    if !message.is_empty() {
        eprintln!("guardduty-invite: {message}");
    }
    eprintln!("{USAGE}");
    ExitCode::from(EXIT_USAGE as u8)
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout carries `invoke`'s responses. Lambda captures both.
    lambda_runtime::tracing::init_default_subscriber_with_writer(std::io::stderr);

    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = match mode(&args) {
        Ok(m) => m,
        Err(message) => return usage_error(&message),
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(variable = e.variable, "{e}");
            eprintln!("guardduty-invite: {e}");
            return ExitCode::from(EXIT_USAGE as u8);
        }
    };
    let inputs = match &mode {
        Mode::Invoke(files) => match invoke::read_inputs(files) {
            Ok(inputs) => Some(inputs),
            Err(message) => return usage_error(&message),
        },
        Mode::Lambda => None,
    };

    let sdk = load_sdk_config().await;
    let app = App::new(config.clone(), Aws::new(&sdk, &config.regions));

    match inputs {
        Some(inputs) => ExitCode::from(invoke::run(&app, inputs).await as u8),
        None => {
            let app = &app;
            let handler = service_fn(move |event: LambdaEvent<Value>| async move {
                let deadline = deadline_from_epoch_ms(event.context.deadline);
                app.handle(event.payload, deadline)
                    .await
                    .map_err(Diagnostic::from)
            });
            match lambda_runtime::run(handler).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "Lambda runtime stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
