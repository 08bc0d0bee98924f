//! Frequently bought together: frequent itemsets mined from baskets with FP-growth,
//! association rules, and a serving model for product pages, carts and bundles.
//!
//! # Definitions
//!
//! A *basket* is one order's items (dense item indices). An item repeated within a basket
//! counts once, and items at or above `n_items` are ignored. Empty baskets count as baskets.
//!
//! - The *count* of an itemset `X` is the number of baskets holding every item of `X`.
//! - Its *support* is that count as a fraction of all baskets: `supp(X) = count(X) / n`.
//!   An itemset is *frequent* when `supp(X) >= min_support`, compared in `f64` exactly as
//!   written (so `min_support = 0.001` over 131,209 baskets needs a count of 132);
//!   [`min_count`] gives the equivalent count.
//! - A rule `A → C` (disjoint, non-empty `A` and `C`, with `A ∪ C` frequent) has
//!   support `supp(A ∪ C)`, *confidence* `conf = supp(A ∪ C) / supp(A)` (the share of
//!   baskets with `A` that also hold `C`) and *lift* `conf / supp(C)` (how many times more
//!   often `C` is bought with `A` than on its own; 1 means independence).
//!
//! # Mining
//!
//! [`frequent_itemsets`] is an exact FP-growth. Items are reordered by decreasing count and
//! each basket becomes the sorted list of its frequent items. The FP-tree is an arena of flat
//! arrays: the paths are sorted lexicographically first, so that a path shares with the tree
//! exactly its common prefix with the previous path and nodes are created in pre-order with
//! no child lookup (no per-node maps). Each node is listed under its item (the header table)
//! with its count and where its path from the root is stored, so that an item's conditional
//! pattern base is read in sequence rather than by chasing parent links. Each frequent
//! item's conditional tree is mined recursively, the top-level items in parallel (rayon); a
//! conditional tree that is a single chain yields all its combinations directly.
//!
//! [`rules`] derives every rule above a confidence, with consequents of any size, growing
//! consequents level by level (confidence can only fall as the consequent grows).
//!
//! # Serving
//!
//! [`FbtModel`] keeps the rules with a single-item consequent that pass the configured
//! thresholds (all of them: there is no per-item cap, so an item with few co-purchases keeps
//! every pair rule above the thresholds) and the frequent itemsets of two to
//! `max_bundle_size` items. [`FbtModel::together_with`] answers for a product page (one item)
//! or a cart (several): every rule whose antecedent lies within the given items and whose
//! consequent does not proposes its consequent; each proposed item keeps its best rule, and
//! items are ranked by that rule's score, **`confidence × lift`** (confidence alone always
//! favours best-sellers, lift alone favours rare items; the product weighs both and equals
//! `supp(A ∪ C)² / (supp(A)² · supp(C))`). [`FbtModel::bundles`] ranks the itemsets holding an
//! item by the same score of the rule `{item} → rest of the bundle`.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

const NONE: u32 = u32::MAX;

/// A frequent itemset and the number of baskets holding all its items.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Itemset {
    /// Its items, sorted ascending, without repeats.
    pub items: Vec<u32>,
    /// Number of baskets holding every item.
    pub count: u32,
}

impl Itemset {
    /// Its support: the count as a fraction of `n_baskets` (0 when there are no baskets).
    pub fn support(&self, n_baskets: usize) -> f64 {
        fraction(self.count, n_baskets)
    }
}

/// An association rule `antecedent → consequent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The items already bought (or in the cart), sorted.
    pub antecedent: Vec<u32>,
    /// The items bought with them, sorted.
    pub consequent: Vec<u32>,
    /// Number of baskets holding the antecedent and the consequent.
    pub count: u32,
    /// `count / n_baskets`: the share of all baskets holding both sides.
    pub support: f64,
    /// The share of baskets with the antecedent that also hold the consequent.
    pub confidence: f64,
    /// Confidence divided by the consequent's support (1 means independence).
    pub lift: f64,
}

impl Rule {
    /// The ranking score of the rule: `confidence × lift`.
    pub fn score(&self) -> f64 {
        self.confidence * self.lift
    }
}

/// The smallest basket count `c` with `c / n_baskets >= min_support` (compared in `f64`),
/// at least 1; `None` when no itemset can qualify (no baskets, `min_support` above 1 or NaN).
pub fn min_count(min_support: f64, n_baskets: usize) -> Option<u32> {
    if n_baskets == 0 || min_support.is_nan() || min_support > 1.0 {
        return None;
    }
    if min_support <= 0.0 {
        return Some(1);
    }
    let n = n_baskets as f64;
    let mut c = (min_support * n).ceil().max(1.0) as u64;
    while c > 1 && (c - 1) as f64 / n >= min_support {
        c -= 1;
    }
    while (c as f64 / n) < min_support {
        c += 1;
    }
    if c > n_baskets as u64 {
        None
    } else {
        Some(u32::try_from(c).unwrap_or(u32::MAX))
    }
}

/// Every itemset whose support is at least `min_support` (a fraction of the baskets), with
/// at most `max_len` items (`None`: any length), by exact FP-growth.
///
/// The result is sorted by length, then by items. Each basket lists item indices below
/// `n_items`; repeats count once and larger indices are ignored.
///
/// # Panics
///
/// With `u32::MAX` baskets or more (counts are `u32`).
pub fn frequent_itemsets<B: AsRef<[u32]> + Sync>(
    baskets: &[B],
    n_items: usize,
    min_support: f64,
    max_len: Option<usize>,
) -> Vec<Itemset> {
    match min_count(min_support, baskets.len()) {
        Some(c) => frequent_itemsets_min_count(baskets, n_items, c, max_len),
        None => Vec::new(),
    }
}

/// Like [`frequent_itemsets`], with the threshold given as a basket count: every itemset in
/// at least `min_count` baskets (a `min_count` of 0 is taken as 1).
///
/// # Panics
///
/// With `u32::MAX` baskets or more (counts are `u32`).
pub fn frequent_itemsets_min_count<B: AsRef<[u32]> + Sync>(
    baskets: &[B],
    n_items: usize,
    min_count: u32,
    max_len: Option<usize>,
) -> Vec<Itemset> {
    assert!(baskets.len() < NONE as usize, "too many baskets");
    let counts = item_counts(baskets, n_items);
    mine(
        baskets,
        &counts,
        min_count.max(1),
        max_len.unwrap_or(usize::MAX),
    )
}

/// The number of baskets holding each item (repeats within a basket count once).
fn item_counts<B: AsRef<[u32]> + Sync>(baskets: &[B], n_items: usize) -> Vec<u32> {
    baskets
        .par_chunks(CHUNK)
        .enumerate()
        .fold(
            || (vec![0u32; n_items], vec![NONE; n_items]),
            |(mut counts, mut seen), (c, chunk)| {
                for (b, basket) in chunk.iter().enumerate() {
                    // A basket's own mark, so that its repeats count once.
                    let stamp = (c * CHUNK + b) as u32;
                    for &x in basket.as_ref() {
                        if let Some(s) = seen.get_mut(x as usize) {
                            if *s != stamp {
                                *s = stamp;
                                counts[x as usize] += 1;
                            }
                        }
                    }
                }
                (counts, seen)
            },
        )
        .map(|(counts, _)| counts)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
            a
        })
        .unwrap_or_else(|| vec![0u32; n_items])
}

