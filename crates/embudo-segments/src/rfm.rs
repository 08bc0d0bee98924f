//! RFM: recency, frequency and monetary scores 1–5 by quintiles, and the named groups.
//!
//! Scores are computed over the customers given, who should all have at least one order and
//! amounts in one currency (score each currency's customers separately, or convert first).

use chrono::{DateTime, Utc};
use embudo_core::CustomerId;
use serde::{Deserialize, Serialize};
use std::fmt;

/// What RFM needs to know about one customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RfmInput {
    /// The customer.
    pub customer: CustomerId,
    /// When the customer's last order was placed.
    pub last_order_at: DateTime<Utc>,
    /// How many orders the customer placed.
    pub orders: u64,
    /// How much the customer spent, in minor units of the one currency being scored.
    pub monetary_minor: i64,
}

/// A customer's RFM scores and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RfmScore {
    /// Recency 1–5: 5 is the most recent fifth.
    pub r: u8,
    /// Frequency 1–5: 5 is the fifth with the most orders.
    pub f: u8,
    /// Monetary 1–5: 5 is the fifth that spent the most.
    pub m: u8,
    /// The named group of `(r, fm)`.
    pub group: RfmGroup,
}

impl RfmScore {
    /// The scores and the group they fall in.
    pub fn new(r: u8, f: u8, m: u8) -> Self {
        let fm = fm_score(f, m);
        Self {
            r,
            f,
            m,
            group: RfmGroup::from_scores(r, fm),
        }
    }

    /// The frequency-monetary score: `(f + m) / 2`, rounded down.
    pub fn fm(&self) -> u8 {
        fm_score(self.f, self.m)
    }
}

fn fm_score(f: u8, m: u8) -> u8 {
    ((u16::from(f) + u16::from(m)) / 2) as u8
}

/// The named RFM groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmGroup {
    /// Bought recently, often and much.
    Champions,
    /// Buy often and much, fairly recently.
    Loyal,
    /// Recent, with some orders: could become loyal.
    PotentialLoyalists,
    /// Bought very recently, for the first time or little.
    New,
    /// Recent, but bought little.
    Promising,
    /// Middling on everything.
    NeedAttention,
    /// Below average, and fading.
    AboutToSleep,
    /// Bought often or much, but not for a while.
    AtRisk,
    /// Were among the best, and have not come back for a long time.
    CantLoseThem,
    /// Long gone, and bought little.
    Hibernating,
    /// The lowest scores on everything.
    Lost,
}

/// The group of every `(r, fm)` cell: `GRID[r - 1][fm - 1]`.
const GRID: [[RfmGroup; 5]; 5] = {
    use RfmGroup::*;
    [
        // r = 1
        [Lost, Hibernating, AtRisk, CantLoseThem, CantLoseThem],
        // r = 2
        [Hibernating, AboutToSleep, AtRisk, AtRisk, AtRisk],
        // r = 3
        [AboutToSleep, NeedAttention, NeedAttention, Loyal, Loyal],
        // r = 4
        [Promising, PotentialLoyalists, Loyal, Champions, Champions],
        // r = 5
        [New, PotentialLoyalists, Loyal, Champions, Champions],
    ]
};

impl RfmGroup {
    /// Every group, from best to worst.
    pub const ALL: [RfmGroup; 11] = [
        RfmGroup::Champions,
        RfmGroup::Loyal,
        RfmGroup::PotentialLoyalists,
        RfmGroup::New,
        RfmGroup::Promising,
        RfmGroup::NeedAttention,
        RfmGroup::AboutToSleep,
        RfmGroup::AtRisk,
        RfmGroup::CantLoseThem,
        RfmGroup::Hibernating,
        RfmGroup::Lost,
    ];

    /// The name shown to people (`"Can't lose them"`).
    pub fn name(&self) -> &'static str {
        match self {
            RfmGroup::Champions => "Champions",
            RfmGroup::Loyal => "Loyal",
            RfmGroup::PotentialLoyalists => "Potential loyalists",
            RfmGroup::New => "New",
            RfmGroup::Promising => "Promising",
            RfmGroup::NeedAttention => "Need attention",
            RfmGroup::AboutToSleep => "About to sleep",
            RfmGroup::AtRisk => "At risk",
            RfmGroup::CantLoseThem => "Can't lose them",
            RfmGroup::Hibernating => "Hibernating",
            RfmGroup::Lost => "Lost",
        }
    }

    /// The key used in JSON (`"cant_lose_them"`).
    pub fn key(&self) -> &'static str {
        match self {
            RfmGroup::Champions => "champions",
            RfmGroup::Loyal => "loyal",
            RfmGroup::PotentialLoyalists => "potential_loyalists",
            RfmGroup::New => "new",
            RfmGroup::Promising => "promising",
            RfmGroup::NeedAttention => "need_attention",
            RfmGroup::AboutToSleep => "about_to_sleep",
            RfmGroup::AtRisk => "at_risk",
            RfmGroup::CantLoseThem => "cant_lose_them",
            RfmGroup::Hibernating => "hibernating",
            RfmGroup::Lost => "lost",
        }
    }

    /// The group named `text`: its name or key, ignoring case (a typographic apostrophe is
    /// accepted for `'`).
    pub fn parse(text: &str) -> Option<RfmGroup> {
        let wanted = text.trim().replace('\u{2019}', "'").to_lowercase();
        RfmGroup::ALL
            .into_iter()
            .find(|g| g.name().to_lowercase() == wanted || g.key() == wanted)
    }

    /// The group of a recency score and a frequency-monetary score, each 1–5 (clamped).
    pub fn from_scores(r: u8, fm: u8) -> RfmGroup {
        let r = usize::from(r.clamp(1, 5)) - 1;
        let fm = usize::from(fm.clamp(1, 5)) - 1;
        GRID[r][fm]
    }
}

