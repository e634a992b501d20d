//! The in-memory view of an open log: segments, frame locations, stream heads and the
//! id index. Built by scanning segments (or loaded from `index.bin` plus a tail scan) and
//! kept up to date by appends.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::PathBuf;

use uuid::Uuid;

use crate::codec;
use crate::error::DamageKind;
use crate::ids::{Hash, StreamId};

use super::format::{FrameHeader, RawRecord};
use super::scan::FrameFault;

/// Prefix of the detail a check returns for a record whose SHA-256 does not match.
pub const HASH_MISMATCH: &str = "stored SHA-256 does not match";

/// One segment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub first_position: u64,
    pub path: PathBuf,
    /// Bytes of the segment that hold complete frames.
    pub len: u64,
}

/// Where one frame (one appended batch) lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLoc {
    pub first_position: u64,
    pub count: u32,
    pub segment: u32,
    pub offset: u64,
    /// Header plus body, in bytes.
    pub len: u32,
}

/// The head of one stream and where its events are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamHead {
    pub version: u64,
    pub last_hash: Hash,
    /// Global position of each event, index = sequence - 1.
    pub positions: Vec<u64>,
}

/// Where a stored event id lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdEntry {
    pub position: u64,
    pub sequence: u64,
}

/// Hashes event ids for the id map: the two halves folded with a multiply, then a
/// finaliser. SipHash (the default) cost a third of the append path; its protection
/// against chosen keys matters little here, since only writers holding the log's lock
/// choose ids. Iteration order of this map never reaches the log or the index.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // MurmurHash3's 64-bit finaliser: every input bit reaches the low bits the table
        // indexes by, so ids that differ only in their high bytes (sequential or
        // hand-made ids) still spread over the whole table.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

/// The id map's hasher builder.
pub type IdHashBuilder = std::hash::BuildHasherDefault<IdHasher>;

/// The id index: every stored event id with its position and sequence.
///
/// Entries live in a vector in the order they were added (position order), which is
/// also the order `index.bin` stores them in; a linear-probing table of 8-byte slots
/// points into it. Each slot holds the entry's index plus 24 bits of the id's hash, so a
/// probe only reads the vector when those bits match. Compared with a `HashMap` of
/// 32-byte entries this touches far less fresh memory as it grows, and writing the index
/// needs no sort.
#[derive(Clone, Default)]
pub struct IdIndex {
    entries: Vec<(Uuid, IdEntry)>,
    /// 0 = empty, otherwise `tag << SLOT_INDEX_BITS | (entry index + 1)`.
    slots: Vec<u64>,
}

const SLOT_INDEX_BITS: u32 = 40;
const SLOT_INDEX_MASK: u64 = (1 << SLOT_INDEX_BITS) - 1;
const MIN_SLOTS: usize = 1024;

