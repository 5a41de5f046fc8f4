//! Thin entry point: logging, configuration, shared clients, then the Lambda loop or a
//! subcommand.

use std::fmt;
use std::process::ExitCode;

use guardduty_invite::aws::{load_sdk_config, region_without_imds, Aws};
use guardduty_invite::cli::{self, Command, EXIT_USAGE, HELP};
use guardduty_invite::config::{missing_own_region, Config};
use guardduty_invite::handler::App;
use guardduty_invite::logging;
use lambda_runtime::{service_fn, Diagnostic, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> ExitCode {
    logging::init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let command = match cli::parse(&args, in_lambda) {
        Ok(Command::Help) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("guardduty-invite {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Ok(c) => c,
        Err(message) => return ExitCode::from(cli::usage_error(&message)),
    };
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("guardduty-invite: {e}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if region_without_imds().await.is_none() {
        eprintln!("guardduty-invite: {}", missing_own_region());
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(e) = logging::metrics_wanted() {
        eprintln!("guardduty-invite: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    let inputs = match &command {
        Command::Invoke(files) => match cli::read_inputs(files) {
            Ok(inputs) => Some(inputs),
            Err(message) => return ExitCode::from(cli::file_error(&message)),
        },
        _ => None,
    };
    let coverage = match &command {
        Command::Reconcile {
            coverage: Some(path),
            ..
        } => match cli::open_coverage(path) {
            Ok(out) => Some(out),
            Err(message) => return ExitCode::from(cli::file_error(&message)),
        },
        _ => None,
    };
    let report = match &command {
        Command::Reconcile {
            report: Some(path), ..
        } => match cli::open_report(path) {
            Ok(out) => Some(out),
            Err(message) => return ExitCode::from(cli::usage_error(&message)),
        },
        _ => None,
    };

    let sdk = load_sdk_config().await;
    let aws = Aws::new(&sdk, &config.regions, config.topic_region())
        .with_rate_limits(config.rate_limits.clone());
    let app = App::new(config, aws);
    match (command, inputs) {
        (_, Some(inputs)) => ExitCode::from(cli::invoke(&app, inputs).await),
        (Command::Reconcile { dry_run, .. }, None) => {
            ExitCode::from(cli::reconcile(&app, dry_run, coverage, report).await)
        }
        (
            Command::Check {
                json,
                account,
                policy,
            },
            None,
        ) => ExitCode::from(cli::check(&app, json, account, policy).await),
        _ => run_lambda(&app).await,
    }
}

async fn run_lambda(app: &App) -> ExitCode {
    let handler = service_fn(move |event: LambdaEvent<Value>| async move {
        app.dispatch(event.payload, event.context.deadline())
            .await
            .map_err(|e| Reported(Diagnostic::from(e)))
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "Lambda runtime stopped");
            ExitCode::FAILURE
        }
    }
}

/// A handler error on its way to the runtime, which logs it with `{:?}` before reporting it
/// to Lambda: its Debug form is the one line `errorType: errorMessage`, not a struct dump.
struct Reported(Diagnostic);

impl fmt::Debug for Reported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.error_type, self.0.error_message)
    }
}

impl From<Reported> for Diagnostic {
    fn from(reported: Reported) -> Self {
        reported.0
    }
}
