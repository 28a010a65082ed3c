//! [`OrderIndex`]: one tree's changes by order id.
//!
//! Order ids mostly arrive ascending (a tree grows at its end; replay and checkpoints add a
//! tree's changes in AddSeq order), so the index is a sorted run that takes an ascending change
//! by a push (one comparison, with the last), plus a B-tree for the changes that arrive out of
//! order (a concurrent branch merged in the middle). Every order id is in one of the two, never
//! both (they are unique per tree).

use std::collections::BTreeSet;
use std::iter::Peekable;
use std::ops::Bound;

use super::stored::{ByOrder, Stored};

/// A tree's changes by order id.
#[derive(Default)]
pub(crate) struct OrderIndex {
    /// Changes that arrived in ascending order, sorted.
    run: Vec<ByOrder>,
    /// The others, sorted (each below the run's last).
    rest: BTreeSet<ByOrder>,
    /// A copy of the largest order id held (the run's last): every insert and every check of
    /// an order id compares with it, and a copy here is in the cache with the index, where the
    /// change's own bytes are in its batch's payload, written long before.
    last: Vec<u8>,
}

impl OrderIndex {
    /// The largest order id held, if any.
    fn last(&self) -> Option<&[u8]> {
        (!self.run.is_empty()).then_some(self.last.as_slice())
    }

    /// Whether a change with this order id is held.
    pub(crate) fn contains(&self, order_id: &[u8]) -> bool {
        match self.last() {
            None => false,
            Some(last) if order_id > last => false,
            Some(_) => {
                self.run
                    .binary_search_by(|s| s.0.order_bytes().cmp(order_id))
                    .is_ok()
                    || self.rest.contains(order_id)
            }
        }
    }

    /// Adds a change whose order id is not held yet.
    pub(crate) fn insert(&mut self, change: Stored) {
        let ascending = self.last().is_none_or(|last| change.order_bytes() > last);
        if ascending {
            self.last.clear();
            self.last.extend_from_slice(change.order_bytes());
            self.run.push(ByOrder(change));
        } else {
            self.rest.insert(ByOrder(change));
        }
    }

    /// Every change held, by order id.
    pub(crate) fn stored(&self) -> Vec<Stored> {
        let mut out: Vec<Stored> = Vec::with_capacity(self.run.len() + self.rest.len());
        out.extend(Merge::new(self.run.iter(), self.rest.iter()).cloned());
        out
    }

    /// The changes with order id >= `order_id`, by order id.
    pub(crate) fn from(&self, order_id: &[u8]) -> impl Iterator<Item = &Stored> {
        let start = self.run.partition_point(|s| s.0.order_bytes() < order_id);
        let rest = self
            .rest
            .range::<[u8], _>((Bound::Included(order_id), Bound::Unbounded));
        Merge::new(self.run[start..].iter(), rest)
    }
}

/// Two sorted sequences of changes merged by order id.
struct Merge<'a, A: Iterator<Item = &'a ByOrder>, B: Iterator<Item = &'a ByOrder>> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'a, A: Iterator<Item = &'a ByOrder>, B: Iterator<Item = &'a ByOrder>> Merge<'a, A, B> {
    fn new(a: A, b: B) -> Self {
        Merge {
            a: a.peekable(),
            b: b.peekable(),
        }
    }
}

impl<'a, A: Iterator<Item = &'a ByOrder>, B: Iterator<Item = &'a ByOrder>> Iterator
    for Merge<'a, A, B>
{
    type Item = &'a Stored;

    fn next(&mut self) -> Option<&'a Stored> {
        let take_a = match (self.a.peek(), self.b.peek()) {
            (Some(a), Some(b)) => a <= b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        let next = if take_a { self.a.next() } else { self.b.next() };
        next.map(|s| &s.0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::memory::Block;

    /// A stored root with this order id (the root layout: id, raw bytes, order id).
    fn stored(order_id: &str) -> Stored {
        let mut b = Vec::new();
        for field in [
            format!("id-{order_id}").as_bytes(),
            b"raw",
            order_id.as_bytes(),
        ] {
            b.extend_from_slice(&(field.len() as u32).to_le_bytes());
            b.extend_from_slice(field);
        }
        Block::root(crate::layout::Payload::of_test(Bytes::from(b)), 0)
            .stored()
            .pop()
            .unwrap()
    }

    fn orders<'a>(it: impl Iterator<Item = &'a Stored>) -> Vec<String> {
        it.map(|s| String::from_utf8(s.order_bytes().to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn ascending_order_ids_go_to_the_run_and_others_to_the_tree() {
        let mut index = OrderIndex::default();
        for o in ["b", "d", "c", "e", "a"] {
            index.insert(stored(o));
        }
        assert_eq!(index.run.len(), 3); // b, d, e
        assert_eq!(index.rest.len(), 2); // c, a
        assert_eq!(orders(index.from(b"")), ["a", "b", "c", "d", "e"]);
        assert_eq!(orders(index.from(b"c")), ["c", "d", "e"]);
        assert!(index.contains(b"c") && index.contains(b"e") && !index.contains(b"f"));
    }

    proptest! {
        #[test]
        fn it_holds_what_a_sorted_set_holds(
            inserted in proptest::collection::vec("[a-d]{0,3}", 0..40),
            probes in proptest::collection::vec("[a-d]{0,3}", 1..10),
        ) {
            let mut index = OrderIndex::default();
            let mut model = BTreeSet::new();
            for o in inserted {
                if model.insert(o.clone()) {
                    index.insert(stored(&o));
                }
            }
            for p in &probes {
                prop_assert_eq!(index.contains(p.as_bytes()), model.contains(p));
                let expected: Vec<String> = model.range(p.clone()..).cloned().collect();
                prop_assert_eq!(orders(index.from(p.as_bytes())), expected);
            }
            let all: Vec<String> = model.iter().cloned().collect();
            prop_assert_eq!(orders(index.stored().iter()), all);
        }
    }
}
