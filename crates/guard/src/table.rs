//! A hash table with a hard cap on entries that evicts the least recently touched one.
//!
//! Every per-source table of the guard is one of these, so that a flood from spoofed or
//! rotating sources costs at most `capacity` entries of memory. Entries are kept in a
//! doubly linked list ordered by their last touch (oldest first); the list links are slot
//! indices into one `Vec`, so there is no allocation per operation once the table has
//! grown to its working size, and eviction and expiry are O(1) per entry.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::time::Instant;

/// "No slot" in the linked list.
const NIL: u32 = u32::MAX;

struct Slot<K, V> {
    key: K,
    value: V,
    touched: Instant,
    prev: u32,
    next: u32,
}

/// The bounded, least-recently-touched-first table.
pub(crate) struct BoundedTable<K, V, S = RandomState> {
    /// Key → slot index. SipHash with a random key: attackers choose the keys (addresses,
    /// user names), so a predictable hash would let them degrade lookups.
    index: HashMap<K, u32, S>,
    slots: Vec<Slot<K, V>>,
    /// Least recently touched.
    head: u32,
    /// Most recently touched.
    tail: u32,
    capacity: usize,
    evictions: u64,
}

impl<K: Hash + Eq + Copy, V> BoundedTable<K, V> {
    /// An empty table that never holds more than `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        // Slot indices are u32 and NIL is reserved.
        let capacity = capacity.clamp(1, (NIL - 1) as usize);
        Self {
            index: HashMap::with_hasher(RandomState::new()),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            capacity,
            evictions: 0,
        }
    }
}

