//! Content similarity: products that look alike by their words and their place in the catalog.
//!
//! [`ContentModel::fit`] turns every product of a [`Catalog`] into a sparse vector of unit
//! length over a vocabulary of terms; two products are as similar as the cosine of their
//! vectors. It needs no behaviour at all, so a product added yesterday gets neighbours at once
//! ([`ContentModel::vector_of`], [`ContentModel::similar_to_vector`]).
//!
//! # Terms
//!
//! - **Words** of the title and of the description, in one shared space (a title word matches
//!   the same word in another product's description): the text is lowercased and split at
//!   Unicode word boundaries (UAX #29), numbers are kept, a possessive `'s` is dropped, a small
//!   English stop-word list is removed ([`ContentConfig::stop_words`]) and plural endings are
//!   folded ([`ContentConfig::stemming`], [`light_stem`]). See [`tokenize`].
//! - **Category**: one term per level of the category path, naming the whole path down to that
//!   level (`produce`, `produce > fresh fruits`), so a deeper level is a rarer, more specific
//!   term and weighs more through its idf.
//! - **Brand**: one term. **Tags**: one term each.
//!
//! Words, categories, brands and tags are separate namespaces: the brand "Apple" does not
//! match the word "apple".
//!
//! # Weights
//!
//! With `N` items in the catalog and `df(t)` the number of items that hold term `t`, the
//! default weighting, [`Weighting::Bm25`], gives word `t` of text field `f` (title or
//! description) of item `d`, occurring `tf` times in that field of `len` words, where `avg` is
//! the mean length of the field over the items that have it:
//!
//! ```text
//! idf(t)    = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5))
//! u_f(d, t) = idf(t) · tf · (k1 + 1) / (tf + k1 · (1 − b + b · len / avg))
//! ```
//!
//! The term frequency part saturates: it stays below `k1 + 1` however often a word is said, so
//! a long description that repeats a word does not drown the other words. Relative to the
//! field's other words, a repeated word stands out more in a long field than in a short one,
//! where every word counts about the same.
//! [`Weighting::TfIdf`] uses `idf(t) = ln((1 + N) / (1 + df(t))) + 1` and
//! `u_f(d, t) = idf(t) · (1 + ln tf)` instead. Category levels, the brand and the tags are
//! present or not: `u_f(d, t) = idf(t)`.
//!
//! Each field is normalised on its own and weighted by its configured weight `w_f`
//! ([`ContentConfig`]), and the sum is normalised again:
//!
//! ```text
//! v(d) = Σ_f w_f · u_f(d) / ‖u_f(d)‖,   then   v(d) / ‖v(d)‖
//! ```
//!
//! So a field's weight is its share of the similarity, whatever its length: for two items that
//! both have every field, when their titles and descriptions share no word across fields, the
//! cosine is `Σ_f w_f² · cos_f / Σ_f w_f²`, the per-field cosines averaged with the squared
//! weights. Within a field, the idf decides which terms matter. A field with weight 0 is left
//! out.
//!
//! # Search
//!
//! Neighbours are found through an inverted index, each term's items sorted heaviest first.
//! The query's terms are read rarest first, every posting adding to its item's score, so an
//! item is compared only with items it shares a term with. As in MaxScore, reading stops early
//! (or goes on for the items already seen only) once no item not seen yet can reach the n-th
//! best score: the terms not read can add at most `Σ_t |q_t| · max_w_t`. A term held by more than
//! [`ContentConfig::max_postings`] items (a department, a very common word) would make the
//! search quadratic, so only its `max_postings` heaviest items are read. Either way, the
//! candidates whose partial scores could still reach the n-th best are scored exactly (a sparse
//! dot product): every returned score is the exact cosine, and the result is the exact top n,
//! except that an item that shares only terms over the limit with the query, and is among the
//! heaviest items of none of them, is not found; its cosine is at most `Σ_t |q_t| · w_t` over
//! those terms, `w_t` the heaviest weight left unread. [`ContentModel::precompute`] finds the
//! top `k` of every item in parallel and [`ContentModel::top`] serves them in nanoseconds.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_segmentation::UnicodeSegmentation;

use crate::data::{Catalog, CatalogItem, Csr};

/// How counts become weights. See the [module documentation](self) for the formulas.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Okapi BM25: a saturating term frequency with length normalisation, and the BM25 idf.
    Bm25 {
        /// How fast the term frequency saturates: 0 counts a word once however often it
        /// occurs; larger values approach raw counts. Usual values 1.2 to 2.
        k1: f32,
        /// Length normalisation, from 0 (none) to 1 (full).
        b: f32,
    },
    /// TF-IDF with a sublinear term frequency `1 + ln tf` and the smoothed idf
    /// `ln((1 + N) / (1 + df)) + 1`.
    TfIdf,
}

impl Default for Weighting {
    fn default() -> Self {
        Weighting::Bm25 { k1: 1.2, b: 0.75 }
    }
}

impl Weighting {
    /// The inverse document frequency of a term held by `df` of `n` items.
    fn idf(self, n: f64, df: f64) -> f64 {
        match self {
            Weighting::Bm25 { .. } => (1.0 + (n - df + 0.5) / (df + 0.5)).ln(),
            Weighting::TfIdf => ((1.0 + n) / (1.0 + df)).ln() + 1.0,
        }
    }

    /// The weight of a word occurring `tf` times in a field of `len` words, the field's mean
    /// length being `avg`.
    fn tf(self, tf: f64, len: f64, avg: f64) -> f64 {
        match self {
            Weighting::Bm25 { k1, b } => {
                let (k1, b) = (f64::from(k1.max(0.0)), f64::from(b.clamp(0.0, 1.0)));
                let relative = if avg > 0.0 { len / avg } else { 1.0 };
                tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * relative))
            }
            Weighting::TfIdf => 1.0 + tf.ln(),
        }
    }
}

/// What the content model reads and how it weighs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContentConfig {
    /// Weight of the title's words. Default 1.
    pub title_weight: f32,
    /// Weight of the description's words. Default 0.5.
    pub description_weight: f32,
    /// Weight of the category path. Default 0.6.
    pub category_weight: f32,
    /// Weight of the brand. Default 0.4.
    pub brand_weight: f32,
    /// Weight of the tags. Default 0.4.
    pub tags_weight: f32,
    /// Term weighting. Default BM25 with `k1` 1.2 and `b` 0.75.
    pub weighting: Weighting,
    /// Whether plural endings are folded ([`light_stem`]). Default true.
    pub stemming: bool,
    /// Whether English stop words ("the", "and", "with"…) are dropped. Default true.
    pub stop_words: bool,
    /// A search reads at most this many items of a term's posting list, the heaviest (0: no
    /// limit), so that a term most items share does not make it quadratic; see the module
    /// documentation for what that can miss. Default 1,000.
    pub max_postings: usize,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            title_weight: 1.0,
            description_weight: 0.5,
            category_weight: 0.6,
            brand_weight: 0.4,
            tags_weight: 0.4,
            weighting: Weighting::default(),
            stemming: true,
            stop_words: true,
            max_postings: 1_000,
        }
    }
}

