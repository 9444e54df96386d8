package instrument

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stream is the instrumented jetstream.Stream returned by the JetStream
// wrapper: management calls are CLIENT spans "js.<op> <stream>" and the
// consumers it returns are wrapped. Methods not overridden (CachedInfo,
// ListConsumers, ConsumerNames and anything nats.go adds later) call the
// wrapped Stream directly. It is safe for concurrent use.
type stream struct {
	jetstream.Stream
	js   *jetStream
	name string
}

var _ jetstream.Stream = (*stream)(nil)

func (s *stream) m() *mgmtSpecs { return s.js.mgmt }

// Info is traced as "js.stream.info <stream>".
func (s *stream) Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	return streamOp(ctx, s.m(), opStreamInfo, s.name, func(ctx context.Context) (*jetstream.StreamInfo, error) {
		return s.Stream.Info(ctx, opts...)
	})
}

// Purge is traced as "js.stream.purge <stream>".
func (s *stream) Purge(ctx context.Context, opts ...jetstream.StreamPurgeOpt) error {
	return streamRun(ctx, s.m(), opPurgeStream, s.name, func(ctx context.Context) error {
		return s.Stream.Purge(ctx, opts...)
	})
}

// GetMsg is traced as "js.stream.get_msg <stream>"; jetstream.ErrMsgNotFound is an
// expected miss for the default classifier.
func (s *stream) GetMsg(ctx context.Context, seq uint64, opts ...jetstream.GetMsgOpt) (*jetstream.RawStreamMsg, error) {
	return streamOp(ctx, s.m(), opGetMsg, s.name, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.Stream.GetMsg(ctx, seq, opts...)
	})
}

// GetLastMsgForSubject is traced as "js.stream.get_last_msg <stream>" (the subject
// is not recorded).
func (s *stream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	return streamOp(ctx, s.m(), opGetLastMsg, s.name, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
		return s.Stream.GetLastMsgForSubject(ctx, subject)
	})
}

// DeleteMsg is traced as "js.stream.delete_msg <stream>".
func (s *stream) DeleteMsg(ctx context.Context, seq uint64) error {
	return streamRun(ctx, s.m(), opDeleteMsg, s.name, func(ctx context.Context) error {
		return s.Stream.DeleteMsg(ctx, seq)
	})
}

// SecureDeleteMsg is traced as "js.stream.secure_delete_msg <stream>".
func (s *stream) SecureDeleteMsg(ctx context.Context, seq uint64) error {
	return streamRun(ctx, s.m(), opSecureDeleteMsg, s.name, func(ctx context.Context) error {
		return s.Stream.SecureDeleteMsg(ctx, seq)
	})
}

// CreateOrUpdateConsumer is traced as "js.consumer.create_or_update
// <stream>"; the Consumer returned is wrapped.
func (s *stream) CreateOrUpdateConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return s.js.consumerOp(ctx, opCreateOrUpdateConsumer, s.name, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.Stream.CreateOrUpdateConsumer(ctx, cfg)
	})
}

// CreateConsumer is traced as "js.consumer.create <stream>"; the Consumer
// returned is wrapped.
func (s *stream) CreateConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return s.js.consumerOp(ctx, opCreateConsumer, s.name, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.Stream.CreateConsumer(ctx, cfg)
	})
}

// UpdateConsumer is traced as "js.consumer.update <stream>"; the Consumer
// returned is wrapped.
func (s *stream) UpdateConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return s.js.consumerOp(ctx, opUpdateConsumer, s.name, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.Stream.UpdateConsumer(ctx, cfg)
	})
}

// OrderedConsumer is traced as "js.consumer.ordered <stream>"; the Consumer
// returned is wrapped.
func (s *stream) OrderedConsumer(ctx context.Context, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	return s.js.consumerOp(ctx, opOrderedConsumer, s.name, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.Stream.OrderedConsumer(ctx, cfg)
	})
}

// Consumer is traced as "js.consumer.info <stream>"; the Consumer returned is
// wrapped.
func (s *stream) Consumer(ctx context.Context, name string) (jetstream.Consumer, error) {
	return s.js.consumerOp(ctx, opConsumer, s.name, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.Stream.Consumer(ctx, name)
	})
}

