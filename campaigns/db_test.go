package campaigns

import (
	"database/sql"
	"testing"

	"github.com/rallyhq/rally/cmd/rally/database"
	"github.com/rallyhq/rally/cmd/rally/database/dbtest"
	"github.com/rallyhq/rally/notify"
	"github.com/rallyhq/rally/templates"
)

// Tests hash passwords with the cheapest argon2id costs: the production costs
// would only slow them down. TestPasswordHash checks the production format.
func init() {
	passwordParams = argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

// mustOpenDB opens a fresh database file with production's DSN options and
// applies the campaigns and notify migrations.
func mustOpenDB(t *testing.T) (writer, reader *sql.DB) {
	t.Helper()
	return mustOpenDBTB(t)
}

// mustOpenDBTB is mustOpenDB for tests and benchmarks alike.
func mustOpenDBTB(t testing.TB) (writer, reader *sql.DB) {
	t.Helper()
	return dbtest.Open(t,
		database.Set{Name: "campaigns", FS: Migrations(), Steps: DataMigrations()},
		database.Set{Name: "notify", FS: notify.Migrations()})
}

// newTestRenderer parses the embedded templates.
func newTestRenderer(t *testing.T) *templates.Renderer {
	t.Helper()
	rdr, err := templates.New()
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}