/// English words too common to tell products apart, sorted.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for",
    "from", "has", "have", "in", "into", "is", "it", "its", "of", "on", "or", "our", "so", "than",
    "that", "the", "their", "them", "these", "they", "this", "those", "to", "was", "we", "were",
    "which", "will", "with", "you", "your",
];

/// The words of a text as the content model sees them: lowercased, split at Unicode word
/// boundaries (UAX #29: punctuation and spaces go, `1.5` and `jerry's` stay whole), numbers
/// kept, a trailing possessive `'s` dropped, stop words dropped when `stop_words`, plural
/// endings folded ([`light_stem`]) when `stemming` (words with digits are left as they are).
pub fn tokenize(text: &str, stop_words: bool, stemming: bool) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut words = Vec::new();
    for word in lower.unicode_words() {
        let word = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("\u{2019}s"))
            .unwrap_or(word);
        if word.is_empty() || (stop_words && STOP_WORDS.binary_search(&word).is_ok()) {
            continue;
        }
        if stemming && !word.chars().any(char::is_numeric) {
            words.push(light_stem(word));
        } else {
            words.push(word.to_string());
        }
    }
    words
}

/// Folds the common English plural endings of a lowercase word, so that singular and plural
/// meet: `strawberries` and `strawberry` → `strawberry`, `cookies` and `cookie` → `cooky`,
/// `boxes` → `box`, `peaches` → `peach`, `tomatoes` → `tomato`, `chips` → `chip`. Words of
/// three letters or fewer, and words ending in `ss`, `us` or `is` (`glass`, `hummus`), are
/// left alone. It is deliberately light: no verb or adjective endings, so `organic` and
/// `sparkling` stay as they are.
pub fn light_stem(word: &str) -> String {
    let chars = word.chars().count();
    let cut = |drop: usize, add: &str| format!("{}{add}", &word[..word.len() - drop]);
    if chars <= 3 {
        word.to_string()
    } else if chars > 4 && word.ends_with("ies") {
        cut(3, "y")
    } else if chars > 4 && word.ends_with("ie") {
        cut(2, "y")
    } else if ["sses", "xes", "ches", "shes", "zzes"]
        .iter()
        .any(|s| word.ends_with(s))
        || (chars > 5 && word.ends_with("oes"))
    {
        cut(2, "")
    } else if word.ends_with('s') && !["ss", "us", "is"].iter().any(|s| word.ends_with(s)) {
        cut(1, "")
    } else {
        word.to_string()
    }
}

/// Namespace prefixes of the vocabulary's terms.
const WORD: &str = "w:";
const CATEGORY: &str = "c:";
const BRAND: &str = "b:";
const TAG: &str = "g:";

/// A label (category level, brand, tag) as one term: lowercased, spaces collapsed.
fn label(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One item's terms, field by field, before weighting. A field whose weight is 0 is empty.
#[derive(Debug, Default)]
struct ItemTerms {
    title: Vec<String>,
    description: Vec<String>,
    category: Vec<String>,
    brand: Vec<String>,
    tags: Vec<String>,
}

impl ItemTerms {
    fn new(item: &CatalogItem, config: &ContentConfig) -> Self {
        let words = |text: &str, weight: f32| -> Vec<String> {
            if weight <= 0.0 {
                return Vec::new();
            }
            tokenize(text, config.stop_words, config.stemming)
                .into_iter()
                .map(|w| format!("{WORD}{w}"))
                .collect()
        };
        let mut terms = ItemTerms {
            title: words(&item.title, config.title_weight),
            description: words(
                item.description.as_deref().unwrap_or(""),
                config.description_weight,
            ),
            ..ItemTerms::default()
        };
        if config.category_weight > 0.0 {
            let mut path = String::new();
            for level in item
                .category_path
                .iter()
                .map(|l| label(l))
                .filter(|l| !l.is_empty())
            {
                if !path.is_empty() {
                    path.push_str(" > ");
                }
                path.push_str(&level);
                terms.category.push(format!("{CATEGORY}{path}"));
            }
        }
        if config.brand_weight > 0.0 {
            terms.brand = item
                .brand
                .iter()
                .map(|b| label(b))
                .filter(|b| !b.is_empty())
                .map(|b| format!("{BRAND}{b}"))
                .collect();
        }
        if config.tags_weight > 0.0 {
            terms.tags = item
                .tags
                .iter()
                .map(|t| label(t))
                .filter(|t| !t.is_empty())
                .map(|t| format!("{TAG}{t}"))
                .collect();
            terms.tags.sort();
            terms.tags.dedup();
        }
        terms
    }

    fn all(&self) -> impl Iterator<Item = &str> {
        [
            &self.title,
            &self.description,
            &self.category,
            &self.brand,
            &self.tags,
        ]
        .into_iter()
        .flatten()
        .map(String::as_str)
    }
}

/// A sparse vector over the model's vocabulary: term ids, strictly increasing, and weights.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    terms: Vec<u32>,
    weights: Vec<f32>,
}

impl SparseVector {
    /// A vector of `(term, weight)` pairs in any order: weights of a repeated term are added,
    /// zero weights dropped.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, f32)>) -> Self {
        let mut pairs: Vec<(u32, f32)> = pairs.into_iter().collect();
        pairs.sort_by_key(|&(t, _)| t);
        let mut v = SparseVector::default();
        for (t, w) in pairs {
            if v.terms.last() == Some(&t) {
                *v.weights.last_mut().expect("a weight for each term") += w;
            } else {
                v.terms.push(t);
                v.weights.push(w);
            }
        }
        v.retain_nonzero();
        v
    }

    fn retain_nonzero(&mut self) {
        if self.weights.iter().all(|&w| w != 0.0) {
            return;
        }
        let (terms, weights) = self.iter().filter(|&(_, w)| w != 0.0).unzip();
        self.terms = terms;
        self.weights = weights;
    }

    /// The term ids, increasing.
    pub fn terms(&self) -> &[u32] {
        &self.terms
    }

    /// The weights, one per term.
    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// `(term, weight)` pairs, by term.
    pub fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.terms.iter().copied().zip(self.weights.iter().copied())
    }

    /// Number of terms with a weight.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether no term has a weight.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The Euclidean length.
    pub fn norm(&self) -> f32 {
        self.weights
            .iter()
            .map(|&w| f64::from(w) * f64::from(w))
            .sum::<f64>()
            .sqrt() as f32
    }

    /// The dot product.
    pub fn dot(&self, other: &SparseVector) -> f32 {
        sparse_dot(&self.terms, &self.weights, &other.terms, &other.weights)
    }

    /// Adds `scale · other`.
    pub fn add_scaled(&mut self, other: &SparseVector, scale: f32) {
        let pairs = self.iter().chain(other.iter().map(|(t, w)| (t, w * scale)));
        *self = SparseVector::from_pairs(pairs.collect::<Vec<_>>());
    }

    /// Scales to length 1 (a zero vector stays zero).
    pub fn normalize(&mut self) {
        let norm = self.norm();
        if norm > 0.0 {
            self.weights.iter_mut().for_each(|w| *w /= norm);
        }
    }
}

