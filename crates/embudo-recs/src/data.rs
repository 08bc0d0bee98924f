//! The inputs of every model: the catalog, the shop's baskets and behaviour, and a sparse
//! matrix type.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// One product as the recommenders see it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogItem {
    /// The shop's product id.
    pub id: String,
    /// Its name.
    pub title: String,
    /// A longer description.
    pub description: Option<String>,
    /// Category path from the root.
    pub category_path: Vec<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Free tags.
    pub tags: Vec<String>,
    /// Price in minor units, when known.
    pub price: Option<i64>,
    /// Whether it can be bought now.
    pub in_stock: bool,
    /// Whether the shop hides it from recommendations.
    pub hidden: bool,
    /// When it was added to the catalog (Unix seconds, UTC), when known.
    pub created_at: Option<i64>,
}

impl CatalogItem {
    /// The top-level category, if any.
    pub fn category(&self) -> Option<&str> {
        self.category_path.first().map(String::as_str)
    }

    /// The most specific category, if any.
    pub fn leaf_category(&self) -> Option<&str> {
        self.category_path.last().map(String::as_str)
    }

    /// Whether a placement may show it at all.
    pub fn recommendable(&self) -> bool {
        self.in_stock && !self.hidden
    }
}

/// The products, indexed densely.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    items: Vec<CatalogItem>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Catalog {
    /// A catalog of these items, in this order (an item's index is its position). A repeated id
    /// keeps its first entry.
    pub fn new(items: Vec<CatalogItem>) -> Self {
        let mut catalog = Catalog {
            items: Vec::with_capacity(items.len()),
            index: HashMap::new(),
        };
        for item in items {
            catalog.insert(item);
        }
        catalog
    }

    /// Adds an item, or returns the index it already has.
    pub fn insert(&mut self, item: CatalogItem) -> u32 {
        if let Some(&i) = self.index.get(&item.id) {
            return i;
        }
        let i = self.items.len() as u32;
        self.index.insert(item.id.clone(), i);
        self.items.push(item);
        i
    }

    /// The index of a product id.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// The item at an index.
    pub fn item(&self, i: u32) -> &CatalogItem {
        &self.items[i as usize]
    }

    /// All items, by index.
    pub fn items(&self) -> &[CatalogItem] {
        &self.items
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Rebuilds the id index (after deserialisation).
    pub fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i as u32))
            .collect();
    }
}

/// What a person did with a product, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Viewed it.
    View,
    /// Found it by searching, or clicked it in a list.
    Search,
    /// Added it to a cart.
    Cart,
    /// Bought it.
    Purchase,
}

/// One order's products.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Basket {
    /// The buyer, or none for a guest nobody can recognise.
    pub user: Option<u32>,
    /// When it was placed, Unix seconds (UTC).
    pub at: i64,
    /// Its distinct items, sorted.
    pub items: Vec<u32>,
}

/// A behavioural event on one product (views, searches, carts). Purchases are baskets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Touch {
    /// Who.
    pub user: u32,
    /// Which product.
    pub item: u32,
    /// What they did.
    pub signal: Signal,
    /// When, Unix seconds (UTC).
    pub at: i64,
}

/// A shop's history in dense indices: baskets and behaviour of `users` people over the items
/// of a [`Catalog`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interactions {
    /// Number of people (indices `0..users`).
    pub users: u32,
    /// Number of items (indices `0..items`).
    pub items: u32,
    /// Orders, in time order.
    pub baskets: Vec<Basket>,
    /// Behaviour, in time order.
    pub touches: Vec<Touch>,
}

impl Interactions {
    /// The user × item matrix of purchase counts: the number of baskets of the user that hold
    /// the item.
    pub fn purchase_counts(&self) -> Csr {
        let mut triplets: Vec<(u32, u32, f32)> = Vec::new();
        for b in &self.baskets {
            if let Some(u) = b.user {
                for &i in &b.items {
                    triplets.push((u, i, 1.0));
                }
            }
        }
        Csr::from_triplets(self.users as usize, self.items as usize, triplets)
    }
}

/// How much each kind of behaviour counts in a person's profile, and how fast it fades.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SignalWeights {
    /// A product view.
    pub view: f32,
    /// A search or list click that led to the product.
    pub search: f32,
    /// An add to cart.
    pub cart: f32,
    /// A purchase (per order holding the product).
    pub purchase: f32,
    /// Half-life of the recency weight, in days.
    pub half_life_days: f32,
}

impl Default for SignalWeights {
    fn default() -> Self {
        SignalWeights {
            view: 0.25,
            search: 0.5,
            cart: 1.0,
            purchase: 1.0,
            half_life_days: 60.0,
        }
    }
}

impl SignalWeights {
    /// The weight of one signal.
    pub fn of(&self, signal: Signal) -> f32 {
        match signal {
            Signal::View => self.view,
            Signal::Search => self.search,
            Signal::Cart => self.cart,
            Signal::Purchase => self.purchase,
        }
    }

