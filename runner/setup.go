package runner

import "github.com/sgltest/sgltest/internal/setup"

// UseSetup declares the servers and routing of a named setup (see
// internal/setup: a name shipped in fixtures/setups, or a path ending in
// .yaml): its servers are added as a server step adds them, its simulator
// profile (if it names one) becomes the scenario's, and its routing (if
// any) the scenario's.
func (t *Test) UseSetup(name string) error {
	s, err := setup.Load(name)
	if err != nil {
		return err
	}
	if s.Servers.Profile != "" {
		if err := t.SetProfile(s.Servers.Profile); err != nil {
			return err
		}
	}
	set := s.Servers.Settings
	srv := Server{Simulated: s.Servers.Simulated, MaxRunningRequests: set.MaxRunningRequests, TPSize: set.TPSize,
		ChunkedPrefillSize: set.ChunkedPrefillSize, SchedulePolicy: set.SchedulePolicy, MemFractionStatic: set.MemFractionStatic}
	if err := t.AddServers(s.Servers.Count, srv); err != nil {
		return err
	}
	if s.Routing != nil {
		if err := t.SetRouting(Routing{Via: s.Routing.Via, Policy: s.Routing.Policy}); err != nil {
			return err
		}
	}
	t.capacity.setup = s.Name + " (" + s.Source + ")"
	return nil
}