fn sparse_dot(at: &[u32], aw: &[f32], bt: &[u32], bw: &[f32]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
    while i < at.len() && j < bt.len() {
        match at[i].cmp(&bt[j]) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                sum += aw[i] * bw[j];
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// Best first: higher score, then lower index.
fn best_first(a: &(u32, f32), b: &(u32, f32)) -> Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// Keeps the `n` best, sorted best first.
fn keep_best(found: &mut Vec<(u32, f32)>, n: usize) {
    if n == 0 {
        found.clear();
        return;
    }
    if found.len() > n {
        found.select_nth_unstable_by(n - 1, best_first);
        found.truncate(n);
    }
    found.sort_unstable_by(best_first);
}

/// What is stored of a model; the rest is rebuilt on loading.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    config: ContentConfig,
    /// Term strings by id, with their namespace prefix.
    terms: Vec<String>,
    /// Idf by term id.
    idf: Vec<f32>,
    /// Idf of a term no item had (for items added after fitting).
    idf_unseen: f32,
    avg_title_len: f32,
    avg_description_len: f32,
    /// Items × terms, unit rows.
    vectors: Csr,
    /// Precomputed neighbours: item `i` has `top[top_ptr[i]..top_ptr[i + 1]]`; empty when not
    /// precomputed.
    top_k: usize,
    top_ptr: Vec<usize>,
    top: Vec<(u32, f32)>,
}

/// Terms × items: each term's items, heaviest first (ties by index).
#[derive(Debug, Clone, Default)]
struct Postings {
    ptr: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl Postings {
    fn build(vectors: &Csr) -> Self {
        let mut lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); vectors.cols];
        for i in 0..vectors.rows {
            let (terms, weights) = vectors.row(i);
            for (&t, &w) in terms.iter().zip(weights) {
                lists[t as usize].push((i as u32, w));
            }
        }
        lists
            .par_iter_mut()
            .for_each(|list| list.sort_unstable_by(best_first));
        let mut ptr = Vec::with_capacity(lists.len() + 1);
        ptr.push(0);
        let mut entries = Vec::with_capacity(vectors.nnz());
        for list in lists {
            entries.extend(list);
            ptr.push(entries.len());
        }
        Postings { ptr, entries }
    }

    fn list(&self, term: u32) -> &[(u32, f32)] {
        match (self.ptr.get(term as usize), self.ptr.get(term as usize + 1)) {
            (Some(&from), Some(&to)) => &self.entries[from..to],
            _ => &[],
        }
    }
}

/// Per-search work space: a dense accumulator over the items.
struct Scratch {
    scores: Vec<f32>,
    seen: Vec<bool>,
    /// The candidates, first `count` entries (one spare slot for the branch-free append).
    touched: Vec<u32>,
    /// Positions of the query's terms in reading order.
    order: Vec<usize>,
    /// Postings left to read from each position of `order` on.
    work: Vec<usize>,
    /// Partial scores, to find the n-th best.
    partials: Vec<f32>,
}

impl Scratch {
    fn new(items: usize) -> Self {
        Scratch {
            scores: vec![0.0; items],
            seen: vec![false; items],
            touched: vec![0; items + 1],
            order: Vec::new(),
            work: Vec::new(),
            partials: Vec::new(),
        }
    }
}

/// Room for rounding when comparing bounds of scores, relative to the largest possible score.
const ROUNDING: f32 = 1e-5;

/// What scoring a candidate exactly costs, in postings read (a random row access and a merge).
const RESCORE_COST: usize = 16;

/// Content similarity between the items of a catalog: a unit sparse vector per item (see the
/// [module documentation](self)), an inverted index to search them, and optionally each item's
/// precomputed top neighbours.
///
/// Items are the catalog's indices at fitting time. An index the model does not know (an item
/// added since) has no vector and no neighbours; use [`ContentModel::vector_of`] for it.
/// Serialises with serde (the vocabulary, the vectors and the precomputed neighbours; the
/// index is rebuilt on loading).
#[derive(Clone)]
pub struct ContentModel {
    stored: Stored,
    term_ids: HashMap<String, u32>,
    postings: Postings,
}

impl fmt::Debug for ContentModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentModel")
            .field("items", &self.len())
            .field("terms", &self.vocabulary_len())
            .field("entries", &self.stored.vectors.nnz())
            .field("precomputed", &self.precomputed())
            .field("config", &self.stored.config)
            .finish()
    }
}

impl Serialize for ContentModel {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.stored.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ContentModel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        let v = &stored.vectors;
        let consistent = stored.idf.len() == stored.terms.len()
            && v.cols == stored.terms.len()
            && v.indptr.len() == v.rows + 1
            && v.indptr.windows(2).all(|w| w[0] <= w[1])
            && v.indptr.last() == Some(&v.indices.len())
            && v.values.len() == v.indices.len()
            && (0..v.rows).all(|r| v.row(r).0.windows(2).all(|w| w[0] < w[1]))
            && v.indices.iter().all(|&t| (t as usize) < v.cols)
            && (stored.top_ptr.is_empty()
                || (stored.top_ptr.len() == v.rows + 1
                    && stored.top_ptr.windows(2).all(|w| w[0] <= w[1])
                    && stored.top_ptr.last() == Some(&stored.top.len())
                    && stored.top.iter().all(|&(i, _)| (i as usize) < v.rows)));
        if !consistent {
            return Err(serde::de::Error::custom("inconsistent content model"));
        }
        Ok(ContentModel::assemble(stored))
    }
}

impl ContentModel {
    fn assemble(stored: Stored) -> Self {
        let term_ids = stored
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let postings = Postings::build(&stored.vectors);
        ContentModel {
            stored,
            term_ids,
            postings,
        }
    }

    /// Fits the model to a catalog: every item gets a vector, item `i` of the catalog being
    /// item `i` of the model. An item with no usable text or metadata gets an empty vector and
    /// has no neighbours. Term ids are given in order of first appearance, so the same catalog
    /// and configuration always give the same model.
    pub fn fit(catalog: &Catalog, config: &ContentConfig) -> ContentModel {
        let items: Vec<ItemTerms> = catalog
            .items()
            .par_iter()
            .map(|item| ItemTerms::new(item, config))
            .collect();

        let mut term_ids: HashMap<String, u32> = HashMap::new();
        let mut terms: Vec<String> = Vec::new();
        let mut df: Vec<u32> = Vec::new();
        let mut own: Vec<u32> = Vec::new();
        let (mut titles, mut title_words, mut descriptions, mut description_words) =
            (0usize, 0usize, 0usize, 0usize);
        for item in &items {
            own.clear();
            for term in item.all() {
                let id = match term_ids.get(term) {
                    Some(&id) => id,
                    None => {
                        let id = terms.len() as u32;
                        term_ids.insert(term.to_string(), id);
                        terms.push(term.to_string());
                        df.push(0);
                        id
                    }
                };
                own.push(id);
            }
            own.sort_unstable();
            own.dedup();
            for &id in &own {
                df[id as usize] += 1;
            }
            if !item.title.is_empty() {
                titles += 1;
                title_words += item.title.len();
            }
            if !item.description.is_empty() {
                descriptions += 1;
                description_words += item.description.len();
            }
        }

        let n = catalog.len() as f64;
        let weighting = config.weighting;
        let mean = |words: usize, fields: usize| {
            if fields == 0 {
                0.0
            } else {
                words as f32 / fields as f32
            }
        };
        let stored = Stored {
            config: config.clone(),
            idf: df
                .iter()
                .map(|&d| weighting.idf(n, f64::from(d)) as f32)
                .collect(),
            idf_unseen: weighting.idf(n, 0.0) as f32,
            vectors: Csr {
                rows: 0,
                cols: terms.len(),
                indptr: vec![0],
                indices: Vec::new(),
                values: Vec::new(),
            },
            terms,
            avg_title_len: mean(title_words, titles),
            avg_description_len: mean(description_words, descriptions),
            top_k: 0,
            top_ptr: Vec::new(),
            top: Vec::new(),
        };
        let mut model = ContentModel {
            stored,
            term_ids,
            postings: Postings::default(),
        };

        let vectors: Vec<SparseVector> = items.par_iter().map(|item| model.weigh(item)).collect();
        let nnz = vectors.iter().map(SparseVector::len).sum();
        let csr = &mut model.stored.vectors;
        csr.rows = vectors.len();
        csr.indptr.reserve(vectors.len());
        csr.indices.reserve(nnz);
        csr.values.reserve(nnz);
        for v in vectors {
            csr.indices.extend(v.terms);
            csr.values.extend(v.weights);
            csr.indptr.push(csr.indices.len());
        }
        model.postings = Postings::build(&model.stored.vectors);
        model
    }

