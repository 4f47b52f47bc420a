package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/sagaflow/saga/events"
)

// commands runs every step in order in one saga, each of which must
// succeed with one reply and at most one domain event, then compensates
// them in reverse order, as a saga that fails after its last step would.
func (k *kit) commands(ctx context.Context) []Result {
	svc := k.cfg.Script.Service
	c := k.newConversation()
	defer k.cleanUp(ctx, c)
	var out []Result
	if err := k.prepare(ctx, c); err != nil {
		for _, st := range k.cfg.Script.Steps {
			out = append(out, result("command "+string(st.Command), err, ""))
		}
		return out
	}
	var done []Step
	for _, st := range k.cfg.Script.Steps {
		rule := "command " + string(st.Command)
		if len(done) < len(out) {
			out = append(out, Result{Rule: rule, Result: Skip, Detail: "an earlier command failed"})
			continue
		}
		cmd, r, err := k.call(ctx, c, svc, st, false, 1)
		if err == nil {
			err = want(cmd, r, events.OutcomeSucceeded)
		}
		n := 0
		if err == nil {
			n, err = k.effects(cmd)
		}
		out = append(out, result(rule, err, fmt.Sprintf("succeeded, %d domain event(s)", n)))
		if err == nil {
			done = append(done, st)
		}
	}
	for i := len(k.cfg.Script.Steps) - 1; i >= 0; i-- {
		st := k.cfg.Script.Steps[i]
		if st.Compensation == "" {
			continue
		}
		if i >= len(done) {
			out = append(out, Result{Rule: "compensation " + string(st.Compensation), Result: Skip, Detail: string(st.Command) + " failed: nothing to compensate"})
			continue
		}
		cmd, r, err := k.call(ctx, c, svc, st, true, 1)
		if err == nil {
			err = want(cmd, r, events.OutcomeSucceeded)
		}
		n := 0
		if err == nil {
			n, err = k.effects(cmd)
		}
		out = append(out, result("compensation "+string(st.Compensation), err, fmt.Sprintf("succeeded after %s, %d domain event(s)", st.Command, n)))
	}
	return out
}

// repeat sends the first command twice with one id: both replies must be
// the same, and there must be no second effect.
func (k *kit) repeat(ctx context.Context) []Result {
	const rule = "same command twice"
	svc, st := k.cfg.Script.Service, k.cfg.Script.Steps[0]
	c := k.newConversation()
	defer k.cleanUp(ctx, c)
	if err := k.prepare(ctx, c); err != nil {
		return []Result{result(rule, err, "")}
	}
	cmd := k.command(c, st, false, 1)
	c.undo = append(c.undo, undo{svc, st})
	if err := k.send(svc, cmd, cmd); err != nil {
		return []Result{result(rule, err, "")}
	}
	got, err := k.await(ctx, svc, cmd, 2)
	if err != nil {
		return []Result{result(rule, fmt.Errorf("the command sent twice: %w", err), "")}
	}
	first, second := got[0].p, got[1].p
	if err := want(cmd, got[0], events.OutcomeSucceeded); err != nil {
		return []Result{result(rule, err, "")}
	}
	if first.Outcome != second.Outcome || first.Reason != second.Reason || !sameJSON(first.Data, second.Data) {
		return []Result{result(rule, fmt.Errorf("the second reply differs: %s %q %s, first %s %q %s",
			second.Outcome, second.Reason, second.Data, first.Outcome, first.Reason, first.Data), "")}
	}
	n, err := k.effects(cmd)
	return []Result{result(rule, err, fmt.Sprintf("the same reply twice, %d domain event(s)", n))}
}

func sameJSON(a, b json.RawMessage) bool {
	norm := func(r json.RawMessage) string {
		if len(r) == 0 || string(r) == "null" {
			return ""
		}
		var v any
		if json.Unmarshal(r, &v) != nil {
			return string(r)
		}
		out, _ := json.Marshal(v)
		return string(out)
	}
	return norm(a) == norm(b)
}

// compensateFirst sends the first compensable step's compensation before
// its command: it must succeed, and the command that comes after it must
// be refused, so that a late command leaves no effect nobody undoes.
func (k *kit) compensateFirst(ctx context.Context) []Result {
	const rule = "compensation before its command"
	svc := k.cfg.Script.Service
	i := 0
	for i < len(k.cfg.Script.Steps) && k.cfg.Script.Steps[i].Compensation == "" {
		i++
	}
	if i == len(k.cfg.Script.Steps) {
		return []Result{{Rule: rule, Result: Skip, Detail: "no command has a compensation"}}
	}
	c := k.newConversation()
	defer k.cleanUp(ctx, c)
	if err := k.prepare(ctx, c); err != nil {
		return []Result{result(rule, err, "")}
	}
	for _, st := range k.cfg.Script.Steps[:i] {
		if _, _, err := k.call(ctx, c, svc, st, false, 1); err != nil {
			return []Result{result(rule, err, "")}
		}
	}
	st := k.cfg.Script.Steps[i]
	comp, r, err := k.call(ctx, c, svc, st, true, 1)
	if err == nil {
		err = want(comp, r, events.OutcomeSucceeded)
	}
	if err != nil {
		return []Result{result(rule, fmt.Errorf("compensation first: %w", err), "")}
	}
	cmd, r, err := k.call(ctx, c, svc, st, false, 1)
	if err == nil && r.p.Outcome == events.OutcomeSucceeded {
		c.undo = append(c.undo, undo{svc, st})
		err = fmt.Errorf("%s after its compensation succeeded: it took effect after it was undone", st.Command)
	}
	if err == nil {
		err = want(cmd, r, events.OutcomeFailed)
	}
	return []Result{result(rule, err, fmt.Sprintf("%s succeeded first, then %s was refused: %s", st.Compensation, st.Command, r.p.Reason))}
}