impl fmt::Display for RfmGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Quintile scores 1–5 of `values`, higher values scoring higher. A value's score is
/// `1 + floor(5 × below / n)`, where `below` is how many values are strictly lower: equal
/// values always share a score, and with all values distinct each fifth gets one score.
pub fn quintile_scores(values: &[i64]) -> Vec<u8> {
    let n = values.len();
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    values
        .iter()
        .map(|v| {
            let below = sorted.partition_point(|x| x < v);
            (1 + (5 * below) / n) as u8
        })
        .collect()
}

/// Whole days from `last_order_at` to `now` (rounded down, 0 if in the future).
pub fn recency_days(last_order_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - last_order_at).num_days().max(0)
}

/// The RFM scores of `customers`, in the same order.
///
/// - Recency is scored on whole days since the last order ([`recency_days`]), fewer days
///   scoring higher; frequency on the number of orders; monetary on the amount spent.
/// - Each score is a quintile by rank ([`quintile_scores`]): equal values share a score.
/// - The group comes from `r` and `fm = (f + m) / 2` rounded down ([`RfmGroup::from_scores`]).
pub fn rfm_scores(customers: &[RfmInput], now: DateTime<Utc>) -> Vec<RfmScore> {
    let recency: Vec<i64> = customers
        .iter()
        .map(|c| -recency_days(c.last_order_at, now))
        .collect();
    let frequency: Vec<i64> = customers
        .iter()
        .map(|c| i64::try_from(c.orders).unwrap_or(i64::MAX))
        .collect();
    let monetary: Vec<i64> = customers.iter().map(|c| c.monetary_minor).collect();
    let (r, f, m) = (
        quintile_scores(&recency),
        quintile_scores(&frequency),
        quintile_scores(&monetary),
    );
    (0..customers.len())
        .map(|i| RfmScore::new(r[i], f[i], m[i]))
        .collect()
}

/// The RFM report: how many customers fall in each group and cell, and what they are worth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmReport {
    /// Customers scored.
    pub customers: u64,
    /// Every group, best first, including empty ones.
    pub groups: Vec<RfmGroupRow>,
    /// Customers per cell: `grid[r - 1][fm - 1]`.
    pub grid: [[u64; 5]; 5],
}

/// One group's line in the [`RfmReport`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RfmGroupRow {
    /// The group.
    pub group: RfmGroup,
    /// Its name.
    pub name: String,
    /// Customers in it.
    pub customers: u64,
    /// Their share of all customers scored (0–1; 0 when none were scored).
    pub share: f64,
    /// Their orders.
    pub orders: u64,
    /// What they spent, in minor units.
    pub monetary_minor: i64,
    /// Their mean days since the last order (`None` when the group is empty).
    pub mean_recency_days: Option<f64>,
}

/// Builds the report from the inputs and their scores (as [`rfm_scores`] returned them).
pub fn rfm_report(customers: &[RfmInput], scores: &[RfmScore], now: DateTime<Utc>) -> RfmReport {
    let total = customers.len().min(scores.len()) as u64;
    let mut grid = [[0u64; 5]; 5];
    let mut groups: Vec<RfmGroupRow> = RfmGroup::ALL
        .iter()
        .map(|g| RfmGroupRow {
            group: *g,
            name: g.name().to_string(),
            customers: 0,
            share: 0.0,
            orders: 0,
            monetary_minor: 0,
            mean_recency_days: None,
        })
        .collect();
    let mut recency_sums = [0i64; 11];
    for (input, score) in customers.iter().zip(scores) {
        let r = usize::from(score.r.clamp(1, 5)) - 1;
        let fm = usize::from(score.fm().clamp(1, 5)) - 1;
        grid[r][fm] += 1;
        let i = RfmGroup::ALL
            .iter()
            .position(|g| *g == score.group)
            .unwrap_or(0);
        let row = &mut groups[i];
        row.customers += 1;
        row.orders = row.orders.saturating_add(input.orders);
        row.monetary_minor = row.monetary_minor.saturating_add(input.monetary_minor);
        recency_sums[i] += recency_days(input.last_order_at, now);
    }
    for (i, row) in groups.iter_mut().enumerate() {
        if row.customers > 0 {
            row.share = row.customers as f64 / total as f64;
            row.mean_recency_days = Some(recency_sums[i] as f64 / row.customers as f64);
        }
    }
    RfmReport {
        customers: total,
        groups,
        grid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_appears_in_the_grid() {
        for g in RfmGroup::ALL {
            assert!(GRID.iter().flatten().any(|x| *x == g), "{g}");
            assert_eq!(RfmGroup::parse(g.name()), Some(g));
            assert_eq!(RfmGroup::parse(g.key()), Some(g));
        }
        assert_eq!(
            RfmGroup::parse("can’t LOSE them"),
            Some(RfmGroup::CantLoseThem)
        );
        assert_eq!(RfmGroup::parse("winners"), None);
    }

    #[test]
    fn quintiles_of_distinct_values_are_fifths() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!(quintile_scores(&values), vec![1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert_eq!(quintile_scores(&[7]), vec![1]);
        assert!(quintile_scores(&[]).is_empty());
    }
}
