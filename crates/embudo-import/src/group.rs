//! Gathering the rows of one order (or invoice, or basket) when a file is only mostly grouped.
//!
//! Real exports keep an order's rows together, nearly: the Online Retail II file has 697
//! invoices whose rows are interleaved with a neighbour's, up to a few hundred rows apart.
//! Holding every order until the end would take memory in proportion to the file, so a group
//! stays open until no row of it has been seen for a window of rows (far more than any such
//! interleaving), then it is closed and written. A row that comes back after its group was
//! closed starts a group marked `reopened`, whose lines are added to the written order.

use crate::pipeline::digest;
use std::collections::HashMap;

/// Rows without news of a group before it is closed.
pub(crate) const WINDOW: u64 = 50_000;

/// How often (in rows) open groups are checked for idleness.
const CHECK_EVERY: u64 = 1_024;

struct Open<G> {
    first: u64,
    last: u64,
    reopened: bool,
    group: G,
}

/// A group that was closed.
pub(crate) struct Closed<G> {
    /// Its key (the order id as found).
    pub key: String,
    /// What was gathered.
    pub group: G,
    /// Whether an earlier group with this key was already written in this file.
    pub reopened: bool,
}

/// Open groups by key, and the keys of the groups closed so far.
pub(crate) struct Grouper<G> {
    window: u64,
    seq: u64,
    checked: u64,
    open: HashMap<String, Open<G>>,
    /// Digest of each closed key → whether it was written (a group whose rows were all
    /// skipped was not, and one coming back then is a new order, not an addition).
    closed: HashMap<u64, bool>,
}

impl<G> Grouper<G> {
    pub fn new(window: u64) -> Self {
        Self {
            window,
            seq: 0,
            checked: 0,
            open: HashMap::new(),
            closed: HashMap::new(),
        }
    }

    /// The group of `key`, opened with `make` when needed. Call once per row.
    pub fn row(&mut self, key: &str, make: impl FnOnce() -> G) -> &mut G {
        self.seq += 1;
        let seq = self.seq;
        if !self.open.contains_key(key) {
            let reopened = self.closed.get(&digest(key)).copied().unwrap_or(false);
            self.open.insert(
                key.to_string(),
                Open {
                    first: seq,
                    last: seq,
                    reopened,
                    group: make(),
                },
            );
        }
        let open = self.open.get_mut(key).expect("inserted above");
        open.last = seq;
        &mut open.group
    }

    /// The open group of `key`, if any (does not count as a row).
    pub fn get(&self, key: &str) -> Option<&G> {
        self.open.get(key).map(|o| &o.group)
    }

    /// The groups idle for a whole window, oldest first (checked every so many rows).
    pub fn idle(&mut self) -> Vec<Closed<G>> {
        if self.seq < self.checked + CHECK_EVERY {
            return Vec::new();
        }
        self.checked = self.seq;
        let limit = self.seq.saturating_sub(self.window);
        let keys: Vec<String> = self
            .open
            .iter()
            .filter(|(_, o)| o.last <= limit)
            .map(|(k, _)| k.clone())
            .collect();
        self.close(keys)
    }

    /// Every open group, oldest first (at the end of a file).
    pub fn drain(&mut self) -> Vec<Closed<G>> {
        let keys: Vec<String> = self.open.keys().cloned().collect();
        self.close(keys)
    }

    fn close(&mut self, keys: Vec<String>) -> Vec<Closed<G>> {
        let mut out: Vec<(u64, Closed<G>)> = keys
            .into_iter()
            .filter_map(|key| {
                let open = self.open.remove(&key)?;
                Some((
                    open.first,
                    Closed {
                        key,
                        group: open.group,
                        reopened: open.reopened,
                    },
                ))
            })
            .collect();
        // Oldest first, so that output follows the file whatever the hash map's order.
        out.sort_by_key(|(first, _)| *first);
        out.into_iter().map(|(_, c)| c).collect()
    }

    /// Records what became of a closed group: `written` when it produced an order.
    pub fn done(&mut self, key: &str, written: bool) {
        let entry = self.closed.entry(digest(key)).or_insert(false);
        *entry |= written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_close_when_idle_and_come_back_reopened() {
        let mut g: Grouper<Vec<u32>> = Grouper::new(3);
        // a a b a, then 2000 rows of c: a and b go idle.
        for (i, key) in ["a", "a", "b", "a"].iter().enumerate() {
            g.row(key, Vec::new).push(i as u32);
        }
        let mut closed = Vec::new();
        for i in 0..2000 {
            g.row("c", Vec::new).push(i);
            closed.extend(g.idle());
        }
        let keys: Vec<&str> = closed.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(closed[0].group, vec![0, 1, 3]);
        assert!(!closed[0].reopened);
        g.done("a", true);
        g.done("b", false);
        g.row("a", Vec::new).push(9);
        g.row("b", Vec::new).push(9);
        let rest = g.drain();
        let shape: Vec<(&str, bool)> = rest.iter().map(|c| (c.key.as_str(), c.reopened)).collect();
        assert_eq!(shape, [("c", false), ("a", true), ("b", false)]);
    }
}
