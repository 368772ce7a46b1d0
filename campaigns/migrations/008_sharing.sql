-- Sharing: every signer gets a code of their own for their personal link
-- (/c/{slug}?ref=CODE), and a signature remembers the channel it came
-- through. ref, already there, is the code a signature came through.
--
-- A signing writes both columns with its row and no index: the indexes below
-- are partial, over confirmed signatures, so they are written when a
-- signature is confirmed, at the pace people click their links, never on the
-- signing path (see migration 004).
ALTER TABLE signatures ADD COLUMN share_code TEXT NOT NULL DEFAULT '';   -- the signer's own code (see NewShareCode)
ALTER TABLE signatures ADD COLUMN source TEXT NOT NULL DEFAULT '';       -- the channel: utm_source, or the share button used
-- SHA-256 of the token of the private page that counts the people who
-- signed through the signer's link, hex; set when the signature is confirmed.
ALTER TABLE signatures ADD COLUMN recruits_hash TEXT NOT NULL DEFAULT '';

-- Signatures already counted get a code now, 12 random hex digits; one still
-- waiting for its confirmation gets one when it is confirmed.
UPDATE signatures SET share_code = lower(hex(randomblob(6))) WHERE confirmed_at IS NOT NULL;

-- A cause's counted signers by their code: whose link a signature came
-- through, and whether a new code is already taken.
CREATE INDEX signatures_share_code ON signatures (cause_id, share_code) WHERE confirmed_at IS NOT NULL;
-- A cause's counted signatures by the code they came through: how many
-- people each signer brought.
CREATE INDEX signatures_referred ON signatures (cause_id, ref) WHERE confirmed_at IS NOT NULL AND ref <> '';