/// The 64-bit hash of an id for [`IdIndex`] (same mixing as [`IdHasher`], without the
/// `Hasher` plumbing).
fn id_hash(id: &Uuid) -> u64 {
    let (high, low) = id.as_u64_pair();
    let mut h = (high.rotate_left(29) ^ low).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= high;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl IdIndex {
    /// An index with room for `n` ids before it grows.
    pub fn with_capacity(n: usize) -> IdIndex {
        let mut index = IdIndex::default();
        index.reserve(n);
        index
    }

    /// Number of ids stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no id is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Makes room for `additional` more ids.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
        let wanted = self.entries.len().saturating_add(additional);
        if wanted.saturating_mul(2) > self.slots.len() {
            self.rebuild(wanted.saturating_mul(2).next_power_of_two().max(MIN_SLOTS));
        }
    }

    /// Entries in the order they were added.
    pub fn entries(&self) -> &[(Uuid, IdEntry)] {
        &self.entries
    }

    /// Ids and entries in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&Uuid, &IdEntry)> + '_ {
        self.entries.iter().map(|(id, e)| (id, e))
    }

    /// The entry of `id`, if stored.
    pub fn get(&self, id: &Uuid) -> Option<&IdEntry> {
        match self.find(id) {
            Ok(at) => Some(&self.entries[at].1),
            Err(_) => None,
        }
    }

    /// True when `id` is stored.
    pub fn contains(&self, id: &Uuid) -> bool {
        self.find(id).is_ok()
    }

    /// Adds `id`; when it is stored already, returns its entry and changes nothing.
    pub fn insert(&mut self, id: Uuid, entry: IdEntry) -> Option<IdEntry> {
        if (self.entries.len() + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(MIN_SLOTS);
            self.rebuild(size);
        }
        match self.find(&id) {
            Ok(at) => Some(self.entries[at].1),
            Err(slot) => {
                let tag = id_hash(&id) >> SLOT_INDEX_BITS;
                self.slots[slot] = (tag << SLOT_INDEX_BITS) | (self.entries.len() as u64 + 1);
                self.entries.push((id, entry));
                None
            }
        }
    }

    /// Removes the ids added last, newest first, down to `len` ids (undoing inserts).
    pub fn truncate(&mut self, len: usize) {
        while self.entries.len() > len {
            let Some((id, _)) = self.entries.pop() else {
                break;
            };
            // The newest entry sits where its probe first found a free slot, and no
            // older entry's probe runs through that slot, so clearing it is exact.
            if let Ok(at) = self.find_slot_of(&id, self.entries.len()) {
                self.slots[at] = 0;
            }
        }
    }

    /// `Ok(entry index)` when stored, else `Err(free slot)` where it would go.
    fn find(&self, id: &Uuid) -> Result<usize, usize> {
        if self.slots.is_empty() {
            return Err(0);
        }
        let mask = self.slots.len() - 1;
        let h = id_hash(id);
        let tag = h >> SLOT_INDEX_BITS;
        let mut at = h as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Err(at);
            }
            if slot >> SLOT_INDEX_BITS == tag {
                let index = (slot & SLOT_INDEX_MASK) as usize - 1;
                if self.entries[index].0 == *id {
                    return Ok(index);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// The slot pointing at entry `index` (which holds `id`).
    fn find_slot_of(&self, id: &Uuid, index: usize) -> Result<usize, ()> {
        if self.slots.is_empty() {
            return Err(());
        }
        let mask = self.slots.len() - 1;
        let mut at = id_hash(id) as usize & mask;
        loop {
            let slot = self.slots[at];
            if slot == 0 {
                return Err(());
            }
            if (slot & SLOT_INDEX_MASK) as usize == index + 1 {
                return Ok(at);
            }
            at = (at + 1) & mask;
        }
    }

    fn rebuild(&mut self, size: usize) {
        let mut slots = vec![0u64; size];
        let mask = size - 1;
        for (index, (id, _)) in self.entries.iter().enumerate() {
            let h = id_hash(id);
            let mut at = h as usize & mask;
            while slots[at] != 0 {
                at = (at + 1) & mask;
            }
            slots[at] = ((h >> SLOT_INDEX_BITS) << SLOT_INDEX_BITS) | (index as u64 + 1);
        }
        self.slots = slots;
    }
}

impl PartialEq for IdIndex {
    fn eq(&self, other: &IdIndex) -> bool {
        self.entries == other.entries
    }
}

impl Eq for IdIndex {}

impl std::fmt::Debug for IdIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdIndex")
            .field("len", &self.entries.len())
            .finish_non_exhaustive()
    }
}

/// Everything an open log knows without reading its segments again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    pub segments: Vec<Segment>,
    pub frames: Vec<FrameLoc>,
    pub streams: BTreeMap<StreamId, StreamHead>,
    pub ids: IdIndex,
    pub next_position: u64,
    /// When set, scanned ids are listed here in position order instead of entering
    /// `ids`: verification needs no lookups, and a list is far cheaper than a map of
    /// millions of ids. Duplicates are then found by [`State::duplicate_id`].
    pub id_list: Option<Vec<(Uuid, IdEntry)>>,
}

