package instrument

import (
	"context"

	"github.com/nats-io/nats.go"
)

// legacyKV is the instrumented legacy nats.KeyValue handed out by the
// legacy JetStream wrapper ([NewJetStreamContext] KeyValue and
// CreateKeyValue). Its calls are the spans of [NewKeyValue]: CLIENT spans
// "kv.<op> <bucket>" with messaging.nats.kv.bucket and a
// messaging.client.operation.duration data point each, gate family "kv":
//
//	Get, GetRevision → kv.get     Put, PutString → kv.put
//	Create → kv.create            Update → kv.update
//	Delete → kv.delete            Purge, PurgeDeletes → kv.purge
//	Keys, ListKeys → kv.keys      History → kv.history
//	Status → kv.status
//
// The legacy API takes no context, so these spans have no parent. Keys are
// recorded (span attribute messaging.nats.kv.key) only with
// [WithKVKeys](true); values never are. Errors are returned unchanged
// (errors.Is(err, nats.ErrKeyNotFound) holds; a missing key is an expected
// miss for the default classifier).
//
// Watch, WatchAll and WatchFiltered return nats.go's watcher, untraced: a
// legacy nats.KeyValueEntry carries no header, so an update cannot join
// the writer's trace, and forwarding updates through a goroutine of ours
// would only time a channel hand-off. Bucket and methods nats.go adds later
// call the bucket directly. It is safe for concurrent use, like the bucket.
type legacyKV struct {
	nats.KeyValue
	kvSpecs // no watch: see above
}

var _ nats.KeyValue = (*legacyKV)(nil)

func newLegacyKV(kv nats.KeyValue, p *pipeline) *legacyKV {
	return &legacyKV{KeyValue: kv, kvSpecs: newKVSpecs(p, kv.Bucket(), false)}
}

// legacyKVDo is kvDo for a legacy call, which takes no context: its span
// has no parent.
func legacyKVDo[T any](kv *legacyKV, s *opSpec, key string, fn func() (T, error)) (T, error) {
	return kvDo(context.Background(), kv.p, s, key, func(context.Context) (T, error) { return fn() })
}

// legacyKVRun is legacyKVDo for calls that return only an error.
func legacyKVRun(kv *legacyKV, s *opSpec, key string, fn func() error) error {
	return kvRun(context.Background(), kv.p, s, key, func(context.Context) error { return fn() })
}

// Get is traced as "kv.get <bucket>".
func (kv *legacyKV) Get(key string) (nats.KeyValueEntry, error) {
	return legacyKVDo(kv, kv.get, key, func() (nats.KeyValueEntry, error) { return kv.KeyValue.Get(key) })
}

// GetRevision is traced as "kv.get <bucket>".
func (kv *legacyKV) GetRevision(key string, revision uint64) (nats.KeyValueEntry, error) {
	return legacyKVDo(kv, kv.get, key, func() (nats.KeyValueEntry, error) { return kv.KeyValue.GetRevision(key, revision) })
}

// Put is traced as "kv.put <bucket>".
func (kv *legacyKV) Put(key string, value []byte) (uint64, error) {
	return legacyKVDo(kv, kv.put, key, func() (uint64, error) { return kv.KeyValue.Put(key, value) })
}

// PutString is traced as "kv.put <bucket>".
func (kv *legacyKV) PutString(key string, value string) (uint64, error) {
	return legacyKVDo(kv, kv.put, key, func() (uint64, error) { return kv.KeyValue.PutString(key, value) })
}

// Create is traced as "kv.create <bucket>".
func (kv *legacyKV) Create(key string, value []byte) (uint64, error) {
	return legacyKVDo(kv, kv.create, key, func() (uint64, error) { return kv.KeyValue.Create(key, value) })
}

// Update is traced as "kv.update <bucket>".
func (kv *legacyKV) Update(key string, value []byte, last uint64) (uint64, error) {
	return legacyKVDo(kv, kv.update, key, func() (uint64, error) { return kv.KeyValue.Update(key, value, last) })
}

// Delete is traced as "kv.delete <bucket>".
func (kv *legacyKV) Delete(key string, opts ...nats.DeleteOpt) error {
	return legacyKVRun(kv, kv.del, key, func() error { return kv.KeyValue.Delete(key, opts...) })
}

// Purge is traced as "kv.purge <bucket>".
func (kv *legacyKV) Purge(key string, opts ...nats.DeleteOpt) error {
	return legacyKVRun(kv, kv.purge, key, func() error { return kv.KeyValue.Purge(key, opts...) })
}

// PurgeDeletes is traced as "kv.purge <bucket>" without a key.
func (kv *legacyKV) PurgeDeletes(opts ...nats.PurgeOpt) error {
	return legacyKVRun(kv, kv.purge, "", func() error { return kv.KeyValue.PurgeDeletes(opts...) })
}

// Keys is traced as "kv.keys <bucket>".
func (kv *legacyKV) Keys(opts ...nats.WatchOpt) ([]string, error) {
	return legacyKVDo(kv, kv.keys, "", func() ([]string, error) { return kv.KeyValue.Keys(opts...) })
}

// ListKeys is traced as "kv.keys <bucket>" (the span covers starting the
// listing; keys then arrive on the lister's channel).
func (kv *legacyKV) ListKeys(opts ...nats.WatchOpt) (nats.KeyLister, error) {
	return legacyKVDo(kv, kv.keys, "", func() (nats.KeyLister, error) { return kv.KeyValue.ListKeys(opts...) })
}

// History is traced as "kv.history <bucket>".
func (kv *legacyKV) History(key string, opts ...nats.WatchOpt) ([]nats.KeyValueEntry, error) {
	return legacyKVDo(kv, kv.history, key, func() ([]nats.KeyValueEntry, error) { return kv.KeyValue.History(key, opts...) })
}

// Status is traced as "kv.status <bucket>".
func (kv *legacyKV) Status() (nats.KeyValueStatus, error) {
	return legacyKVDo(kv, kv.status, "", kv.KeyValue.Status)
}