/// Baskets per parallel task when reading the input.
const CHUNK: usize = 1 << 15;

fn mine<B: AsRef<[u32]> + Sync>(
    baskets: &[B],
    counts: &[u32],
    min_count: u32,
    max_len: usize,
) -> Vec<Itemset> {
    if max_len == 0 {
        return Vec::new();
    }
    // Frequent items by decreasing count (ties by index): `order[rank] = item`.
    let mut order: Vec<u32> = (0..counts.len() as u32)
        .filter(|&x| counts[x as usize] >= min_count)
        .collect();
    if order.is_empty() {
        return Vec::new();
    }
    order.sort_unstable_by(|&a, &b| counts[b as usize].cmp(&counts[a as usize]).then(a.cmp(&b)));
    let mut rank = vec![NONE; counts.len()];
    for (r, &x) in order.iter().enumerate() {
        rank[x as usize] = r as u32;
    }

    // Each basket as its frequent items' ranks, sorted and without repeats.
    let packing = Packing::for_items(order.len());
    let parts: Vec<(Vec<u32>, Vec<Span>)> = baskets
        .par_chunks(CHUNK)
        .map(|chunk| {
            let mut buf: Vec<u32> = Vec::new();
            let mut spans: Vec<Span> = Vec::with_capacity(chunk.len());
            for basket in chunk {
                let start = buf.len();
                let ranks = basket.as_ref().iter().filter_map(|&x| rank.get(x as usize));
                buf.extend(ranks.copied().filter(|&r| r != NONE));
                let path = &mut buf[start..];
                path.sort_unstable();
                let mut len = 0;
                for i in 0..path.len() {
                    if i == 0 || path[i] != path[len - 1] {
                        path[len] = path[i];
                        len += 1;
                    }
                }
                buf.truncate(start + len);
                if len > 0 {
                    spans.push(Span::new(&buf, start, len, 1, packing));
                }
            }
            (buf, spans)
        })
        .collect();
    let mut buf: Vec<u32> = Vec::with_capacity(parts.iter().map(|(b, _)| b.len()).sum());
    let mut spans: Vec<Span> = Vec::with_capacity(parts.iter().map(|(_, s)| s.len()).sum());
    for (part, part_spans) in parts {
        let offset = buf.len() as u32;
        buf.extend_from_slice(&part);
        spans.extend(part_spans.into_iter().map(|s| Span {
            start: s.start + offset,
            ..s
        }));
    }
    let k = order.len();
    let tree = Tree::build((0..k as u32).collect(), buf, &mut spans);
    drop(spans);

    let ctx = Context {
        order: &order,
        min_count,
        max_len,
    };
    let parts: Vec<Vec<Itemset>> = (0..k)
        .into_par_iter()
        .with_max_len(1)
        .map(|i| {
            let mut miner = Miner::new(&ctx);
            miner.mine_item(&tree, i);
            miner.out
        })
        .collect();
    let mut out: Vec<Itemset> = parts.into_iter().flatten().collect();
    out.par_sort_unstable_by(|a, b| {
        a.items
            .len()
            .cmp(&b.items.len())
            .then_with(|| a.items.cmp(&b.items))
    });
    out
}

/// A path of items in a flat buffer, with the number of baskets it stands for. `key` packs
/// its first items (see [`Packing`]), so that most comparisons while sorting need not read
/// the buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    key: u64,
    start: u32,
    len: u32,
    weight: u32,
}

/// How many leading items of a path fit in a sort key, for items `0..k`: each takes the bits
/// of `k` (an item `x` is stored as `x + 1`, an absent one as 0, so that a prefix sorts first).
#[derive(Debug, Clone, Copy)]
struct Packing {
    bits: u32,
    items: usize,
}

impl Packing {
    fn for_items(k: usize) -> Packing {
        let bits = (usize::BITS - k.leading_zeros()).clamp(1, 32);
        Packing {
            bits,
            items: (64 / bits) as usize,
        }
    }
}

impl Span {
    fn new(buf: &[u32], start: usize, len: usize, weight: u32, packing: Packing) -> Span {
        let mut key = 0u64;
        for d in 0..packing.items {
            let x = if d < len {
                buf[start + d] as u64 + 1
            } else {
                0
            };
            key = key << packing.bits | x;
        }
        Span {
            key,
            start: start as u32,
            len: len as u32,
            weight,
        }
    }

    fn of<'a>(&self, buf: &'a [u32]) -> &'a [u32] {
        &buf[self.start as usize..(self.start + self.len) as usize]
    }

    /// Lexicographic order of the paths.
    fn cmp(&self, other: &Span, buf: &[u32], packing: Packing) -> Ordering {
        self.key.cmp(&other.key).then_with(|| {
            let a = self.of(buf).get(packing.items..).unwrap_or(&[]);
            let b = other.of(buf).get(packing.items..).unwrap_or(&[]);
            a.cmp(b)
        })
    }
}

/// A node as its item's header lists it: where the path from the root to it (the node
/// excluded) is stored, and its count.
#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    depth: u32,
    count: u32,
}

/// An FP-tree in flat arrays (an arena). Items are local indices `0..k` whose order agrees
/// with the global (decreasing count) order, and along every path from the root the items
/// increase.
///
/// Each node is listed in its item's header with its count and its path from the root, read
/// from the stored paths the tree was built from (the path that created the node): extracting
/// a conditional pattern base reads memory in sequence instead of chasing parent links.
struct Tree {
    /// Local item → global rank.
    labels: Vec<u32>,
    /// The distinct paths the tree was built from, back to back, in lexicographic order.
    paths: Vec<u32>,
    /// Per node in pre-order (the root excluded): its count.
    count: Vec<u32>,
    /// The nodes of item `i` are `head[head_start[i]..head_start[i + 1]]`, in pre-order.
    head_start: Vec<u32>,
    head: Vec<Entry>,
    /// Per item: the sum of its nodes' counts.
    support: Vec<u32>,
    /// Whether the tree is one chain (node `d` then holds item `d`).
    chain: bool,
}