impl State {
    /// Adds a frame read from disk, checking each record's sequence and chain link.
    pub fn apply_scanned(
        &mut self,
        segment: u32,
        offset: u64,
        header: &FrameHeader,
        records: &[RawRecord<'_>],
    ) -> Result<(), FrameFault> {
        self.apply_scanned_with(segment, offset, header, records, |_, _, _| Ok(()))
    }

    /// [`State::apply_scanned`] with an extra check of each record, given its position,
    /// its decoded header and its raw bytes (verify checks hashes and types here, so the
    /// header is decoded once).
    pub fn apply_scanned_with<F>(
        &mut self,
        segment: u32,
        offset: u64,
        header: &FrameHeader,
        records: &[RawRecord<'_>],
        mut check: F,
    ) -> Result<(), FrameFault>
    where
        F: FnMut(u64, &codec::CanonicalHeader<'_>, &RawRecord<'_>) -> Result<(), String>,
    {
        let frame_len = super::format::FRAME_HEADER_BYTES as u64 + u64::from(header.body_len);
        for (index, record) in records.iter().enumerate() {
            let position = header.first_position + index as u64;
            let fault = |kind, detail: String| FrameFault {
                kind,
                offset: offset + super::format::FRAME_HEADER_BYTES as u64 + record.offset as u64,
                frame_offset: offset,
                position,
                is_tail: false,
                records: Some(header.count),
                detail,
            };
            let head = codec::peek_header(record.canonical)
                .map_err(|e| fault(DamageKind::Encoding, e.to_string()))?;
            check(position, &head, record).map_err(|detail| {
                let kind = if detail.starts_with(HASH_MISMATCH) {
                    DamageKind::Hash
                } else {
                    DamageKind::Encoding
                };
                fault(kind, detail)
            })?;
            if !self.streams.contains_key(head.stream) {
                let stream = StreamId::new(head.stream)
                    .map_err(|e| fault(DamageKind::Encoding, e.to_string()))?;
                let empty = StreamHead {
                    version: 0,
                    last_hash: Hash::GENESIS,
                    positions: Vec::new(),
                };
                self.streams.insert(stream, empty);
            }
            let Some(entry) = self.streams.get_mut(head.stream) else {
                return Err(fault(DamageKind::Encoding, "stream vanished".into()));
            };
            if head.sequence != entry.version + 1 {
                let detail = format!(
                    "stream '{}' sequence {} follows {}",
                    head.stream, head.sequence, entry.version
                );
                return Err(fault(DamageKind::Sequence, detail));
            }
            if head.prev_hash != entry.last_hash {
                let detail = format!(
                    "stream '{}' sequence {} does not link to its predecessor",
                    head.stream, head.sequence
                );
                return Err(fault(DamageKind::Chain, detail));
            }
            let entry_id = IdEntry {
                position,
                sequence: head.sequence,
            };
            if let Some(list) = self.id_list.as_mut() {
                list.push((head.id, entry_id));
            } else if self.ids.insert(head.id, entry_id).is_some() {
                return Err(fault(
                    DamageKind::Sequence,
                    format!("event id {} is stored twice", head.id),
                ));
            }
            entry.version = head.sequence;
            entry.last_hash = record.hash;
            entry.positions.push(position);
        }
        self.frames.push(FrameLoc {
            first_position: header.first_position,
            count: header.count,
            segment,
            offset,
            len: frame_len as u32,
        });
        self.next_position = header.first_position + u64::from(header.count);
        if let Some(seg) = self.segments.get_mut(segment as usize) {
            seg.len = offset + frame_len;
        }
        Ok(())
    }

    /// With `id_list` in use: the position of an event whose id was stored before, if any.
    pub fn duplicate_id(&self) -> Option<(Uuid, u64)> {
        let mut sorted: Vec<(Uuid, u64)> = self
            .id_list
            .as_ref()?
            .iter()
            .map(|(id, e)| (*id, e.position))
            .collect();
        sorted.sort_unstable();
        sorted.windows(2).find(|w| w[0].0 == w[1].0).map(|w| w[1])
    }

    /// Ids with their entries in position order.
    pub fn ids_in_order(&self) -> Cow<'_, [(Uuid, IdEntry)]> {
        let list = match &self.id_list {
            Some(list) => list.as_slice(),
            None => self.ids.entries(),
        };
        // Scans, index loads and appends all add ids in position order, so this is a
        // borrow; the sort is only a safety net.
        if list.is_sorted_by_key(|(_, e)| e.position) {
            return Cow::Borrowed(list);
        }
        let mut ids = list.to_vec();
        ids.sort_unstable_by_key(|(_, e)| e.position);
        Cow::Owned(ids)
    }

    /// Makes room for about `events` more events, so a scan does not rehash its id map
    /// again and again.
    pub fn reserve(&mut self, events: usize) {
        match self.id_list.as_mut() {
            Some(list) => list.reserve(events),
            None => self.ids.reserve(events),
        }
        self.frames.reserve(events / 16);
    }

    /// Index of the frame holding `position`, if stored.
    pub fn frame_of(&self, position: u64) -> Option<usize> {
        if position >= self.next_position {
            return None;
        }
        let index = self
            .frames
            .partition_point(|f| f.first_position <= position);
        index.checked_sub(1)
    }

    /// The stream whose sequence `entry.sequence` sits at `entry.position`.
    pub fn stream_of(&self, entry: IdEntry) -> Option<&StreamId> {
        self.streams.iter().find_map(|(name, head)| {
            let at = usize::try_from(entry.sequence).ok()?.checked_sub(1)?;
            (head.positions.get(at) == Some(&entry.position)).then_some(name)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::{IdEntry, IdHashBuilder, IdIndex};

    /// Ids that differ only in their high bytes still spread over a table's low bits.
    #[test]
    fn id_hasher_spreads_sequential_ids() {
        let builder = IdHashBuilder::default();
        let mut buckets = std::collections::BTreeSet::new();
        for i in 0..1024u64 {
            buckets.insert(builder.hash_one(uuid::Uuid::from_u64_pair(i, 0)) & 1023);
        }
        assert!(
            buckets.len() > 600,
            "only {} of 1024 buckets used",
            buckets.len()
        );
    }

    /// The id index agrees with a `HashMap` through growth, duplicates and undone inserts.
    #[test]
    fn id_index_matches_a_map() {
        let mut index = IdIndex::default();
        let mut model = std::collections::HashMap::new();
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut ids = Vec::new();
        for round in 0..40u64 {
            let mark = index.len();
            let mut added = Vec::new();
            for i in 0..1000u64 {
                // Some ids share their high half, some repeat earlier ones.
                let id = if i % 97 == 5 && !ids.is_empty() {
                    ids[(next() % ids.len() as u64) as usize]
                } else {
                    uuid::Uuid::from_u64_pair(next() % 64, next())
                };
                let entry = IdEntry {
                    position: round * 1000 + i,
                    sequence: i,
                };
                let expected = model.get(&id).copied();
                assert_eq!(index.insert(id, entry), expected);
                if expected.is_none() {
                    model.insert(id, entry);
                    added.push(id);
                }
            }
            if round % 3 == 1 {
                index.truncate(mark);
                for id in &added {
                    model.remove(id);
                }
            } else {
                ids.extend(added);
            }
            assert_eq!(index.len(), model.len());
        }
        for (id, entry) in &model {
            assert_eq!(index.get(id), Some(entry));
        }
        for _ in 0..1000 {
            let id = uuid::Uuid::from_u64_pair(next(), next());
            assert_eq!(index.get(&id), model.get(&id));
        }
        assert!(index
            .entries()
            .windows(2)
            .all(|w| w[0].1.position < w[1].1.position));
    }
}
