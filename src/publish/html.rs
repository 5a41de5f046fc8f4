//! A reconcile's coverage report as one self-contained HTML page: no script, no external
//! style, font or image, so it opens offline and from an S3 link. The headline, a grid of
//! OUs × regions, the 30-day trend (inline SVG), every unprotected account-region grouped by
//! reason, the drift, the exceptions, the plans and what they cost. Pure: no I/O.
//!
//! Everything user-controlled (account, OU names, notes, exception owners and reasons) goes
//! through [`esc`], and the page forbids scripts (its Content-Security-Policy) should one slip
//! through. Long lists are collapsed (`<details>`) and capped by size, so that the
//! page of GuardDuty's largest organization stays under [`MAX_LIST_BYTES`] of lists.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::policy::Date;
use crate::reconcile::cost::{Costs, ESTIMATE_NOTE};
use crate::reconcile::coverage::{percent, Cell, Coverage, Row};
use crate::report::Drift;

/// The bytes the lists of unprotected account-regions may take; past it each group says how
/// many more the CSV holds. With the drift's and the exceptions' own caps, keeps the page
/// under 5 MB at 50,000 accounts × 4 regions.
pub const MAX_LIST_BYTES: usize = 3_000_000;
const DRIFT_BYTES: usize = 600_000;
const EXCEPTION_BYTES: usize = 400_000;

/// Exceptions ending within this many days are marked.
const ENDING_SOON_DAYS: i64 = 30;

/// One day's coverage, kept beside its report so that the trend reads 30 small objects.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaySummary {
    pub date: String,
    pub account_regions: usize,
    pub protected: usize,
    pub percent: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
}

/// What the page shows.
pub struct Page<'p> {
    pub date: Date,
    pub coverage: &'p Coverage<'p>,
    pub regions: &'p [String],
    /// Account id → the name of its OU.
    pub ou_of: &'p HashMap<String, String>,
    pub drift: &'p [Drift],
    /// Earlier days, oldest first (today's is added from the coverage).
    pub trend: &'p [DaySummary],
    /// Where the CSV of this run is (named where a list is cut).
    pub csv_name: &'p str,
}

/// The day's summary of a coverage.
pub fn day_summary(date: Date, coverage: &Coverage<'_>) -> DaySummary {
    let (counted, protected) = coverage.totals();
    DaySummary {
        date: date.to_string(),
        account_regions: counted,
        protected,
        percent: percent(protected, counted),
        cost_usd: coverage
            .costs
            .as_ref()
            .filter(|c| c.unknown.is_empty())
            .map(Costs::total),
    }
}

/// HTML-escapes text for an element's content or a quoted attribute.
pub fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['<', '>', '&', '"', '\'']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out.into()
}

