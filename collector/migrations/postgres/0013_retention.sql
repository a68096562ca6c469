-- Retention of SQL rows (issue 16, store::retention): indexes for the candidate queries
-- only, no table or column changes. Keep identical to the other dialect's 0013.

-- Expired dedupe rows are read in (stored_ms, agent_id, seq) order.
CREATE INDEX batches_stored ON batches (stored_ms, agent_id, seq);
-- Heartbeat history keeps each agent's newest row: MAX(id) per agent.
CREATE INDEX heartbeats_agent_id ON heartbeats (agent_id, id);
