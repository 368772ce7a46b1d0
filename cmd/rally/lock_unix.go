//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockFile is the file in the data folder that a serving Rally holds an
// exclusive lock on, and that rally restore takes before touching anything.
const lockFile = "rally.lock"

// errLocked is returned by lockData when another process holds the lock.
var errLocked = errors.New("data folder locked")

// lockData takes the data folder's lock without waiting, and returns what
// lets it go. The kernel lets it go too when the process ends, however it
// ends, so a Rally killed leaves no stale lock.
func lockData(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("lock data folder: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
