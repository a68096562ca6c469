//! Buffer tests: crash-consistency of batches with checkpoints, acks, full-buffer policies.

use super::*;

fn batch(seq: u64, priority: bool, len: usize, lines: u32) -> NewBatch {
    NewBatch {
        seq,
        priority,
        frame: vec![seq as u8; len],
        lines,
    }
}

fn cp(file: &str, offset: u64) -> (Vec<u8>, Vec<u8>) {
    (file.as_bytes().to_vec(), offset.to_le_bytes().to_vec())
}

#[test]
fn batch_and_checkpoint_survive_reopen_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.redb");
    let id;
    {
        let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
        id = buf.agent_id().to_owned();
        buf.append(&[batch(1, false, 100, 10)], &[cp("a", 500)], &[])
            .unwrap();
        buf.append(&[batch(2, true, 50, 1)], &[cp("a", 600)], &[])
            .unwrap();
    }
    let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
    assert_eq!(buf.agent_id(), id, "agent identity is stable");
    assert_eq!(buf.next_seq(), 3);
    let pending = buf.pending(10, |_| false).unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.seq, p.priority))
            .collect::<Vec<_>>(),
        [(2, true), (1, false)]
    );
    assert_eq!(buf.checkpoints().unwrap(), vec![cp("a", 600)]);
    assert_eq!(buf.stats().used_bytes, 104 + 54);
}

#[test]
fn ack_removes_only_acked_batches() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 1 << 20, FullPolicy::Block).unwrap();
    buf.append(&[batch(1, false, 10, 1), batch(2, false, 10, 1)], &[], &[])
        .unwrap();
    buf.ack(&[(1, false)]).unwrap();
    let seqs: Vec<u64> = buf
        .pending(10, |_| false)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, [2]);
    assert_eq!(buf.stats().pending_batches, 1);
}

#[test]
fn full_buffer_blocks_without_committing() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 100, FullPolicy::Block).unwrap();
    buf.append(&[batch(1, false, 60, 1)], &[cp("a", 1)], &[])
        .unwrap();
    let err = buf
        .append(&[batch(2, false, 60, 1)], &[cp("a", 2)], &[])
        .unwrap_err();
    assert!(matches!(err, BufferError::Full { .. }), "{err}");
    // Nothing moved: the checkpoint still points after batch 1.
    assert_eq!(buf.checkpoints().unwrap(), vec![cp("a", 1)]);
    assert_eq!(buf.next_seq(), 2);
    buf.ack(&[(1, false)]).unwrap();
    buf.append(&[batch(2, false, 60, 1)], &[cp("a", 2)], &[])
        .unwrap();
    assert_eq!(buf.stats().dropped_lines, 0);
}

#[test]
fn drop_newest_counts_and_advances() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 100, FullPolicy::DropNewest).unwrap();
    buf.append(&[batch(1, false, 60, 5)], &[cp("a", 1)], &[])
        .unwrap();
    let out = buf
        .append(&[batch(2, false, 60, 7)], &[cp("a", 2)], &[])
        .unwrap();
    assert_eq!(out, Appended::Dropped { lines: 7 });
    assert_eq!(buf.checkpoints().unwrap(), vec![cp("a", 2)]);
    assert_eq!(buf.stats().dropped_lines, 7);
    assert_eq!(buf.pending(10, |_| false).unwrap().len(), 1);
}

#[test]
fn drop_oldest_evicts_normal_lane_only() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 130, FullPolicy::DropOldest).unwrap();
    buf.append(&[batch(1, true, 40, 1), batch(2, false, 40, 3)], &[], &[])
        .unwrap();
    let out = buf.append(&[batch(3, false, 40, 2)], &[], &[]).unwrap();
    assert_eq!(out, Appended::Dropped { lines: 3 });
    let seqs: Vec<u64> = buf
        .pending(10, |_| false)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, [1, 3]);
    // dropped counter persists
    drop(buf);
    let buf = Buffer::open(&dir.path().join("b.redb"), 130, FullPolicy::DropOldest).unwrap();
    assert_eq!(buf.stats().dropped_lines, 3);
}

#[test]
fn seqs_increase_within_a_commit_and_may_leave_gaps_between_commits() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 1000, FullPolicy::Block).unwrap();
    let err = buf
        .append(&[batch(5, false, 1, 1), batch(4, false, 1, 1)], &[], &[])
        .unwrap_err();
    assert!(matches!(
        err,
        BufferError::OutOfOrder {
            got: 4,
            expected: 6
        }
    ));
    // Seqs 1-4 went to a split meanwhile: a gap is fine, and never handed out again.
    buf.append(&[batch(5, false, 1, 1)], &[], &[]).unwrap();
    assert_eq!(buf.next_seq(), 6);
    assert_eq!(buf.reserve_seqs(2), 6);
    assert_eq!(buf.next_seq(), 8);
}