impl Tree {
    /// Builds the tree of weighted paths (each sorted ascending, non-empty, keyed with
    /// [`Packing::for_items`] of the number of items), sorting `spans`:
    /// in lexicographic order, a path shares with the tree exactly its common prefix with the
    /// previous path, so nodes are created in pre-order without looking up children.
    fn build(labels: Vec<u32>, paths: Vec<u32>, spans: &mut [Span]) -> Tree {
        let k = labels.len();
        let packing = Packing::for_items(k);
        if spans.len() > 4096 {
            spans.par_sort_unstable_by(|a, b| a.cmp(b, &paths, packing));
        } else {
            spans.sort_unstable_by(|a, b| a.cmp(b, &paths, packing));
        }
        // Per node: its item and entry (the count is filled in as paths pass through it).
        // Paths that create nodes are copied in sorted order, so that the entries of an item
        // point forward through `sorted` and reading them runs through memory in order.
        let mut nodes: Vec<(u32, Entry)> = Vec::new();
        let mut sorted: Vec<u32> = Vec::with_capacity(paths.len());
        // `stack[d]` is the node at depth `d` of the previous path.
        let mut stack: Vec<u32> = Vec::new();
        let mut prev: &[u32] = &[];
        let mut chain = true;
        for span in spans.iter() {
            let path = span.of(&paths);
            let lcp = path.iter().zip(prev).take_while(|(a, b)| a == b).count();
            chain &= lcp == prev.len();
            stack.truncate(lcp);
            for &n in &stack {
                nodes[n as usize].1.count += span.weight;
            }
            if lcp < path.len() {
                let start = sorted.len() as u32;
                sorted.extend_from_slice(path);
                for (d, &x) in path.iter().enumerate().skip(lcp) {
                    stack.push(nodes.len() as u32);
                    let entry = Entry {
                        start,
                        depth: d as u32,
                        count: span.weight,
                    };
                    nodes.push((x, entry));
                }
            }
            prev = path;
        }
        drop(paths);
        let mut support = vec![0u32; k];
        let mut head_start = vec![0u32; k + 1];
        for &(x, entry) in &nodes {
            support[x as usize] += entry.count;
            head_start[x as usize + 1] += 1;
        }
        for i in 0..k {
            head_start[i + 1] += head_start[i];
        }
        let mut fill = head_start.clone();
        let empty = Entry {
            start: 0,
            depth: 0,
            count: 0,
        };
        let mut head = vec![empty; nodes.len()];
        for &(x, entry) in &nodes {
            let slot = &mut fill[x as usize];
            head[*slot as usize] = entry;
            *slot += 1;
        }
        let count = nodes.iter().map(|(_, e)| e.count).collect();
        Tree {
            labels,
            paths: sorted,
            count,
            head_start,
            head,
            support,
            chain,
        }
    }

    fn nodes_of(&self, i: usize) -> &[Entry] {
        &self.head[self.head_start[i] as usize..self.head_start[i + 1] as usize]
    }

    /// The path from the root to a node, the node excluded.
    fn path_to(&self, entry: &Entry) -> &[u32] {
        &self.paths[entry.start as usize..(entry.start + entry.depth) as usize]
    }
}

struct Context<'a> {
    order: &'a [u32],
    min_count: u32,
    max_len: usize,
}

/// Buffers reused from one conditional tree to the next.
#[derive(Default)]
struct Scratch {
    counts: Vec<u32>,
    local: Vec<u32>,
}

struct Miner<'a> {
    ctx: &'a Context<'a>,
    /// The global ranks of the current conditional prefix.
    prefix: Vec<u32>,
    out: Vec<Itemset>,
    scratch: Scratch,
}

impl<'a> Miner<'a> {
    fn new(ctx: &'a Context<'a>) -> Self {
        Miner {
            ctx,
            prefix: Vec::new(),
            out: Vec::new(),
            scratch: Scratch::default(),
        }
    }

    fn emit(&mut self, count: u32) {
        let mut items: Vec<u32> = self
            .prefix
            .iter()
            .map(|&r| self.ctx.order[r as usize])
            .collect();
        items.sort_unstable();
        self.out.push(Itemset { items, count });
    }

    /// Mines every itemset of the tree (each extended by the prefix).
    fn mine_tree(&mut self, tree: &Tree) {
        if tree.chain {
            // Node `d` holds item `d`; counts fall along the chain, so a combination's count
            // is that of its deepest item.
            let room = self.ctx.max_len - self.prefix.len();
            for d in 0..tree.labels.len() {
                self.prefix.push(tree.labels[d]);
                self.combinations(&tree.labels[..d], room - 1, tree.count[d]);
                self.prefix.pop();
            }
        } else {
            for i in 0..tree.labels.len() {
                self.mine_item(tree, i);
            }
        }
    }

    /// Emits the prefix with every subset of `labels` of at most `room` items.
    fn combinations(&mut self, labels: &[u32], room: usize, count: u32) {
        self.emit(count);
        if room == 0 {
            return;
        }
        for j in 0..labels.len() {
            self.prefix.push(labels[j]);
            self.combinations(&labels[j + 1..], room - 1, count);
            self.prefix.pop();
        }
    }

    /// Emits the prefix extended by item `i` of the tree, then mines its conditional tree.
    fn mine_item(&mut self, tree: &Tree, i: usize) {
        self.prefix.push(tree.labels[i]);
        self.emit(tree.support[i]);
        if self.prefix.len() < self.ctx.max_len && i > 0 {
            if let Some(sub) = self.conditional_tree(tree, i) {
                self.mine_tree(&sub);
            }
        }
        self.prefix.pop();
    }

    /// The tree of the paths above item `i`'s nodes, keeping the items frequent among them.
    fn conditional_tree(&mut self, tree: &Tree, i: usize) -> Option<Tree> {
        let Scratch { counts, local } = &mut self.scratch;
        counts.clear();
        counts.resize(i, 0);
        for entry in tree.nodes_of(i) {
            for &x in tree.path_to(entry) {
                counts[x as usize] += entry.count;
            }
        }
        local.clear();
        local.resize(i, NONE);
        let mut labels = Vec::new();
        for j in 0..i {
            if counts[j] >= self.ctx.min_count {
                local[j] = labels.len() as u32;
                labels.push(tree.labels[j]);
            }
        }
        if labels.is_empty() {
            return None;
        }
        let mut paths = Vec::new();
        let mut spans = Vec::with_capacity(tree.nodes_of(i).len());
        let packing = Packing::for_items(labels.len());
        for entry in tree.nodes_of(i) {
            let start = paths.len();
            paths.extend(
                tree.path_to(entry)
                    .iter()
                    .map(|&x| local[x as usize])
                    .filter(|&l| l != NONE),
            );
            if paths.len() > start {
                let len = paths.len() - start;
                spans.push(Span::new(&paths, start, len, entry.count, packing));
            }
        }
        Some(Tree::build(labels, paths, &mut spans))
    }
}

fn fraction(count: u32, n: usize) -> f64 {
    if n == 0 {
        0.0
    } else {
        count as f64 / n as f64
    }
}

/// Every association rule `A → C` between the given itemsets whose confidence is at least
/// `min_confidence`, with consequents of any size (one item, two items, …, all but one item
/// of the itemset).
///
/// `itemsets` should be closed under subsets, as the output of [`frequent_itemsets`] is (a
/// rule whose antecedent or consequent is missing from the list is skipped), with sorted
/// items; `n_baskets` is the number of baskets they were counted over. Rules come in the order
/// of their itemsets, then by consequent size.
pub fn rules(itemsets: &[Itemset], n_baskets: usize, min_confidence: f64) -> Vec<Rule> {
    rules_up_to(itemsets, n_baskets, min_confidence, usize::MAX)
}

fn rules_up_to(
    itemsets: &[Itemset],
    n_baskets: usize,
    min_confidence: f64,
    max_consequent: usize,
) -> Vec<Rule> {
    let counts: HashMap<&[u32], u32> = itemsets
        .iter()
        .map(|s| (s.items.as_slice(), s.count))
        .collect();
    let mut out = Vec::new();
    let mut antecedent = Vec::new();
    for set in itemsets.iter().filter(|s| s.items.len() >= 2) {
        let mut level: Vec<Vec<u32>> = set.items.iter().map(|&c| vec![c]).collect();
        let mut size = 1;
        while !level.is_empty() && size < set.items.len() && size <= max_consequent {
            let mut passed = Vec::new();
            for consequent in level {
                antecedent.clear();
                antecedent.extend(
                    set.items
                        .iter()
                        .filter(|x| consequent.binary_search(x).is_err()),
                );
                let (Some(&a), Some(&c)) = (
                    counts.get(antecedent.as_slice()),
                    counts.get(consequent.as_slice()),
                ) else {
                    continue;
                };
                let confidence = set.count as f64 / a as f64;
                if confidence >= min_confidence {
                    out.push(Rule {
                        antecedent: antecedent.clone(),
                        consequent: consequent.clone(),
                        count: set.count,
                        support: fraction(set.count, n_baskets),
                        confidence,
                        lift: confidence / fraction(c, n_baskets),
                    });
                    passed.push(consequent);
                }
            }
            level = grow(&passed);
            size += 1;
        }
    }
    out
}

