package p2p

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Topic is one of the consortium's gossip topics.
type Topic string

// The consortium's topics. Their wire names carry the consortium name and a
// version: "cohortnet/<consortium>/announce/1".
const (
	// Announcements carry signed manifests with their ledger commitment.
	Announcements Topic = "announce"
	// Checkpoints carry the ledger checkpoints nodes have seen, so split views
	// are noticed.
	Checkpoints Topic = "checkpoint"
)

var topics = []Topic{Announcements, Checkpoints}

// Message is a gossip message that passed validation.
type Message struct {
	From         peer.ID // the author, who signed the message
	ReceivedFrom peer.ID // the peer that forwarded it to us
	Data         []byte
}

// Validator decides whether a gossip message is accepted and forwarded. A nil
// error accepts it; [ErrIgnore] drops it without holding it against the
// forwarder (use it when the node cannot decide yet, e.g. its ledger mirror
// lags); any other error rejects it, and the forwarder's peer score drops.
// Validators run concurrently and must not keep msg.Data.
type Validator func(ctx context.Context, msg Message) error

// ErrIgnore, returned by a [Validator], drops a message without penalty.
var ErrIgnore = errors.New("p2p: ignore message")

// Peer scoring: one rejected message costs a peer invalidMessageWeight (the
// count is squared), so the third puts it below the graylist threshold, and
// we stop talking gossip with it. The counter decays over about an hour.
const (
	invalidMessageWeight = -10
	gossipThreshold      = -10
	publishThreshold     = -50
	graylistThreshold    = -80
)

type gossipState struct {
	mu         sync.Mutex
	joined     map[Topic]*pubsub.Topic
	validators map[Topic]*atomic.Pointer[Validator]
	scores     atomic.Pointer[map[peer.ID]float64]
}

func (h *Host) topicName(t Topic) string {
	return "cohortnet/" + h.cfg.Consortium + "/" + string(t) + "/1"
}

func (h *Host) startGossip() error {
	g := &h.gossip
	g.joined = make(map[Topic]*pubsub.Topic)
	g.validators = make(map[Topic]*atomic.Pointer[Validator])
	params := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               make(map[string]*pubsub.TopicScoreParams),
		AppSpecificScore:     func(peer.ID) float64 { return 0 },
		DecayInterval:        time.Second,
		DecayToZero:          0.01,
		RetainScore:          time.Hour,
	}
	for _, t := range topics {
		params.Topics[h.topicName(t)] = &pubsub.TopicScoreParams{
			SkipAtomicValidation:           true,
			TopicWeight:                    1,
			TimeInMeshQuantum:              time.Second, // unused (weight 0) but divides
			InvalidMessageDeliveriesWeight: invalidMessageWeight,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	thresholds := &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      gossipThreshold,
		PublishThreshold:     publishThreshold,
		GraylistThreshold:    graylistThreshold,
	}
	ps, err := pubsub.NewGossipSub(h.ctx, h.Host,
		pubsub.WithPeerScore(params, thresholds),
		pubsub.WithPeerScoreInspect(func(m map[peer.ID]float64) {
			m = maps.Clone(m)
			g.scores.Store(&m)
		}, time.Second),
		pubsub.WithMaxMessageSize(h.cfg.MaxMessageSize),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return h.gater.allowed(p) }),
		pubsub.WithPeerExchange(false),
	)
	if err != nil {
		return fmt.Errorf("p2p: gossip: %w", err)
	}
	h.ps = ps
	initial := map[Topic]Validator{Announcements: h.cfg.ValidateAnnouncement, Checkpoints: h.cfg.ValidateCheckpoint}
	for _, t := range topics {
		p := new(atomic.Pointer[Validator])
		if v := initial[t]; v != nil {
			p.Store(&v)
		}
		g.validators[t] = p
		name := h.topicName(t)
		if err := ps.RegisterTopicValidator(name, h.validator(t)); err != nil {
			return fmt.Errorf("p2p: gossip: validator for %s: %w", name, err)
		}
		top, err := ps.Join(name)
		if err != nil {
			return fmt.Errorf("p2p: gossip: join %s: %w", name, err)
		}
		g.joined[t] = top
	}
	return nil
}