// letter is a command that can never be processed.
type letter int

const (
	unknownTypeLetter letter = iota // a type no service handles
	malformedLetter                 // a known type whose payload is not a command
	unsignedLetter                  // a good command without a signature
)

// deadLetter sends a command that can never be processed: it must go to
// the dead letters with a reason, and get no reply and no effect.
func (k *kit) deadLetter(kind letter) func(context.Context) []Result {
	return func(ctx context.Context) []Result {
		svc, st := k.cfg.Script.Service, k.cfg.Script.Steps[0]
		c := k.newConversation()
		cmd := k.command(c, st, false, 1)
		rule, send := "unknown command type", k.send
		switch kind {
		case unknownTypeLetter:
			cmd.Type = unknownType
		case malformedLetter:
			rule = "malformed payload"
			cmd.Payload = json.RawMessage(`{"step":"","attempt":0,"data":7}`)
		case unsignedLetter:
			rule = "unsigned command"
			if k.unsigned == nil {
				return []Result{{Rule: rule, Result: Skip, Detail: "signatures are off"}}
			}
			send = k.sendUnsigned
		}
		if err := send(svc, cmd); err != nil {
			return []Result{result(rule, err, "")}
		}
		ok, err := k.w.until(ctx, k.cfg.Timeout, func() bool { return len(k.w.dead[cmd.ID]) > 0 })
		if err == nil && !ok {
			err = fmt.Errorf("%s not in the dead letters within %s", cmd.Type, k.cfg.Timeout)
		}
		if err == nil {
			err = k.w.caughtUp(ctx, k.cfg.Timeout)
		}
		reason := ""
		if err == nil {
			reason = k.w.deadLetters(cmd.ID)[0]
			switch {
			case reason == "":
				err = errors.New("dead letter without a reason_poisoned header")
			case len(k.w.repliesTo(cmd.ID)) > 0:
				err = fmt.Errorf("dead-lettered and answered %s", k.w.repliesTo(cmd.ID)[0].p.Outcome)
			case k.w.effectsOf(cmd.ID) > 0:
				err = errors.New("dead-lettered with a domain event")
			}
		}
		return []Result{result(rule, err, "dead letter: "+reason)}
	}
}

// concurrent runs the first command of many sagas at once, then their
// compensations: each must get exactly its own reply.
func (k *kit) concurrent(ctx context.Context) []Result {
	rule := fmt.Sprintf("%d sagas at once", k.cfg.Concurrency)
	svc, st := k.cfg.Script.Service, k.cfg.Script.Steps[0]
	convs := make([]*conversation, k.cfg.Concurrency)
	errs := make([]error, len(convs))
	var wg sync.WaitGroup
	for i := range convs {
		convs[i] = k.newConversation()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := convs[i]
			if errs[i] = k.prepare(ctx, c); errs[i] != nil {
				return
			}
			cmd := k.command(c, st, false, 1)
			c.undo = append(c.undo, undo{svc, st})
			if errs[i] = k.send(svc, cmd); errs[i] != nil {
				return
			}
			var got []reply
			if got, errs[i] = k.await(ctx, svc, cmd, 1); errs[i] == nil {
				errs[i] = want(cmd, got[0], events.OutcomeSucceeded)
			}
			if errs[i] == nil {
				if n := len(k.w.repliesTo(cmd.ID)); n != 1 {
					errs[i] = fmt.Errorf("%d replies to %s of saga %s, want 1", n, cmd.Type, c.id)
				}
			}
			if errs[i] == nil && st.Compensation != "" {
				comp, r, err := k.call(ctx, c, svc, st, true, 1)
				if err == nil {
					err = want(comp, r, events.OutcomeSucceeded)
				}
				errs[i] = err
				c.undo = c.undo[:len(c.undo)-1]
			}
			k.cleanUp(ctx, c)
		}()
	}
	wg.Wait()
	detail := "each saga got its own reply"
	if st.Compensation != "" {
		detail += ", to its command and to its compensation"
	}
	return []Result{result(rule, firstErr(errs), detail)}
}

func firstErr(errs []error) error {
	n, first := 0, error(nil)
	for _, err := range errs {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if n > 1 {
		return fmt.Errorf("%d sagas failed; the first: %w", n, first)
	}
	return first
}
