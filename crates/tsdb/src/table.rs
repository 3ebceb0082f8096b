//! The head's series table: slots by series id, in pages shared between the head and its
//! snapshots.
//!
//! Every querier takes a snapshot of the head, and the rule manager alone creates tens of
//! thousands of queriers a minute, so a snapshot must not copy the table: cloning a
//! [`Table`] copies only its page pointers. A writer that changes a slot copies that slot's
//! page first if a snapshot still shares it (copy on write, page by page), so a commit
//! touching a few series copies a few pages at most, and only while queries hold them.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// Slots per page: small enough that a copied page is cheap, large enough that a snapshot
/// of a million series is a couple of thousand pointers.
const PAGE: usize = 512;

/// A growable array of optional slots, cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Table<T> {
    pages: Vec<Arc<Vec<Option<T>>>>,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            pages: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Table<T> {
    /// How many slots there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Adds a slot at the end.
    pub(crate) fn push(&mut self, value: Option<T>) {
        if self.len.is_multiple_of(PAGE) {
            self.pages.push(Arc::new(Vec::with_capacity(PAGE)));
        }
        let last = self.pages.last_mut().map(Arc::make_mut);
        if let Some(page) = last {
            page.push(value);
        }
        self.len += 1;
    }

    /// Grows the table to `len` slots, the new ones empty; never shrinks it.
    pub(crate) fn resize(&mut self, len: usize) {
        while self.len < len {
            self.push(None);
        }
    }

    /// The slot at `i`, if the table has one.
    pub(crate) fn get(&self, i: usize) -> Option<&Option<T>> {
        self.pages.get(i / PAGE)?.get(i % PAGE)
    }

    /// The slot at `i` to change, copying its page first if a snapshot shares it.
    pub(crate) fn get_mut(&mut self, i: usize) -> Option<&mut Option<T>> {
        Arc::make_mut(self.pages.get_mut(i / PAGE)?).get_mut(i % PAGE)
    }

    /// Every slot, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Option<T>> {
        self.pages.iter().flat_map(|p| p.iter())
    }

    /// Every slot to change, in order; copies every page a snapshot shares.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Option<T>> {
        self.pages
            .iter_mut()
            .flat_map(|p| Arc::make_mut(p).iter_mut())
    }
}

impl<T: Clone> Index<usize> for Table<T> {
    type Output = Option<T>;

    fn index(&self, i: usize) -> &Option<T> {
        match self.get(i) {
            Some(slot) => slot,
            None => panic!("slot {i} of a table of {}", self.len),
        }
    }
}

impl<T: Clone> IndexMut<usize> for Table<T> {
    fn index_mut(&mut self, i: usize) -> &mut Option<T> {
        let len = self.len;
        match self.get_mut(i) {
            Some(slot) => slot,
            None => panic!("slot {i} of a table of {len}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_read_and_write_like_a_vec_across_pages() {
        let mut t: Table<u64> = Table::default();
        let mut v: Vec<Option<u64>> = Vec::new();
        for i in 0..(3 * PAGE as u64 + 7) {
            let x = (i % 5 != 0).then_some(i);
            t.push(x);
            v.push(x);
        }
        t.resize(4 * PAGE + 1);
        v.resize(4 * PAGE + 1, None);
        t[PAGE + 3] = Some(99);
        v[PAGE + 3] = Some(99);
        if let Some(slot) = t.get_mut(2 * PAGE) {
            *slot = None;
        }
        v[2 * PAGE] = None;
        for slot in t.iter_mut().skip(10).take(3) {
            *slot = Some(7);
        }
        for slot in v.iter_mut().skip(10).take(3) {
            *slot = Some(7);
        }
        assert_eq!(t.len(), v.len());
        assert_eq!(t.iter().copied().collect::<Vec<_>>(), v);
        assert_eq!(t.get(v.len()), None);
        assert_eq!(t.get(6), Some(&Some(6)));
        assert_eq!(t.get(5), Some(&None));
    }

    #[test]
    fn a_clone_is_a_snapshot_that_later_writes_do_not_touch() {
        let mut t: Table<String> = Table::default();
        for i in 0..(2 * PAGE) {
            t.push(Some(i.to_string()));
        }
        let snapshot = t.clone();
        t[3] = Some("changed".into());
        t.push(Some("new".into()));
        for slot in t.iter_mut().skip(PAGE) {
            *slot = None;
        }
        assert_eq!(snapshot.len(), 2 * PAGE);
        assert_eq!(snapshot[3].as_deref(), Some("3"));
        assert_eq!(snapshot[PAGE].as_deref(), Some(PAGE.to_string().as_str()));
        assert_eq!(t[3].as_deref(), Some("changed"));
        assert_eq!(t[PAGE], None);
        // The first page was copied for the write; the snapshot's is still shared with no
        // one else, and the table's is its own.
        assert!(!Arc::ptr_eq(&snapshot.pages[0], &t.pages[0]));
    }
}