const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1b1b;max-width:75rem}\
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:1.8rem}\
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:.25rem .5rem;text-align:left}\
.full{background:#d7f5dc}.part{background:#fff1c2}.none{background:#ffd6d6}.na{background:#eee}\
.big{font-size:2rem;font-weight:600}.note{color:#555;font-size:.9rem}\
details{margin:.3rem 0}summary{cursor:pointer}li{margin:.1rem 0}";

/// The page.
pub fn render(p: &Page<'_>) -> String {
    let mut out = String::with_capacity(64 * 1024 + p.coverage.rows.len() * 8);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>GuardDuty coverage {}</title><style>{STYLE}</style></head><body>\
         <h1>GuardDuty coverage, {}</h1>",
        p.date, p.date
    );
    let today = day_summary(p.date, p.coverage);
    headline(&mut out, &today, p.trend.last());
    if let Some(c) = &p.coverage.costs {
        let unknown = if c.unknown.is_empty() {
            ""
        } else {
            ", some regions unknown"
        };
        let _ = write!(
            out,
            "<p>What protection cost over the last 30 days: USD {:.2}{unknown} \
             (GuardDuty's estimate; by plan below)</p>",
            c.total()
        );
    }
    grid(&mut out, p);
    trend(&mut out, p.trend, &today);
    unprotected(&mut out, p);
    drift(&mut out, p.drift);
    exceptions(&mut out, p.coverage, p.date);
    plans(&mut out, p.coverage);
    cost(&mut out, p.coverage.costs.as_ref());
    out.push_str("</body></html>\n");
    out
}

fn headline(out: &mut String, today: &DaySummary, previous: Option<&DaySummary>) {
    let change = match previous {
        Some(prev) => {
            let d = ((today.percent - prev.percent) * 10.0).round() / 10.0;
            format!("{d:+.1} points since the report of {}", esc(&prev.date))
        }
        None => "no earlier report to compare with".into(),
    };
    let _ = write!(
        out,
        "<p class=\"big\"><span id=\"protected\">{}</span> of <span id=\"counted\">{}</span> \
         account-regions protected (<span id=\"percent\">{}</span>%)</p><p id=\"change\">{change}</p>",
        today.protected, today.account_regions, today.percent
    );
}

/// (class, symbol) of a cell: never colour alone, the symbol and the numbers say it too.
fn shade(protected: usize, counted: usize) -> (&'static str, &'static str) {
    match (protected, counted) {
        (_, 0) => ("na", "–"),
        (p, c) if p == c => ("full", "✓"),
        (0, _) => ("none", "✗"),
        _ => ("part", "!"),
    }
}

/// OU → region → (protected, counted), over the rows counted.
fn per_ou(p: &Page<'_>) -> BTreeMap<String, HashMap<String, (usize, usize)>> {
    let mut grid: BTreeMap<String, HashMap<String, (usize, usize)>> = BTreeMap::new();
    for r in p.coverage.rows.iter().filter(|r| r.counted) {
        let ou = ou_name(p.ou_of, r);
        let cell = grid
            .entry(ou.to_owned())
            .or_default()
            .entry(r.region.to_owned())
            .or_default();
        cell.0 += usize::from(r.protected);
        cell.1 += 1;
    }
    grid
}

fn ou_name<'o>(ou_of: &'o HashMap<String, String>, r: &Row<'_>) -> &'o str {
    ou_of
        .get(r.target.account_id.as_str())
        .map_or("(no OU known)", String::as_str)
}

fn grid(out: &mut String, p: &Page<'_>) {
    let costs = p.coverage.costs.as_ref().map(Costs::per_ou);
    out.push_str("<h2>By organizational unit and region</h2><table id=\"grid\"><tr><th>OU</th>");
    for r in p.regions {
        let _ = write!(out, "<th>{}</th>", esc(r));
    }
    if costs.is_some() {
        out.push_str("<th>30-day cost (USD)</th>");
    }
    out.push_str("</tr>");
    for (ou, cells) in per_ou(p) {
        let _ = write!(out, "<tr><th>{}</th>", esc(&ou));
        for r in p.regions {
            let (protected, counted) = cells.get(r).copied().unwrap_or_default();
            let (class, symbol) = shade(protected, counted);
            let _ = write!(
                out,
                "<td class=\"{class}\">{symbol} {protected} of {counted} ({}%)</td>",
                percent(protected, counted)
            );
        }
        if let Some(c) = &costs {
            let _ = write!(out, "<td>{:.2}</td>", c.get(&ou).copied().unwrap_or(0.0));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

/// The coverage of the last 30 reports (and today's) as an inline SVG line, and in text.
fn trend(out: &mut String, earlier: &[DaySummary], today: &DaySummary) {
    let days: Vec<&DaySummary> = earlier
        .iter()
        .rev()
        .take(30)
        .rev()
        .chain(std::iter::once(today))
        .collect();
    let (w, h, pad) = (600.0, 160.0, 40.0);
    let step = if days.len() > 1 {
        (w - 2.0 * pad) / (days.len() - 1) as f64
    } else {
        0.0
    };
    let at = |i: usize, pct: f64| {
        (
            pad + step * i as f64,
            h - pad - (h - 2.0 * pad) * pct / 100.0,
        )
    };
    let points: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (x, y) = at(i, d.percent);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    let _ = write!(
        out,
        "<h2>Trend ({} daily reports)</h2><svg id=\"trend\" role=\"img\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" xmlns=\"http://www.w3.org/2000/svg\"><title>Coverage per day, in percent</title>\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>\
         <text x=\"2\" y=\"{}\" font-size=\"10\">100%</text><text x=\"8\" y=\"{}\" font-size=\"10\">0%</text>\
         <polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"2\" points=\"{}\"/>",
        days.len(),
        h - pad,
        w - pad,
        h - pad,
        pad + 3.0,
        h - pad,
        points.join(" ")
    );
    for (i, d) in days.iter().enumerate() {
        let (x, y) = at(i, d.percent);
        let _ = write!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"#1f5fbf\"><title>{}: {}%</title></circle>",
            esc(&d.date),
            d.percent
        );
    }
    out.push_str("</svg><details><summary>The numbers</summary><ul>");
    for d in &days {
        let _ = write!(
            out,
            "<li>{}: {} of {} ({}%)</li>",
            esc(&d.date),
            d.protected,
            d.account_regions,
            d.percent
        );
    }
    out.push_str("</ul></details>");
}

/// The reason of an unprotected row and what to do about it.
fn reason_and_fix(r: &Row<'_>) -> (String, &'static str) {
    if let Some(note) = &r.note {
        return (
            note.to_string(),
            "as the reason says; the run's problem on the topic has the details",
        );
    }
    let status = r.status.as_deref().unwrap_or("not a member");
    let fix = match status {
        "Invited" | "EmailVerificationInProgress" => {
            "the account accepts the invitation (with MEMBER_ROLE_NAME the function accepts it)"
        }
        "Enabled" => "turn its plans on: the next reconcile does (see the drift)",
        "not a member" => {
            "the next reconcile invites it; check `guardduty-invite check --account ID`"
        }
        _ => "see docs/operations.md for this relationship status",
    };
    (format!("relationship status {status}"), fix)
}

fn unprotected(out: &mut String, p: &Page<'_>) {
    // reason → (fix, account → (name, regions)), accounts in id order.
    type Group<'r> = (&'static str, BTreeMap<&'r str, (&'r str, Vec<&'r str>)>);
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for r in p.coverage.rows.iter().filter(|r| r.counted && !r.protected) {
        let (reason, fix) = reason_and_fix(r);
        let entry = groups
            .entry(reason)
            .or_insert_with(|| (fix, BTreeMap::new()))
            .1
            .entry(r.target.account_id.as_str())
            .or_insert((r.target.name.as_str(), Vec::new()));
        entry.1.push(r.region);
    }
    let total: usize = groups
        .values()
        .map(|(_, a)| a.values().map(|v| v.1.len()).sum::<usize>())
        .sum();
    let _ = write!(
        out,
        "<h2>Unprotected account-regions: <span id=\"unprotected-count\">{total}</span></h2>"
    );
    let mut budget = MAX_LIST_BYTES;
    for (reason, (fix, accounts)) in &groups {
        let n: usize = accounts.values().map(|v| v.1.len()).sum();
        let _ = write!(
            out,
            "<details class=\"group\"><summary><b>{n}</b> — {}</summary><p>Fix: {}</p><ul>",
            esc(reason),
            esc(fix)
        );
        let mut left = n;
        for (id, (name, regions)) in accounts {
            let before = out.len();
            if budget < 512 {
                break;
            }
            let _ = write!(
                out,
                "<li data-account=\"{}\">{} {}: {}</li>",
                esc(id),
                esc(id),
                esc(name),
                esc(&regions.join(", "))
            );
            budget = budget.saturating_sub(out.len() - before);
            left -= regions.len();
        }
        if left > 0 {
            let _ = write!(
                out,
                "<li>… and {left} more account-region(s): see {}</li>",
                esc(p.csv_name)
            );
        }
        out.push_str("</ul></details>");
    }
}

fn drift(out: &mut String, drift: &[Drift]) {
    let _ = write!(out, "<h2>Drift found by this run: {}</h2>", drift.len());
    if drift.is_empty() {
        return;
    }
    out.push_str("<details><summary>Each account-region, what was found and done</summary><table><tr><th>Account</th><th>Region</th><th>Found</th><th>Done</th></tr>");
    let start = out.len();
    for (shown, d) in drift.iter().enumerate() {
        if out.len() - start > DRIFT_BYTES {
            let _ = write!(
                out,
                "<tr><td colspan=\"4\">… and {} more: the run's summary and the topic carry every one</td></tr>",
                drift.len() - shown
            );
            break;
        }
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.account_id),
            esc(&d.region),
            esc(&d.found),
            esc(&d.action)
        );
    }
    out.push_str("</table></details>");
}

fn exceptions(out: &mut String, coverage: &Coverage<'_>, today: Date) {
    let mut seen = BTreeMap::new();
    for r in &coverage.rows {
        if let Some(e) = &r.target.exception {
            seen.entry(r.target.account_id.as_str())
                .or_insert((r.target.name.as_str(), e.clone()));
        }
    }
    let _ = write!(out, "<h2>Exceptions: {}</h2>", seen.len());
    if seen.is_empty() {
        return;
    }
    out.push_str("<details open><summary>Owner, reason, end</summary><table><tr><th>Account</th><th>Owner</th><th>Reason</th><th>Until</th></tr>");
    let (start, total) = (out.len(), seen.len());
    for (shown, (id, (name, e))) in seen.into_iter().enumerate() {
        if out.len() - start > EXCEPTION_BYTES {
            let _ = write!(
                out,
                "<tr><td colspan=\"4\">… and {} more: see the CSV's exception columns</td></tr>",
                total - shown
            );
            break;
        }
        let left = e.until.days() - today.days();
        let soon = if left <= ENDING_SOON_DAYS {
            format!(" <b>⚠ ends in {left} day(s)</b>")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}{soon}</td></tr>",
            esc(id),
            esc(name),
            esc(&e.owner),
            esc(&e.reason),
            e.until
        );
    }
    out.push_str("</table></details>");
}