/// The sets one item larger whose every subset one item smaller is in `sets` (sorted sets of
/// equal size, in lexicographic order).
fn grow(sets: &[Vec<u32>]) -> Vec<Vec<u32>> {
    let known: HashSet<&[u32]> = sets.iter().map(Vec::as_slice).collect();
    let mut out = Vec::new();
    let mut sub = Vec::new();
    for (i, a) in sets.iter().enumerate() {
        let m = a.len();
        for b in &sets[i + 1..] {
            if a[..m - 1] != b[..m - 1] {
                break;
            }
            let mut joined = a.clone();
            joined.push(b[m - 1]);
            let all_known = (0..m + 1).all(|skip| {
                sub.clear();
                sub.extend(
                    joined
                        .iter()
                        .enumerate()
                        .filter(|&(j, _)| j != skip)
                        .map(|(_, &x)| x),
                );
                known.contains(sub.as_slice())
            });
            if all_known {
                out.push(joined);
            }
        }
    }
    out
}

/// The settings of an [`FbtModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FbtConfig {
    /// Minimum support of an itemset (a fraction of all baskets).
    pub min_support: f64,
    /// Minimum number of baskets of an itemset, whatever the support says (a small shop's
    /// single coincidence is no evidence).
    pub min_count: u32,
    /// Minimum confidence of a rule or bundle.
    pub min_confidence: f64,
    /// Minimum lift of a rule or bundle (1: at least as often together as by chance).
    pub min_lift: f64,
    /// Largest itemset mined (at least 2, so that pairs are always mined).
    pub max_len: usize,
    /// Largest bundle offered (items, including the one asked about).
    pub max_bundle_size: usize,
    /// Most rules kept per first antecedent item (the best by score), so that a shop of large
    /// baskets does not keep millions of weak rules.
    pub max_rules_per_item: usize,
}

impl Default for FbtConfig {
    fn default() -> Self {
        FbtConfig {
            min_support: 0.001,
            min_count: 2,
            min_confidence: 0.01,
            min_lift: 1.0,
            max_len: 3,
            max_bundle_size: 3,
            max_rules_per_item: 100,
        }
    }
}

/// An item offered with others, and the rule that offers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FbtItem {
    /// The item offered.
    pub item: u32,
    /// The items it is bought with (the rule's antecedent; a subset of the items asked about).
    pub because: Vec<u32>,
    /// Number of baskets holding `because` and `item`.
    pub count: u32,
    /// Share of all baskets holding `because` and `item` ("bought together in 12% of orders").
    pub support: f64,
    /// Share of the baskets with `because` that also hold `item` ("12% of the orders with X
    /// also had this").
    pub confidence: f64,
    /// How many times more often `item` is bought with `because` than on its own.
    pub lift: f64,
    /// The ranking score, `confidence × lift`.
    pub score: f64,
}

/// A bundle to offer with an item: a frequent itemset that holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// All items of the bundle, sorted (the item asked about included).
    pub items: Vec<u32>,
    /// Number of baskets holding the whole bundle.
    pub count: u32,
    /// Share of all baskets holding the whole bundle.
    pub support: f64,
    /// Share of the baskets with the item asked about that hold the whole bundle.
    pub confidence: f64,
    /// Lift of the rule `{item} → rest of the bundle`.
    pub lift: f64,
    /// The ranking score, `confidence × lift`.
    pub score: f64,
}

/// One item's view of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct BundleEntry {
    bundle: u32,
    confidence: f64,
    lift: f64,
}

/// Frequently-bought-together rules and bundles, trained from baskets and ready to serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FbtModel {
    config: FbtConfig,
    n_baskets: usize,
    item_counts: Vec<u32>,
    /// Rules with one-item consequents, grouped by the first item of their antecedent (the
    /// group of item `x` is `rules[rule_start[x]..rule_start[x + 1]]`), best score first.
    rules: Vec<Rule>,
    rule_start: Vec<u32>,
    /// Itemsets of 2 to `max_bundle_size` items.
    bundles: Vec<Itemset>,
    /// Per item, the bundles holding it that pass the thresholds, best score first.
    bundle_entries: Vec<BundleEntry>,
    bundle_start: Vec<u32>,
}

impl FbtModel {
    /// Mines the baskets (item indices below `n_items`) and keeps the rules and bundles that
    /// pass the thresholds of `config`.
    ///
    /// # Panics
    ///
    /// With `u32::MAX` baskets or more (counts are `u32`).
    pub fn train<B: AsRef<[u32]> + Sync>(
        baskets: &[B],
        n_items: usize,
        config: &FbtConfig,
    ) -> FbtModel {
        let n_baskets = baskets.len();
        assert!(n_baskets < NONE as usize, "too many baskets");
        let item_counts = item_counts(baskets, n_items);
        let max_len = config.max_len.max(2);
        let itemsets = match min_count(config.min_support, n_baskets) {
            Some(c) => mine(
                baskets,
                &item_counts,
                c.max(config.min_count).max(1),
                max_len,
            ),
            None => Vec::new(),
        };
        let lift_ok = |lift: f64| lift >= config.min_lift;

        let mut kept: Vec<Rule> = rules_up_to(&itemsets, n_baskets, config.min_confidence, 1)
            .into_iter()
            .filter(|r| lift_ok(r.lift))
            .collect();
        kept.sort_by(|a, b| {
            a.antecedent[0]
                .cmp(&b.antecedent[0])
                .then_with(|| cmp_score(b.score(), a.score()))
                .then_with(|| a.antecedent.cmp(&b.antecedent))
                .then_with(|| a.consequent.cmp(&b.consequent))
        });
        let mut per_item = 0usize;
        let mut previous = None;
        kept.retain(|r| {
            if previous != Some(r.antecedent[0]) {
                previous = Some(r.antecedent[0]);
                per_item = 0;
            }
            per_item += 1;
            per_item <= config.max_rules_per_item.max(1)
        });
        let rule_start = group_starts(n_items, kept.iter().map(|r| r.antecedent[0]));

        let counts: HashMap<&[u32], u32> = itemsets
            .iter()
            .map(|s| (s.items.as_slice(), s.count))
            .collect();
        let bundles: Vec<Itemset> = itemsets
            .iter()
            .filter(|s| s.items.len() >= 2 && s.items.len() <= config.max_bundle_size)
            .cloned()
            .collect();
        let mut per_item: Vec<(u32, BundleEntry)> = Vec::new();
        let mut rest = Vec::new();
        for (b, set) in bundles.iter().enumerate() {
            for &x in &set.items {
                rest.clear();
                rest.extend(set.items.iter().copied().filter(|&y| y != x));
                let Some(&rest_count) = counts.get(rest.as_slice()) else {
                    continue;
                };
                let confidence = set.count as f64 / item_counts[x as usize] as f64;
                let lift = confidence / fraction(rest_count, n_baskets);
                if confidence >= config.min_confidence && lift_ok(lift) {
                    per_item.push((
                        x,
                        BundleEntry {
                            bundle: b as u32,
                            confidence,
                            lift,
                        },
                    ));
                }
            }
        }
        per_item.sort_by(|(x, a), (y, b)| {
            x.cmp(y)
                .then_with(|| cmp_score(b.confidence * b.lift, a.confidence * a.lift))
                .then_with(|| a.bundle.cmp(&b.bundle))
        });
        let bundle_start = group_starts(n_items, per_item.iter().map(|(x, _)| *x));
        let bundle_entries = per_item.into_iter().map(|(_, e)| e).collect();

        FbtModel {
            config: config.clone(),
            n_baskets,
            item_counts,
            rules: kept,
            rule_start,
            bundles,
            bundle_entries,
            bundle_start,
        }
    }