#[test]
fn bulk_commits_leave_the_priority_reserve_free() {
    let dir = tempfile::tempdir().unwrap();
    let buf = Buffer::open(&dir.path().join("b.redb"), 1000, FullPolicy::Block)
        .unwrap()
        .with_priority_reserve(300);
    buf.append(&[batch(1, false, 600, 1)], &[], &[]).unwrap();
    // 604 + 204 > 700 for bulk: refused, nothing committed.
    let err = buf
        .append(&[batch(2, false, 200, 1)], &[cp("a", 2)], &[])
        .unwrap_err();
    assert!(matches!(err, BufferError::Full { .. }), "{err}");
    // The same lines with a critical batch among them use the reserve.
    buf.append(
        &[batch(2, false, 200, 1), batch(3, true, 50, 1)],
        &[cp("a", 3)],
        &[],
    )
    .unwrap();
    assert_eq!(buf.checkpoints().unwrap(), vec![cp("a", 3)]);
    assert_eq!(buf.stats().used_bytes, 604 + 204 + 54);
}

#[test]
fn replace_and_rekey_keep_the_buffer_and_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.redb");
    let old_id;
    {
        let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
        old_id = buf.agent_id();
        buf.append(&[batch(1, false, 100, 10)], &[cp("a", 9)], &[])
            .unwrap();
        let first = buf.reserve_seqs(2);
        let pieces = [batch(first, false, 40, 4), batch(first + 1, false, 40, 6)];
        assert!(buf.replace(1, false, &pieces).unwrap());
        assert!(!buf.replace(1, false, &pieces).unwrap(), "already replaced");
        let (new_id, below) = buf.rekey().unwrap();
        assert_ne!(new_id, old_id);
        assert_eq!(below, first + 2);
        assert_eq!(buf.agent_id(), new_id);
    }
    let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
    assert_ne!(buf.agent_id(), old_id, "the new id is durable");
    assert_eq!(buf.rekeyed_below().unwrap(), 4);
    let seqs: Vec<u64> = buf
        .pending(10, |_| false)
        .unwrap()
        .iter()
        .map(|p| p.seq)
        .collect();
    assert_eq!(seqs, [2, 3]);
    assert_eq!(buf.stats().used_bytes, 88);
    assert_eq!(buf.checkpoints().unwrap(), vec![cp("a", 9)]);
    assert_eq!(buf.discard(2, false).unwrap(), 4);
    assert_eq!(buf.stats().dropped_lines, 4);
    assert!(buf.stats().oldest_appended_ms.is_some());
}

#[test]
fn credential_is_durable_bound_to_the_agent_id_and_dropped_by_a_rekey() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.redb");
    let id;
    {
        let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
        id = buf.agent_id();
        assert_eq!(buf.credential().unwrap(), None);
        // One issued to another id (the agent re-keyed since) is never presented.
        buf.save_credential("someone-else", "fla_1").unwrap();
        assert_eq!(buf.credential().unwrap(), None);
        buf.save_credential(&id, "fla_2").unwrap();
    }
    let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
    assert_eq!(buf.credential().unwrap().as_deref(), Some("fla_2"));
    buf.clear_credential().unwrap();
    assert_eq!(buf.credential().unwrap(), None);
    buf.save_credential(&id, "fla_3").unwrap();
    buf.rekey().unwrap();
    assert_eq!(buf.credential().unwrap(), None, "a new id enrolls afresh");
}

#[test]
fn saved_model_survives_reopen_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.redb");
    {
        let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
        assert_eq!(buf.load_model().unwrap(), None);
        buf.save_model(7, b"{\"old\":1}").unwrap();
        buf.save_model(9, b"{\"new\":2}").unwrap();
    }
    let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
    assert_eq!(
        buf.load_model().unwrap(),
        Some((9, b"{\"new\":2}".to_vec()))
    );
}

/// A checkpoint stored by an agent before checkpoint versioning (v0: no `version` field)
/// loads from the database after an upgrade; a corrupt one is left out (and warned).
#[test]
fn v0_checkpoint_in_the_database_still_loads() {
    use crate::tail::{FileKey, Fingerprint, encode_key, load_saved};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer.redb");
    let key = FileKey {
        fingerprint: Fingerprint::of(b"a\n"),
        dev: 1,
        ino: 7,
    };
    let other = FileKey {
        ino: 8,
        ..key.clone()
    };
    {
        let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
        let v0 = br#"{"offset":42,"path":"/var/log/app.log"}"#.to_vec();
        let corrupt = b"{not json".to_vec();
        buf.append(
            &[batch(1, false, 10, 1)],
            &[(encode_key(&key), v0), (encode_key(&other), corrupt)],
            &[],
        )
        .unwrap();
    }
    let buf = Buffer::open(&path, 1 << 20, FullPolicy::Block).unwrap();
    let saved = load_saved(buf.checkpoints().unwrap());
    assert_eq!(saved.len(), 1);
    let (k, cp) = &saved[0];
    assert_eq!((k, cp.version, cp.offset), (&key, 0, 42));
}
