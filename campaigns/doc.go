// Package campaigns owns causes, their organisers and sessions, and signatures
// with double opt-in: the public cause pages and JSON, signing and confirming,
// the organiser's dashboard and CSV export. Its tables and migrations are its
// own (Migrations); it queues mail through notify inside its own transactions.
//
// Decisions worth knowing:
//
//   - Signing goes through a group-committing writer: each request builds its
//     rows (the signature and its confirmation mail) and hands them to one
//     goroutine, which writes everything waiting in one transaction, one
//     multi-row insert per table, and answers each request after the commit.
//     The batch is whatever arrived while the previous commit was written — no
//     timer, so a lone signing commits at once and a surge makes big batches.
//     A signing that breaks a constraint sends the batch round again without
//     it, so it never fails its batch-mates. A signature that got its "check
//     your email" page is on disk.
//   - A signing appends only: it writes its signature and its mail. The
//     supporter (one row per address, across causes) is made when a signature
//     is confirmed, and one counted signature per address per cause is a
//     unique index over confirmed signatures' comparison keys (migration 004):
//     real addresses arrive in no order, and an index over every signing in
//     address order cost a page write per signing per commit.
//   - New and repeat signings get the same page (200, no second request); the
//     email says which it was, so nobody learns who signed what.
//   - A confirmation token is a selector plus a random secret (16 hex digits,
//     then 32 URL-safe characters). The selector is the signature's id, which
//     grows with time; the row is found by its primary key and the whole token
//     checked against its stored SHA-256 in constant time. Tokens expire after
//     14 days (TokenTTL). Signing again before confirming is a second signing
//     with its own link; whichever is used first confirms. A signature never
//     confirmed is deleted 30 days after its link expired (UnconfirmedKept),
//     a thousand ids a statement so the writer is never held for long.
//   - Counts show a confirmation at once, up to 20 confirmations a second per
//     cause; beyond that the cause page and JSON may lag by up to a tenth of a
//     second. Dropping the cached page at every confirmation meant rendering
//     it at every read while people confirmed (2,900–3,300 reads a second with
//     3,400 confirmations a second, against 16,000–18,000 with the lag). The
//     thank-you page always shows the count with the person in it.
//   - Pages that differ per person only in a few values (the "check your
//     email" page, the confirm button page, the thank-you page) are rendered
//     once per cause, language and count, and the person's values are put
//     into the rendered bytes (see stamp).
//   - Organiser pages identify causes by slug; a draft's slug follows its
//     title, a published cause's slug never changes.
//   - goal in the JSON is the goal the progress bar shows: the organiser's,
//     then the next step of 100, 250, 500, 1k, 2.5k … once reached.
//   - Signing mails are queued by reference (template name and data in the
//     outbox row) and rendered by the mail worker in the signer's language;
//     other mails are queued rendered.
//   - An address's comparison key has its domain in ASCII: user@exämple.com,
//     its punycode user@xn--exmple-cua.com and its decomposed spelling
//     (a + U+0308) are one person (notify.EmailKey). Addresses are kept and mailed
//     with the local part as typed (Unicode NFC) and the punycode domain,
//     since a relay may not speak SMTPUTF8; the "check your email" page shows
//     the domain in Unicode (notify.DisplayEmail). What mail cannot reach is refused
//     at the form (notify.NormalizeEmail). Migration 006 moved stored keys with a Go
//     step (DataMigrations), merging what turned out to be one person.
//   - An address gets at most MailsPerDay signing mails in any 24 hours,
//     counted in memory; further signings are kept but mail nothing, and the
//     page is the same, so signing with someone else's address cannot fill
//     their inbox.
//   - Cause images: an edit that replaces one deletes the old file; an
//     organiser uploads at most ImagesPerDay a day, once their address is
//     confirmed; a draft's image is served only to its organiser and admins,
//     a public cause's is public and cached for a year, and a file no cause
//     shows is not found.
package campaigns
