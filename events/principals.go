package events

import (
	"slices"
)

// Principals are the parts of the system that write records. Each signs
// what it writes with its own key, and in a deployment each can connect to
// Kafka as its own SASL user of the same name. A participant's principal
// is its service name.
const (
	PrincipalOrchestrator = "orchestrator"
	// PrincipalClient posts requests: the HTTP API and the CLI's saga book.
	PrincipalClient = "client"
	// PrincipalOperator is the back office's hand on the system: it
	// resumes failed sagas and redrives dead letters (which go back, as
	// they were, to the topic they came from).
	PrincipalOperator = "operator"
)

// Principals lists every principal: the orchestrator, the services, the
// client and the operator.
func Principals() []string { return decl().principals() }

func (d *declaration) principals() []string {
	return append(append([]string{PrincipalOrchestrator}, d.services...), PrincipalClient, PrincipalOperator)
}

// IsService reports whether name is a participant service.
func IsService(name string) bool { return slices.Contains(decl().services, name) }

// Access is what a principal does on Kafka: the topics it reads and
// writes (unprefixed names), those whose old records it deletes, and the
// consumer groups it joins.
type Access struct {
	Reads   []string
	Writes  []string
	Deletes []string
	Groups  []string
}

// AccessOf returns what principal p needs and nothing more; the zero
// Access for an unknown name. A part writes the dead-letter topic when it
// consumes, and the topic it consumes when it forwards a record that
// arrived on another partition than its key's.
func AccessOf(p string) Access { return decl().access(p) }

func (d *declaration) access(p string) Access {
	switch {
	case p == PrincipalOrchestrator:
		writes := []string{TopicSagaLog, TopicSagaSnapshots, TopicRequests, TopicReplies, TopicDLQ, TopicDefinitions}
		for _, s := range d.services {
			writes = append(writes, CommandTopic(s))
		}
		return Access{
			Reads:  []string{TopicRequests, TopicReplies, TopicSagaLog, TopicSagaSnapshots, TopicDefinitions},
			Writes: writes,
			// The snapshots a newer one supersedes.
			Deletes: []string{TopicSagaSnapshots},
			Groups:  []string{PrincipalOrchestrator},
		}
	case slices.Contains(d.services, p):
		return Access{
			Reads:  []string{CommandTopic(p), DomainTopic(p)},
			Writes: []string{DomainTopic(p), TopicReplies, CommandTopic(p), TopicDLQ},
			Groups: []string{p},
		}
	case p == PrincipalClient:
		// The replies too: a dry run of a definition replays them, and
		// checks each before it does.
		return Access{Reads: append(d.readModelTopics(), TopicReplies), Writes: []string{TopicRequests}}
	case p == PrincipalOperator:
		// A dead letter goes back to where it came from: any consumed topic.
		// Definitions are applied by the back office.
		writes := []string{TopicRequests, TopicReplies, TopicDefinitions}
		for _, s := range d.services {
			writes = append(writes, CommandTopic(s))
		}
		return Access{Reads: d.readModelTopics(), Writes: writes}
	}
	return Access{}
}

// readModelTopics are the logs the read models fold.
func (d *declaration) readModelTopics() []string {
	out := []string{TopicSagaLog, TopicDLQ, TopicDefinitions}
	for _, s := range d.services {
		out = append(out, DomainTopic(s))
	}
	return out
}

// MayWrite reports whether principal p may sign a record for topic (an
// unprefixed name). It is the rule every consumer applies before it acts:
// commands and the saga's own log come from the orchestrator, a service's
// domain events and replies from that service, requests from the client or
// the operator. A part may also sign the records it forwards to the
// partition of their key, on the topic it consumes. What a record of a
// topic may be is the consumer's to check once it knows who wrote it.
func MayWrite(p, topic string) bool {
	switch topic {
	case TopicSagaLog, TopicSagaSnapshots:
		return p == PrincipalOrchestrator
	case TopicRequests:
		// The API resumes for a back-office user it has authenticated.
		return p == PrincipalClient || p == PrincipalOperator || p == PrincipalOrchestrator
	case TopicReplies:
		return IsService(p) || p == PrincipalOrchestrator
	case TopicDefinitions:
		// Applied by an operator; the shipped ones registered by the
		// orchestrator that runs them.
		return p == PrincipalOperator || p == PrincipalOrchestrator
	}
	for _, s := range decl().services {
		switch topic {
		case CommandTopic(s):
			return p == PrincipalOrchestrator || p == s
		case DomainTopic(s):
			return p == s
		}
	}
	return false
}

// ReadersOf returns the principals that check what they read of topic
// (an unprefixed name): a record is signed for each of them. The operator
// reads the logs as the client does, with the client's key, so nothing is
// signed for it. The result follows the current declaration (worked out
// once per Declare: every record written asks). The caller must not change
// the slice.
func ReadersOf(topic string) []string { return decl().readers[topic] }
