-- Issue 10: identity conflicts. The content hash (FNV-1a 64 of the compressed payload, as
-- a signed 64-bit integer) of every batch stored from now on; a same-(agent, seq) batch
-- with another hash is an identity conflict (two hosts sharing one agent id), refused and
-- counted, never acked as a duplicate. NULL for batches stored before this migration.
ALTER TABLE batches ADD COLUMN content_hash BIGINT;
