//! The served model: every placement, with reasons, context re-ranking and business rules.
//!
//! A [`RecsModel`] is trained from a [`ShopData`] in one call and answers a [`Request`] in
//! microseconds. Personal placements score the person's [`Profile`] as the caller builds it
//! at request time, so the latest events count at once.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::content::{ContentConfig, ContentModel};
use crate::data::{Catalog, CatalogItem, Interactions, Profile, SignalWeights};
use crate::fbt::{FbtConfig, FbtModel};
use crate::hybrid::{Hybrid, HybridConfig, Progress, SOURCES};
use crate::load::ShopData;
use crate::scorer::{top_k, Popularity};

/// The kinds of recommendation a shop can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// "For you": from the person's purchases, cart, views.
    Personal,
    /// Similar products (product page): behaviour and content, blended.
    Related,
    /// Frequently bought together with a product.
    Fbt,
    /// Complements for the whole cart, from other categories than the cart's.
    Cart,
    /// Premium alternatives: same category, similar, pricier.
    Upsell,
    /// What is selling now.
    Trending,
    /// What sold in the coming weeks last year.
    Seasonal,
}

impl Placement {
    /// Parses the API's name.
    pub fn parse(s: &str) -> Option<Placement> {
        Some(match s {
            "personal" => Placement::Personal,
            "related" => Placement::Related,
            "fbt" => Placement::Fbt,
            "cart" => Placement::Cart,
            "upsell" => Placement::Upsell,
            "trending" => Placement::Trending,
            "seasonal" => Placement::Seasonal,
            _ => return None,
        })
    }

    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Placement::Personal => "personal",
            Placement::Related => "related",
            Placement::Fbt => "fbt",
            Placement::Cart => "cart",
            Placement::Upsell => "upsell",
            Placement::Trending => "trending",
            Placement::Seasonal => "seasonal",
        }
    }

    /// Whether the placement leaves out what the person already bought unless told otherwise.
    pub fn excludes_purchased_by_default(self) -> bool {
        matches!(self, Placement::Fbt | Placement::Cart | Placement::Upsell)
    }
}

/// What the caller knows of the moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// Device type (`mobile`, `desktop`, `tablet`…).
    pub device: Option<String>,
    /// Country (ISO code or name, as the shop's events carry it).
    pub country: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Weather, as the caller describes it (Embudo calls no weather service).
    pub weather: Option<String>,
}

/// Filters and switches of one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// Only products in this category (any level of the path, case-insensitive).
    pub category: Option<String>,
    /// Lowest price, minor units.
    pub min_price: Option<i64>,
    /// Highest price, minor units.
    pub max_price: Option<i64>,
    /// Leave out what the person bought (default: per placement).
    pub exclude_purchased: Option<bool>,
}

/// A request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Which placement.
    pub placement: Placement,
    /// How many items.
    pub n: usize,
    /// The person's profile now (empty for a new visitor).
    pub profile: Profile,
    /// The product of the page (related, fbt, upsell).
    pub product: Option<u32>,
    /// A product the model does not know yet (added after training): its catalog entry, for
    /// content neighbours at once.
    pub new_product: Option<CatalogItem>,
    /// The cart's products.
    pub cart: Vec<u32>,
    /// When, Unix seconds (season, recency).
    pub now: i64,
    /// The context.
    pub context: Context,
    /// Filters.
    pub rules: Rules,
}

/// One recommended product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommended {
    /// The product's index.
    pub item: u32,
    /// The final score (after context and rules).
    pub score: f32,
    /// The source that placed it: `again`, `similar`, `ease`, `mf`, `people`, `popular`,
    /// `content`, `fbt`, `trending`, `seasonal`.
    pub source: String,
    /// Why, in words a shopper could read.
    pub reason: String,
}