    /// The settings it was trained with.
    pub fn config(&self) -> &FbtConfig {
        &self.config
    }

    /// Number of baskets it was trained on.
    pub fn n_baskets(&self) -> usize {
        self.n_baskets
    }

    /// Number of items (indices `0..n_items`).
    pub fn n_items(&self) -> usize {
        self.item_counts.len()
    }

    /// Number of baskets holding the item (0 for an unknown index).
    pub fn item_count(&self, item: u32) -> u32 {
        self.item_counts.get(item as usize).copied().unwrap_or(0)
    }

    /// Every rule kept (one-item consequents), grouped by the first item of the antecedent.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    fn rules_from(&self, x: u32) -> &[Rule] {
        let x = x as usize;
        if x + 1 >= self.rule_start.len() {
            return &[];
        }
        &self.rules[self.rule_start[x] as usize..self.rule_start[x + 1] as usize]
    }

    /// Up to `n` items bought together with `items` — one item for a product page, the whole
    /// cart otherwise — best first, never one of `items`.
    ///
    /// Every kept rule whose antecedent lies within `items` and whose consequent does not
    /// proposes its consequent; an item proposed by several rules keeps the one with the best
    /// score (`confidence × lift`; ties go to the larger antecedent), and items are ranked by
    /// that score (ties by index). Unknown indices and repeats in `items` are ignored.
    pub fn together_with(&self, items: &[u32], n: usize) -> Vec<FbtItem> {
        let mut query: Vec<u32> = items
            .iter()
            .copied()
            .filter(|&x| (x as usize) < self.n_items())
            .collect();
        query.sort_unstable();
        query.dedup();
        if n == 0 || query.is_empty() {
            return Vec::new();
        }
        let mut best: HashMap<u32, &Rule> = HashMap::new();
        for &x in &query {
            for rule in self.rules_from(x) {
                let y = rule.consequent[0];
                if query.binary_search(&y).is_ok()
                    || !rule.antecedent[1..]
                        .iter()
                        .all(|a| query.binary_search(a).is_ok())
                {
                    continue;
                }
                best.entry(y)
                    .and_modify(|held| {
                        if better_rule(rule, held) {
                            *held = rule;
                        }
                    })
                    .or_insert(rule);
            }
        }
        let mut out: Vec<FbtItem> = best
            .into_iter()
            .map(|(item, r)| FbtItem {
                item,
                because: r.antecedent.clone(),
                count: r.count,
                support: r.support,
                confidence: r.confidence,
                lift: r.lift,
                score: r.score(),
            })
            .collect();
        out.sort_by(|a, b| cmp_score(b.score, a.score).then_with(|| a.item.cmp(&b.item)));
        out.truncate(n);
        out
    }

    /// Up to `n` bundles holding `item` (2 to `max_bundle_size` items, the item included), best
    /// first: ranked by `confidence × lift` of the rule `{item} → rest of the bundle`, keeping
    /// only bundles whose rule passes the confidence and lift thresholds.
    pub fn bundles(&self, item: u32, n: usize) -> Vec<Bundle> {
        let x = item as usize;
        if x + 1 >= self.bundle_start.len() {
            return Vec::new();
        }
        self.bundle_entries[self.bundle_start[x] as usize..self.bundle_start[x + 1] as usize]
            .iter()
            .take(n)
            .map(|e| {
                let set = &self.bundles[e.bundle as usize];
                Bundle {
                    items: set.items.clone(),
                    count: set.count,
                    support: set.support(self.n_baskets),
                    confidence: e.confidence,
                    lift: e.lift,
                    score: e.confidence * e.lift,
                }
            })
            .collect()
    }
}

/// Whether `a` should replace `b` as an item's best rule.
fn better_rule(a: &Rule, b: &Rule) -> bool {
    cmp_score(a.score(), b.score())
        .then_with(|| a.antecedent.len().cmp(&b.antecedent.len()))
        .then_with(|| b.antecedent.cmp(&a.antecedent))
        == Ordering::Greater
}