    /// The recency factor of something `age_seconds` old: 1 now, ½ one half-life ago.
    pub fn decay(&self, age_seconds: i64) -> f32 {
        let days = age_seconds.max(0) as f32 / 86_400.0;
        (-(days / self.half_life_days.max(1e-3)) * std::f32::consts::LN_2).exp()
    }
}

/// One product in a person's profile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    /// The product.
    pub item: u32,
    /// Its weight: the sum of the signal weights (for purchases only: the number of orders
    /// holding it, the confidence the collaborative models are trained on).
    pub weight: f32,
    /// The same sum with every signal faded by its age.
    pub recent: f32,
    /// The number of orders holding it.
    pub orders: u32,
    /// The latest signal's time, Unix seconds.
    pub last_at: i64,
}

/// What one person did, at a point in time: the input of every scorer, so that a person's
/// latest events count at once (fold-in) without retraining.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The person's index in the training data, when they have one (models that compare
    /// people leave the person out of their own neighbours).
    #[serde(default)]
    pub user: Option<u32>,
    /// One entry per product, sorted by item.
    pub entries: Vec<ProfileEntry>,
}

impl Profile {
    /// The profile of a person from their baskets and touches as of `now` (later ones are
    /// ignored).
    pub fn build<'a>(
        baskets: impl IntoIterator<Item = &'a Basket>,
        touches: impl IntoIterator<Item = &'a Touch>,
        weights: &SignalWeights,
        now: i64,
    ) -> Profile {
        let mut map: std::collections::BTreeMap<u32, ProfileEntry> = Default::default();
        let mut add = |item: u32, w: f32, at: i64, order: bool| {
            let e = map.entry(item).or_insert(ProfileEntry {
                item,
                weight: 0.0,
                recent: 0.0,
                orders: 0,
                last_at: at,
            });
            e.weight += w;
            e.recent += w * weights.decay(now - at);
            e.last_at = e.last_at.max(at);
            if order {
                e.orders += 1;
            }
        };
        for b in baskets {
            if b.at < now {
                for &i in &b.items {
                    add(i, weights.purchase, b.at, true);
                }
            }
        }
        for t in touches {
            if t.at < now {
                add(t.item, weights.of(t.signal), t.at, false);
            }
        }
        Profile {
            user: None,
            entries: map.into_values().collect(),
        }
    }

    /// Whether the person has done nothing yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the profile holds the item.
    pub fn contains(&self, item: u32) -> bool {
        self.entries.binary_search_by_key(&item, |e| e.item).is_ok()
    }
}

/// A compressed sparse row matrix of `f32`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Csr {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Row `r` holds entries `indptr[r]..indptr[r + 1]`.
    pub indptr: Vec<usize>,
    /// Column of each entry, increasing within a row.
    pub indices: Vec<u32>,
    /// Value of each entry.
    pub values: Vec<f32>,
}

impl Csr {
    /// Builds a matrix from `(row, col, value)` triplets; repeated cells are summed.
    pub fn from_triplets(rows: usize, cols: usize, mut triplets: Vec<(u32, u32, f32)>) -> Self {
        triplets.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(triplets.len());
        let mut values: Vec<f32> = Vec::with_capacity(triplets.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in triplets {
            debug_assert!((r as usize) < rows && (c as usize) < cols);
            if last == Some((r, c)) {
                *values.last_mut().expect("a previous entry") += v;
                continue;
            }
            last = Some((r, c));
            indptr[r as usize + 1] += 1;
            indices.push(c);
            values.push(v);
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    /// The entries of row `r`: columns and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let span = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[span.clone()], &self.values[span])
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The transpose.
    pub fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for c in 0..self.cols {
            counts[c + 1] += counts[c];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0f32; self.nnz()];
        for r in 0..self.rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let at = next[c as usize];
                indices[at] = r as u32;
                values[at] = v;
                next[c as usize] += 1;
            }
        }
        Csr {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            values,
        }
    }

    /// Applies `f` to every stored value.
    pub fn map_values(&self, f: impl Fn(f32) -> f32) -> Csr {
        Csr {
            values: self.values.iter().map(|&v| f(v)).collect(),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_sum_repeats_and_transpose_round_trips() {
        let m = Csr::from_triplets(
            3,
            4,
            vec![(2, 1, 1.0), (0, 3, 2.0), (2, 1, 1.5), (0, 0, 1.0)],
        );
        assert_eq!(m.indptr, vec![0, 2, 2, 3]);
        assert_eq!(m.row(0), (&[0u32, 3][..], &[1.0f32, 2.0][..]));
        assert_eq!(m.row(2), (&[1u32][..], &[2.5f32][..]));
        let t = m.transpose();
        assert_eq!((t.rows, t.cols), (4, 3));
        assert_eq!(t.row(1), (&[2u32][..], &[2.5f32][..]));
        assert_eq!(t.transpose(), m);
    }

    #[test]
    fn catalog_keeps_first_of_repeated_ids() {
        let item = |id: &str, title: &str| CatalogItem {
            id: id.into(),
            title: title.into(),
            ..Default::default()
        };
        let c = Catalog::new(vec![item("a", "one"), item("b", "two"), item("a", "three")]);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("b"), Some(1));
        assert_eq!(c.item(0).title, "one");
    }
}