/// Settings of the whole served model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecsConfig {
    /// The personal models.
    pub hybrid: HybridConfig,
    /// Content similarity.
    pub content: ContentConfig,
    /// Frequently bought together.
    pub fbt: FbtConfig,
    /// Half-life of trending popularity, days.
    pub trending_half_life_days: f32,
    /// Weight of behaviour against content in `related` (content gets the rest).
    pub related_behaviour_weight: f32,
    /// Upsell price band: at least this much pricier (0.1 = 10 %)…
    pub upsell_min_increase: f64,
    /// …and at most this much.
    pub upsell_max_increase: f64,
    /// How strongly context lifts re-rank (0 turns context off).
    pub context_strength: f32,
    /// Boost of products added in the last `new_arrival_days` (1 = none).
    pub new_arrival_boost: f32,
    /// What counts as a new arrival, days.
    pub new_arrival_days: u32,
    /// At most this share of a list from one category (diversity), when enough others exist.
    pub max_category_share: f32,
}

impl Default for RecsConfig {
    fn default() -> Self {
        RecsConfig {
            hybrid: HybridConfig::default(),
            content: ContentConfig::default(),
            // Pairs: baskets of wholesale shops hold dozens of items, and mining triples there
            // costs seconds and keeps millions of itemsets.
            fbt: FbtConfig {
                max_len: 2,
                max_bundle_size: 2,
                ..FbtConfig::default()
            },
            trending_half_life_days: 7.0,
            related_behaviour_weight: 0.7,
            upsell_min_increase: 0.1,
            upsell_max_increase: 1.5,
            context_strength: 0.5,
            new_arrival_boost: 1.1,
            new_arrival_days: 30,
            max_category_share: 0.5,
        }
    }
}

/// How much a context shifts category popularity: `lift = P(category | value) / P(category)`,
/// smoothed toward 1 for rare values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextLift {
    /// Lift by (dimension, value, category): dimension `device`, `country` or `month`.
    pub lifts: HashMap<String, HashMap<String, f32>>,
}

impl ContextLift {
    const PRIOR: f64 = 20.0;

    /// Learns the lifts of one dimension from `(value, category)` observations.
    pub fn learn(&mut self, dimension: &str, observations: impl Iterator<Item = (String, String)>) {
        let mut by_value: HashMap<String, HashMap<String, f64>> = HashMap::new();
        let mut by_cat: HashMap<String, f64> = HashMap::new();
        let mut total = 0f64;
        for (value, cat) in observations {
            *by_value
                .entry(value.to_lowercase())
                .or_default()
                .entry(cat.clone())
                .or_default() += 1.0;
            *by_cat.entry(cat).or_default() += 1.0;
            total += 1.0;
        }
        if total == 0.0 {
            return;
        }
        for (value, cats) in by_value {
            let n: f64 = cats.values().sum();
            let table = self
                .lifts
                .entry(format!("{dimension}:{value}"))
                .or_default();
            // Every category, also those never seen with this value: that is evidence too
            // (phones that only ever look at garden tools lower the kitchen's knives).
            for (cat, &all) in &by_cat {
                let c = cats.get(cat).copied().unwrap_or(0.0);
                let p = all / total;
                let lift = ((c + Self::PRIOR * p) / (n + Self::PRIOR)) / p;
                table.insert(cat.clone(), lift as f32);
            }
        }
    }

    /// The lift of a category under a dimension's value (1 when unknown).
    pub fn lift(&self, dimension: &str, value: &str, category: &str) -> f32 {
        self.lifts
            .get(&format!("{dimension}:{}", value.to_lowercase()))
            .and_then(|t| t.get(category))
            .copied()
            .unwrap_or(1.0)
    }
}

/// Sales per item in each week (weeks since 1970-01-05, a Monday).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeeklySales {
    first_week: i64,
    /// Row `w - first_week`: items and units of baskets that week.
    weeks: Vec<Vec<(u32, f32)>>,
}

const WEEK: i64 = 7 * 86_400;
const MONDAY: i64 = 4 * 86_400;

fn week_of(t: i64) -> i64 {
    (t - MONDAY).div_euclid(WEEK)
}

