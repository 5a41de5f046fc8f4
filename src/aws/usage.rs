//! GuardDuty's usage statistics: what the last 30 days cost, per account and per feature, as
//! the administrator reads them for its members (GetUsageStatistics).

use aws_sdk_guardduty::types::{Total, UsageCriteria, UsageStatisticType};

use super::{all_pages, Aws};
use crate::error::AwsError;

/// UsageCriteria's `accountIds`: "Minimum number of 1 item. Maximum number of 50 items."
pub const USAGE_ACCOUNTS_PER_CALL: usize = 50;

/// GetUsageStatistics' largest page (`maxResults` 1 to 50).
const USAGE_PAGE: i32 = 50;

/// Which sums to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageSum {
    /// Per account (`SUM_BY_ACCOUNT`).
    ByAccount,
    /// Per feature (`SUM_BY_FEATURES`), over the accounts named.
    ByFeature,
}

impl Aws {
    /// The cost in USD over the last 30 days of `accounts` (at most 50) in `region`, as
    /// (account id or feature name, amount) per [`UsageSum`], every page read. An account or
    /// feature with no usage is left out, as GuardDuty leaves it out.
    pub async fn usage_statistics(
        &self,
        region: &str,
        detector_id: &str,
        sum: UsageSum,
        accounts: &[String],
    ) -> Result<Vec<(String, f64)>, AwsError> {
        let kind = match sum {
            UsageSum::ByAccount => UsageStatisticType::SumByAccount,
            UsageSum::ByFeature => UsageStatisticType::SumByFeatures,
        };
        all_pages(|token| {
            let kind = kind.clone();
            async move {
                let criteria = UsageCriteria::builder()
                    .set_account_ids(Some(accounts.to_vec()))
                    .build();
                let out = self
                    .on_detector(region, "GetUsageStatistics", |c| {
                        c.get_usage_statistics()
                            .detector_id(detector_id)
                            .usage_statistic_type(kind)
                            .usage_criteria(criteria)
                            .unit("USD")
                            .max_results(USAGE_PAGE)
                            .set_next_token(token)
                            .send()
                    })
                    .await?;
                let stats = out.usage_statistics();
                let items: Vec<(String, f64)> = match sum {
                    UsageSum::ByAccount => stats
                        .map(|s| s.sum_by_account())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|r| Some((r.account_id()?.to_owned(), amount(r.total())?)))
                        .collect(),
                    UsageSum::ByFeature => stats
                        .map(|s| s.sum_by_feature())
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|r| {
                            Some((r.feature()?.as_str().to_owned(), amount(r.total())?))
                        })
                        .collect(),
                };
                Ok((items, out.next_token().map(str::to_owned)))
            }
        })
        .await
    }
}

/// A Total's amount (GuardDuty gives it as text), when in USD and a number.
fn amount(total: Option<&Total>) -> Option<f64> {
    let t = total?;
    if t.unit().is_some_and(|u| !u.eq_ignore_ascii_case("USD")) {
        return None;
    }
    t.amount()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|a| a.is_finite())
}
