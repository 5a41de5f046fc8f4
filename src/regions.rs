//! AWS regions as this function sees them: which are opt-in. Pure.
//!
//! An opt-in region is disabled for a new account until someone enables it there; GuardDuty
//! calls made with that account's credentials in it fail until then. Account Management's
//! ListRegions tells, per account, which regions are enabled.

/// The opt-in regions of the commercial partition: disabled for a new account until enabled.
pub const OPT_IN_REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-south-1",
    "eu-south-2",
    "eu-central-2",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
];

/// Whether `region` is an opt-in region (disabled for a new account until enabled).
pub fn is_opt_in(region: &str) -> bool {
    OPT_IN_REGIONS.contains(&region)
}

/// Whether a ListRegions status (`ENABLED`, `ENABLING`, `DISABLING`, `DISABLED`,
/// `ENABLED_BY_DEFAULT`) lets the account's credentials be used in the region now.
pub fn is_enabled_status(status: &str) -> bool {
    status.eq_ignore_ascii_case("ENABLED") || status.eq_ignore_ascii_case("ENABLED_BY_DEFAULT")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opt_in_regions_are_told_from_the_regions_enabled_by_default() {
        for r in [
            "af-south-1",
            "ap-east-1",
            "me-central-1",
            "mx-central-1",
            "eu-central-2",
        ] {
            assert!(is_opt_in(r), "{r}");
        }
        for r in [
            "us-east-1",
            "eu-west-1",
            "ap-south-1",
            "eu-central-1",
            "ca-central-1",
            "",
        ] {
            assert!(!is_opt_in(r), "{r}");
        }
    }

    #[test]
    fn only_enabled_statuses_let_the_region_be_used() {
        assert!(is_enabled_status("ENABLED"));
        assert!(is_enabled_status("ENABLED_BY_DEFAULT"));
        for s in ["ENABLING", "DISABLING", "DISABLED", ""] {
            assert!(!is_enabled_status(s), "{s}");
        }
    }
}
