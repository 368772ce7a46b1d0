-- Search over causes: a full-text index of each cause's title, summary, body
-- and target, keyed by the cause's id (docid). It holds the text as
-- searchText makes it (lower-cased, accents, ligatures, elisions and plurals
-- folded), never as typed: the Go step that follows this file fills it for
-- the causes already there, and every write of a cause's text rewrites its
-- row in the same transaction. Who may find a cause (its status) is read
-- from causes at query time, so a status change needs no write here.
CREATE VIRTUAL TABLE cause_search USING fts4(
    title, summary, body, target,
    tokenize=unicode61 "remove_diacritics=2",
    prefix="2,4"
);
