package readmodel

// SetHook makes every batch call fn after each record it applies, with the
// projection key ("NAME" or "NAME#next") and the count so far; an error
// aborts the batch as a crash would. nil removes it.
func SetHook(db *DB, fn func(key string, n int) error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	db.hook = fn
}

// SetBeforeSwap makes rebuilds call fn after catching up, before the swap.
func SetBeforeSwap(db *DB, fn func(projection string)) { db.beforeSwap = fn }
