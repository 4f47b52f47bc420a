package bus

import "github.com/sagaflow/saga/events"

// CheckLoggedAs is CheckLogged for a reader that also wants the payload of
// the records of type typ: checking decodes a payload to validate it, and
// that value is handed back (nil for a record of another type or one that
// does not check) instead of being decoded again. T must be the type
// registered for typ.
func CheckLoggedAs[T events.Validator](c Config, r Record, typ events.Type) (events.Envelope, *T, error) {
	if _, err := c.VerifyLogged(r); err != nil {
		env, _ := events.FromHeaders("", r.Headers, r.Value)
		return env, nil, err
	}
	e, err := events.FromHeaders("", r.Headers, r.Value)
	if err != nil {
		return e, nil, err
	}
	if e.Key == "" {
		e.Key = string(r.Key)
	}
	if e.Type != typ {
		e, err = events.Check(e)
		return e, nil, err
	}
	e, v, err := events.CheckAs[T](e)
	if err != nil {
		return e, nil, err
	}
	return e, &v, nil
}
