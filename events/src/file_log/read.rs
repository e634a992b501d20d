//! Reading: by global position, by stream, and following live appends.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use futures::stream::{self, BoxStream, StreamExt};

use crate::codec;
use crate::envelope::{NewEvent, RecordedEvent};
use crate::ids::StreamId;
use crate::log::{AppendOutcome, EventLog, ExpectedVersion};
use crate::{Error, Result};

use super::format::{self, FrameHeader, FRAME_HEADER_BYTES};
use super::open::{damaged, fault_error};
use super::scan::FrameFault;
use super::state::FrameLoc;
use super::FileLog;

/// Events handed out per read by [`FileLog::follow`] before it looks for new ones.
const FOLLOW_PAGE_EVENTS: usize = 1_000;

/// Iterator over events in global order, from a position up to the end seen at creation.
#[derive(Debug)]
pub struct EventIter {
    log: FileLog,
    next: u64,
    end: u64,
    buffer: VecDeque<RecordedEvent>,
    file: Option<(u32, File)>,
    failed: bool,
}

impl Iterator for EventIter {
    type Item = Result<RecordedEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.buffer.is_empty() && self.next < self.end {
            if let Err(e) = self.fill() {
                self.failed = true;
                return Some(Err(e));
            }
        }
        let event = self.buffer.pop_front()?;
        self.next = event.position + 1;
        Some(Ok(event))
    }
}

impl EventIter {
    fn fill(&mut self) -> Result<()> {
        let (frame, path) = self.log.frame_at(self.next)?;
        let events = self.log.read_frame(&mut self.file, &frame, &path)?;
        self.buffer.extend(
            events
                .into_iter()
                .filter(|e| e.position >= self.next && e.position < self.end),
        );
        Ok(())
    }
}

impl FileLog {
    /// Iterates over every event from global position `from` to the current end.
    pub fn read_all(&self, from: u64) -> Result<EventIter> {
        let end = self.len()?;
        Ok(EventIter {
            log: self.clone(),
            next: from,
            end,
            buffer: VecDeque::new(),
            file: None,
            failed: false,
        })
    }

    /// Up to `max` events from `from`, in global order.
    pub fn read_range(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>> {
        self.read_all(from)?.take(max).collect()
    }

    /// Up to `max` events of `stream` from sequence `from` (1-based; 0 reads from the start).
    pub fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>> {
        let positions: Vec<u64> = {
            let core = self.core()?;
            match core.state.streams.get(stream) {
                None => return Ok(Vec::new()),
                Some(head) => head
                    .positions
                    .iter()
                    .skip(from.saturating_sub(1) as usize)
                    .take(max)
                    .copied()
                    .collect(),
            }
        };
        let mut out = Vec::with_capacity(positions.len());
        let mut file = None;
        let mut cached: Option<(u64, Vec<RecordedEvent>)> = None;
        for position in positions {
            let (frame, path) = self.frame_at(position)?;
            if cached.as_ref().map(|(first, _)| *first) != Some(frame.first_position) {
                cached = Some((
                    frame.first_position,
                    self.read_frame(&mut file, &frame, &path)?,
                ));
            }
            let events = cached
                .as_ref()
                .map(|(_, events)| events.as_slice())
                .unwrap_or_default();
            let index = (position - frame.first_position) as usize;
            let event = events.get(index).cloned();
            out.push(event.ok_or_else(|| {
                damaged(
                    crate::DamageKind::Index,
                    &path,
                    frame.offset,
                    Some(position),
                    "frame is shorter than indexed".into(),
                )
            })?);
        }
        Ok(out)
    }

    /// Every event from `from`, then each new event as it becomes visible. The stream
    /// ends only when the log handle is dropped or a read fails (after yielding the error).
    pub fn follow(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent>> {
        let receiver = self.inner.visible.subscribe();
        let start = (
            self.clone(),
            from,
            receiver,
            VecDeque::<RecordedEvent>::new(),
            false,
        );
        stream::unfold(
            start,
            |(log, mut next, mut receiver, mut buffer, failed)| async move {
                if failed {
                    return None;
                }
                loop {
                    if let Some(event) = buffer.pop_front() {
                        next = event.position + 1;
                        return Some((Ok(event), (log, next, receiver, buffer, false)));
                    }
                    let visible = *receiver.borrow_and_update();
                    if next < visible {
                        match log.read_range(next, FOLLOW_PAGE_EVENTS) {
                            Ok(events) => buffer.extend(events),
                            Err(e) => return Some((Err(e), (log, next, receiver, buffer, true))),
                        }
                        continue;
                    }
                    if receiver.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
        .boxed()
    }

    /// The frame holding `position` and its segment's path.
    fn frame_at(&self, position: u64) -> Result<(FrameLoc, PathBuf)> {
        let core = self.core()?;
        let index = core
            .state
            .frame_of(position)
            .ok_or_else(|| Error::InvalidEvent {
                reason: format!(
                    "position {position} is past the end of the log ({})",
                    core.state.next_position
                ),
            })?;
        let frame = core.state.frames[index];
        Ok((
            frame,
            core.state.segments[frame.segment as usize].path.clone(),
        ))
    }

    /// Reads and checks one frame, decoding its records.
    fn read_frame(
        &self,
        file: &mut Option<(u32, File)>,
        frame: &FrameLoc,
        path: &PathBuf,
    ) -> Result<Vec<RecordedEvent>> {
        if file.as_ref().map(|(s, _)| *s) != Some(frame.segment) {
            let handle = File::open(path).map_err(|e| Error::io(path, e))?;
            *file = Some((frame.segment, handle));
        }
        let Some((_, handle)) = file.as_ref() else {
            return Err(Error::InvalidEvent {
                reason: "segment handle missing".into(),
            });
        };
        let mut bytes = vec![0u8; frame.len as usize];
        handle
            .read_exact_at(&mut bytes, frame.offset)
            .map_err(|e| Error::io(path, e))?;
        let fault = |kind, detail: String| {
            fault_error(
                path,
                FrameFault {
                    kind,
                    offset: frame.offset,
                    frame_offset: frame.offset,
                    position: frame.first_position,
                    is_tail: false,
                    records: Some(frame.count),
                    detail,
                },
            )
        };
        let header = FrameHeader::parse(&bytes).map_err(|d| fault(crate::DamageKind::Header, d))?;
        if header.first_position != frame.first_position || header.count != frame.count {
            return Err(fault(
                crate::DamageKind::Index,
                "frame on disk differs from the index".into(),
            ));
        }
        let records = format::split_records(&bytes[FRAME_HEADER_BYTES..], header.count)
            .map_err(|(i, _, d)| fault(crate::DamageKind::Checksum, format!("record {i}: {d}")))?;
        records
            .iter()
            .enumerate()
            .map(|(i, r)| {
                codec::decode_canonical(r.canonical, frame.first_position + i as u64, r.hash)
            })
            .collect()
    }
}

impl EventLog for FileLog {
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome> {
        FileLog::append(self, stream, expected, events)
    }

    async fn read_all(&self, from: u64, max: usize) -> Result<Vec<RecordedEvent>> {
        self.read_range(from, max)
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from: u64,
        max: usize,
    ) -> Result<Vec<RecordedEvent>> {
        FileLog::read_stream(self, stream, from, max)
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<u64> {
        FileLog::stream_version(self, stream)
    }

    fn follow(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent>> {
        FileLog::follow(self, from)
    }
}