fn cmp_score(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Offsets of the groups of a sequence sorted by key: group `x` is `start[x]..start[x + 1]`.
fn group_starts(n_items: usize, keys: impl Iterator<Item = u32>) -> Vec<u32> {
    let mut start = vec![0u32; n_items + 1];
    for key in keys {
        start[key as usize + 1] += 1;
    }
    for i in 0..n_items {
        start[i + 1] += start[i];
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn set(items: &[u32], count: u32) -> Itemset {
        Itemset {
            items: items.to_vec(),
            count,
        }
    }

    /// Every itemset of at most `max_len` items in at least `min_count` baskets, by counting
    /// every subset of every basket.
    fn brute_force(
        baskets: &[Vec<u32>],
        n_items: usize,
        min_count: u32,
        max_len: usize,
    ) -> Vec<Itemset> {
        let mut counts: HashMap<Vec<u32>, u32> = HashMap::new();
        for basket in baskets {
            let mut b: Vec<u32> = basket
                .iter()
                .copied()
                .filter(|&x| (x as usize) < n_items)
                .collect();
            b.sort_unstable();
            b.dedup();
            assert!(b.len() < 20);
            for mask in 1u32..(1 << b.len()) {
                if mask.count_ones() as usize > max_len {
                    continue;
                }
                let s: Vec<u32> = (0..b.len())
                    .filter(|&j| mask & (1 << j) != 0)
                    .map(|j| b[j])
                    .collect();
                *counts.entry(s).or_default() += 1;
            }
        }
        let mut out: Vec<Itemset> = counts
            .into_iter()
            .filter(|&(_, c)| c >= min_count)
            .map(|(items, count)| Itemset { items, count })
            .collect();
        out.sort_by(|a, b| {
            a.items
                .len()
                .cmp(&b.items.len())
                .then_with(|| a.items.cmp(&b.items))
        });
        out
    }

    fn hand_baskets() -> Vec<Vec<u32>> {
        // 0 bread, 1 butter, 2 milk, 3 eggs, 4 jam (rare), 5 never bought.
        vec![
            vec![0, 1, 2],
            vec![1, 0],
            vec![0, 2],
            vec![0, 0, 0],
            vec![2, 1],
            vec![1, 2, 3],
            vec![0, 1, 3],
            vec![0, 1, 4],
            vec![],
            vec![3, 2, 1, 0],
        ]
    }

    #[test]
    fn hand_made_baskets_give_the_known_itemsets() {
        let baskets = hand_baskets();
        // Counts over the 10 baskets: 0 in 7, 1 in 7, 2 in 5, 3 in 3, 4 in 1;
        // {0,1} in 5, {0,2} in 3, {1,2} in 4, {0,3} 2, {1,3} 3, {2,3} 2, {0,1,2} 2,
        // {0,1,3} 2, {1,2,3} 2, {0,2,3} 1, {0,1,2,3} 1.
        let got = frequent_itemsets(&baskets, 6, 0.3, None);
        let want = vec![
            set(&[0], 7),
            set(&[1], 7),
            set(&[2], 5),
            set(&[3], 3),
            set(&[0, 1], 5),
            set(&[0, 2], 3),
            set(&[1, 2], 4),
            set(&[1, 3], 3),
        ];
        assert_eq!(got, want);

        let got = frequent_itemsets(&baskets, 6, 0.2, None);
        let want = vec![
            set(&[0], 7),
            set(&[1], 7),
            set(&[2], 5),
            set(&[3], 3),
            set(&[0, 1], 5),
            set(&[0, 2], 3),
            set(&[0, 3], 2),
            set(&[1, 2], 4),
            set(&[1, 3], 3),
            set(&[2, 3], 2),
            set(&[0, 1, 2], 2),
            set(&[0, 1, 3], 2),
            set(&[1, 2, 3], 2),
        ];
        assert_eq!(got, want);
        assert_eq!(got, brute_force(&baskets, 6, 2, usize::MAX));

        // The length cap and the count form agree.
        let pairs = frequent_itemsets(&baskets, 6, 0.2, Some(2));
        assert_eq!(
            pairs,
            want.iter()
                .filter(|s| s.items.len() <= 2)
                .cloned()
                .collect::<Vec<_>>()
        );
        assert_eq!(frequent_itemsets_min_count(&baskets, 6, 2, None), want);
        assert_eq!(frequent_itemsets(&baskets, 6, 0.2, Some(1)).len(), 4);
        assert!(frequent_itemsets(&baskets, 6, 0.2, Some(0)).is_empty());
        assert_eq!(set(&[0, 1], 5).support(10), 0.5);
    }

    #[test]
    fn repeats_count_once_and_unknown_items_are_ignored() {
        let baskets = vec![vec![7, 7, 7, 1], vec![7, 1, 1, 99], vec![1]];
        let got = frequent_itemsets(&baskets, 8, 0.5, None);
        assert_eq!(got, vec![set(&[1], 3), set(&[7], 2), set(&[1, 7], 2)]);
    }

    #[test]
    fn min_count_is_the_smallest_count_meeting_the_support() {
        assert_eq!(min_count(0.001, 131_209), Some(132));
        assert_eq!(min_count(0.0005, 131_209), Some(66));
        assert_eq!(min_count(1.0, 10), Some(10));
        assert_eq!(min_count(0.0, 10), Some(1));
        assert_eq!(min_count(1.5, 10), None);
        assert_eq!(min_count(0.5, 0), None);
        assert_eq!(min_count(f64::NAN, 10), None);
        for n in 1..200usize {
            for step in 1..=100 {
                let s = step as f64 * 0.01;
                let c = min_count(s, n).unwrap();
                assert!(c as f64 / n as f64 >= s, "{s} {n} {c}");
                assert!(c == 1 || ((c - 1) as f64 / n as f64) < s, "{s} {n} {c}");
            }
        }
    }

    #[test]
    fn random_baskets_match_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(20240611);
        let (mut longest, mut total) = (0, 0);
        for round in 0..60 {
            let n_items = rng.random_range(1..=24usize);
            let n_baskets = rng.random_range(0..=400usize);
            // Skewed item popularity, so that long itemsets occur, and some repeats.
            let weights: Vec<f64> = (0..n_items).map(|_| rng.random::<f64>().powi(3)).collect();
            let baskets: Vec<Vec<u32>> = (0..n_baskets)
                .map(|_| {
                    let mut b = Vec::new();
                    for (x, &w) in weights.iter().enumerate() {
                        if rng.random::<f64>() < w {
                            b.push(x as u32);
                            if rng.random::<f64>() < 0.05 {
                                b.push(x as u32);
                            }
                        }
                    }
                    // Keep the brute force small.
                    b.truncate(12);
                    // Shuffle so that input order does not matter.
                    for i in (1..b.len()).rev() {
                        let j = rng.random_range(0..=i);
                        b.swap(i, j);
                    }
                    b
                })
                .collect();
            let min_support = [0.005, 0.01, 0.03, 0.1, 0.3][round % 5];
            let max_len = [None, Some(1), Some(2), Some(3), None, None][round % 6];
            let got = frequent_itemsets(&baskets, n_items, min_support, max_len);
            let want = match min_count(min_support, n_baskets) {
                Some(c) => brute_force(&baskets, n_items, c, max_len.unwrap_or(usize::MAX)),
                None => Vec::new(),
            };
            assert_eq!(
                got, want,
                "round {round}: {n_items} items, {n_baskets} baskets, {min_support}"
            );
            longest = longest.max(got.iter().map(|s| s.items.len()).max().unwrap_or(0));
            total += got.len();
        }
        // The rounds reach deep conditional trees.
        assert!(longest >= 5, "{longest}");
        assert!(total > 1000, "{total}");
    }

    #[test]
    fn many_baskets_across_parallel_chunks_match_brute_force() {
        // More baskets than one parallel chunk holds, with repeats, so that chunk boundaries
        // and the per-chunk counts are exercised.
        let mut rng = ChaCha8Rng::seed_from_u64(99);
        let baskets: Vec<Vec<u32>> = (0..2 * CHUNK + 1234)
            .map(|_| {
                let len = rng.random_range(0..=5);
                (0..len)
                    .map(|_| (rng.random::<f64>().powi(2) * 40.0) as u32)
                    .collect()
            })
            .collect();
        let got = frequent_itemsets(&baskets, 40, 0.002, None);
        let want = brute_force(
            &baskets,
            40,
            min_count(0.002, baskets.len()).unwrap(),
            usize::MAX,
        );
        assert_eq!(got, want);
        assert!(got.iter().any(|s| s.items.len() >= 3));
    }

    #[test]
    fn sort_keys_order_paths_lexicographically() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for k in [
            1usize,
            2,
            3,
            300,
            5000,
            70_000,
            1 << 31,
            u32::MAX as usize - 1,
        ] {
            let packing = Packing::for_items(k);
            let mut buf = Vec::new();
            let mut spans = Vec::new();
            for _ in 0..2000 {
                // Few distinct leading items, so that keys often tie and tails decide.
                let len = rng.random_range(1..=12);
                let start = buf.len();
                let mut x = 0u64;
                for d in 0..len {
                    let step = if d < 6 {
                        rng.random_range(0..2)
                    } else {
                        rng.random_range(0..1000)
                    };
                    x += step + u64::from(d > 0);
                    if x >= k as u64 {
                        break;
                    }
                    buf.push(x as u32);
                }
                if buf.len() > start {
                    spans.push(Span::new(&buf, start, buf.len() - start, 1, packing));
                }
            }
            let mut by_key = spans.clone();
            by_key.sort_by(|a, b| a.cmp(b, &buf, packing));
            let keyed: Vec<&[u32]> = by_key.iter().map(|s| s.of(&buf)).collect();
            let mut plain: Vec<&[u32]> = spans.iter().map(|s| s.of(&buf)).collect();
            plain.sort();
            assert_eq!(keyed, plain, "k = {k}");
        }
    }

    #[test]
    fn single_path_trees_are_enumerated_exactly() {
        // Every basket a prefix of 0..6: the tree is one chain.
        let baskets: Vec<Vec<u32>> = (1..=6)
            .flat_map(|l| vec![(0..l).collect::<Vec<u32>>(); 7 - l as usize])
            .collect();
        for max_len in [None, Some(2), Some(4)] {
            let got = frequent_itemsets(&baskets, 6, 0.0, max_len);
            assert_eq!(
                got,
                brute_force(&baskets, 6, 1, max_len.unwrap_or(usize::MAX))
            );
        }
    }

    #[test]
    fn empty_input_and_full_support_do_not_crash() {
        let none: Vec<Vec<u32>> = Vec::new();
        assert!(frequent_itemsets(&none, 0, 0.1, None).is_empty());
        assert!(frequent_itemsets(&none, 10, 1.0, None).is_empty());
        assert!(rules(&[], 0, 0.0).is_empty());
        let empties = vec![Vec::<u32>::new(); 5];
        assert!(frequent_itemsets(&empties, 3, 0.0, None).is_empty());
        let baskets = hand_baskets();
        // Basket 8 is empty: nothing is in every basket.
        assert!(frequent_itemsets(&baskets, 6, 1.0, None).is_empty());
        let full = vec![vec![1, 2], vec![2, 1, 0], vec![2, 1]];
        assert_eq!(
            frequent_itemsets(&full, 3, 1.0, None),
            vec![set(&[1], 3), set(&[2], 3), set(&[1, 2], 3)]
        );
        assert!(frequent_itemsets(&full, 0, 0.5, None).is_empty());

        let model = FbtModel::train(&none, 0, &FbtConfig::default());
        assert!(model.together_with(&[0, 1], 5).is_empty());
        assert!(model.bundles(0, 5).is_empty());
        let config = FbtConfig {
            min_support: 1.0,
            ..FbtConfig::default()
        };
        let model = FbtModel::train(&baskets, 6, &config);
        assert!(model.rules().is_empty());
        assert!(model.together_with(&[0], 5).is_empty());
    }

    #[test]
    fn rules_have_the_hand_computed_measures() {
        let baskets = hand_baskets();
        let itemsets = frequent_itemsets(&baskets, 6, 0.2, None);
        let all = rules(&itemsets, 10, 0.0);
        let find = |a: &[u32], c: &[u32]| {
            all.iter()
                .find(|r| r.antecedent == a && r.consequent == c)
                .unwrap_or_else(|| panic!("no rule {a:?} -> {c:?}"))
        };
        // {1} → {3}: together in 3 of 10, 1 in 7, 3 in 3.
        let r = find(&[1], &[3]);
        assert_eq!(r.count, 3);
        assert!((r.support - 0.3).abs() < 1e-12);
        assert!((r.confidence - 3.0 / 7.0).abs() < 1e-12);
        assert!((r.lift - (3.0 / 7.0) / 0.3).abs() < 1e-12);
        // {3} → {1}: every basket with eggs has butter.
        let r = find(&[3], &[1]);
        assert!((r.confidence - 1.0).abs() < 1e-12);
        assert!((r.lift - 1.0 / 0.7).abs() < 1e-12);
        // {0, 1} → {2}: {0,1,2} in 2, {0,1} in 5, 2 in 5.
        let r = find(&[0, 1], &[2]);
        assert!((r.support - 0.2).abs() < 1e-12);
        assert!((r.confidence - 0.4).abs() < 1e-12);
        assert!((r.lift - 0.8).abs() < 1e-12);
        // {3} → {1, 2}: {1,2,3} in 2, 3 in 3, {1,2} in 4.
        let r = find(&[3], &[1, 2]);
        assert!((r.confidence - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.lift - (2.0 / 3.0) / 0.4).abs() < 1e-12);
        // Every split of every itemset of two or more items.
        let expected: usize = itemsets.iter().map(|s| (1usize << s.items.len()) - 2).sum();
        assert_eq!(all.len(), expected);
        // The confidence threshold holds and nothing above it is lost.
        let strict = rules(&itemsets, 10, 0.6);
        assert!(strict.iter().all(|r| r.confidence >= 0.6));
        assert_eq!(
            strict.len(),
            all.iter().filter(|r| r.confidence >= 0.6).count()
        );
    }

    #[test]
    fn rules_match_brute_force_on_random_baskets() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..10 {
            let baskets: Vec<Vec<u32>> = (0..300)
                .map(|_| {
                    (0..10u32)
                        .filter(|&x| rng.random::<f64>() < 0.5 / (1.0 + x as f64 * 0.3))
                        .collect()
                })
                .collect();
            let itemsets = frequent_itemsets(&baskets, 10, 0.02, None);
            let counts: HashMap<&[u32], u32> = itemsets
                .iter()
                .map(|s| (s.items.as_slice(), s.count))
                .collect();
            let min_confidence = rng.random_range(0.0..0.8);
            let mut want = Vec::new();
            for s in itemsets.iter().filter(|s| s.items.len() >= 2) {
                let k = s.items.len();
                for mask in 1u32..(1 << k) - 1 {
                    let c: Vec<u32> = (0..k)
                        .filter(|&j| mask & (1 << j) != 0)
                        .map(|j| s.items[j])
                        .collect();
                    let a: Vec<u32> = (0..k)
                        .filter(|&j| mask & (1 << j) == 0)
                        .map(|j| s.items[j])
                        .collect();
                    let confidence = s.count as f64 / counts[a.as_slice()] as f64;
                    if confidence >= min_confidence {
                        want.push((a, c));
                    }
                }
            }
            let mut got: Vec<(Vec<u32>, Vec<u32>)> = rules(&itemsets, 300, min_confidence)
                .into_iter()
                .map(|r| (r.antecedent, r.consequent))
                .collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        }
    }

    fn model_baskets() -> Vec<Vec<u32>> {
        // 0 phone, 1 case, 2 charger, 3 screen protector, 4 popular cable, 5 rare stylus,
        // 6 unrelated, 7 rare pen. 100 baskets.
        let mut b = Vec::new();
        b.extend(vec![vec![0, 1, 2]; 10]);
        b.extend(vec![vec![0, 1]; 10]);
        b.extend(vec![vec![0, 3]; 5]);
        b.extend(vec![vec![0, 1, 3]; 5]);
        b.extend(vec![vec![4]; 40]);
        b.extend(vec![vec![0, 4]; 5]);
        b.extend(vec![vec![5, 7]; 3]);
        b.extend(vec![vec![5]; 1]);
        b.extend(vec![vec![6]; 21]);
        b
    }

    #[test]
    fn product_page_ranks_by_confidence_times_lift() {
        let baskets = model_baskets();
        let config = FbtConfig {
            min_support: 0.02,
            min_count: 2,
            min_confidence: 0.05,
            min_lift: 0.0,
            max_len: 3,
            max_bundle_size: 3,
            max_rules_per_item: 100,
        };
        let model = FbtModel::train(&baskets, 8, &config);
        // Phone (in 35 baskets): case in 25, charger 10, protector 10, cable 5 (cable in 45).
        let got = model.together_with(&[0], 10);
        let items: Vec<u32> = got.iter().map(|f| f.item).collect();
        // Charger and protector tie (each in 10 baskets, always with the phone): by index.
        assert_eq!(items, vec![1, 2, 3, 4]);
        assert_eq!(got[1].score, got[2].score);
        let case = &got[0];
        assert_eq!(case.because, vec![0]);
        assert_eq!(case.count, 25);
        assert!((case.support - 0.25).abs() < 1e-12);
        assert!((case.confidence - 25.0 / 35.0).abs() < 1e-12);
        assert!((case.lift - (25.0 / 35.0) / 0.25).abs() < 1e-12);
        assert!((case.score - case.confidence * case.lift).abs() < 1e-12);
        let cable = &got[3];
        assert!((cable.confidence - 5.0 / 35.0).abs() < 1e-12);
        assert!((cable.lift - (5.0 / 35.0) / 0.45).abs() < 1e-12);
        assert_eq!(model.together_with(&[0], 1).len(), 1);
        assert!(model.together_with(&[0], 0).is_empty());
        // Lift threshold: the cable (lift below 1) goes.
        let strict = FbtModel::train(
            &baskets,
            8,
            &FbtConfig {
                min_lift: 1.0,
                ..config.clone()
            },
        );
        let items: Vec<u32> = strict
            .together_with(&[0], 10)
            .iter()
            .map(|f| f.item)
            .collect();
        assert_eq!(items, vec![1, 2, 3]);
    }

    #[test]
    fn cart_uses_rules_within_the_cart_and_never_returns_its_items() {
        let baskets = model_baskets();
        let config = FbtConfig {
            min_support: 0.02,
            min_count: 2,
            min_confidence: 0.05,
            min_lift: 0.0,
            max_len: 3,
            max_bundle_size: 3,
            max_rules_per_item: 100,
        };
        let model = FbtModel::train(&baskets, 8, &config);
        let got = model.together_with(&[1, 0, 0, 99], 10);
        assert!(got.iter().all(|f| f.item != 0 && f.item != 1));
        // Charger with phone and case: {0,1} in 25, {0,1,2} in 10: confidence 0.4, lift 4, as
        // good as {1} → {2} (case in 25) and better than {0} → {2} (phone in 35); the tie
        // goes to the larger antecedent.
        let charger = got.iter().find(|f| f.item == 2).unwrap();
        assert_eq!(charger.because, vec![0, 1]);
        assert!((charger.confidence - 0.4).abs() < 1e-12);
        assert!((charger.lift - 4.0).abs() < 1e-12);
        // Protector: {0} → {3} (10 of 35, lift 10/35 / 0.1) beats the rules with the case.
        let protector = got.iter().find(|f| f.item == 3).unwrap();
        assert_eq!(protector.because, vec![0]);
        for f in &got {
            assert!(f.because.iter().all(|x| [0, 1].contains(x)));
        }
        let mut sorted = got.clone();
        sorted.sort_by(|a, b| cmp_score(b.score, a.score).then(a.item.cmp(&b.item)));
        assert_eq!(got, sorted);
    }

    #[test]
    fn an_item_with_few_co_purchases_keeps_its_pair_rules() {
        let baskets = model_baskets();
        let config = FbtConfig {
            min_support: 0.03,
            min_count: 2,
            min_confidence: 0.1,
            min_lift: 1.0,
            max_len: 3,
            max_bundle_size: 3,
            max_rules_per_item: 100,
        };
        let model = FbtModel::train(&baskets, 8, &config);
        // Stylus (4 baskets) and pen (3) meet only in 3 baskets: exactly at the support.
        let got = model.together_with(&[5], 5);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].item, 7);
        assert_eq!(got[0].count, 3);
        assert!((got[0].confidence - 0.75).abs() < 1e-12);
        assert!((got[0].lift - 0.75 / 0.03).abs() < 1e-9);
        let back = model.together_with(&[7], 5);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].item, 5);
        assert!((back[0].confidence - 1.0).abs() < 1e-12);
        // Nothing is bought with the unrelated item.
        assert!(model.together_with(&[6], 5).is_empty());
        // The absolute floor overrides a lower support.
        let floor = FbtModel::train(
            &baskets,
            8,
            &FbtConfig {
                min_support: 0.0,
                min_count: 4,
                ..config
            },
        );
        assert!(floor.together_with(&[5], 5).is_empty());
    }

    #[test]
    fn bundles_hold_the_item_and_are_ranked() {
        let baskets = model_baskets();
        let config = FbtConfig {
            min_support: 0.05,
            min_count: 2,
            min_confidence: 0.05,
            min_lift: 0.0,
            max_len: 4,
            max_bundle_size: 3,
            max_rules_per_item: 100,
        };
        let model = FbtModel::train(&baskets, 8, &config);
        let got = model.bundles(2, 10);
        // Charger (10 baskets, always with phone and case): {0,2}, {1,2}, {0,1,2}.
        let sets: Vec<Vec<u32>> = got.iter().map(|b| b.items.clone()).collect();
        assert_eq!(sets.len(), 3);
        assert!(sets.contains(&vec![0, 1, 2]));
        assert!(got
            .iter()
            .all(|b| b.items.contains(&2) && b.items.len() <= 3 && b.count == 10));
        let trio = got.iter().find(|b| b.items == vec![0, 1, 2]).unwrap();
        assert!((trio.confidence - 1.0).abs() < 1e-12);
        assert!((trio.support - 0.1).abs() < 1e-12);
        assert!((trio.lift - 4.0).abs() < 1e-12);
        // Confidence 1 for all three; lift of {2} → {1}: 1/0.25, {2} → {0,1}: 1/0.25 (a tie,
        // broken by bundle order: the pair first), {2} → {0}: 1/0.35.
        assert_eq!(sets, vec![vec![1, 2], vec![0, 1, 2], vec![0, 2]]);
        for w in got.windows(2) {
            assert!(w[0].score >= w[1].score);
        }
        assert_eq!(model.bundles(2, 1).len(), 1);
        assert!(model.bundles(6, 10).is_empty());
        assert!(model.bundles(1000, 10).is_empty());
    }

    #[test]
    fn the_model_survives_serialisation() {
        let baskets = model_baskets();
        let model = FbtModel::train(
            &baskets,
            8,
            &FbtConfig {
                min_support: 0.02,
                ..FbtConfig::default()
            },
        );
        let json = serde_json::to_string(&model).unwrap();
        let back: FbtModel = serde_json::from_str(&json).unwrap();
        assert_eq!(back.rules().len(), model.rules().len());
        for query in [&[0][..], &[0, 1], &[5], &[2, 3]] {
            let a = back.together_with(query, 5);
            let b = model.together_with(query, 5);
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((x.item, &x.because, x.count), (y.item, &y.because, y.count));
                assert!((x.score - y.score).abs() < 1e-9);
            }
        }
        assert_eq!(back.bundles(0, 5).len(), model.bundles(0, 5).len());
        assert_eq!(back.config(), model.config());
        assert_eq!(back.n_baskets(), 100);
        assert_eq!(back.item_count(0), 35);
        assert_eq!(back.item_count(1000), 0);
    }
}