impl WeeklySales {
    fn fit(data: &Interactions) -> WeeklySales {
        let Some(first) = data.baskets.iter().map(|b| week_of(b.at)).min() else {
            return WeeklySales::default();
        };
        let last = data
            .baskets
            .iter()
            .map(|b| week_of(b.at))
            .max()
            .unwrap_or(first);
        let mut weeks: Vec<HashMap<u32, f32>> = vec![HashMap::new(); (last - first + 1) as usize];
        for b in &data.baskets {
            let w = &mut weeks[(week_of(b.at) - first) as usize];
            for &i in &b.items {
                *w.entry(i).or_default() += 1.0;
            }
        }
        WeeklySales {
            first_week: first,
            weeks: weeks
                .into_iter()
                .map(|m| {
                    let mut v: Vec<(u32, f32)> = m.into_iter().collect();
                    v.sort_unstable_by_key(|e| e.0);
                    v
                })
                .collect(),
        }
    }

    /// Sales of each item from a week before to three weeks after `now`'s date, one and two
    /// years ago (two years ago counts half), and whether any such week is in the history.
    fn around_last_years(&self, now: i64, items: usize) -> Option<Vec<f32>> {
        let mut scores = vec![0f32; items];
        let mut any = false;
        for (years, weight) in [(1i64, 1.0f32), (2, 0.5)] {
            let centre = week_of(now - years * 364 * 86_400);
            for w in centre - 1..=centre + 3 {
                let Some(row) = usize::try_from(w - self.first_week)
                    .ok()
                    .and_then(|i| self.weeks.get(i))
                else {
                    continue;
                };
                any = true;
                for &(i, c) in row {
                    if (i as usize) < items {
                        scores[i as usize] += weight * c;
                    }
                }
            }
        }
        any.then_some(scores)
    }
}

/// Everything a server needs to answer recommendation requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecsModel {
    /// When it was trained (Unix seconds).
    pub trained_at: i64,
    /// The history it saw ends here (Unix seconds, exclusive).
    pub until: i64,
    /// The settings.
    pub config: RecsConfig,
    /// The products.
    pub catalog: Catalog,
    /// Person keys, by user index.
    pub people: Vec<String>,
    /// The personal models.
    pub hybrid: Hybrid,
    /// Content similarity.
    pub content: ContentModel,
    /// Frequently bought together.
    pub fbt: FbtModel,
    /// Time-decayed popularity.
    pub trending: Popularity,
    /// Weekly sales, for seasonal lists.
    pub weekly: WeeklySales,
    /// Context lifts.
    pub context: ContextLift,
    /// Validation metrics of the blend, when there was enough history to learn it.
    pub validation: Option<crate::eval::Metrics>,
    #[serde(skip)]
    person_index: HashMap<String, u32>,
}