impl<K: Hash + Eq + Copy, V, S: BuildHasher> BoundedTable<K, V, S> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many entries were pushed out to make room since the table was made.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions
    }

    /// The entry and when it was last touched, without touching it.
    pub(crate) fn get(&self, key: &K) -> Option<(&V, Instant)> {
        let &i = self.index.get(key)?;
        let slot = &self.slots[i as usize];
        Some((&slot.value, slot.touched))
    }

    /// The entry for `key`, created with `make` if absent (evicting the least recently
    /// touched entry when the table is full), marked as touched at `now`.
    pub(crate) fn touch(&mut self, key: K, now: Instant, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.index.get(&key) {
            Some(&i) => {
                self.unlink(i);
                i
            }
            None => {
                if self.slots.len() >= self.capacity {
                    self.pop_oldest();
                    self.evictions += 1;
                }
                let i = self.slots.len() as u32; // ok: len < capacity < NIL
                self.slots.push(Slot {
                    key,
                    value: make(),
                    touched: now,
                    prev: NIL,
                    next: NIL,
                });
                self.index.insert(key, i);
                i
            }
        };
        self.slots[i as usize].touched = now;
        self.link_back(i);
        &mut self.slots[i as usize].value
    }

    /// Removes the entry for `key`.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.index.remove(key)?;
        Some(self.take(i))
    }

    /// The least recently touched entry.
    pub(crate) fn oldest(&self) -> Option<(K, &V, Instant)> {
        let slot = self.slots.get(self.head as usize)?;
        Some((slot.key, &slot.value, slot.touched))
    }

    /// Removes and returns the least recently touched entry.
    pub(crate) fn pop_oldest(&mut self) -> Option<(K, V)> {
        if self.head == NIL {
            return None;
        }
        let i = self.head;
        let key = self.slots[i as usize].key;
        self.index.remove(&key);
        Some((key, self.take(i)))
    }

    /// Removes entries from the oldest end while `is_expired(value, touched)` holds,
    /// handing each to `gone`. Returns how many were removed. Only correct for tables whose
    /// expiry follows touch order (a fixed lifetime after the last touch).
    pub(crate) fn expire(
        &mut self,
        mut is_expired: impl FnMut(&V, Instant) -> bool,
        mut gone: impl FnMut(K, V),
    ) -> usize {
        let mut n = 0;
        while let Some((_, value, touched)) = self.oldest() {
            if !is_expired(value, touched) {
                break;
            }
            if let Some((k, v)) = self.pop_oldest() {
                gone(k, v);
                n += 1;
            }
        }
        n
    }

    /// Detaches slot `i` from the list and removes it from the slot vector, moving the last
    /// slot into its place. The index entry for `i` must already be gone.
    fn take(&mut self, i: u32) -> V {
        self.unlink(i);
        let last = (self.slots.len() - 1) as u32;
        if i != last {
            // The last slot moves to `i`: repoint its neighbours and its index entry.
            let (prev, next, key) = {
                let s = &self.slots[last as usize];
                (s.prev, s.next, s.key)
            };
            if prev == NIL {
                self.head = i;
            } else {
                self.slots[prev as usize].next = i;
            }
            if next == NIL {
                self.tail = i;
            } else {
                self.slots[next as usize].prev = i;
            }
            if let Some(ix) = self.index.get_mut(&key) {
                *ix = i;
            }
        }
        self.slots.swap_remove(i as usize).value
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next) = {
            let s = &self.slots[i as usize];
            (s.prev, s.next)
        };
        if prev == NIL {
            if self.head == i {
                self.head = next;
            }
        } else {
            self.slots[prev as usize].next = next;
        }
        if next == NIL {
            if self.tail == i {
                self.tail = prev;
            }
        } else {
            self.slots[next as usize].prev = prev;
        }
        let s = &mut self.slots[i as usize];
        s.prev = NIL;
        s.next = NIL;
    }

    fn link_back(&mut self, i: u32) {
        let old_tail = self.tail;
        {
            let s = &mut self.slots[i as usize];
            s.prev = old_tail;
            s.next = NIL;
        }
        if old_tail == NIL {
            self.head = i;
        } else {
            self.slots[old_tail as usize].next = i;
        }
        self.tail = i;
    }

    /// Walks the list and checks every link; for tests.
    #[cfg(test)]
    fn check(&self) {
        let mut n = 0;
        let mut prev = NIL;
        let mut i = self.head;
        let mut last_touch: Option<Instant> = None;
        while i != NIL {
            let s = &self.slots[i as usize];
            assert_eq!(s.prev, prev);
            assert_eq!(self.index[&s.key], i);
            if let Some(t) = last_touch {
                assert!(t <= s.touched, "list not ordered by touch time");
            }
            last_touch = Some(s.touched);
            prev = i;
            i = s.next;
            n += 1;
        }
        assert_eq!(prev, self.tail);
        assert_eq!(n, self.slots.len());
        assert_eq!(n, self.index.len());
        assert!(n <= self.capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::test_origin;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn evicts_least_recently_touched_when_full() {
        let t0 = test_origin();
        let mut t = BoundedTable::<u32, u32>::new(3);
        for k in 0..3 {
            *t.touch(k, at(t0, u64::from(k)), || 0) += 1;
        }
        // Touch 0 again: 1 is now the stalest.
        t.touch(0, at(t0, 10), || 0);
        t.touch(99, at(t0, 11), || 0);
        t.check();
        assert_eq!(t.len(), 3);
        assert_eq!(t.evictions(), 1);
        assert!(t.get(&1).is_none());
        assert!(t.get(&0).is_some() && t.get(&2).is_some() && t.get(&99).is_some());
        assert_eq!(t.oldest().map(|(k, _, _)| k), Some(2));
    }

    #[test]
    fn remove_and_expire_keep_links_consistent() {
        let t0 = test_origin();
        let mut t = BoundedTable::<u32, ()>::new(100);
        for k in 0..50 {
            t.touch(k, at(t0, u64::from(k)), || ());
        }
        for k in (0..50).step_by(3) {
            assert!(t.remove(&k).is_some());
            t.check();
        }
        assert!(t.remove(&0).is_none());
        let mut gone = Vec::new();
        let n = t.expire(|_, touched| touched <= at(t0, 20), |k, ()| gone.push(k));
        t.check();
        assert_eq!(n, gone.len());
        assert!(gone.iter().all(|&k| k <= 20 && k % 3 != 0));
        assert_eq!(t.oldest().map(|(k, _, _)| k), Some(22));
        while t.pop_oldest().is_some() {
            t.check();
        }
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn random_operations_match_a_model() {
        // A tiny deterministic LCG drives a mix of operations; a Vec is the model.
        let t0 = test_origin();
        let mut t = BoundedTable::<u16, u64>::new(16);
        let mut model: Vec<(u16, u64)> = Vec::new(); // oldest first
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..5000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = ((x >> 33) % 40) as u16;
            let now = at(t0, step);
            if (x >> 60) < 12 {
                *t.touch(key, now, || 0) += 1;
                if let Some(p) = model.iter().position(|&(k, _)| k == key) {
                    let (k, v) = model.remove(p);
                    model.push((k, v + 1));
                } else {
                    if model.len() == 16 {
                        model.remove(0);
                    }
                    model.push((key, 1));
                }
            } else {
                let got = t.remove(&key);
                let want = model
                    .iter()
                    .position(|&(k, _)| k == key)
                    .map(|p| model.remove(p).1);
                assert_eq!(got, want);
            }
            t.check();
            assert_eq!(t.len(), model.len());
            assert_eq!(t.oldest().map(|(k, v, _)| (k, *v)), model.first().copied());
        }
    }
}
