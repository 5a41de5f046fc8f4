//! Where the protection policy comes from: MEMBER_FEATURES's short form, or the document in
//! the Parameter Store parameter PROTECTION_POLICY_PARAMETER (Lambda's environment holds
//! 4 KB in all). The parameter is read once per process and cached; every reconcile reads it
//! again, so a changed policy applies at the next reconcile or the next cold start, whichever
//! comes first.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{AwsError, FailureKind, HandlerError, Published};
use crate::policy::Policy;

pub struct PolicyStore {
    parameter: Option<String>,
    short_form: Arc<Policy>,
    cached: Mutex<Option<Arc<Policy>>>,
}

impl PolicyStore {
    pub fn new(config: &Config) -> Self {
        Self {
            parameter: config.policy_parameter.clone(),
            short_form: Arc::new(Policy::of_plan(config.plan.clone())),
            cached: Mutex::new(None),
        }
    }

    /// The policy as this process last read it (read now if never). The OUs it names are
    /// checked against the organization once per read (DescribeOrganizationalUnit).
    pub async fn current(&self, aws: &Aws) -> Result<Arc<Policy>, HandlerError> {
        let Some(name) = &self.parameter else {
            return Ok(self.short_form.clone());
        };
        let mut cached = self.cached.lock().await;
        if let Some(p) = cached.as_ref() {
            return Ok(p.clone());
        }
        let policy = read(aws, name).await?;
        for (i, ou) in policy.ou_ids() {
            let exists = aws.ou_exists(ou).await.map_err(failed)?;
            if !exists {
                return Err(invalid(name, Policy::unknown_ou(i, ou)));
            }
        }
        let policy = Arc::new(policy);
        *cached = Some(policy.clone());
        Ok(policy)
    }

    /// The policy read again (a reconcile, the preflight). The caller checks the OUs it
    /// names against its own walk of the organization ([`PolicyStore::check_ous`]).
    pub async fn fresh(&self, aws: &Aws) -> Result<Arc<Policy>, HandlerError> {
        let Some(name) = &self.parameter else {
            return Ok(self.short_form.clone());
        };
        let policy = Arc::new(read(aws, name).await?);
        *self.cached.lock().await = Some(policy.clone());
        Ok(policy)
    }

    /// Every OU the policy names must be one of `known` (the organization's).
    pub fn check_ous(&self, policy: &Policy, known: &[String]) -> Result<(), HandlerError> {
        match policy
            .ou_ids()
            .into_iter()
            .find(|(_, ou)| !known.iter().any(|k| k == ou))
        {
            Some((i, ou)) => Err(invalid(
                self.parameter.as_deref().unwrap_or_default(),
                Policy::unknown_ou(i, ou),
            )),
            None => Ok(()),
        }
    }

    pub fn parameter(&self) -> Option<&str> {
        self.parameter.as_deref()
    }
}

async fn read(aws: &Aws, name: &str) -> Result<Policy, HandlerError> {
    let text = aws.parameter(name).await.map_err(|e| unreadable(name, e))?;
    Policy::parse(&text).map_err(|e| invalid(name, e))
}

fn invalid(name: &str, error: crate::policy::PolicyError) -> HandlerError {
    HandlerError::InvalidPolicy {
        parameter: name.to_owned(),
        error,
    }
}

fn failed(e: AwsError) -> HandlerError {
    HandlerError::Incomplete {
        failures: vec![e],
        published: Published::nothing(),
    }
}

/// A parameter that cannot be read: passing (throttling, 5xx) retries the run; anything
/// else says what to fix.
fn unreadable(name: &str, e: AwsError) -> HandlerError {
    if e.kind == FailureKind::Transient {
        return failed(e);
    }
    let code = e.code.as_deref().unwrap_or_default();
    let reason = if code == "ParameterNotFound" {
        "no such parameter in the function's region; create it or fix PROTECTION_POLICY_PARAMETER"
    } else if e.message.contains("kms") || e.message.contains("KMS") || code.contains("Kms") {
        "it is encrypted with a KMS key the function's role may not use: allow kms:Decrypt on that key"
    } else if e.kind == FailureKind::AccessDenied {
        "the function's role may not read it: allow ssm:GetParameter on it (the template does)"
    } else {
        "Parameter Store refused the request"
    };
    HandlerError::PolicyUnreadable {
        parameter: name.to_owned(),
        reason,
        error: Box::new(e),
    }
}