/// A context observation for [`ContextLift`]: a dimension's value and a category.
pub type ContextObservation = (&'static str, String, String);

impl RecsModel {
    /// Trains every model on `data` as of `until`; `observations` feed the context lifts.
    pub fn train(
        data: ShopData,
        until: i64,
        config: RecsConfig,
        observations: Vec<ContextObservation>,
        progress: &dyn Progress,
    ) -> RecsModel {
        let ShopData {
            catalog,
            interactions,
            people,
            ..
        } = data;
        let (hybrid, validation) =
            Hybrid::fit_learned(&interactions, until, &config.hybrid, progress);
        progress.step("content");
        let mut content = ContentModel::fit(&catalog, &config.content);
        content.precompute(50);
        progress.step("frequently bought together");
        let baskets: Vec<&[u32]> = interactions
            .baskets
            .iter()
            .filter(|b| b.at < until)
            .map(|b| b.items.as_slice())
            .collect();
        let fbt = FbtModel::train(&baskets, catalog.len(), &config.fbt);
        progress.step("trending and seasonal");
        let trending = Popularity::fit(&interactions, until, Some(config.trending_half_life_days));
        let weekly = WeeklySales::fit(&interactions);
        let mut context = ContextLift::default();
        let mut months = Vec::new();
        for b in interactions.baskets.iter().filter(|b| b.at < until) {
            let month = chrono::DateTime::from_timestamp(b.at, 0)
                .map(|d| d.format("%m").to_string())
                .unwrap_or_default();
            for &i in &b.items {
                if let Some(c) = catalog.item(i).category() {
                    months.push((month.clone(), c.to_string()));
                }
            }
        }
        context.learn("month", months.into_iter());
        for dim in ["device", "country"] {
            context.learn(
                dim,
                observations
                    .iter()
                    .filter(|o| o.0 == dim)
                    .map(|o| (o.1.clone(), o.2.clone())),
            );
        }
        let person_index = people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
        RecsModel {
            trained_at: chrono::Utc::now().timestamp(),
            until,
            config,
            catalog,
            people,
            hybrid,
            content,
            fbt,
            trending,
            weekly,
            context,
            validation,
            person_index,
        }
    }

    /// Rebuilds the indexes that are not serialised (after loading).
    pub fn reindex(&mut self) {
        self.catalog.reindex();
        self.person_index = self
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.clone(), i as u32))
            .collect();
    }

    /// The user index of a person key, when the model knows the person.
    pub fn person(&self, key: &str) -> Option<u32> {
        self.person_index.get(key).copied()
    }

    /// The signal weights profiles are built with.
    pub fn signals(&self) -> &SignalWeights {
        &self.config.hybrid.signals
    }

    fn title(&self, item: u32) -> &str {
        &self.catalog.item(item).title
    }

    /// Answers a request.
    pub fn recommend(&self, req: &Request) -> Vec<Recommended> {
        let n_items = self.catalog.len();
        let mut candidates: Vec<Recommended> = match req.placement {
            Placement::Personal => self.personal(req),
            Placement::Related => self.related(req),
            Placement::Fbt => self.together(req, &req.product.into_iter().collect::<Vec<_>>()),
            Placement::Cart => self.cart(req),
            Placement::Upsell => self.upsell(req),
            Placement::Trending => self.popular_list(&self.trending.scores, "trending", |_| {
                "Trending in the shop now".into()
            }),
            Placement::Seasonal => match self.weekly.around_last_years(req.now, n_items) {
                Some(scores) => self.popular_list(&scores, "seasonal", |_| {
                    "Sold well in these weeks last year".into()
                }),
                None => Vec::new(),
            },
        };
        self.apply_rules(req, &mut candidates);
        candidates
    }

    /// Keeps what the rules allow, re-ranks by context and boosts, diversifies, cuts to `n`.
    fn apply_rules(&self, req: &Request, list: &mut Vec<Recommended>) {
        let exclude_purchased = req
            .rules
            .exclude_purchased
            .unwrap_or(req.placement.excludes_purchased_by_default());
        let purchased = |i: u32| {
            req.profile
                .entries
                .binary_search_by_key(&i, |e| e.item)
                .ok()
                .is_some_and(|k| req.profile.entries[k].orders > 0)
        };
        let category = req.rules.category.as_ref().map(|c| c.to_lowercase());
        list.retain(|r| {
            let item = self.catalog.item(r.item);
            item.recommendable()
                && Some(r.item) != req.product
                && !req.cart.contains(&r.item)
                && !(exclude_purchased && purchased(r.item))
                && category
                    .as_ref()
                    .is_none_or(|c| item.category_path.iter().any(|p| p.to_lowercase() == *c))
                && req
                    .rules
                    .min_price
                    .is_none_or(|m| item.price.is_some_and(|p| p >= m))
                && req
                    .rules
                    .max_price
                    .is_none_or(|m| item.price.is_some_and(|p| p <= m))
        });
        let month =
            chrono::DateTime::from_timestamp(req.now, 0).map(|d| d.format("%m").to_string());
        let strength = self.config.context_strength;
        for r in list.iter_mut() {
            let item = self.catalog.item(r.item);
            if let Some(cat) = item.category() {
                let mut lift = 1f32;
                if let Some(m) = &month {
                    lift *= self.context.lift("month", m, cat);
                }
                if let Some(d) = &req.context.device {
                    lift *= self.context.lift("device", d, cat);
                }
                if let Some(c) = &req.context.country {
                    lift *= self.context.lift("country", c, cat);
                }
                r.score *= lift.clamp(0.25, 4.0).powf(strength);
            }
            if let Some(created) = item.created_at {
                if req.now - created < i64::from(self.config.new_arrival_days) * 86_400 {
                    r.score *= self.config.new_arrival_boost;
                }
            }
        }
        list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.item.cmp(&b.item)));
        // Diversity: at most a share of the list from one category, unless nothing else is left.
        let cap = ((req.n as f32 * self.config.max_category_share).ceil() as usize).max(1);
        let mut per_cat: HashMap<&str, usize> = HashMap::new();
        let mut chosen = Vec::with_capacity(req.n);
        let mut held_back = Vec::new();
        for r in list.drain(..) {
            if chosen.len() == req.n {
                break;
            }
            let cat = self.catalog.item(r.item).leaf_category().unwrap_or("");
            let count = per_cat.entry(cat).or_default();
            if !cat.is_empty() && *count >= cap {
                held_back.push(r);
                continue;
            }
            *count += 1;
            chosen.push(r);
        }
        for r in held_back {
            if chosen.len() == req.n {
                break;
            }
            chosen.push(r);
        }
        *list = chosen;
    }

    fn popular_list(
        &self,
        scores: &[f32],
        source: &str,
        reason: impl Fn(u32) -> String,
    ) -> Vec<Recommended> {
        top_k(scores, 500, |i| !self.catalog.item(i).recommendable())
            .into_iter()
            .map(|(item, score)| Recommended {
                item,
                score,
                source: source.into(),
                reason: reason(item),
            })
            .collect()
    }

    fn personal(&self, req: &Request) -> Vec<Recommended> {
        let known: Vec<_> = req
            .profile
            .entries
            .iter()
            .filter(|e| (e.item as usize) < self.hybrid.popular.scores.len())
            .collect();
        if known.is_empty() {
            if !req.profile.is_empty() {
                // Only products added after training: content neighbours of them.
                return self.content_profile(req);
            }
            return self.popular_list(&self.trending.scores, "trending", |_| {
                "Trending in the shop now".into()
            });
        }
        let sources = self.hybrid.source_scores(&req.profile);
        let weights: Vec<f32> = SOURCES
            .iter()
            .map(|s| self.hybrid.blend.weight(s))
            .collect();
        let mut total = vec![0f32; self.catalog.len()];
        for (v, &w) in sources.iter().zip(&weights) {
            for (t, x) in total.iter_mut().zip(v) {
                *t += w * x;
            }
        }
        let mut out: Vec<Recommended> = top_k(&total, req.n * 5 + 50, |i| {
            !self.catalog.item(i).recommendable()
        })
        .into_iter()
        .map(|(item, score)| {
            // The source that contributed most names the reason.
            let (best, _) = SOURCES
                .iter()
                .enumerate()
                .filter(|(s, _)| !sources[*s].is_empty())
                .map(|(s, name)| (*name, weights[s] * sources[s][item as usize]))
                .fold(("popular", f32::MIN), |a, b| if b.1 > a.1 { b } else { a });
            let reason = self.personal_reason(best, item, &req.profile);
            Recommended {
                item,
                score,
                source: best.to_string(),
                reason,
            }
        })
        .collect();
        // Content neighbours of new products in the profile, which behaviour cannot know yet.
        if known.len() < req.profile.entries.len() {
            let floor = out.last().map_or(0.0, |r| r.score);
            for mut r in self.content_profile(req) {
                if !out.iter().any(|o| o.item == r.item) {
                    r.score *= floor.max(f32::MIN_POSITIVE);
                    out.push(r);
                }
            }
        }
        out
    }

    fn personal_reason(&self, source: &str, item: u32, profile: &Profile) -> String {
        match source {
            "again" => "You bought this before".into(),
            "similar" => {
                let anchor = profile
                    .entries
                    .iter()
                    .filter_map(|e| {
                        self.hybrid
                            .knn
                            .neighbours(e.item)
                            .find(|(j, _)| *j == item)
                            .map(|(_, s)| (e.item, s * e.weight))
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match anchor {
                    Some((a, _)) => {
                        format!("Shoppers who bought {} also bought this", self.title(a))
                    }
                    None => "Often bought by shoppers with your taste".into(),
                }
            }
            "popular" => "Popular in the shop".into(),
            _ => "Picked for you from shoppers with similar taste".into(),
        }
    }

    fn content_profile(&self, req: &Request) -> Vec<Recommended> {
        let weighted: Vec<(u32, f32)> = req
            .profile
            .entries
            .iter()
            .filter(|e| (e.item as usize) < self.content.len())
            .map(|e| (e.item, e.recent.max(1e-3)))
            .collect();
        self.content
            .profile_scores(&weighted, req.n * 5 + 50)
            .into_iter()
            .map(|(item, score)| Recommended {
                item,
                score,
                source: "content".into(),
                reason: "Similar to products you looked at".into(),
            })
            .collect()
    }

    fn related(&self, req: &Request) -> Vec<Recommended> {
        let w = self.config.related_behaviour_weight;
        let mut scores: HashMap<u32, (f32, f32)> = HashMap::new();
        let content: Vec<(u32, f32)> = match (req.product, &req.new_product) {
            (Some(p), _) => self.content.top(p).to_vec(),
            (None, Some(item)) => {
                self.content
                    .similar_to_vector(&self.content.vector_of(item), 100, &[])
            }
            (None, None) => Vec::new(),
        };
        if let Some(p) = req.product {
            let behaviour: Vec<(u32, f32)> = self.hybrid.knn.neighbours(p).collect();
            let max = behaviour
                .first()
                .map_or(1.0, |b| b.1.max(f32::MIN_POSITIVE));
            for (j, s) in behaviour {
                scores.entry(j).or_default().0 = s / max;
            }
        }
        for (j, s) in content {
            scores.entry(j).or_default().1 = s;
        }
        let has_behaviour = scores.values().any(|v| v.0 > 0.0);
        let anchor = req
            .product
            .map(|p| self.title(p).to_string())
            .or_else(|| req.new_product.as_ref().map(|i| i.title.clone()))
            .unwrap_or_default();
        scores
            .into_iter()
            .map(|(item, (b, c))| {
                let score = if has_behaviour {
                    w * b + (1.0 - w) * c
                } else {
                    c
                };
                let (source, reason) = if b * w >= c * (1.0 - w) && b > 0.0 {
                    (
                        "similar",
                        format!("Shoppers who looked at {anchor} also chose this"),
                    )
                } else {
                    let terms: Vec<&str> = req
                        .product
                        .map(|p| {
                            self.content
                                .shared_terms(p, item)
                                .into_iter()
                                .take(3)
                                .map(|t| t.0)
                                .collect()
                        })
                        .unwrap_or_default();
                    let why = if terms.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", terms.join(", "))
                    };
                    ("content", format!("Similar to {anchor}{why}"))
                };
                Recommended {
                    item,
                    score,
                    source: source.into(),
                    reason,
                }
            })
            .collect()
    }

    fn together(&self, _req: &Request, items: &[u32]) -> Vec<Recommended> {
        self.fbt
            .together_with(items, 200)
            .into_iter()
            .map(|f| {
                let with: Vec<&str> = f.because.iter().map(|&b| self.title(b)).collect();
                Recommended {
                    item: f.item,
                    score: f.score as f32,
                    source: "fbt".into(),
                    reason: format!(
                        "Bought together with {} in {} orders ({:.0}% of the orders with it)",
                        with.join(" and "),
                        f.count,
                        f.confidence * 100.0
                    ),
                }
            })
            .collect()
    }

    fn cart(&self, req: &Request) -> Vec<Recommended> {
        let cart_categories: Vec<&str> = req
            .cart
            .iter()
            .filter_map(|&i| self.catalog.item(i).category())
            .collect();
        let mut out = self.together(req, &req.cart);
        // Behavioural neighbours of the cart's items fill up what the rules do not cover.
        let mut seen: std::collections::HashSet<u32> = out.iter().map(|r| r.item).collect();
        let floor = out.iter().map(|r| r.score).fold(f32::INFINITY, f32::min);
        let mut extra: HashMap<u32, (f32, u32)> = HashMap::new();
        for &c in &req.cart {
            for (j, s) in self.hybrid.knn.neighbours(c) {
                let e = extra.entry(j).or_insert((0.0, c));
                e.0 += s;
            }
        }
        let max = extra
            .values()
            .map(|v| v.0)
            .fold(0f32, f32::max)
            .max(f32::MIN_POSITIVE);
        let scale = if floor.is_finite() { floor * 0.99 } else { 1.0 };
        for (item, (s, anchor)) in extra {
            if seen.insert(item) {
                out.push(Recommended {
                    item,
                    score: scale * s / max,
                    source: "similar".into(),
                    reason: format!("Goes with {} in your cart", self.title(anchor)),
                });
            }
        }
        out.retain(|r| {
            self.catalog
                .item(r.item)
                .category()
                .is_none_or(|c| !cart_categories.contains(&c))
        });
        out
    }

    fn upsell(&self, req: &Request) -> Vec<Recommended> {
        let Some(p) = req.product else {
            return Vec::new();
        };
        let base = self.catalog.item(p);
        let Some(price) = base.price else {
            return Vec::new();
        };
        if base.category_path.is_empty() {
            return Vec::new();
        }
        let lo = price as f64 * (1.0 + self.config.upsell_min_increase);
        let hi = price as f64 * (1.0 + self.config.upsell_max_increase);
        let mut sim: HashMap<u32, f32> = HashMap::new();
        for &(j, s) in self.content.top(p) {
            *sim.entry(j).or_default() += 0.5 * s;
        }
        let max = self
            .hybrid
            .knn
            .neighbours(p)
            .next()
            .map_or(1.0, |b| b.1.max(f32::MIN_POSITIVE));
        for (j, s) in self.hybrid.knn.neighbours(p) {
            *sim.entry(j).or_default() += 0.5 * s / max;
        }
        // Same-category items with no similarity signal still qualify, weakly, by popularity.
        let pop_max = self
            .hybrid
            .popular
            .scores
            .iter()
            .copied()
            .fold(0f32, f32::max)
            .max(1.0);
        let mut out = Vec::new();
        for (j, item) in self.catalog.items().iter().enumerate() {
            let j = j as u32;
            // The same leaf: the same place in the tree, not a leaf of the same name
            // (Garden > Accessories is no upsell for Kitchen > Accessories).
            if j == p || item.category_path != base.category_path {
                continue;
            }
            let Some(q) = item.price else { continue };
            if (q as f64) < lo || (q as f64) > hi {
                continue;
            }
            let pop = self
                .hybrid
                .popular
                .scores
                .get(j as usize)
                .copied()
                .unwrap_or(0.0)
                / pop_max;
            let score = sim.get(&j).copied().unwrap_or(0.0) + 0.1 * pop + 1e-6;
            let more = (q as f64 / price as f64 - 1.0) * 100.0;
            out.push(Recommended {
                item: j,
                score,
                source: "upsell".into(),
                reason: format!("A premium alternative to {} ({more:.0}% more)", base.title),
            });
        }
        out
    }
}