    /// An item's vector from its terms, with the fitted vocabulary and statistics. Terms the
    /// vocabulary lacks count toward the length (with the idf of a term no item had) but are
    /// not kept, so a dot product with the result is the cosine the item would have had.
    fn weigh<'a>(&self, item: &'a ItemTerms) -> SparseVector {
        let s = &self.stored;
        let known = s.terms.len() as u32;
        let mut unseen: HashMap<&'a str, u32> = HashMap::new();
        let mut key = |term: &'a str| -> u32 {
            if let Some(&id) = self.term_ids.get(term) {
                return id;
            }
            let next = u32::MAX - unseen.len() as u32;
            *unseen.entry(term).or_insert(next)
        };
        let idf = |key: u32| {
            f64::from(if key < known {
                s.idf[key as usize]
            } else {
                s.idf_unseen
            })
        };
        let c = &s.config;

        let mut entries: Vec<(u32, f64)> = Vec::new();
        let mut add_field = |field: Vec<(u32, f64)>, weight: f32| {
            let norm = field.iter().map(|&(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 && weight > 0.0 {
                let scale = f64::from(weight) / norm;
                entries.extend(field.into_iter().map(|(k, w)| (k, w * scale)));
            }
        };
        let text = [
            (&item.title, c.title_weight, s.avg_title_len),
            (
                &item.description,
                c.description_weight,
                s.avg_description_len,
            ),
        ];
        for (words, weight, avg) in text {
            let mut keys: Vec<u32> = words.iter().map(|w| key(w)).collect();
            keys.sort_unstable();
            let len = keys.len() as f64;
            let field = keys
                .chunk_by(|a, b| a == b)
                .map(|run| {
                    (
                        run[0],
                        idf(run[0]) * c.weighting.tf(run.len() as f64, len, f64::from(avg)),
                    )
                })
                .collect();
            add_field(field, weight);
        }
        let labels = [
            (&item.category, c.category_weight),
            (&item.brand, c.brand_weight),
            (&item.tags, c.tags_weight),
        ];
        for (terms, weight) in labels {
            let field = terms.iter().map(|t| key(t)).map(|k| (k, idf(k))).collect();
            add_field(field, weight);
        }

        entries.sort_by_key(|&(k, _)| k);
        let mut merged: Vec<(u32, f64)> = Vec::with_capacity(entries.len());
        for (k, w) in entries {
            match merged.last_mut() {
                Some(last) if last.0 == k => last.1 += w,
                _ => merged.push((k, w)),
            }
        }
        let norm = merged.iter().map(|&(_, w)| w * w).sum::<f64>().sqrt();
        let mut v = SparseVector::default();
        if norm > 0.0 {
            for (k, w) in merged.into_iter().filter(|&(k, _)| k < known) {
                v.terms.push(k);
                v.weights.push((w / norm) as f32);
            }
        }
        v
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.stored.vectors.rows
    }

    /// Whether the model has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configuration it was fitted with.
    pub fn config(&self) -> &ContentConfig {
        &self.stored.config
    }

    /// Number of terms in the vocabulary.
    pub fn vocabulary_len(&self) -> usize {
        self.stored.terms.len()
    }

    /// A term by id, with its namespace prefix: `w:` a word, `c:` a category path, `b:` a brand,
    /// `g:` a tag.
    pub fn term(&self, id: u32) -> Option<&str> {
        self.stored.terms.get(id as usize).map(String::as_str)
    }

    /// The id of a term (with its namespace prefix, as [`ContentModel::term`] gives it).
    pub fn term_id(&self, term: &str) -> Option<u32> {
        self.term_ids.get(term).copied()
    }

    /// The fitted vector of an item (empty for an item with nothing to read or an index the
    /// model does not know).
    pub fn vector(&self, item: u32) -> SparseVector {
        if item as usize >= self.len() {
            return SparseVector::default();
        }
        let (terms, weights) = self.stored.vectors.row(item as usize);
        SparseVector {
            terms: terms.to_vec(),
            weights: weights.to_vec(),
        }
    }

    /// The vector of any product, with the fitted vocabulary and statistics: for an item of the
    /// fitted catalog it equals [`ContentModel::vector`]; for a product added since, it is the
    /// vector to search with ([`ContentModel::similar_to_vector`]) until the next fit. Terms the
    /// vocabulary lacks (a new brand, a new word) count toward the vector's length but are left
    /// out, so its length is below 1 and its dot products are the cosines it would have had
    /// among the fitted items.
    pub fn vector_of(&self, item: &CatalogItem) -> SparseVector {
        self.weigh(&ItemTerms::new(item, &self.stored.config))
    }

    /// The terms two items share and what each adds to their cosine, largest first, ties by
    /// term: why they are similar.
    pub fn shared_terms(&self, a: u32, b: u32) -> Vec<(&str, f32)> {
        let (va, vb) = (self.vector(a), self.vector(b));
        let weights: HashMap<u32, f32> = vb.iter().collect();
        let mut shared: Vec<(u32, f32)> = va
            .iter()
            .filter_map(|(t, w)| weights.get(&t).map(|&x| (t, w * x)))
            .collect();
        shared.sort_by(best_first);
        shared
            .into_iter()
            .map(|(t, x)| (self.stored.terms[t as usize].as_str(), x))
            .collect()
    }

    /// The `n` items most similar to `item` by cosine, best first (ties by lower index),
    /// never the item itself and never an item with nothing in common (cosine 0). Searches the
    /// inverted index; see [`ContentModel::top`] for the precomputed lists.
    pub fn neighbours(&self, item: u32, n: usize) -> Vec<(u32, f32)> {
        if item as usize >= self.len() {
            return Vec::new();
        }
        let (terms, weights) = self.stored.vectors.row(item as usize);
        self.with_scratch(|s| self.search(terms, weights, n, &|i| i == item, s))
    }

    /// The `n` items whose vectors have the largest dot product with `v`, best first (ties by
    /// lower index), leaving out the indices in `exclude` and items with a score of 0 or less.
    /// For a vector of [`ContentModel::vector_of`] or a unit vector the score is the cosine.
    pub fn similar_to_vector(
        &self,
        v: &SparseVector,
        n: usize,
        exclude: &[u32],
    ) -> Vec<(u32, f32)> {
        let mut exclude = exclude.to_vec();
        exclude.sort_unstable();
        let skip = |i| exclude.binary_search(&i).is_ok();
        self.with_scratch(|s| self.search(&v.terms, &v.weights, n, &skip, s))
    }

    /// A content profile: the sum of the items' vectors, each times its weight (a rating, a
    /// recency weight; negative for a dislike), scaled to length 1. Indices the model does not
    /// know are skipped.
    pub fn profile_vector(&self, weighted_items: &[(u32, f32)]) -> SparseVector {
        let mut pairs = Vec::new();
        for &(item, weight) in weighted_items {
            if (item as usize) < self.len() {
                let (terms, weights) = self.stored.vectors.row(item as usize);
                pairs.extend(terms.iter().zip(weights).map(|(&t, &w)| (t, w * weight)));
            }
        }
        let mut v = SparseVector::from_pairs(pairs);
        v.normalize();
        v
    }

    /// The `n` items closest to a person's content profile ([`ContentModel::profile_vector`]),
    /// best first, with their cosines to it, leaving out the profile's own items: for a person
    /// whose items have little or no behaviour yet.
    pub fn profile_scores(&self, weighted_items: &[(u32, f32)], n: usize) -> Vec<(u32, f32)> {
        let profile = self.profile_vector(weighted_items);
        let own: Vec<u32> = weighted_items.iter().map(|&(i, _)| i).collect();
        self.similar_to_vector(&profile, n, &own)
    }

    /// Finds and stores the top `k` neighbours of every item ([`ContentModel::neighbours`]),
    /// in parallel, for [`ContentModel::top`]. Replaces an earlier precomputation.
    pub fn precompute(&mut self, k: usize) {
        let items = self.len();
        let lists: Vec<Vec<(u32, f32)>> = (0..items as u32)
            .into_par_iter()
            .with_min_len(512)
            .map_init(
                || Scratch::new(items),
                |scratch, item| {
                    let (terms, weights) = self.stored.vectors.row(item as usize);
                    self.search(terms, weights, k, &|i| i == item, scratch)
                },
            )
            .collect();
        let mut top_ptr = Vec::with_capacity(items + 1);
        top_ptr.push(0);
        let mut top = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for list in lists {
            top.extend(list);
            top_ptr.push(top.len());
        }
        self.stored.top_k = k;
        self.stored.top_ptr = top_ptr;
        self.stored.top = top;
    }

    /// The `k` of the last [`ContentModel::precompute`], if any.
    pub fn precomputed(&self) -> Option<usize> {
        (!self.stored.top_ptr.is_empty()).then_some(self.stored.top_k)
    }

    /// The precomputed neighbours of an item, best first: empty before
    /// [`ContentModel::precompute`], for an item with no neighbours, and for an index the model
    /// does not know.
    pub fn top(&self, item: u32) -> &[(u32, f32)] {
        let ptr = &self.stored.top_ptr;
        match (ptr.get(item as usize), ptr.get(item as usize + 1)) {
            (Some(&from), Some(&to)) => &self.stored.top[from..to],
            _ => &[],
        }
    }

    /// Approximate memory held by the model, in bytes: vocabulary and its index, vectors,
    /// inverted index and precomputed neighbours.
    pub fn approx_bytes(&self) -> usize {
        use std::mem::size_of;
        let s = &self.stored;
        let strings: usize = s
            .terms
            .iter()
            .map(|t| t.capacity() + size_of::<String>())
            .sum();
        // The index holds a copy of each string, and a hash table slot with a control byte.
        let index = strings + self.term_ids.capacity() * (size_of::<(String, u32)>() + 1);
        let vectors = s.vectors.indptr.capacity() * size_of::<usize>()
            + s.vectors.indices.capacity() * size_of::<u32>()
            + s.vectors.values.capacity() * size_of::<f32>();
        let postings = self.postings.ptr.capacity() * size_of::<usize>()
            + self.postings.entries.capacity() * size_of::<(u32, f32)>();
        let top =
            s.top_ptr.capacity() * size_of::<usize>() + s.top.capacity() * size_of::<(u32, f32)>();
        size_of::<Self>()
            + strings
            + index
            + s.idf.capacity() * size_of::<f32>()
            + vectors
            + postings
            + top
    }

    /// Runs `f` with this thread's work space, kept between calls while the model size stays.
    fn with_scratch<R>(&self, f: impl FnOnce(&mut Scratch) -> R) -> R {
        thread_local! {
            static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
        }
        let mut scratch = SCRATCH
            .with(|cell| cell.borrow_mut().take())
            .filter(|s| s.scores.len() == self.len())
            .unwrap_or_else(|| Scratch::new(self.len()));
        let result = f(&mut scratch);
        SCRATCH.with(|cell| *cell.borrow_mut() = Some(scratch));
        result
    }

    /// The `n` best items by dot product with the query, through the inverted index (see the
    /// module documentation).
    fn search(
        &self,
        terms: &[u32],
        weights: &[f32],
        n: usize,
        skip: &dyn Fn(u32) -> bool,
        s: &mut Scratch,
    ) -> Vec<(u32, f32)> {
        if n == 0 || terms.is_empty() {
            return Vec::new();
        }
        let cap = match self.stored.config.max_postings {
            0 => usize::MAX,
            cap => cap,
        };
        let list = |at: usize| self.postings.list(terms[at]);
        // Shortest lists first: the rarest terms, which are usually the heaviest too.
        s.order.clear();
        s.order
            .extend((0..terms.len()).filter(|&at| !list(at).is_empty()));
        s.order
            .sort_unstable_by_key(|&at| (list(at).len(), terms[at]));
        s.work.clear();
        s.work.resize(s.order.len() + 1, 0);
        for p in (0..s.order.len()).rev() {
            s.work[p] = s.work[p + 1] + list(s.order[p]).len().min(cap);
        }
        // What the postings not read yet, once the terms before `next` are read, can add to a
        // score (`hi`, at least 0) and take from it (`lo`, at most 0): the query weight times
        // the heaviest weight not read, summed over the terms.
        let unread = |order: &[usize], next: usize| {
            let (mut hi, mut lo) = (0.0f32, 0.0f32);
            for (p, &at) in order.iter().enumerate() {
                let heaviest = if p < next {
                    list(at).get(cap).map(|e| e.1)
                } else {
                    Some(list(at)[0].1)
                };
                let bound = weights[at] * heaviest.unwrap_or(0.0);
                hi += bound.max(0.0);
                lo += bound.min(0.0);
            }
            (hi, lo)
        };

        // Rounding room when comparing bounds, as large as the largest possible score.
        let tolerance = {
            let (hi, lo) = unread(&s.order, 0);
            ROUNDING * (hi - lo).max(1.0)
        };

        // Gathering: every posting read adds to the item's score and makes it a candidate.
        // Once no item unseen can reach the n-th best, either the reading stops (the
        // candidates that may still make it are scored exactly below) or, when those would be
        // too many, it goes on adding to the candidates only.
        let (mut count, mut next, mut checks, mut gathering) = (0, 0, 0, true);
        while next < s.order.len() {
            if gathering && checks < 8 && count >= n && s.work[next] > 2 * count {
                checks += 1;
                s.partials.clear();
                for &item in &s.touched[..count] {
                    if !skip(item) {
                        s.partials.push(s.scores[item as usize]);
                    }
                }
                if s.partials.len() >= n {
                    let (_, &mut nth, _) = s
                        .partials
                        .select_nth_unstable_by(n - 1, |a, b| b.total_cmp(a));
                    let (hi, lo) = unread(&s.order, next);
                    if hi < nth + lo - tolerance {
                        let bar = nth + lo - hi - tolerance;
                        let open = s.partials.iter().filter(|&&partial| partial >= bar).count();
                        if open * RESCORE_COST <= s.work[next] {
                            break;
                        }
                        gathering = false;
                    }
                }
            }
            let at = s.order[next];
            let q = weights[at];
            let postings = list(at);
            let postings = &postings[..postings.len().min(cap)];
            if gathering {
                for &(item, w) in postings {
                    let i = item as usize;
                    // Branch-free: write always, move on only for a new candidate.
                    s.touched[count] = item;
                    count += usize::from(!s.seen[i]);
                    s.seen[i] = true;
                    s.scores[i] += q * w;
                }
            } else {
                for &(item, w) in postings {
                    let i = item as usize;
                    s.scores[i] += q * w * f32::from(u8::from(s.seen[i]));
                }
            }
            next += 1;
        }

        let mut found = Vec::with_capacity(count);
        for &item in &s.touched[..count] {
            let i = item as usize;
            if !skip(item) {
                found.push((item, s.scores[i]));
            }
            s.scores[i] = 0.0;
            s.seen[i] = false;
        }
        // The n-th best partial score, less what it may still lose, bounds the n-th best final
        // score from below: a candidate that cannot reach it even with all it may still gain is
        // out. The others are scored exactly, in term order, like `SparseVector::dot`.
        if found.len() > n {
            let (hi, lo) = unread(&s.order, next);
            found.select_nth_unstable_by(n - 1, best_first);
            let bar = found[n - 1].1 + lo - hi - tolerance;
            found.retain(|&(_, partial)| partial >= bar);
        }
        for (item, score) in &mut found {
            let (t, w) = self.stored.vectors.row(*item as usize);
            *score = sparse_dot(terms, weights, t, w);
        }
        found.retain(|&(_, score)| score > 0.0);
        keep_best(&mut found, n);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, category: &[&str], brand: Option<&str>) -> CatalogItem {
        CatalogItem {
            id: id.into(),
            title: title.into(),
            category_path: category.iter().map(|c| c.to_string()).collect(),
            brand: brand.map(str::to_string),
            in_stock: true,
            ..Default::default()
        }
    }

    fn groceries() -> Catalog {
        Catalog::new(vec![
            item(
                "0",
                "Organic Strawberries",
                &["Produce", "Fresh Fruits"],
                None,
            ),
            item(
                "1",
                "Organic Whole Milk",
                &["Dairy Eggs", "Milk"],
                Some("Horizon"),
            ),
            item(
                "2",
                "Sparkling Water Grapefruit",
                &["Beverages", "Water Seltzer"],
                Some("LaCroix"),
            ),
            item(
                "3",
                "Organic Blueberries",
                &["Produce", "Fresh Fruits"],
                None,
            ),
            item(
                "4",
                "Organic Strawberries",
                &["Produce", "Packaged Fruits"],
                None,
            ),
            item(
                "5",
                "Sparkling Water Lime",
                &["Beverages", "Water Seltzer"],
                Some("LaCroix"),
            ),
            item(
                "6",
                "Reduced Fat 2% Milk",
                &["Dairy Eggs", "Milk"],
                Some("Horizon"),
            ),
            item(
                "7",
                "Strawberry Banana Smoothie",
                &["Beverages", "Juice"],
                None,
            ),
            item("8", "Bananas", &["Produce", "Fresh Fruits"], None),
            item("9", "", &[], None),
        ])
    }

    #[test]
    fn tokenizer_lowercases_splits_keeps_numbers_and_folds_plurals() {
        assert_eq!(
            tokenize("Ben & Jerry's Half-Baked, 2% Milk 1.5 L", true, false),
            vec!["ben", "jerry", "half", "baked", "2", "milk", "1.5", "l"]
        );
        assert_eq!(
            tokenize("The Best of CAFÉ Crème", true, false),
            vec!["best", "café", "crème"]
        );
        assert_eq!(
            tokenize("The Best of", false, false),
            vec!["the", "best", "of"]
        );
        assert_eq!(
            tokenize("Strawberries and Cookies with Tomatoes, Boxes", true, true),
            vec!["strawberry", "cooky", "tomato", "box"]
        );
        for (word, stem) in [
            ("strawberry", "strawberry"),
            ("cookie", "cooky"),
            ("peaches", "peach"),
            ("glasses", "glass"),
            ("glass", "glass"),
            ("hummus", "hummus"),
            ("chips", "chip"),
            ("shoes", "shoe"),
            ("oats", "oat"),
            ("gas", "gas"),
            ("organic", "organic"),
        ] {
            assert_eq!(light_stem(word), stem, "{word}");
        }
        assert!(tokenize("  ,;- !! ", true, true).is_empty());
    }

    #[test]
    fn bm25_saturates_and_tfidf_is_sublinear() {
        let bm25 = Weighting::default();
        let one = bm25.tf(1.0, 10.0, 10.0);
        let ten = bm25.tf(10.0, 10.0, 10.0);
        assert!(ten > one && ten < 2.2 * one && ten < 2.2);
        assert!(bm25.tf(3.0, 100.0, 10.0) < bm25.tf(3.0, 10.0, 10.0));
        assert!((Weighting::TfIdf.tf(1.0, 5.0, 5.0) - 1.0).abs() < 1e-12);
        assert!(bm25.idf(100.0, 1.0) > bm25.idf(100.0, 50.0) && bm25.idf(100.0, 100.0) > 0.0);
    }

    #[test]
    fn identical_titles_are_nearest() {
        for weighting in [Weighting::default(), Weighting::TfIdf] {
            let config = ContentConfig {
                weighting,
                category_weight: 0.3,
                ..ContentConfig::default()
            };
            let model = ContentModel::fit(&groceries(), &config);
            let near = model.neighbours(0, 3);
            assert_eq!(near[0].0, 4, "{weighting:?}: {near:?}");
            let near = model.neighbours(2, 3);
            assert_eq!(near[0].0, 5, "{weighting:?}: {near:?}");
            for i in 0..model.len() as u32 {
                let v = model.vector(i);
                assert!(v.is_empty() || (v.norm() - 1.0).abs() < 1e-5);
            }
        }
        let mut same = groceries().items().to_vec();
        same.push(item(
            "10",
            "organic STRAWBERRIES!",
            &["Produce", "Fresh Fruits"],
            None,
        ));
        let model = ContentModel::fit(&Catalog::new(same), &ContentConfig::default());
        let near = model.neighbours(0, 2);
        assert_eq!(near[0].0, 10);
        assert!((near[0].1 - 1.0).abs() < 1e-5, "{near:?}");
    }

    #[test]
    fn category_and_brand_weights_change_the_order() {
        let mut items = vec![
            item("q", "Aero Runner", &["Shoes", "Running"], Some("Acme")),
            item(
                "brand",
                "Storm Shell",
                &["Clothing", "Jackets"],
                Some("Acme"),
            ),
            item(
                "category",
                "Cloud Racer",
                &["Shoes", "Running"],
                Some("Zenith"),
            ),
        ];
        for i in 0..6 {
            items.push(item(
                &format!("f{i}"),
                &format!("Filler {i}"),
                &["Home", &format!("Room {i}")],
                Some(&format!("B{i}")),
            ));
        }
        let catalog = Catalog::new(items);
        let brand_first = ContentConfig {
            brand_weight: 1.0,
            category_weight: 0.3,
            ..ContentConfig::default()
        };
        let model = ContentModel::fit(&catalog, &brand_first);
        let near: Vec<u32> = model.neighbours(0, 5).into_iter().map(|(i, _)| i).collect();
        assert_eq!(near, vec![1, 2]);
        let category_first = ContentConfig {
            brand_weight: 0.3,
            category_weight: 1.0,
            ..ContentConfig::default()
        };
        let model = ContentModel::fit(&catalog, &category_first);
        let near: Vec<u32> = model.neighbours(0, 5).into_iter().map(|(i, _)| i).collect();
        assert_eq!(near, vec![2, 1]);
        // A field at weight 0 is not read at all.
        let no_brand = ContentConfig {
            brand_weight: 0.0,
            ..ContentConfig::default()
        };
        let model = ContentModel::fit(&catalog, &no_brand);
        assert_eq!(
            model
                .neighbours(0, 5)
                .iter()
                .map(|&(i, _)| i)
                .collect::<Vec<_>>(),
            vec![2]
        );
        assert!(model.term_id("b:acme").is_none());
        assert!(model.term_id("c:shoes > running").is_some());
    }

    #[test]
    fn an_item_with_nothing_to_read_has_no_neighbours() {
        let mut model = ContentModel::fit(&groceries(), &ContentConfig::default());
        assert!(model.vector(9).is_empty());
        assert!(model.neighbours(9, 10).is_empty());
        model.precompute(5);
        assert!(model.top(9).is_empty());
        for i in 0..model.len() as u32 {
            assert!(model.top(i).iter().all(|&(j, _)| j != 9));
        }
        // Unknown indices and an empty catalog are harmless too.
        assert!(model.neighbours(99, 3).is_empty() && model.top(99).is_empty());
        let mut empty = ContentModel::fit(&Catalog::default(), &ContentConfig::default());
        empty.precompute(3);
        assert!(
            empty.is_empty()
                && empty.neighbours(0, 3).is_empty()
                && empty.profile_scores(&[(0, 1.0)], 3).is_empty()
        );
        let only_stop_words = Catalog::new(vec![
            item("a", "The And Of", &[], None),
            item("b", "with the", &[], None),
        ]);
        let model = ContentModel::fit(&only_stop_words, &ContentConfig::default());
        assert!(model.neighbours(0, 3).is_empty() && model.vocabulary_len() == 0);
    }

    #[test]
    fn a_new_product_gets_neighbours_from_the_fitted_vocabulary() {
        let catalog = groceries();
        let model = ContentModel::fit(&catalog, &ContentConfig::default());
        for (i, it) in catalog.items().iter().enumerate() {
            assert_eq!(model.vector_of(it), model.vector(i as u32), "item {i}");
        }
        let new = item(
            "new",
            "Organic Strawberries Snackers",
            &["Produce", "Fresh Fruits"],
            Some("Newco"),
        );
        let v = model.vector_of(&new);
        assert!(
            v.norm() < 0.99,
            "unknown word and brand count toward the length"
        );
        assert!(v.terms().iter().all(|&t| model.term(t).is_some()));
        let near = model.similar_to_vector(&v, 3, &[]);
        assert_eq!(
            near.iter().map(|&(i, _)| i).take(2).collect::<Vec<_>>(),
            vec![0, 4]
        );
        assert!(near
            .iter()
            .all(|&(i, s)| (s - v.dot(&model.vector(i))).abs() < 1e-6));
        let near = model.similar_to_vector(&v, 3, &[0]);
        assert_eq!(near[0].0, 4);
    }

    #[test]
    fn neighbours_never_include_the_item_and_match_brute_force() {
        // Tiny posting cap: "organic" and the produce department are common terms.
        for max_postings in [0, 2, 3] {
            let config = ContentConfig {
                max_postings,
                ..ContentConfig::default()
            };
            let mut model = ContentModel::fit(&groceries(), &config);
            model.precompute(4);
            for i in 0..model.len() as u32 {
                let near = model.neighbours(i, 4);
                assert!(near.iter().all(|&(j, _)| j != i));
                assert_eq!(model.top(i), &near[..]);
                let v = model.vector(i);
                for &(j, score) in &near {
                    assert!((score - v.dot(&model.vector(j))).abs() < 1e-6);
                }
                if max_postings == 0 {
                    let mut exact: Vec<(u32, f32)> = (0..model.len() as u32)
                        .filter(|&j| j != i)
                        .map(|j| (j, v.dot(&model.vector(j))))
                        .filter(|&(_, s)| s > 0.0)
                        .collect();
                    keep_best(&mut exact, 4);
                    assert_eq!(
                        near.iter().map(|&(j, _)| j).collect::<Vec<_>>(),
                        exact.iter().map(|&(j, _)| j).collect::<Vec<_>>()
                    );
                }
            }
        }
    }

    /// A catalog of `items` random products: skewed word use (a few words in most titles),
    /// a few departments, brands and tags, some descriptions.
    fn random_catalog(items: usize, seed: u64) -> Catalog {
        let mut state = seed;
        let mut next = move |below: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as usize) % below
        };
        let words: Vec<String> = (0..60).map(|w| format!("word{w}")).collect();
        let mut catalog = Vec::new();
        for i in 0..items {
            let mut pick = |k: usize| -> Vec<&str> {
                (0..k)
                    .map(|_| words[next(60) * next(60) / 60].as_str())
                    .collect()
            };
            let title = pick(1 + i % 5).join(" ");
            let description = (i % 3 == 0).then(|| pick(i % 30).join(" "));
            let department = format!("dept{}", next(4));
            let aisle = format!("aisle{}", next(5));
            let mut it = item(&i.to_string(), &title, &[&department, &aisle], None);
            it.description = description;
            it.brand = (next(3) > 0).then(|| format!("brand{}", next(10)));
            it.tags = (0..next(3)).map(|_| format!("tag{}", next(8))).collect();
            catalog.push(it);
        }
        Catalog::new(catalog)
    }

    fn brute_force(
        model: &ContentModel,
        v: &SparseVector,
        n: usize,
        exclude: &[u32],
    ) -> Vec<(u32, f32)> {
        let mut exact: Vec<(u32, f32)> = (0..model.len() as u32)
            .filter(|j| !exclude.contains(j))
            .map(|j| (j, v.dot(&model.vector(j))))
            .filter(|&(_, score)| score > 0.0)
            .collect();
        keep_best(&mut exact, n);
        exact
    }

    #[test]
    fn the_inverted_index_finds_the_exact_neighbours() {
        let catalog = random_catalog(400, 7);
        for weighting in [Weighting::default(), Weighting::TfIdf] {
            let config = ContentConfig {
                max_postings: 0,
                weighting,
                ..ContentConfig::default()
            };
            let mut model = ContentModel::fit(&catalog, &config);
            model.precompute(10);
            for i in 0..model.len() as u32 {
                let v = model.vector(i);
                for n in [1, 3, 10, 50] {
                    assert_eq!(
                        model.neighbours(i, n),
                        brute_force(&model, &v, n, &[i]),
                        "item {i}, n {n}"
                    );
                }
                assert_eq!(model.top(i), &brute_force(&model, &v, 10, &[i])[..]);
            }
            // Profiles, with a dislike among them.
            for start in 0..50u32 {
                let weighted = [(start, 1.0), (start + 50, 0.5), (start + 100, -0.7)];
                let profile = model.profile_vector(&weighted);
                let own = [start, start + 50, start + 100];
                assert_eq!(
                    model.profile_scores(&weighted, 10),
                    brute_force(&model, &profile, 10, &own)
                );
            }
        }
    }

    #[test]
    fn capped_postings_miss_only_items_sharing_nothing_but_common_terms() {
        let catalog = random_catalog(400, 11);
        for max_postings in [10, 40, 150] {
            let config = ContentConfig {
                max_postings,
                ..ContentConfig::default()
            };
            let model = ContentModel::fit(&catalog, &config);
            let (mut found, mut wanted) = (0, 0);
            for i in 0..model.len() as u32 {
                let v = model.vector(i);
                let near = model.neighbours(i, 10);
                let exact = brute_force(&model, &v, 10, &[i]);
                for &(j, score) in &near {
                    assert_eq!(score, v.dot(&model.vector(j)));
                }
                assert!(near
                    .windows(2)
                    .all(|w| best_first(&w[0], &w[1]) == Ordering::Less));
                let last = near.last().map_or(f32::INFINITY, |&(_, score)| score);
                for &(j, score) in &exact {
                    wanted += 1;
                    if near.iter().any(|&(k, _)| k == j) || (near.len() == 10 && score <= last) {
                        found += 1;
                        continue;
                    }
                    // Missed: every shared term is common and `j` is not among its heaviest.
                    for t in v
                        .terms()
                        .iter()
                        .filter(|t| model.vector(j).terms().contains(t))
                    {
                        let postings = model.postings.list(*t);
                        assert!(
                            postings.len() > max_postings,
                            "item {i} missed {j} sharing rare {t}"
                        );
                        assert!(postings[..max_postings].iter().all(|&(k, _)| k != j));
                    }
                }
            }
            let recall = found as f64 / wanted as f64;
            eprintln!("cap {max_postings}: recall {recall}");
            assert!(
                max_postings < 40 || recall >= 0.95,
                "cap {max_postings}: {found} of {wanted}"
            );
        }
    }

    #[test]
    fn results_are_deterministic_and_ties_go_to_the_lower_index() {
        let items: Vec<CatalogItem> = (0..6)
            .map(|i| item(&i.to_string(), "Plain Bagel", &["Bakery"], None))
            .collect();
        let catalog = Catalog::new(items);
        let model = ContentModel::fit(&catalog, &ContentConfig::default());
        let near: Vec<u32> = model
            .neighbours(3, 10)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        assert_eq!(near, vec![0, 1, 2, 4, 5]);
        assert_eq!(
            model
                .neighbours(3, 2)
                .iter()
                .map(|&(i, _)| i)
                .collect::<Vec<_>>(),
            vec![0, 1]
        );

        let a = ContentModel::fit(&groceries(), &ContentConfig::default());
        let b = ContentModel::fit(&groceries(), &ContentConfig::default());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }

    #[test]
    fn profiles_score_unseen_items_by_content() {
        let model = ContentModel::fit(&groceries(), &ContentConfig::default());
        let scores = model.profile_scores(&[(0, 1.0), (5, 0.2)], 4);
        assert!(scores.iter().all(|&(i, _)| i != 0 && i != 5));
        assert_eq!(scores[0].0, 4, "{scores:?}");
        let profile = model.profile_vector(&[(0, 1.0), (5, 0.2)]);
        assert!((profile.norm() - 1.0).abs() < 1e-5);
        assert!(scores
            .iter()
            .all(|&(i, s)| (s - profile.dot(&model.vector(i))).abs() < 1e-6));
        assert!(scores
            .windows(2)
            .all(|w| best_first(&w[0], &w[1]) == Ordering::Less));
        // Unknown indices are skipped.
        assert_eq!(
            model.profile_scores(&[(0, 1.0), (1000, 5.0)], 4),
            model.profile_scores(&[(0, 1.0)], 4)
        );
    }

    #[test]
    fn the_model_round_trips_through_serde() {
        let catalog = groceries();
        let mut model = ContentModel::fit(&catalog, &ContentConfig::default());
        model.precompute(3);
        let json = serde_json::to_string(&model).unwrap();
        let back: ContentModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.precomputed(), Some(3));
        for i in 0..model.len() as u32 {
            assert_eq!(back.top(i), model.top(i));
            assert_eq!(back.neighbours(i, 3), model.neighbours(i, 3));
            assert_eq!(back.vector_of(catalog.item(i)), model.vector(i));
        }
        assert_eq!(back.term_id("w:strawberry"), model.term_id("w:strawberry"));
        assert!(model.approx_bytes() > 0);
        let shared = model.shared_terms(0, 3);
        assert!(
            shared.iter().any(|&(t, _)| t == "c:produce > fresh fruits"),
            "{shared:?}"
        );
        let broken = json.replacen("\"idf\":[", "\"idf\":[1.0,", 1);
        assert!(serde_json::from_str::<ContentModel>(&broken).is_err());
        // The server's binary format too, for every weighting.
        for weighting in [Weighting::default(), Weighting::TfIdf] {
            let mut model = ContentModel::fit(
                &catalog,
                &ContentConfig {
                    weighting,
                    ..ContentConfig::default()
                },
            );
            model.precompute(2);
            let bytes = postcard::to_stdvec(&model).unwrap();
            let back: ContentModel = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(back.config(), model.config());
            assert_eq!(
                serde_json::to_string(&back).unwrap(),
                serde_json::to_string(&model).unwrap()
            );
        }
    }

    #[test]
    fn sparse_vectors_add_and_normalise() {
        let mut a = SparseVector::from_pairs([(3, 1.0), (1, 2.0), (3, 1.0), (7, 0.0)]);
        assert_eq!(a.terms(), &[1, 3]);
        assert_eq!(a.weights(), &[2.0, 2.0]);
        let b = SparseVector::from_pairs([(3, 1.0), (5, 1.0)]);
        assert_eq!(a.dot(&b), 2.0);
        a.add_scaled(&b, -2.0);
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(1, 2.0), (5, -2.0)]);
        a.normalize();
        assert!((a.norm() - 1.0).abs() < 1e-6);
    }
}