/// Per plan column: the account-regions that have it out of those whose policy wants it.
fn plans(out: &mut String, coverage: &Coverage<'_>) {
    out.push_str("<h2>Plans</h2>");
    if coverage.columns.is_empty() {
        out.push_str("<p>No plan is wanted by the policy.</p>");
        return;
    }
    out.push_str("<table id=\"plans\"><tr><th>Plan</th><th>Have it, of those wanting it</th></tr>");
    for (i, column) in coverage.columns.iter().enumerate() {
        let cells = coverage
            .rows
            .iter()
            .filter(|r| r.counted)
            .filter_map(|r| r.plans.get(i));
        let (mut have, mut want) = (0, 0);
        for c in cells.filter(|c| **c != Cell::NotWanted) {
            want += 1;
            have += usize::from(*c == Cell::Enabled);
        }
        let (class, symbol) = shade(have, want);
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{class}\">{symbol} {have} of {want}</td></tr>",
            esc(column)
        );
    }
    out.push_str("</table>");
}

fn cost(out: &mut String, costs: Option<&Costs>) {
    out.push_str("<h2>What protection cost (last 30 days, USD)</h2>");
    let Some(c) = costs else {
        out.push_str("<p>Not read.</p>");
        return;
    };
    let _ = write!(
        out,
        "<p class=\"note\" id=\"estimate\">{}</p><p>Total: <span id=\"cost-total\">{:.2}</span></p>",
        esc(ESTIMATE_NOTE),
        c.total()
    );
    for (region, why) in &c.unknown {
        let _ = write!(
            out,
            "<p class=\"unknown\">Cost in {}: unknown ({})</p>",
            esc(region),
            esc(why)
        );
    }
    out.push_str("<table id=\"cost-plans\"><tr><th>Plan</th><th>USD</th></tr>");
    for (plan, usd) in c.per_plan() {
        let _ = write!(out, "<tr><td>{}</td><td>{usd:.2}</td></tr>", esc(&plan));
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page of 2026-12-01, with no drift.
    fn page_of(
        coverage: &Coverage<'_>,
        regions: &[String],
        ou_of: &HashMap<String, String>,
        trend: &[DaySummary],
    ) -> String {
        render(&Page {
            date: Date {
                year: 2026,
                month: 12,
                day: 1,
            },
            coverage,
            regions,
            ou_of,
            drift: &[],
            trend,
            csv_name: "coverage/2026-12-01.csv",
        })
    }

    /// `cargo test --lib -- --ignored --nocapture page_size`: the page's size and the time to
    /// render it for 5,000 and 50,000 accounts × 4 regions, a tenth (then all) of them
    /// unprotected, names of 30 characters, 20 OUs, a cost per account-region and 30 days of
    /// trend.
    #[test]
    #[ignore]
    fn page_size_and_time_at_5_000_and_50_000_accounts() {
        use crate::account::{AccountId, Email};
        use crate::flow::{Slot, Step, Target};
        use crate::report::Outcome;
        let regions: Vec<String> = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
            .map(String::from)
            .to_vec();
        let trend: Vec<DaySummary> = (1..=30)
            .map(|d| DaySummary {
                date: format!("2026-11-{d:02}"),
                account_regions: 1,
                protected: 1,
                percent: 90.0,
                cost_usd: None,
            })
            .collect();
        for (n, every) in [(5_000u64, 10), (50_000, 10), (5_000, 1), (50_000, 1)] {
            let targets: Vec<Target> = (0..n)
                .map(|i| {
                    Target::new(
                        AccountId::parse(&format!("{:012}", 100_000_000_000 + i)).unwrap(),
                        Email::parse("a@example.com").unwrap(),
                        format!("workload-account-number-{i:07}"),
                        std::sync::Arc::new(crate::plan::Plan::default()),
                    )
                })
                .collect();
            let ou_of: HashMap<String, String> = targets
                .iter()
                .map(|t| {
                    (
                        t.account_id.to_string(),
                        format!("OU {}", t.account_id.as_str().len() % 20),
                    )
                })
                .collect();
            let mut costs = Costs::default();
            let mut rows = Vec::new();
            for (i, t) in targets.iter().enumerate() {
                for r in &regions {
                    let mut s = Slot::new(t, r, Step::Done(Outcome::AlreadyEnabled));
                    s.status = Some(if i % every == 0 { "Invited" } else { "Enabled" }.into());
                    rows.push(Row::of(&s, &[]));
                    costs
                        .per_account
                        .insert((r.clone(), t.account_id.to_string()), 1.25);
                }
            }
            let coverage = Coverage {
                columns: vec![],
                rows,
                costs: Some(costs),
            };
            let started = std::time::Instant::now();
            let page = page_of(&coverage, &regions, &ou_of, &trend);
            println!(
                "{n} accounts x 4 regions, 1 in {every} unprotected: {} bytes, rendered in {:?}",
                page.len(),
                started.elapsed()
            );
            assert!(page.len() < 5_000_000);
            if n == 50_000 && every == 1 {
                assert!(page.contains("more account-region(s): see coverage/2026-12-01.csv"));
            }
        }
    }

    #[test]
    fn ou_names_and_exception_owners_and_reasons_are_text_and_an_ending_one_is_marked() {
        use crate::account::{AccountId, Email};
        use crate::flow::{Slot, Step, Target};
        use crate::policy::Exception;
        use crate::report::Outcome;
        let mut t = Target::new(
            AccountId::parse("111122223333").unwrap(),
            Email::parse("a@example.com").unwrap(),
            "<i>name</i>".into(),
            std::sync::Arc::new(crate::plan::Plan::default()),
        );
        t.exception = Some(std::sync::Arc::new(Exception {
            owner: "<b>owner</b>".into(),
            reason: "<img src=x onerror=alert(1)>".into(),
            until: Date {
                year: 2026,
                month: 12,
                day: 20,
            },
            rule: 0,
        }));
        let other = Target::new(
            AccountId::parse("444455556666").unwrap(),
            Email::parse("b@example.com").unwrap(),
            "b".into(),
            std::sync::Arc::new(crate::plan::Plan::default()),
        );
        let rows = [&t, &other].map(|t| {
            Row::of(
                &Slot::new(t, "us-east-1", Step::Done(Outcome::AlreadyEnabled)),
                &[],
            )
        });
        let coverage = Coverage {
            columns: vec![],
            rows: rows.to_vec(),
            costs: None,
        };
        let ou_of = HashMap::from([("444455556666".to_owned(), "<svg onload=x>".to_owned())]);
        let regions = ["us-east-1".to_owned()];
        let page = page_of(&coverage, &regions, &ou_of, &[]);
        for raw in ["<img", "<b>owner", "<i>name", "<svg onload"] {
            assert!(!page.contains(raw), "{raw} in {page}");
        }
        assert!(
            page.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{page}"
        );
        assert!(page.contains("&lt;svg onload=x&gt;"), "{page}");
        assert!(page.contains("⚠ ends in 19 day(s)"), "{page}");
    }

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            esc("<script>alert('1')</script> & \"x\""),
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;x&quot;"
        );
        assert!(matches!(esc("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn a_cell_says_in_text_what_its_colour_says() {
        assert_eq!(shade(4, 4), ("full", "✓"));
        assert_eq!(shade(0, 4), ("none", "✗"));
        assert_eq!(shade(3, 4), ("part", "!"));
        assert_eq!(shade(0, 0), ("na", "–"));
    }

    #[test]
    fn the_trend_has_a_point_per_day_and_today() {
        let day = |d: &str, pct: f64| DaySummary {
            date: d.into(),
            account_regions: 10,
            protected: 5,
            percent: pct,
            cost_usd: None,
        };
        let mut out = String::new();
        trend(
            &mut out,
            &[day("2026-12-01", 50.0), day("2026-12-02", 60.0)],
            &day("2026-12-03", 70.0),
        );
        assert_eq!(out.matches("<circle").count(), 3, "{out}");
        assert!(out.contains("2026-12-03: 70%"), "{out}");
    }
}