func (h *Host) closeGossip() {
	g := &h.gossip
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.joined {
		_ = t.Close()
	}
	g.joined = nil
}

// validator checks that the author is a member, then runs the topic's
// injected [Validator].
func (h *Host) validator(t Topic) pubsub.ValidatorEx {
	return func(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		author := m.GetFrom()
		if author == "" || !h.gater.allowed(author) {
			h.log.Debug("p2p: gossip: rejected message from a non-member", "topic", t, "forwarder", from)
			h.cfg.Metrics.rejected(t)
			return pubsub.ValidationReject
		}
		v := h.gossip.validators[t].Load()
		if v == nil {
			return pubsub.ValidationAccept
		}
		err := (*v)(ctx, Message{From: author, ReceivedFrom: from, Data: m.Data})
		switch {
		case err == nil:
			return pubsub.ValidationAccept
		case errors.Is(err, ErrIgnore):
			return pubsub.ValidationIgnore
		default:
			h.log.Info("p2p: gossip: rejected message", "topic", t, "author", author, "forwarder", from, "err", err)
			h.cfg.Metrics.rejected(t)
			return pubsub.ValidationReject
		}
	}
}

// SetValidator replaces the validator of topic t; nil accepts any message
// authored by a member.
func (h *Host) SetValidator(t Topic, v Validator) {
	p, ok := h.gossip.validators[t]
	if !ok {
		return
	}
	if v == nil {
		p.Store(nil)
		return
	}
	p.Store(&v)
}

func (h *Host) topic(t Topic) (*pubsub.Topic, error) {
	h.gossip.mu.Lock()
	defer h.gossip.mu.Unlock()
	top, ok := h.gossip.joined[t]
	if !ok {
		return nil, fmt.Errorf("p2p: gossip: unknown topic %q or host closed", t)
	}
	return top, nil
}

// Publish signs data with the node's key and sends it on topic t. The local
// validator runs first: a message this node would reject is not sent.
func (h *Host) Publish(ctx context.Context, t Topic, data []byte) error {
	top, err := h.topic(t)
	if err != nil {
		return err
	}
	if err := top.Publish(ctx, data); err != nil {
		return fmt.Errorf("p2p: gossip: publish on %s: %w", t, err)
	}
	return nil
}

// TopicPeers lists the peers we know to be subscribed to topic t.
func (h *Host) TopicPeers(t Topic) []peer.ID {
	top, err := h.topic(t)
	if err != nil {
		return nil
	}
	return top.ListPeers()
}

// PeerScore is p's gossip score as last computed (about once a second), and
// whether there is one. Peers that sent rejected messages have negative scores.
func (h *Host) PeerScore(p peer.ID) (float64, bool) {
	m := h.gossip.scores.Load()
	if m == nil {
		return 0, false
	}
	s, ok := (*m)[p]
	return s, ok
}

// Subscription receives the validated messages of one topic, including the
// node's own.
type Subscription struct{ sub *pubsub.Subscription }

// Subscribe starts receiving topic t's messages. Cancel the subscription when
// done.
func (h *Host) Subscribe(t Topic) (*Subscription, error) {
	top, err := h.topic(t)
	if err != nil {
		return nil, err
	}
	sub, err := top.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		return nil, fmt.Errorf("p2p: gossip: subscribe to %s: %w", t, err)
	}
	return &Subscription{sub: sub}, nil
}

// Next waits for the next message.
func (s *Subscription) Next(ctx context.Context) (Message, error) {
	m, err := s.sub.Next(ctx)
	if err != nil {
		return Message{}, err
	}
	return Message{From: m.GetFrom(), ReceivedFrom: m.ReceivedFrom, Data: m.Data}, nil
}

// Cancel stops the subscription.
func (s *Subscription) Cancel() { s.sub.Cancel() }