// DeleteConsumer is traced as "js.consumer.delete <stream>".
func (s *stream) DeleteConsumer(ctx context.Context, name string) error {
	return streamRun(ctx, s.m(), opDeleteConsumer, s.name, func(ctx context.Context) error {
		return s.Stream.DeleteConsumer(ctx, name)
	})
}

// PauseConsumer is traced as "js.consumer.pause <stream>".
func (s *stream) PauseConsumer(ctx context.Context, name string, pauseUntil time.Time) (*jetstream.ConsumerPauseResponse, error) {
	return streamOp(ctx, s.m(), opPauseConsumer, s.name, func(ctx context.Context) (*jetstream.ConsumerPauseResponse, error) {
		return s.Stream.PauseConsumer(ctx, name, pauseUntil)
	})
}

// ResumeConsumer is traced as "js.consumer.resume <stream>".
func (s *stream) ResumeConsumer(ctx context.Context, name string) (*jetstream.ConsumerPauseResponse, error) {
	return streamOp(ctx, s.m(), opResumeConsumer, s.name, func(ctx context.Context) (*jetstream.ConsumerPauseResponse, error) {
		return s.Stream.ResumeConsumer(ctx, name)
	})
}

// UnpinConsumer is traced as "js.consumer.unpin <stream>".
func (s *stream) UnpinConsumer(ctx context.Context, name string, group string) error {
	return streamRun(ctx, s.m(), opUnpinConsumer, s.name, func(ctx context.Context) error {
		return s.Stream.UnpinConsumer(ctx, name, group)
	})
}

// ResetConsumer is traced as "js.consumer.reset <stream>".
func (s *stream) ResetConsumer(ctx context.Context, name string) (*jetstream.ConsumerResetResponse, error) {
	return streamOp(ctx, s.m(), opResetConsumer, s.name, func(ctx context.Context) (*jetstream.ConsumerResetResponse, error) {
		return s.Stream.ResetConsumer(ctx, name)
	})
}

// ResetConsumerToSequence is traced as "js.consumer.reset <stream>".
func (s *stream) ResetConsumerToSequence(ctx context.Context, name string, seq uint64) (*jetstream.ConsumerResetResponse, error) {
	return streamOp(ctx, s.m(), opResetConsumer, s.name, func(ctx context.Context) (*jetstream.ConsumerResetResponse, error) {
		return s.Stream.ResetConsumerToSequence(ctx, name, seq)
	})
}

// CreateOrUpdatePushConsumer is traced as
// "js.push_consumer.create_or_update <stream>"; the PushConsumer returned is
// wrapped.
func (s *stream) CreateOrUpdatePushConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return s.js.pushConsumerOp(ctx, opCreateOrUpdatePushCons, s.name, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return s.Stream.CreateOrUpdatePushConsumer(ctx, cfg)
	})
}

// CreatePushConsumer is traced as "js.push_consumer.create <stream>"; the
// PushConsumer returned is wrapped.
func (s *stream) CreatePushConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return s.js.pushConsumerOp(ctx, opCreatePushConsumer, s.name, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return s.Stream.CreatePushConsumer(ctx, cfg)
	})
}

// UpdatePushConsumer is traced as "js.push_consumer.update <stream>"; the
// PushConsumer returned is wrapped.
func (s *stream) UpdatePushConsumer(ctx context.Context, cfg jetstream.ConsumerConfig) (jetstream.PushConsumer, error) {
	return s.js.pushConsumerOp(ctx, opUpdatePushConsumer, s.name, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return s.Stream.UpdatePushConsumer(ctx, cfg)
	})
}

// PushConsumer is traced as "js.push_consumer.info <stream>"; the PushConsumer
// returned is wrapped.
func (s *stream) PushConsumer(ctx context.Context, name string) (jetstream.PushConsumer, error) {
	return s.js.pushConsumerOp(ctx, opPushConsumer, s.name, func(ctx context.Context) (jetstream.PushConsumer, error) {
		return s.Stream.PushConsumer(ctx, name)
	})
}
