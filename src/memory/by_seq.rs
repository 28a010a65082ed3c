//! [`BySeq`]: head entries in (last AddSeq, id) order, for the reads by last AddSeq
//! (`min_last_add_seq`, `max_last_add_seq`): each item names the entry's slot in the head
//! table, so that a read reaches the entries without hashing their ids.
//!
//! A tree's entry moves to the newest AddSeq with each of its batches, so almost every insert
//! lands at the end: a sorted `Vec` takes it with a push, and the move leaves a tombstone where
//! the entry was (found by a binary search) instead of shifting what follows. Tombstones are
//! swept once they outnumber the live items, so the `Vec` holds at most about twice the live
//! items and a sweep's cost is spread over the moves that made it. The last item is never a
//! tombstone (a removal at the end pops), so the highest seq is read at once.

use crate::id::Id;

/// Entries (their slots) ordered by (seq, id); each (seq, id) is live at most once.
#[derive(Debug, Default)]
pub(crate) struct BySeq {
    /// Sorted by (seq, id), tombstones included; the last one is live.
    items: Vec<Item>,
    /// How many items are tombstones.
    dead: usize,
}

#[derive(Debug)]
struct Item {
    seq: u64,
    id: Id,
    /// The entry's slot in the head table.
    slot: usize,
    live: bool,
}

impl Item {
    fn key(&self) -> (u64, &Id) {
        (self.seq, &self.id)
    }
}

impl BySeq {
    /// Built at once from unsorted (seq, id, slot)s of distinct (seq, id).
    pub(crate) fn from_unsorted(mut pairs: Vec<(u64, Id, usize)>) -> BySeq {
        pairs.sort_unstable();
        BySeq {
            items: pairs
                .into_iter()
                .map(|(seq, id, slot)| Item {
                    seq,
                    id,
                    slot,
                    live: true,
                })
                .collect(),
            dead: 0,
        }
    }

    /// Where (seq, id) is or would go.
    fn position(&self, seq: u64, id: &Id) -> usize {
        // By seq alone first (seqs are mostly distinct: the ids are compared only among equals).
        let start = self.items.partition_point(|i| i.seq < seq);
        start
            + self.items[start..]
                .iter()
                .take_while(|i| i.seq == seq && i.id < *id)
                .count()
    }

    /// Adds (seq, id) of the entry in `slot`; (seq, id) is not held. Out of order, it goes
    /// before any tombstone of the same pair, where [`BySeq::remove`] looks first.
    pub(crate) fn insert(&mut self, seq: u64, id: Id, slot: usize) {
        let at = match self.items.last() {
            Some(last) if last.key() >= (seq, &id) => self.position(seq, &id),
            _ => self.items.len(),
        };
        self.items.insert(
            at,
            Item {
                seq,
                id,
                slot,
                live: true,
            },
        );
    }

    /// Removes (seq, id), if held.
    pub(crate) fn remove(&mut self, seq: u64, id: &Id) {
        let at = self.position(seq, id);
        match self.items.get_mut(at) {
            Some(item) if item.live && item.key() == (seq, id) => item.live = false,
            _ => return,
        }
        self.dead += 1;
        // The last item stays live: pop the tombstones at the end.
        while self.items.last().is_some_and(|i| !i.live) {
            self.items.pop();
            self.dead -= 1;
        }
        if self.dead > 16 && self.dead * 2 > self.items.len() {
            self.items.retain(|i| i.live);
            self.dead = 0;
        }
    }

    /// The slots of the entries with seq >= `lowest`, in (seq, id) order (its upper size hint
    /// counts the tombstones among them too).
    pub(crate) fn from(&self, lowest: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.items.partition_point(|i| i.seq < lowest);
        self.items[start..]
            .iter()
            .filter(|i| i.live)
            .map(|i| i.slot)
    }

    /// The highest seq held.
    pub(crate) fn max_seq(&self) -> Option<u64> {
        self.items.last().map(|i| i.seq)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Inserts and removes (including ones out of order, and pairs removed and added again)
        /// leave it reading as a `BTreeSet` of the same pairs would.
        #[test]
        fn reads_as_a_sorted_set_of_the_same_pairs(
            ops in proptest::collection::vec((0u8..12, 0u64..8, any::<bool>()), 0..300),
            lowest in 0u64..10,
        ) {
            let mut model: BTreeSet<(u64, Id)> = BTreeSet::new();
            // The slot of an entry: its number.
            let slot = |id: &Id| id.as_str()[1..].parse::<usize>().unwrap();
            let mut by_seq = BySeq::default();
            for (entry, seq, remove) in ops {
                let id = Id::from(format!("e{entry}"));
                if remove {
                    // Remove whatever pair this id has, as the head table does.
                    if let Some(pair) = model.iter().find(|(_, i)| *i == id).cloned() {
                        model.remove(&pair);
                        by_seq.remove(pair.0, &pair.1);
                    }
                } else if !model.iter().any(|(_, i)| *i == id) {
                    model.insert((seq, id.clone()));
                    by_seq.insert(seq, id.clone(), slot(&id));
                }
                prop_assert_eq!(by_seq.max_seq(), model.iter().next_back().map(|p| p.0));
                prop_assert!(by_seq.items.last().is_none_or(|i| i.live));
                prop_assert!(by_seq.dead <= 16 || by_seq.dead * 2 <= by_seq.items.len());
            }
            let read: Vec<usize> = by_seq.from(lowest).collect();
            let expected: Vec<usize> =
                model.range((lowest, Id::default())..).map(|p| slot(&p.1)).collect();
            prop_assert_eq!(read, expected);
            let built = BySeq::from_unsorted(
                model.iter().rev().map(|(s, id)| (*s, id.clone(), slot(id))).collect(),
            );
            let rebuilt: Vec<usize> = built.from(0).collect();
            let all: Vec<usize> = model.iter().map(|p| slot(&p.1)).collect();
            prop_assert_eq!(rebuilt, all);
        }
    }
}
