-- Blasts go to a cause's confirmed signers who ticked updates, read in id
-- order a page at a time (BlastAudience.Recipients). Partial, so only a
-- confirmation that asked for news writes it; signing does not.
CREATE INDEX signatures_blast_audience ON signatures (cause_id, id) WHERE confirmed_at IS NOT NULL AND consent_updates = 1;
