-- The blast an update's email became: a draft the organiser checks and
-- sends from the blast's page. Blasts are notify's, whose tables come
-- after these, so it is a plain id, not a foreign key.
ALTER TABLE cause_updates ADD COLUMN blast_id INTEGER;
